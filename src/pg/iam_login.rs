//! Logging in to RDS with IAM: where the region and the AWS credentials come from, and the
//! token each new connection uses as its password (made by `rds_iam`).

use super::error::TargetError;
use super::rds_iam::{AmzTime, Credentials, auth_token, profile_credentials};
use super::tls::SslMode;

pub(super) struct IamLogin {
    credentials: Credentials,
    region: String,
    clock: Box<dyn Fn() -> AmzTime + Send + Sync>,
}

impl std::fmt::Debug for IamLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IamLogin")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl IamLogin {
    /// The same login with tokens made at the times `clock` gives (tests use fixed times).
    pub(super) fn with_clock(
        &self,
        clock: impl Fn() -> AmzTime + Send + Sync + 'static,
    ) -> IamLogin {
        IamLogin {
            credentials: self.credentials.clone(),
            region: self.region.clone(),
            clock: Box::new(clock),
        }
    }

    /// A fresh token for `user` at `host:port`, valid for 15 minutes.
    pub(super) fn token(&self, host: &str, port: u16, user: &str) -> String {
        auth_token(
            &self.credentials,
            host,
            port,
            user,
            &self.region,
            (self.clock)(),
        )
    }
}

/// The login `cfg` describes, with the region and credentials found the way the AWS CLI
/// finds them: explicit keys, then a profile in the shared credentials file, then
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
pub(super) fn resolve(
    cfg: &crate::config::AwsIamConfig,
    mode: SslMode,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<IamLogin, TargetError> {
    if matches!(mode, SslMode::Disable | SslMode::Allow) {
        return Err(TargetError::Iam(format!(
            "RDS accepts IAM tokens only over TLS; sslmode={} would send it in the clear (use require or verify-full)",
            mode.as_str()
        )));
    }
    let region = cfg
        .region
        .clone()
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .ok_or_else(|| TargetError::Iam("region is not set (nor AWS_REGION)".into()))?;
    let credentials = match (&cfg.access_key_id, &cfg.secret_access_key) {
        (Some(id), Some(secret)) => Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.expose().to_owned(),
            session_token: cfg.session_token.as_ref().map(|t| t.expose().to_owned()),
        },
        (Some(_), None) | (None, Some(_)) => {
            return Err(TargetError::Iam(
                "access_key_id and secret_access_key go together".into(),
            ));
        }
        (None, None) => {
            let profile = cfg.profile.clone().or_else(|| env("AWS_PROFILE"));
            match profile {
                Some(profile) => {
                    let path = cfg
                        .credentials_file
                        .clone()
                        .or_else(|| env("AWS_SHARED_CREDENTIALS_FILE").map(Into::into))
                        .unwrap_or_else(|| {
                            std::path::PathBuf::from(env("HOME").unwrap_or_default())
                                .join(".aws/credentials")
                        });
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        TargetError::Iam(format!("cannot read {}: {e}", path.display()))
                    })?;
                    profile_credentials(&text, &profile).ok_or_else(|| {
                        TargetError::Iam(format!(
                            "profile {profile} in {} has no aws_access_key_id and aws_secret_access_key",
                            path.display()
                        ))
                    })?
                }
                None => match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                    (Some(id), Some(secret)) => Credentials {
                        access_key_id: id,
                        secret_access_key: secret,
                        session_token: env("AWS_SESSION_TOKEN"),
                    },
                    _ => {
                        return Err(TargetError::Iam(
                            "no credentials: set access_key_id and secret_access_key, a profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                        ));
                    }
                },
            }
        }
    };
    Ok(IamLogin {
        credentials,
        region,
        clock: Box::new(AmzTime::now),
    })
}
