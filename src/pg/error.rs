//! PostgreSQL errors, classified where they arise and worded for the operator, and what is
//! wrong with a connection's settings.

use std::fmt;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Worth retrying with backoff: the server is restarting, the network blipped, a
    /// concurrent DDL changed the catalog under the read.
    Transient,
    /// Retrying cannot help until someone changes something (password, privileges, config).
    Fatal,
}

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to PostgreSQL at {target}: {reason}{hint}")]
    Connect {
        target: String,
        reason: String,
        hint: Hint,
        class: ErrorClass,
        sqlstate: Option<String>,
    },
    #[error("catalog query {query} failed on {target}: {reason}{hint}")]
    Query {
        query: &'static str,
        target: String,
        reason: String,
        hint: Hint,
        class: ErrorClass,
        sqlstate: Option<String>,
    },
    /// An object vanished between two queries of one catalog read (a concurrent DROP). The
    /// poll reads again a few times; past that the last one is reported as it is.
    #[error("the catalog changed while it was read ({what})")]
    ConcurrentDdl { what: String },
    #[error("catalog query {query} returned an unexpected row: {reason}")]
    Decode { query: &'static str, reason: String },
}

impl PgError {
    pub fn class(&self) -> ErrorClass {
        match self {
            PgError::Connect { class, .. } | PgError::Query { class, .. } => *class,
            PgError::ConcurrentDdl { .. } => ErrorClass::Transient,
            PgError::Decode { .. } => ErrorClass::Fatal,
        }
    }

    /// The server's SQLSTATE, when the server answered with an error (not for I/O, TLS or
    /// timeouts, which never reached it).
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Connect { sqlstate, .. } | PgError::Query { sqlstate, .. } => {
                sqlstate.as_deref()
            }
            PgError::ConcurrentDdl { .. } | PgError::Decode { .. } => None,
        }
    }

    pub fn connect(target: &str, err: &tokio_postgres::Error) -> Self {
        let (reason, class, hint) = describe(err);
        PgError::Connect {
            target: target.to_owned(),
            reason,
            hint,
            class,
            sqlstate: sqlstate(err),
        }
    }

    pub fn query(query: &'static str, target: &str, err: &tokio_postgres::Error) -> Self {
        let (reason, class, hint) = describe(err);
        // A definition function that lost its object to a concurrent DROP says so this way.
        if reason.contains("cache lookup failed")
            || reason.contains("could not open relation with OID")
        {
            return PgError::ConcurrentDdl { what: reason };
        }
        PgError::Query {
            query,
            target: target.to_owned(),
            reason,
            hint,
            class,
            sqlstate: sqlstate(err),
        }
    }
}

fn sqlstate(err: &tokio_postgres::Error) -> Option<String> {
    err.code().map(|c| c.code().to_owned())
}

/// An operator hint appended to a message, empty when there is none.
#[derive(Debug, Clone, Default)]
pub struct Hint(Option<&'static str>);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(h) => write!(f, " (hint: {h})"),
            None => Ok(()),
        }
    }
}

fn describe(err: &tokio_postgres::Error) -> (String, ErrorClass, Hint) {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let reason = format!("{}: {} (SQLSTATE {code})", db.severity(), db.message());
        let (class, hint) = match code {
            "28P01" => (
                ErrorClass::Fatal,
                Some(
                    "check the password: source.password, source.password_file, the URL or PGPASSWORD",
                ),
            ),
            "28000" => (
                ErrorClass::Fatal,
                Some("pg_hba.conf does not let this user connect from here"),
            ),
            "3D000" => (
                ErrorClass::Fatal,
                Some("check source.database, the URL or PGDATABASE"),
            ),
            "42501" => (
                ErrorClass::Fatal,
                Some("the capture role lacks a privilege: run `pgmeta-capture check`"),
            ),
            c if c.starts_with("08") || c.starts_with("57") || c.starts_with("53") => {
                (ErrorClass::Transient, None)
            }
            "40001" | "40P01" | "55P03" | "57014" => (ErrorClass::Transient, None),
            _ => (ErrorClass::Fatal, None),
        };
        return (reason, class, Hint(hint));
    }
    // Not a server error: I/O, timeout or a closed connection. Walk the source chain, which is
    // where tokio-postgres puts "Connection refused" and the like.
    let reason = crate::error_chain::with_sources(err.to_string(), err);
    if reason.contains("server does not support TLS") {
        return (
            reason,
            ErrorClass::Fatal,
            Hint(Some(
                "the server has ssl = off: enable TLS on it, or use sslmode=prefer or disable",
            )),
        );
    }
    if reason.contains("certificate") || reason.contains("TLS handshake") {
        let hint = if reason.contains("not valid for name") || reason.contains("NotValidForName") {
            "the server's certificate is not for this host name: connect by the name it was issued for, or use sslmode=verify-ca"
        } else if reason.contains("UnknownIssuer")
            || reason.contains("unknown issuer")
            || reason.contains("BadSignature")
        {
            "the server's certificate is not signed by a trusted CA: set source.sslrootcert to the CA that issued it"
        } else {
            "check source.sslmode, source.sslrootcert, source.sslcert and source.sslkey"
        };
        return (reason, ErrorClass::Fatal, Hint(Some(hint)));
    }
    let hint = if reason.contains("refused") {
        Some("is the server running and accepting TCP connections on that host and port?")
    } else if reason.contains("timed out") || reason.contains("timeout") {
        Some(
            "the host did not answer in time: check host, port, firewall and source.connect_timeout",
        )
    } else if reason.contains("failed to lookup address")
        || reason.contains("Name or service not known")
    {
        Some("the host name does not resolve")
    } else {
        None
    };
    (reason, ErrorClass::Transient, Hint(hint))
}

/// A connection setting that cannot be used, named by its key.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("source.url: not a valid PostgreSQL connection string: {0}")]
    Url(String),
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    #[error("source.aws_iam: {0}")]
    Iam(String),
    #[error("source.password_file: cannot read {path}: {source}")]
    PasswordFile {
        path: String,
        source: std::io::Error,
    },
}
