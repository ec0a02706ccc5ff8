//! TLS to PostgreSQL with libpq's `sslmode` semantics, for both the query connections
//! (tokio-postgres through tokio-postgres-rustls) and the replication connection
//! (pgwire-replication's rustls support).
//!
//! | sslmode     | encrypts                  | verifies the chain | verifies the host name |
//! |-------------|---------------------------|--------------------|------------------------|
//! | disable     | no                        | -                  | -                      |
//! | allow       | only if the server insists| no                 | no                     |
//! | prefer      | if the server offers it   | no                 | no                     |
//! | require     | yes                       | only with sslrootcert (as libpq does) | no  |
//! | verify-ca   | yes                       | yes                | no                     |
//! | verify-full | yes                       | yes                | yes                    |
//!
//! `sslrootcert`, `sslcert` and `sslkey` are a file path or the PEM text itself. Without
//! `sslrootcert`, verification uses the Mozilla roots (webpki-roots).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A certificate or key given as a file or as PEM text.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

impl std::fmt::Debug for Pem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pem::File(p) => write!(f, "File({})", p.display()),
            // A private key may be inline: never print it.
            Pem::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

impl Pem {
    /// `-----BEGIN` starts PEM text; anything else is a path.
    pub fn from_setting(value: &str) -> Pem {
        if value.trim_start().starts_with("-----BEGIN") {
            Pem::Inline(value.to_owned())
        } else {
            Pem::File(PathBuf::from(value))
        }
    }

    fn bytes(&self, key: &'static str) -> Result<Vec<u8>, TlsError> {
        match self {
            Pem::Inline(s) => Ok(s.as_bytes().to_vec()),
            Pem::File(p) => std::fs::read(p).map_err(|e| TlsError::Read {
                key,
                path: p.display().to_string(),
                reason: e.to_string(),
            }),
        }
    }

    /// A file path for libraries that only take paths: inline PEM is written to a private
    /// temporary file that lives as long as the process.
    pub fn path(&self, key: &'static str) -> Result<PathBuf, TlsError> {
        match self {
            Pem::File(p) => Ok(p.clone()),
            Pem::Inline(text) => {
                use std::io::Write;
                let mut f = tempfile::Builder::new()
                    .prefix("pgmeta-tls-")
                    .suffix(".pem")
                    .tempfile()
                    .map_err(|e| TlsError::Read {
                        key,
                        path: "a temporary file".into(),
                        reason: e.to_string(),
                    })?;
                f.write_all(text.as_bytes()).map_err(|e| TlsError::Read {
                    key,
                    path: f.path().display().to_string(),
                    reason: e.to_string(),
                })?;
                let (_, path) = f.keep().map_err(|e| TlsError::Read {
                    key,
                    path: "a temporary file".into(),
                    reason: e.to_string(),
                })?;
                Ok(path)
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: cannot read {path}: {reason}")]
    Read {
        key: &'static str,
        path: String,
        reason: String,
    },
    #[error("{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// The TLS settings of a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    pub root_cert: Option<Pem>,
    pub client_cert: Option<Pem>,
    pub client_key: Option<Pem>,
}

/// Installs the process's rustls crypto provider once (two are compiled in through the
/// dependencies, so rustls cannot pick one by itself).
pub fn install_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

impl TlsSettings {
    /// Whether the chain is verified (libpq: `require` with a root certificate does too).
    pub fn verifies_chain(&self) -> bool {
        match self.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            SslMode::Require => self.root_cert.is_some(),
            _ => false,
        }
    }

    /// The rustls client configuration for this mode.
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        install_provider();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Invalid {
                key: "source.sslmode",
                reason: e.to_string(),
            })?;
        let roots = Arc::new(self.roots()?);
        let verifier: Arc<dyn ServerCertVerifier> = if self.mode == SslMode::VerifyFull {
            WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| TlsError::Invalid {
                    key: "source.sslrootcert",
                    reason: e.to_string(),
                })?
        } else {
            Arc::new(WithoutHostName {
                roots: self.verifies_chain().then_some(roots),
                provider,
            })
        };
        let builder = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => {
                let certs = CertificateDer::pem_slice_iter(&cert.bytes("source.sslcert")?)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| TlsError::Invalid {
                        key: "source.sslcert",
                        reason: format!("not a PEM certificate: {e}"),
                    })?;
                let key =
                    PrivateKeyDer::from_pem_slice(&key.bytes("source.sslkey")?).map_err(|_| {
                        TlsError::Invalid {
                            key: "source.sslkey",
                            reason: "not a PEM private key (PKCS#8, PKCS#1 or SEC1)".into(),
                        }
                    })?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| TlsError::Invalid {
                        key: "source.sslkey",
                        reason: e.to_string(),
                    })
            }
            (None, None) => Ok(builder.with_no_client_auth()),
            _ => Err(TlsError::Invalid {
                key: "source.sslcert",
                reason: "sslcert and sslkey go together".into(),
            }),
        }
    }

    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        match &self.root_cert {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(&pem.bytes("source.sslrootcert")?) {
                    let cert = cert.map_err(|e| TlsError::Invalid {
                        key: "source.sslrootcert",
                        reason: format!("not a PEM certificate: {e}"),
                    })?;
                    roots.add(cert).map_err(|e| TlsError::Invalid {
                        key: "source.sslrootcert",
                        reason: e.to_string(),
                    })?;
                }
                if roots.is_empty() {
                    return Err(TlsError::Invalid {
                        key: "source.sslrootcert",
                        reason: "holds no certificate".into(),
                    });
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        Ok(roots)
    }

    /// The same settings for pgwire-replication's connection.
    pub fn replication(&self, host: &str) -> Result<pgwire_replication::TlsConfig, TlsError> {
        use pgwire_replication::config::SslMode as R;
        let ca = match &self.root_cert {
            Some(pem) => Some(pem.path("source.sslrootcert")?),
            None => None,
        };
        let mut tls = match self.mode {
            SslMode::Disable => pgwire_replication::TlsConfig::disabled(),
            // pgwire-replication has no `allow`; `prefer` is the closest (it tries TLS first).
            SslMode::Allow | SslMode::Prefer => pgwire_replication::TlsConfig {
                mode: R::Prefer,
                ..Default::default()
            },
            SslMode::Require if ca.is_none() => pgwire_replication::TlsConfig::require(),
            SslMode::Require | SslMode::VerifyCa => pgwire_replication::TlsConfig::verify_ca(ca),
            SslMode::VerifyFull => {
                pgwire_replication::TlsConfig::verify_full(ca).with_sni_hostname(host)
            }
        };
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            tls = tls.with_client_cert(cert.path("source.sslcert")?, key.path("source.sslkey")?);
        }
        Ok(tls)
    }
}

/// The verifier of the modes that do not check the host name: no check at all (`prefer`,
/// `allow`, `require` without a root certificate: encryption only, as libpq), or the chain
/// against `roots` (`verify-ca`, `require` with a root certificate).
#[derive(Debug)]
struct WithoutHostName {
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for WithoutHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_require_verifies_only_with_a_root() {
        for m in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            assert_eq!(SslMode::parse(m).map(SslMode::as_str), Some(m));
        }
        assert_eq!(SslMode::parse("sometimes"), None);
        let mut s = TlsSettings {
            mode: SslMode::Require,
            ..Default::default()
        };
        assert!(!s.verifies_chain());
        s.root_cert = Some(Pem::from_setting("/etc/ca.pem"));
        assert!(s.verifies_chain());
    }

    #[test]
    fn inline_pem_is_recognised_and_never_printed() {
        let key =
            Pem::from_setting("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n");
        assert!(matches!(key, Pem::Inline(_)));
        assert_eq!(format!("{key:?}"), "Inline(..)");
    }

    #[test]
    fn bad_material_names_the_setting() {
        let s = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(Pem::Inline(
                "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(),
            )),
            ..Default::default()
        };
        let err = s.client_config().expect_err("bad root");
        assert!(err.to_string().starts_with("source.sslrootcert:"), "{err}");
        let s = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(Pem::File("/nonexistent/ca.pem".into())),
            ..Default::default()
        };
        let err = s.client_config().expect_err("missing file");
        assert!(
            err.to_string().contains("cannot read /nonexistent/ca.pem"),
            "{err}"
        );
    }
}
