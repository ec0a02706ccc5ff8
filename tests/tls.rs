//! TLS against a real server with `ssl = on` and a certificate made here for `localhost`,
//! signed by a CA made here: each sslmode, for query connections and the replication one.

use pgmeta::config::Secret;
use pgmeta::pg::PgTarget;
use pgmeta::testkit::{PgCluster, SUPERUSER_PASSWORD};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use std::sync::OnceLock;

struct Pki {
    ca: String,
    other_ca: String,
    cert: String,
    key: String,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let key = KeyPair::generate().expect("key");
    let pem = params.self_signed(&key).expect("self-signed").pem();
    (params, key, pem)
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let (params, key, ca_pem) = ca("pgmeta test CA");
        let (_, _, other_ca) = ca("someone else's CA");
        let server = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        let server_key = KeyPair::generate().expect("key");
        let issuer = Issuer::new(params, key);
        let cert = server
            .signed_by(&server_key, &issuer)
            .expect("signed")
            .pem();
        Pki {
            ca: ca_pem,
            other_ca,
            cert,
            key: server_key.serialize_pem(),
        }
    })
}

fn tls_cluster() -> &'static PgCluster {
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let p = pki();
        PgCluster::start_with_tls(Some((&p.cert, &p.key)))
    })
}

fn target(
    cluster: &PgCluster,
    host: &str,
    mode: &str,
    root: Option<&str>,
) -> Result<PgTarget, String> {
    let source = pgmeta::config::SourceConfig {
        host: Some(host.into()),
        port: Some(cluster.port()),
        user: Some("postgres".into()),
        password: Some(Secret::new(SUPERUSER_PASSWORD.into())),
        database: Some("postgres".into()),
        sslmode: Some(mode.into()),
        sslrootcert: root.map(str::to_owned),
        ..Default::default()
    };
    PgTarget::resolve(&source, &|_| None).map_err(|e| e.to_string())
}

/// Connects and says whether the session is encrypted.
async fn encrypted(t: &PgTarget) -> Result<bool, String> {
    let client = t.connect().await.map_err(|e| e.to_string())?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn each_sslmode_against_a_tls_server() {
    let cluster = tls_cluster();
    let p = pki();
    let dir = tempfile::tempdir().expect("dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &p.ca).expect("write ca");
    let ca_path = ca_file.to_str().expect("utf8 path");

    // verify-full: the right CA and the certificate's host name.
    let t = target(cluster, "localhost", "verify-full", Some(ca_path)).expect("target");
    assert_eq!(encrypted(&t).await, Ok(true));
    // ... the CA inline as PEM works the same.
    let t = target(cluster, "localhost", "verify-full", Some(&p.ca)).expect("target");
    assert_eq!(encrypted(&t).await, Ok(true));
    // ... a host name the certificate is not for: refused, and the message says why.
    let t = target(cluster, "127.0.0.1", "verify-full", Some(ca_path)).expect("target");
    let err = encrypted(&t).await.expect_err("wrong host name");
    assert!(err.contains("not for this host name"), "{err}");
    assert!(!err.contains(SUPERUSER_PASSWORD));
    // ... a CA that did not sign it: refused.
    let t = target(cluster, "localhost", "verify-full", Some(&p.other_ca)).expect("target");
    let err = encrypted(&t).await.expect_err("untrusted CA");
    assert!(err.contains("not signed by a trusted CA"), "{err}");

    // verify-ca: the chain is checked, the name is not.
    let t = target(cluster, "127.0.0.1", "verify-ca", Some(ca_path)).expect("target");
    assert_eq!(encrypted(&t).await, Ok(true));
    let t = target(cluster, "127.0.0.1", "verify-ca", Some(&p.other_ca)).expect("target");
    assert!(encrypted(&t).await.is_err());

    // require: encrypted, nothing verified (any certificate, any name).
    let t = target(cluster, "127.0.0.1", "require", None).expect("target");
    assert_eq!(encrypted(&t).await, Ok(true));
    // prefer takes TLS when offered; disable and allow stay plain here (pg_hba allows it).
    let t = target(cluster, "127.0.0.1", "prefer", None).expect("target");
    assert_eq!(encrypted(&t).await, Ok(true));
    let t = target(cluster, "127.0.0.1", "disable", None).expect("target");
    assert_eq!(encrypted(&t).await, Ok(false));
    let t = target(cluster, "127.0.0.1", "allow", None).expect("target");
    assert_eq!(encrypted(&t).await, Ok(false));
}

#[tokio::test]
async fn against_a_server_without_tls() {
    let plain = PgCluster::shared();
    // prefer falls back to plain.
    let t = target(plain, "127.0.0.1", "prefer", None).expect("target");
    assert_eq!(encrypted(&t).await, Ok(false));
    // require refuses, saying what to change.
    let t = target(plain, "127.0.0.1", "require", None).expect("target");
    let err = encrypted(&t).await.expect_err("no TLS on the server");
    assert!(err.contains("ssl = off"), "{err}");
}

#[tokio::test]
async fn replication_connection_uses_the_same_settings() {
    let cluster = tls_cluster();
    let p = pki();
    let setup = target(cluster, "localhost", "verify-full", Some(&p.ca)).expect("target");
    let client = setup.connect().await.expect("connect");
    for sql in [
        "CREATE PUBLICATION tls_pub",
        "SELECT pg_create_logical_replication_slot('tls_slot', 'pgoutput')",
    ] {
        client
            .batch_execute(sql)
            .await
            .expect("publication and slot");
    }
    let stream = |t: PgTarget| async move {
        let cfg = t
            .replication_config("tls_slot", "tls_pub")
            .map_err(|e| e.to_string())?;
        let mut client = pgwire_replication::ReplicationClient::connect(cfg)
            .await
            .map_err(|e| e.to_string())?;
        // The session is set up on a worker task: its first event (a keepalive) or its error
        // says how the handshake went.
        let first = tokio::time::timeout(std::time::Duration::from_secs(20), client.recv())
            .await
            .map_err(|_| "no event within 20 s".to_owned())?;
        client.stop();
        first.map(|_| ()).map_err(|e| e.to_string())
    };
    let ok = target(cluster, "localhost", "verify-full", Some(&p.ca)).expect("target");
    match stream(ok).await {
        Ok(()) => {}
        // Before 14 the server refuses pgoutput's `messages` option: that answer comes after
        // the TLS handshake and authentication, which is what this checks.
        Err(e) if cluster.major_version() < 14 => {
            assert!(e.contains("unrecognized pgoutput option: messages"), "{e}")
        }
        Err(e) => panic!("replication over TLS: {e}"),
    }
    let wrong_ca = target(cluster, "localhost", "verify-full", Some(&p.other_ca)).expect("target");
    let err = stream(wrong_ca).await.expect_err("untrusted CA");
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("issuer"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_settings_errors_name_the_setting() {
    let plain = PgCluster::shared();
    let err = target(
        plain,
        "localhost",
        "verify-full",
        Some("/nonexistent/ca.pem"),
    )
    .expect_err("missing CA file");
    assert!(
        err.starts_with("source.sslrootcert: cannot read /nonexistent/ca.pem"),
        "{err}"
    );
    let err = target(plain, "localhost", "sometimes", None).expect_err("bad mode");
    assert!(err.starts_with("source.sslmode:"), "{err}");
}

#[tokio::test]
async fn an_rds_iam_token_is_the_password() {
    use pgmeta::pg::rds_iam::{AmzTime, Credentials, auth_token};
    let cluster = tls_cluster();
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let at = AmzTime(1_795_348_800);
    let token = auth_token(
        &Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: secret.into(),
            session_token: None,
        },
        "127.0.0.1",
        cluster.port(),
        "iam_user",
        "eu-west-1",
        at,
    );
    // The server stands in for RDS: the role's password is the token RDS would accept.
    let admin = target(cluster, "127.0.0.1", "require", None).expect("target");
    admin
        .connect()
        .await
        .expect("connect")
        .batch_execute(&format!("CREATE ROLE iam_user LOGIN PASSWORD '{token}'"))
        .await
        .expect("role");
    let source = pgmeta::config::SourceConfig {
        host: Some("127.0.0.1".into()),
        port: Some(cluster.port()),
        user: Some("iam_user".into()),
        database: Some("postgres".into()),
        sslmode: Some("require".into()),
        aws_iam: Some(pgmeta::config::AwsIamConfig {
            region: Some("eu-west-1".into()),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some(Secret::new(secret.into())),
            ..Default::default()
        }),
        ..Default::default()
    };
    let t = PgTarget::resolve(&source, &|_| None)
        .expect("target")
        .with_iam_clock(move || at);
    let client = t.connect().await.expect("connects with the token");
    let user: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .expect("query")
        .get(0);
    assert_eq!(user, "iam_user");
    // A token made a minute later is another password: refused, and not echoed.
    let later = PgTarget::resolve(&source, &|_| None)
        .expect("target")
        .with_iam_clock(move || AmzTime(at.0 + 60));
    let err = later
        .connect()
        .await
        .expect_err("another token")
        .to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(
        !err.contains("X-Amz-Signature") && !err.contains(secret),
        "{err}"
    );
    assert!(!format!("{later:?}").contains(secret));
}
