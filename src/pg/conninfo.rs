//! libpq's connection strings, where tokio-postgres differs: the TLS parameters it does not
//! take (taken out here and resolved by `connect`), percent-decoding of their URL values,
//! libpq's default host, the `host:port/db as user` label errors and logs name a target by,
//! and redaction of the password from the parser's messages.

/// Takes libpq's TLS parameters (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) out of a
/// connection URL or key=value string, returning the rest and the values.
pub(super) fn take_ssl_params(conn: &str) -> (String, Vec<(String, String)>) {
    const KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];
    let mut taken = Vec::new();
    if conn.starts_with("postgres://") || conn.starts_with("postgresql://") {
        let Some((base, query)) = conn.split_once('?') else {
            return (conn.to_owned(), taken);
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if KEYS.contains(&k) {
                taken.push((k.to_owned(), percent_decode(v)));
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, taken);
    }
    // key=value form; values may be single-quoted.
    let mut kept = Vec::new();
    let mut chars = conn.chars().peekable();
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() && !quoted {
                break;
            }
            if c == '\'' {
                quoted = !quoted;
            }
            item.push(c);
            chars.next();
        }
        if item.is_empty() {
            continue;
        }
        match item.split_once('=') {
            Some((k, v)) if KEYS.contains(&k.trim()) => {
                taken.push((k.trim().to_owned(), v.trim_matches('\'').to_owned()))
            }
            _ => kept.push(item),
        }
    }
    (kept.join(" "), taken)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn label(config: &tokio_postgres::Config) -> String {
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
pub(super) fn default_host() -> &'static str {
    if std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432").exists() {
        "/var/run/postgresql"
    } else {
        "localhost"
    }
}

pub(super) fn redact(message: &str, secret_source: &str) -> String {
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

    #[test]
    fn tls_parameters_come_out_of_urls_and_key_value_strings() {
        let (rest, taken) = take_ssl_params(
            "postgres://u:pw@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u:pw@h/db?application_name=x");
        assert_eq!(
            taken,
            vec![
                ("sslmode".to_owned(), "verify-full".to_owned()),
                ("sslrootcert".to_owned(), "/etc/ca.pem".to_owned())
            ]
        );
        let (rest, taken) =
            take_ssl_params("host=h sslmode=require dbname='my db' sslcert='/c.pem'");
        assert_eq!(rest, "host=h dbname='my db'");
        assert_eq!(taken.len(), 2);
    }

    #[test]
    fn the_password_is_redacted_from_parser_messages() {
        let url = "postgres://u:hunter2@h:notaport/d";
        let message = format!("invalid port in {url}");
        let out = redact(&message, url);
        assert!(!out.contains("hunter2"), "{out}");
        assert_eq!(out, "invalid port in <source.url>");
        // A URL that parses gives its password, which goes wherever it appears.
        let valid = "postgres://u:hunter2@h:5432/d";
        assert_eq!(redact("bad: hunter2", valid), "bad: ***");
    }
}
