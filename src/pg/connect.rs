//! Connection settings: a `postgres://` URL or key=value string, explicit config keys and the
//! libpq environment variables users already set, resolved the way libpq resolves them
//! (explicit settings first, then the URL, then `PG*` variables, then libpq's defaults).
//! tokio-postgres reads no environment, hence this module.

use super::error::PgError;
use crate::config::SourceConfig;
use std::time::Duration;
use tokio_postgres::{Client, NoTls, config::SslMode};

/// A resolved connection target. `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct PgTarget {
    config: tokio_postgres::Config,
    label: String,
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

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("source.url: not a valid PostgreSQL connection string: {0}")]
    Url(String),
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("source.password_file: cannot read {path}: {source}")]
    PasswordFile {
        path: String,
        source: std::io::Error,
    },
}

impl PgTarget {
    /// `env` is the process environment in production and a fixed map in tests.
    pub fn resolve(
        src: &SourceConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, TargetError> {
        let mut config = match &src.url {
            // The parser's own message may quote the string, password included: do not pass it on.
            Some(url) => url
                .expose()
                .parse::<tokio_postgres::Config>()
                .map_err(|e| TargetError::Url(redact(&e.to_string(), url.expose())))?,
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

        let sslmode = src.sslmode.clone().or_else(|| env("PGSSLMODE"));
        if let Some(mode) = sslmode {
            config.ssl_mode(match mode.as_str() {
                "disable" => SslMode::Disable,
                "allow" | "prefer" => SslMode::Prefer,
                "require" | "verify-ca" | "verify-full" => {
                    return Err(TargetError::Invalid {
                        key: "source.sslmode",
                        reason: format!("sslmode={mode} needs TLS, which this build does not support yet; use disable or prefer"),
                    });
                }
                other => {
                    return Err(TargetError::Invalid {
                        key: "source.sslmode",
                        reason: format!("unknown sslmode {other:?} (expected disable, allow, prefer, require, verify-ca or verify-full)"),
                    });
                }
            });
        }
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

        let label = label(&config);
        Ok(PgTarget { config, label })
    }

    pub fn dbname(&self) -> &str {
        self.config.get_dbname().unwrap_or_default()
    }

    /// The same server, another database (for `ingest_all_databases`).
    pub fn with_dbname(&self, dbname: &str) -> PgTarget {
        let mut config = self.config.clone();
        config.dbname(dbname);
        let label = label(&config);
        PgTarget { config, label }
    }

    /// Settings for a replication-protocol session on the same server, database and role.
    pub fn replication_config(
        &self,
        slot: &str,
        publication: &str,
    ) -> pgwire_replication::ReplicationConfig {
        use tokio_postgres::config::Host;
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let password = self
            .config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        let user = self.config.get_user().unwrap_or_default();
        pgwire_replication::ReplicationConfig::new(
            host,
            user,
            password,
            self.dbname(),
            slot,
            publication,
        )
        .with_port(port)
        // Standby status every second: the slot's confirmed position follows acknowledged
        // events closely, so the server can recycle WAL.
        .with_status_interval(Duration::from_secs(1))
        .with_application_name("pgmeta-capture")
    }

    pub async fn connect(&self) -> Result<Client, PgError> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| PgError::connect(&self.label, &e))?;
        let label = self.label.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(target_db = %label, error = %e, "postgres connection closed");
            }
        });
        Ok(client)
    }
}

fn label(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "?".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{host}:{port}/{} as {}",
        config.get_dbname().unwrap_or_default(),
        config.get_user().unwrap_or_default()
    )
}

/// libpq's default: the Unix socket directory when there is one, else localhost.
fn default_host() -> &'static str {
    if std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432").exists() {
        "/var/run/postgresql"
    } else {
        "localhost"
    }
}

fn redact(message: &str, secret_source: &str) -> String {
    let mut out = message.to_owned();
    if let Ok(url) = secret_source.parse::<tokio_postgres::Config>()
        && let Some(p) = url.get_password()
        && let Ok(p) = std::str::from_utf8(p)
        && !p.is_empty()
    {
        out = out.replace(p, "***");
    }
    out.replace(secret_source, "<source.url>")
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
