//! Connection settings: a `postgres://` URL or key=value string, explicit config keys and the
//! libpq environment variables users already set, resolved the way libpq resolves them
//! (explicit settings first, then the URL, then `PG*` variables, then libpq's defaults).
//! tokio-postgres reads no environment, hence this module.

use super::conninfo::{default_host, label, redact, take_ssl_params};
use super::error::{PgError, TargetError};
use super::iam_login::IamLogin;
use super::tls::{Pem, SslMode, TlsSettings};
use crate::config::SourceConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{Client, NoTls};

/// A resolved connection target. `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct PgTarget {
    config: tokio_postgres::Config,
    label: String,
    tls: TlsSettings,
    /// Built once from `tls` (absent for sslmode=disable).
    tls_config: Option<Arc<rustls::ClientConfig>>,
    /// RDS IAM: the password is a token made at each connection.
    iam: Option<Arc<IamLogin>>,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("target", &self.label)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Display for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

impl PgTarget {
    /// `env` is the process environment in production and a fixed map in tests.
    pub fn resolve(
        src: &SourceConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, TargetError> {
        // The TLS parameters are libpq's, not tokio-postgres's: taken out of the URL first.
        let (url, url_ssl) = match &src.url {
            Some(url) => {
                let (rest, ssl) = take_ssl_params(url.expose());
                (Some(rest), ssl)
            }
            None => (None, Vec::new()),
        };
        let url_param = |k: &str| {
            url_ssl
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let mut config = match &url {
            // The parser's own message may quote the string, password included: do not pass it on.
            Some(url) => url
                .parse::<tokio_postgres::Config>()
                .map_err(|e| TargetError::Url(redact(&e.to_string(), url)))?,
            None => tokio_postgres::Config::new(),
        };

        if let Some(host) = src.host.clone().or_else(|| {
            (config.get_hosts().is_empty())
                .then(|| env("PGHOST"))
                .flatten()
        }) {
            config.host(&host);
        }
        if config.get_hosts().is_empty() {
            config.host(default_host());
        }
        let port = match src.port {
            Some(p) => Some(p),
            None if config.get_ports().is_empty() => match env("PGPORT") {
                Some(p) => Some(p.parse::<u16>().map_err(|_| TargetError::Invalid {
                    key: "PGPORT",
                    reason: format!("{p:?} is not a port number"),
                })?),
                None => None,
            },
            None => None,
        };
        if let Some(p) = port {
            config.port(p);
        }
        let user = src
            .user
            .clone()
            .or_else(|| config.get_user().map(str::to_owned))
            .or_else(|| env("PGUSER"))
            .or_else(|| env("USER"))
            .or_else(|| env("LOGNAME"))
            .unwrap_or_else(|| "postgres".to_owned());
        config.user(&user);
        let dbname = src
            .database
            .clone()
            .or_else(|| config.get_dbname().map(str::to_owned))
            .or_else(|| env("PGDATABASE"))
            .unwrap_or_else(|| user.clone());
        config.dbname(&dbname);

        let password = if let Some(p) = &src.password {
            Some(p.expose().to_owned())
        } else if let Some(path) = &src.password_file {
            let text =
                std::fs::read_to_string(path).map_err(|source| TargetError::PasswordFile {
                    path: path.display().to_string(),
                    source,
                })?;
            Some(text.trim_end_matches(['\n', '\r']).to_owned())
        } else if config.get_password().is_none() {
            env("PGPASSWORD")
        } else {
            None
        };
        if let Some(p) = password {
            config.password(p);
        }

        let setting = |explicit: Option<String>, key: &str, var: &str| {
            explicit.or_else(|| url_param(key)).or_else(|| env(var))
        };
        let mode = match setting(src.sslmode.clone(), "sslmode", "PGSSLMODE") {
            None => SslMode::Prefer,
            Some(m) => SslMode::parse(&m).ok_or_else(|| TargetError::Invalid {
                key: "source.sslmode",
                reason: format!(
                    "unknown sslmode {m:?} (expected disable, allow, prefer, require, verify-ca or verify-full)"
                ),
            })?,
        };
        let tls = TlsSettings {
            mode,
            root_cert: setting(src.sslrootcert.clone(), "sslrootcert", "PGSSLROOTCERT")
                .map(|v| Pem::from_setting(&v)),
            client_cert: setting(src.sslcert.clone(), "sslcert", "PGSSLCERT")
                .map(|v| Pem::from_setting(&v)),
            client_key: setting(
                src.sslkey.as_ref().map(|k| k.expose().to_owned()),
                "sslkey",
                "PGSSLKEY",
            )
            .map(|v| Pem::from_setting(&v)),
        };
        let tls_config = match mode {
            SslMode::Disable => None,
            _ => Some(Arc::new(tls.client_config()?)),
        };
        let app = src
            .application_name
            .clone()
            .or_else(|| env("PGAPPNAME"))
            .unwrap_or_else(|| "pgmeta".into());
        config.application_name(&app);
        let timeout = match env("PGCONNECT_TIMEOUT").and_then(|t| t.parse::<u64>().ok()) {
            Some(secs) if src.connect_timeout.is_none() => Duration::from_secs(secs.max(2)),
            _ => src.connect_timeout.unwrap_or(Duration::from_secs(10)),
        };
        config.connect_timeout(timeout);

        let iam = match &src.aws_iam {
            Some(cfg) => Some(Arc::new(super::iam_login::resolve(cfg, mode, env)?)),
            None => None,
        };

        let label = label(&config);
        Ok(PgTarget {
            config,
            label,
            tls,
            tls_config,
            iam,
        })
    }

    /// Replaces the clock RDS IAM tokens are made with (tests make tokens at fixed times).
    pub fn with_iam_clock(
        mut self,
        clock: impl Fn() -> super::rds_iam::AmzTime + Send + Sync + 'static,
    ) -> Self {
        if let Some(iam) = &self.iam {
            self.iam = Some(Arc::new(iam.with_clock(clock)));
        }
        self
    }

    /// The password of the next connection: a fresh IAM token, or the configured one.
    fn password(&self) -> Option<Vec<u8>> {
        use tokio_postgres::config::Host;
        match &self.iam {
            Some(iam) => {
                let host = match self.config.get_hosts().first() {
                    Some(Host::Tcp(h)) => h.clone(),
                    _ => "localhost".to_owned(),
                };
                let port = self.config.get_ports().first().copied().unwrap_or(5432);
                let user = self.config.get_user().unwrap_or_default();
                Some(iam.token(&host, port, user).into_bytes())
            }
            None => self.config.get_password().map(<[u8]>::to_vec),
        }
    }

    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    /// The same server, another database (for `ingest_all_databases`).
    pub fn with_dbname(&self, dbname: &str) -> PgTarget {
        let mut config = self.config.clone();
        config.dbname(dbname);
        let label = label(&config);
        PgTarget {
            config,
            label,
            ..self.clone()
        }
    }

    /// Settings for a replication-protocol session on the same server, database and role.
    pub fn replication_config(
        &self,
        slot: &str,
        publication: &str,
    ) -> Result<pgwire_replication::ReplicationConfig, super::tls::TlsError> {
        super::tls::install_provider();
        use tokio_postgres::config::Host;
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let password = self
            .password()
            .map(|p| String::from_utf8_lossy(&p).into_owned())
            .unwrap_or_default();
        let user = self.config.get_user().unwrap_or_default();
        let tls = self.tls.replication(&host)?;
        Ok(pgwire_replication::ReplicationConfig::new(
            host,
            user,
            password,
            self.dbname(),
            slot,
            publication,
        )
        .with_port(port)
        .with_tls(tls)
        // Standby status every second: the slot's confirmed position follows acknowledged
        // events closely, so the server can recycle WAL.
        .with_status_interval(Duration::from_secs(1))
        .with_application_name("pgmeta-capture"))
    }

    pub async fn connect(&self) -> Result<Client, PgError> {
        use tokio_postgres::config::SslMode as Wire;
        let mut config = self.config.clone();
        if let (Some(_), Some(token)) = (&self.iam, self.password()) {
            config.password(token);
        }
        let connector = |tls: &Arc<rustls::ClientConfig>| {
            tokio_postgres_rustls::MakeRustlsConnect::new(rustls::ClientConfig::clone(tls))
        };
        let label = self.label.clone();
        let fail = |e: tokio_postgres::Error| PgError::connect(&label, &e);
        let client = match (self.tls.mode, &self.tls_config) {
            (SslMode::Disable, _) | (_, None) => {
                config.ssl_mode(Wire::Disable);
                spawn(config.connect(NoTls).await.map_err(fail)?, &label)
            }
            (SslMode::Allow, Some(tls)) => {
                // libpq's allow: plain first, TLS only when the server refuses plain.
                config.ssl_mode(Wire::Disable);
                match config.connect(NoTls).await {
                    Ok(c) => spawn(c, &label),
                    Err(_) => {
                        config.ssl_mode(Wire::Require);
                        spawn(config.connect(connector(tls)).await.map_err(fail)?, &label)
                    }
                }
            }
            (SslMode::Prefer, Some(tls)) => {
                config.ssl_mode(Wire::Prefer);
                spawn(config.connect(connector(tls)).await.map_err(fail)?, &label)
            }
            (_, Some(tls)) => {
                config.ssl_mode(Wire::Require);
                spawn(config.connect(connector(tls)).await.map_err(fail)?, &label)
            }
        };
        Ok(client)
    }

    /// The TLS settings this target connects with.
    pub fn tls(&self) -> &TlsSettings {
        &self.tls
    }
}

/// Drives a connection on its own task and returns its client.
fn spawn<S, T>(
    (client, connection): (Client, tokio_postgres::Connection<S, T>),
    label: &str,
) -> Client
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let label = label.to_owned();
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(target_db = %label, error = %e, "postgres connection closed");
        }
    });
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::collections::HashMap;

    fn env(map: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = map
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn libpq_environment_fills_what_config_leaves_open() {
        let t = PgTarget::resolve(
            &SourceConfig::default(),
            &env(&[
                ("PGHOST", "db.internal"),
                ("PGPORT", "6543"),
                ("PGUSER", "meta"),
                ("PGDATABASE", "app"),
                ("PGPASSWORD", "s3cret"),
            ]),
        )
        .expect("resolves");
        assert_eq!(t.to_string(), "db.internal:6543/app as meta");
        assert_eq!(t.config.get_password(), Some(&b"s3cret"[..]));
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    #[test]
    fn url_beats_environment_and_explicit_keys_beat_url() {
        let src = SourceConfig {
            url: Some(Secret::new("postgres://u:pw@h1:5433/d1".into())),
            database: Some("d2".into()),
            ..SourceConfig::default()
        };
        let t = PgTarget::resolve(
            &src,
            &env(&[
                ("PGHOST", "h9"),
                ("PGDATABASE", "d9"),
                ("PGPASSWORD", "env"),
            ]),
        )
        .expect("resolves");
        assert_eq!(t.to_string(), "h1:5433/d2 as u");
        assert_eq!(t.config.get_password(), Some(&b"pw"[..]));
    }

    #[test]
    fn database_defaults_to_user_like_libpq() {
        let t = PgTarget::resolve(
            &SourceConfig {
                host: Some("h".into()),
                ..Default::default()
            },
            &env(&[("USER", "alice")]),
        )
        .expect("resolves");
        assert_eq!(t.to_string(), "h:5432/alice as alice");
    }

    #[test]
    fn bad_values_name_their_key_and_hide_the_password() {
        let err = PgTarget::resolve(&SourceConfig::default(), &env(&[("PGPORT", "x")]))
            .expect_err("bad port");
        assert!(err.to_string().starts_with("PGPORT:"), "{err}");
        let err = PgTarget::resolve(
            &SourceConfig {
                sslmode: Some("sometimes".into()),
                ..Default::default()
            },
            &env(&[]),
        )
        .expect_err("bad mode");
        assert!(err.to_string().starts_with("source.sslmode:"), "{err}");
        let src = SourceConfig {
            url: Some(Secret::new("postgres://u:hunter2@h:notaport/d".into())),
            ..Default::default()
        };
        let err = PgTarget::resolve(&src, &env(&[])).expect_err("bad url");
        assert!(err.to_string().starts_with("source.url:"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn the_urls_sslmode_beats_pgsslmode() {
        let t = PgTarget::resolve(
            &SourceConfig {
                url: Some(Secret::new("postgres://u@h/db?sslmode=verify-ca".into())),
                ..Default::default()
            },
            &env(&[("PGSSLMODE", "disable")]),
        )
        .expect("resolves");
        assert_eq!(t.tls().mode, SslMode::VerifyCa);
    }

    #[test]
    fn iam_needs_tls_a_region_and_credentials() {
        use crate::config::AwsIamConfig;
        let src = |mode: &str, iam: AwsIamConfig| SourceConfig {
            host: Some("db".into()),
            sslmode: Some(mode.into()),
            aws_iam: Some(iam),
            ..Default::default()
        };
        let keys = AwsIamConfig {
            region: Some("eu-west-1".into()),
            access_key_id: Some("AKID".into()),
            secret_access_key: Some(Secret::new("very-secret".into())),
            ..Default::default()
        };
        let err = PgTarget::resolve(&src("disable", keys.clone()), &env(&[])).expect_err("no TLS");
        assert!(
            err.to_string()
                .starts_with("source.aws_iam: RDS accepts IAM tokens only over TLS"),
            "{err}"
        );
        let err = PgTarget::resolve(
            &src(
                "require",
                AwsIamConfig {
                    region: None,
                    ..keys.clone()
                },
            ),
            &env(&[]),
        )
        .expect_err("no region");
        assert!(err.to_string().contains("region"), "{err}");
        let t = PgTarget::resolve(&src("require", keys), &env(&[])).expect("resolves");
        assert!(!format!("{t:?}").contains("very-secret"));
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[ops]\naws_access_key_id = A\naws_secret_access_key = B\n",
        )
        .expect("write");
        let profile = AwsIamConfig {
            region: Some("eu-west-1".into()),
            profile: Some("ops".into()),
            credentials_file: Some(file),
            ..Default::default()
        };
        assert!(PgTarget::resolve(&src("verify-full", profile), &env(&[])).is_ok());
        let from_env = AwsIamConfig::default();
        assert!(
            PgTarget::resolve(
                &src("require", from_env),
                &env(&[
                    ("AWS_REGION", "us-east-1"),
                    ("AWS_ACCESS_KEY_ID", "A"),
                    ("AWS_SECRET_ACCESS_KEY", "B")
                ])
            )
            .is_ok()
        );
    }

    #[test]
    fn password_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pw");
        std::fs::write(&path, "from-file\n").expect("write");
        let src = SourceConfig {
            host: Some("h".into()),
            password_file: Some(path),
            ..Default::default()
        };
        let t = PgTarget::resolve(&src, &env(&[("PGPASSWORD", "env")])).expect("resolves");
        assert_eq!(t.config.get_password(), Some(&b"from-file"[..]));
        let src = SourceConfig {
            password_file: Some("/nonexistent/pw".into()),
            ..Default::default()
        };
        let err = PgTarget::resolve(&src, &env(&[])).expect_err("missing file");
        assert!(
            err.to_string()
                .starts_with("source.password_file: cannot read /nonexistent/pw"),
            "{err}"
        );
    }
}
