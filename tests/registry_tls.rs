//! The Schema Registry over TLS: the registry's certificate checked against `ca_file`, and a
//! client certificate (`cert_file`, `key_file`) where the registry asks for one. rivven-schema
//! behind socat, which terminates TLS with certificates made here.

use pgmeta::config::SchemaRegistryConfig;
use pgmeta::testkit::{SchemaRegistryServer, TlsFront, free_port};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};

/// A CA, a certificate for `localhost` and a client certificate it signed, as PEM files.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "pgmeta test registry CA");
        let ca_key = KeyPair::generate().expect("key");
        let ca_pem = ca.self_signed(&ca_key).expect("self-signed").pem();
        let issuer = Issuer::new(ca, ca_key);
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text);
        write("ca.pem", &ca_pem).expect("write");
        for (name, san) in [("server", "localhost"), ("client", "pgmeta-capture")] {
            let mut params = CertificateParams::new(vec![san.to_owned()]).expect("params");
            params.distinguished_name.push(DnType::CommonName, san);
            let key = KeyPair::generate().expect("key");
            let cert = params.signed_by(&key, &issuer).expect("signed").pem();
            write(&format!("{name}.pem"), &cert).expect("write");
            write(&format!("{name}.key"), &key.serialize_pem()).expect("write");
        }
        Pki { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn config(url: &str, ca: Option<&Path>, client: Option<(&Path, &Path)>) -> SchemaRegistryConfig {
    let mut cfg = SchemaRegistryConfig::new(url);
    cfg.ca_file = ca.map(Path::to_path_buf);
    cfg.cert_file = client.map(|(cert, _)| cert.to_path_buf());
    cfg.key_file = client.map(|(_, key)| key.to_path_buf());
    cfg
}

/// Registers the metadata event schema under a subject of its own: the id, or the error's
/// text. A TLS failure is never one to wait out (not transient: the capture stops on it).
async fn register(cfg: &SchemaRegistryConfig) -> Result<u32, String> {
    let client = pgmeta::registry::SchemaRegistry::new(cfg).map_err(|e| e.to_string())?;
    client
        .register("tls-check-value", pgmeta::codec::METADATA_EVENT_SCHEMA)
        .await
        .map_err(|e| {
            assert!(
                !matches!(e, pgmeta::registry::RegistryError::Tls { .. }) || !e.is_transient(),
                "{e}"
            );
            e.to_string()
        })
}

#[tokio::test]
async fn the_registry_over_tls_is_trusted_by_ca_file_and_takes_the_client_certificate() {
    let Some(registry) = SchemaRegistryServer::start_on(free_port()) else {
        pgmeta::testkit::skip(
            "the_registry_over_tls_is_trusted_by_ca_file_and_takes_the_client_certificate",
            pgmeta::testkit::Missing::Tool,
            "no rivven-schema (run scripts/install-rivven-schema.sh)",
        );
        return;
    };
    let pki = Pki::new();
    let (ca, cert, key) = (
        pki.path("ca.pem"),
        pki.path("server.pem"),
        pki.path("server.key"),
    );
    let client = (pki.path("client.pem"), pki.path("client.key"));
    let client = (client.0.as_path(), client.1.as_path());
    let (Some(tls), Some(mutual)) = (
        TlsFront::start(registry.port(), &cert, &key, None),
        TlsFront::start(registry.port(), &cert, &key, Some(&ca)),
    ) else {
        pgmeta::testkit::skip(
            "the_registry_over_tls_is_trusted_by_ca_file_and_takes_the_client_certificate",
            pgmeta::testkit::Missing::Tool,
            "no socat to terminate TLS in front of the registry (apt-get install socat)",
        );
        return;
    };

    // Server TLS: trusted through ca_file, refused without it (the system's roots lack our CA).
    let id = register(&config(&tls.url(), Some(&ca), None))
        .await
        .expect("registers over TLS with ca_file");
    let untrusted = register(&config(&tls.url(), None, None))
        .await
        .expect_err("a certificate of an unknown CA is refused");
    assert!(
        untrusted.contains(&format!("TLS with schema registry {} failed", tls.url()))
            && untrusted.contains("UnknownIssuer")
            && untrusted.contains("hint: check kafka.schema_registry.ca_file"),
        "{untrusted}"
    );

    // Mutual TLS: the same schema (the same id) with the client certificate; refused without.
    assert_eq!(
        register(&config(&mutual.url(), Some(&ca), Some(client))).await,
        Ok(id),
        "registers over mutual TLS with cert_file and key_file"
    );
    let anonymous = register(&config(&mutual.url(), Some(&ca), None))
        .await
        .expect_err("the registry asks for a client certificate");
    assert!(
        anonymous.contains(&format!("TLS with schema registry {} failed", mutual.url()))
            && anonymous.contains("CertificateRequired"),
        "{anonymous}"
    );

    // A key file that is not a key is named when the client is built.
    let bad = config(&mutual.url(), Some(&ca), Some((client.0, &ca)));
    let error = pgmeta::registry::SchemaRegistry::new(&bad)
        .expect_err("no identity from a certificate as key")
        .to_string();
    assert!(error.contains("cert_file and key_file"), "{error}");
}
