//! A client of the Confluent Schema Registry REST API (Confluent's registry, Apicurio's
//! `ccompat` API, Redpanda, rivven-schema): what pgmeta needs of it, which is to set a
//! subject's compatibility level, register a schema under a subject (getting its id back, the
//! same id for a schema already there), and fetch a schema by id.
//!
//! Written on reqwest rather than taken from a crate: the Rust registry clients
//! (`schema_registry_converter`) bring their own Avro and Kafka stacks and encoders, where
//! pgmeta needs three REST calls beside its own codec.

use crate::config::{SchemaRegistryConfig, Secret};
use serde_json::{Value, json};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// The TLS handshake failed: retrying cannot help until the certificates change.
    #[error(
        "TLS with schema registry {url} failed: {reason} (hint: check kafka.schema_registry.ca_file, cert_file and key_file)"
    )]
    Tls { url: String, reason: String },
    #[error(
        "the schema registry refuses the schema of subject {subject} as incompatible with its earlier versions: {reason}"
    )]
    Incompatible { subject: String, reason: String },
    #[error(
        "the schema registry refuses {what} with HTTP {status}: {reason} (hint: check kafka.schema_registry's credentials)"
    )]
    Unauthorized {
        what: String,
        status: u16,
        reason: String,
    },
    #[error("the schema registry answers {what} with HTTP {status}: {reason}")]
    Refused {
        what: String,
        status: u16,
        reason: String,
    },
    #[error("the schema registry has no schema with id {0}")]
    UnknownId(u32),
    #[error("kafka.schema_registry: {0}")]
    Config(String),
}

impl RegistryError {
    /// Whether trying again later can help: the registry is down or overloaded.
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Whether `e` comes from rustls: a certificate refused on either side, or a handshake alert.
/// An `io::Error` hides the error it wraps from `source()` (reqwest's connector nests two), so
/// those are unwrapped as well.
fn is_tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(mut err) = next {
        while let Some(inner) = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            err = inner;
        }
        if err.is::<rustls::Error>() {
            return true;
        }
        next = err.source();
    }
    false
}

#[derive(Debug, Clone)]
pub struct SchemaRegistry {
    http: reqwest::Client,
    /// Without any user information, so it can be shown.
    base: String,
    auth: Auth,
}

#[derive(Clone)]
enum Auth {
    None,
    Basic(String, Secret),
    Bearer(Secret),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Auth::None => "None",
            Auth::Basic(..) => "Basic(***)",
            Auth::Bearer(_) => "Bearer(***)",
        })
    }
}

impl SchemaRegistry {
    pub fn new(cfg: &SchemaRegistryConfig) -> Result<Self, RegistryError> {
        crate::pg::tls::install_provider();
        let read = |path: &std::path::Path| {
            std::fs::read(path)
                .map_err(|e| RegistryError::Config(format!("cannot read {}: {e}", path.display())))
        };
        let mut builder = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout);
        if let Some(ca) = &cfg.ca_file {
            let pem = read(ca)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| RegistryError::Config(format!("ca_file {}: {e}", ca.display())))?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&cfg.cert_file, &cfg.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read(cert)?;
                pem.extend_from_slice(b"\n");
                pem.extend_from_slice(&read(key)?);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| RegistryError::Config(format!("cert_file and key_file: {e}")))?;
                builder = builder.identity(identity);
            }
            (None, None) => {}
            _ => {
                return Err(RegistryError::Config(
                    "cert_file and key_file go together".into(),
                ));
            }
        }
        let http = builder
            .build()
            .map_err(|e| RegistryError::Config(format!("cannot build the HTTP client: {e}")))?;
        let (base, url_auth) = split_user_info(&cfg.url);
        let auth = match (&cfg.bearer_token, &cfg.username, &cfg.password, url_auth) {
            (Some(token), _, _, _) => Auth::Bearer(token.clone()),
            (None, Some(user), password, _) => Auth::Basic(
                user.clone(),
                password
                    .clone()
                    .unwrap_or_else(|| Secret::new(String::new())),
            ),
            (None, None, _, Some((user, password))) => Auth::Basic(user, Secret::new(password)),
            _ => Auth::None,
        };
        Ok(SchemaRegistry { http, base, auth })
    }

    /// The registry's address, without credentials.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Sets `subject`'s compatibility level.
    pub async fn set_compatibility(&self, subject: &str, level: &str) -> Result<(), RegistryError> {
        let url = self.url_of(&["config", subject])?;
        let what = format!("the compatibility level of subject {subject}");
        self.call(
            self.http.put(url).json(&json!({ "compatibility": level })),
            &what,
        )
        .await
        .map(|_| ())
    }

    /// Registers `schema` (Avro JSON) under `subject` and returns its id; a schema the
    /// subject already has keeps its id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = self.url_of(&["subjects", subject, "versions"])?;
        let what = format!("the schema of subject {subject}");
        let body = self
            .call(
                self.http
                    .post(url)
                    .json(&json!({ "schemaType": "AVRO", "schema": schema })),
                &what,
            )
            .await
            .map_err(|e| match e {
                RegistryError::Refused {
                    status: 409,
                    reason,
                    ..
                } => RegistryError::Incompatible {
                    subject: subject.to_owned(),
                    reason,
                },
                other => other,
            })?;
        id_of(&body).ok_or_else(|| RegistryError::Refused {
            what,
            status: 200,
            reason: format!("no schema id in the answer {body}"),
        })
    }

    /// The schema (Avro JSON) with `id`.
    pub async fn schema(&self, id: u32) -> Result<String, RegistryError> {
        let url = self.url_of(&["schemas", "ids", &id.to_string()])?;
        let what = format!("schema id {id}");
        let body = self
            .call(self.http.get(url), &what)
            .await
            .map_err(|e| match e {
                RegistryError::Refused { status: 404, .. } => RegistryError::UnknownId(id),
                other => other,
            })?;
        body.get("schema")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| RegistryError::Refused {
                what,
                status: 200,
                reason: format!("no schema in the answer {body}"),
            })
    }

    /// The registry's base URL with `segments` appended, each percent-encoded as one path
    /// segment (subjects may hold `/`, spaces and more).
    fn url_of(&self, segments: &[&str]) -> Result<reqwest::Url, RegistryError> {
        let mut url = reqwest::Url::parse(&self.base)
            .map_err(|e| RegistryError::Config(format!("url {}: {e}", self.base)))?;
        url.path_segments_mut()
            .map_err(|()| RegistryError::Config(format!("url {} cannot have a path", self.base)))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Value, RegistryError> {
        let request = match &self.auth {
            Auth::None => request,
            Auth::Basic(user, password) => request.basic_auth(user, Some(password.expose())),
            Auth::Bearer(token) => request.bearer_auth(token.expose()),
        }
        .header(reqwest::header::ACCEPT, CONTENT_TYPE);
        let response = request.send().await.map_err(|e| {
            let (url, reason) = (
                self.base.clone(),
                crate::error_chain::with_sources(e.to_string(), &e),
            );
            if is_tls_failure(&e) {
                RegistryError::Tls { url, reason }
            } else {
                RegistryError::Unreachable { url, reason }
            }
        })?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| RegistryError::Unreachable {
                url: self.base.clone(),
                reason: crate::error_chain::with_sources(e.to_string(), &e),
            })?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            return Ok(body);
        }
        // Confluent's error body: {"error_code": 40901, "message": "..."}.
        let reason = body
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| body.to_string(), str::to_owned);
        let what = what.to_owned();
        Err(if status == 401 || status == 403 {
            RegistryError::Unauthorized {
                what,
                status,
                reason,
            }
        } else {
            RegistryError::Refused {
                what,
                status,
                reason,
            }
        })
    }
}

/// The schema id of a registration's answer: `{"id": 3}`.
fn id_of(body: &Value) -> Option<u32> {
    body.get("id")?.as_u64()?.try_into().ok()
}

/// The URL without `user:password@` (and without a trailing `/`), and that user information.
fn split_user_info(url: &str) -> (String, Option<(String, String)>) {
    let url = url.trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((info, host)) => {
            let (user, password) = info.split_once(':').unwrap_or((info, ""));
            (
                format!("{scheme}://{host}{}", &rest[authority_end..]),
                Some((user.to_owned(), password.to_owned())),
            )
        }
        None => (url.to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rustls_error_nested_in_io_errors_is_a_tls_failure_and_a_refused_connection_is_not() {
        // The shape reqwest's connector gives: io::Error(Other, io::Error(InvalidData, rustls)).
        let rustls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let nested =
            std::io::Error::other(std::io::Error::new(std::io::ErrorKind::InvalidData, rustls));
        assert!(is_tls_failure(&nested));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_tls_failure(&refused));
        let tls = RegistryError::Tls {
            url: "https://registry".into(),
            reason: "UnknownIssuer".into(),
        };
        assert!(!tls.is_transient());
    }

    #[test]
    fn credentials_in_the_url_are_taken_out_of_it() {
        let (base, auth) =
            split_user_info("https://svc:s3cret@registry.example:8081/apis/ccompat/v7/");
        assert_eq!(base, "https://registry.example:8081/apis/ccompat/v7");
        assert_eq!(auth, Some(("svc".into(), "s3cret".into())));
        assert_eq!(
            split_user_info("http://registry:8081"),
            ("http://registry:8081".into(), None)
        );
    }

    #[test]
    fn subjects_are_one_path_segment() {
        let registry =
            SchemaRegistry::new(&SchemaRegistryConfig::new("http://r:8081/apis/ccompat/v7/"))
                .expect("client");
        let url = registry
            .url_of(&["subjects", "a/b c", "versions"])
            .expect("url");
        assert_eq!(
            url.as_str(),
            "http://r:8081/apis/ccompat/v7/subjects/a%2Fb%20c/versions"
        );
    }

    #[test]
    fn a_registry_whose_url_carries_a_password_never_shows_it() {
        let cfg = SchemaRegistryConfig::new("http://svc:hunter2@127.0.0.1:1");
        let registry = SchemaRegistry::new(&cfg).expect("client");
        assert_eq!(registry.url(), "http://127.0.0.1:1");
        assert!(!format!("{registry:?}").contains("hunter2"));
    }

    #[test]
    fn only_a_down_or_overloaded_registry_is_worth_waiting_for() {
        let refused = |status| RegistryError::Refused {
            what: "x".into(),
            status,
            reason: "r".into(),
        };
        assert!(refused(503).is_transient());
        assert!(refused(429).is_transient());
        assert!(!refused(422).is_transient());
        assert!(
            !RegistryError::Incompatible {
                subject: "s".into(),
                reason: "r".into()
            }
            .is_transient()
        );
    }
}
