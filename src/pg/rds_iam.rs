//! AWS RDS IAM authentication tokens, made in-process: a SigV4-presigned
//! `GET https://<host>:<port>/?Action=connect&DBUser=<user>` for the `rds-db` service, valid
//! 15 minutes, used as the password. A fresh token is made for every connection, so it never
//! expires in use.
//!
//! Written by hand on `hmac` and `sha2`: the maintained signer (`aws-sigv4`) brings the AWS
//! SDK's runtime crates for what is one presigned GET here. Checked against AWS's published
//! SigV4 examples and a token made by botocore at a fixed time.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// How long a token is accepted (RDS's maximum).
pub const TOKEN_LIFETIME_SECS: u64 = 900;

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A UTC time as SigV4 writes it: `YYYYMMDDTHHMMSSZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmzTime(pub u64);

impl AmzTime {
    pub fn now() -> Self {
        AmzTime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    }

    /// `(YYYYMMDD, YYYYMMDDTHHMMSSZ)`.
    fn stamps(self) -> (String, String) {
        let secs = self.0 % 86_400;
        let millis = i64::try_from(self.0).unwrap_or(i64::MAX / 1000) * 1000;
        let date = crate::event::utc_day(millis).replace('-', "");
        let time = format!(
            "{date}T{:02}{:02}{:02}Z",
            secs / 3600,
            (secs / 60) % 60,
            secs % 60
        );
        (date, time)
    }
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_hex(data: &str) -> String {
    hex(&Sha256::digest(data.as_bytes()))
}

/// The SigV4 signing key of a day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date);
    let k = hmac(&k, region);
    let k = hmac(&k, service);
    hmac(&k, "aws4_request")
}

/// SigV4's URI encoding: everything but unreserved characters as `%XX`.
pub fn uri_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One request to sign.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// Unencoded query parameters.
    pub query: Vec<(String, String)>,
    /// Lower-case header names and their values.
    pub headers: Vec<(String, String)>,
    pub payload_hash: String,
}

/// `(canonical request, string to sign, signature)`.
pub fn sign(
    req: &Request<'_>,
    secret: &str,
    time: &str,
    region: &str,
    service: &str,
) -> (String, String, String) {
    let date = &time[..8];
    let mut query: Vec<(String, String)> = req
        .query
        .iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = req.headers.clone();
    headers.sort();
    let canonical_headers: String = headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical = format!(
        "{}\n{}\n{query}\n{canonical_headers}\n{signed_headers}\n{}",
        req.method, req.path, req.payload_hash
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{time}\n{scope}\n{}",
        sha256_hex(&canonical)
    );
    let signature = hex(&hmac(&signing_key(secret, date, region, service), &to_sign));
    (canonical, to_sign, signature)
}

/// An RDS IAM token for `user` at `host:port` in `region`, made at `now`.
pub fn auth_token(
    creds: &Credentials,
    host: &str,
    port: u16,
    user: &str,
    region: &str,
    now: AmzTime,
) -> String {
    let (date, time) = now.stamps();
    let mut query = vec![
        ("Action".to_owned(), "connect".to_owned()),
        ("DBUser".to_owned(), user.to_owned()),
        ("X-Amz-Algorithm".to_owned(), "AWS4-HMAC-SHA256".to_owned()),
        (
            "X-Amz-Credential".to_owned(),
            format!(
                "{}/{date}/{region}/rds-db/aws4_request",
                creds.access_key_id
            ),
        ),
        ("X-Amz-Date".to_owned(), time.clone()),
        ("X-Amz-Expires".to_owned(), TOKEN_LIFETIME_SECS.to_string()),
        ("X-Amz-SignedHeaders".to_owned(), "host".to_owned()),
    ];
    if let Some(token) = &creds.session_token {
        query.push(("X-Amz-Security-Token".to_owned(), token.clone()));
    }
    let host_header = format!("{host}:{port}");
    let req = Request {
        method: "GET",
        path: "/",
        query: query.clone(),
        headers: vec![("host".to_owned(), host_header.clone())],
        payload_hash: sha256_hex(""),
    };
    let (_, _, signature) = sign(&req, &creds.secret_access_key, &time, region, "rds-db");
    // In the order botocore writes them (the signature does not depend on it).
    let mut out = format!("{host_header}/?");
    for (k, v) in &query {
        out.push_str(&format!("{}={}&", uri_encode(k), uri_encode(v)));
    }
    out.push_str(&format!("X-Amz-Signature={signature}"));
    out
}

/// Credentials of a named profile in an AWS shared credentials file (`[name]` sections of
/// `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`).
pub fn profile_credentials(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_section = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            let name = line[1..line.len() - 1].trim();
            in_section = name == profile || name == format!("profile {profile}");
            continue;
        }
        if !in_section || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_owned();
            match k.trim() {
                "aws_access_key_id" => id = Some(v),
                "aws_secret_access_key" => secret = Some(v),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    Some(Credentials {
        access_key_id: id?,
        secret_access_key: secret?,
        session_token: token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_key_matches_awss_published_example() {
        // AWS General Reference, "Examples of how to derive a signing key".
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex(&key),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn header_signing_matches_the_s3_get_object_example() {
        // Amazon S3 API reference, "Example: GET Object" (every intermediate is published).
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let req = Request {
            method: "GET",
            path: "/test.txt",
            query: vec![],
            headers: vec![
                ("host".into(), "examplebucket.s3.amazonaws.com".into()),
                ("range".into(), "bytes=0-9".into()),
                ("x-amz-content-sha256".into(), empty.into()),
                ("x-amz-date".into(), "20130524T000000Z".into()),
            ],
            payload_hash: empty.into(),
        };
        let (canonical, to_sign, signature) = sign(
            &req,
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "20130524T000000Z",
            "us-east-1",
            "s3",
        );
        assert!(canonical.starts_with("GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"));
        assert!(to_sign.ends_with(
            "20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        ));
        assert_eq!(
            signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn tokens_equal_botocores_at_a_fixed_time() {
        // botocore's `generate_db_auth_token` with its clock fixed at 2026-11-22T12:00:00Z.
        let mut creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
        };
        let host = "mydb.cluster-abc.eu-west-1.rds.amazonaws.com";
        let at = AmzTime(1_795_348_800);
        assert_eq!(
            auth_token(&creds, host, 5432, "pgmeta_reader", "eu-west-1", at),
            "mydb.cluster-abc.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=pgmeta_reader&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261122%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20261122T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=bb80bd83bc95616a0e9748f21c12650129e4a1b83f69f7723be8b8940ae5af9d"
        );
        creds.session_token = Some("FwoGZXIvYXdzEXAMPLE/token+with=chars".into());
        assert_eq!(
            auth_token(&creds, host, 5432, "pgmeta_reader", "eu-west-1", at),
            "mydb.cluster-abc.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=pgmeta_reader&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261122%2Feu-west-1%2Frds-db%2Faws4_request&X-Amz-Date=20261122T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE%2Ftoken%2Bwith%3Dchars&X-Amz-Signature=aa7a240a8664a02c3db1398c9a3c71f12c845ad73ecbab2933dcfadf18a494e8"
        );
    }

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(AmzTime(0).stamps().1, "19700101T000000Z");
        assert_eq!(AmzTime(1_369_353_600).stamps().1, "20130524T000000Z");
        assert_eq!(AmzTime(951_782_400).stamps().0, "20000229");
    }

    #[test]
    fn profiles_are_read_from_the_credentials_file() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[ops]\naws_access_key_id=C\naws_secret_access_key=D\naws_session_token=E\n";
        let ops = profile_credentials(text, "ops").expect("ops");
        assert_eq!(
            (ops.access_key_id.as_str(), ops.session_token.as_deref()),
            ("C", Some("E"))
        );
        assert!(profile_credentials(text, "missing").is_none());
        assert!(
            !format!("{ops:?}").contains('D'),
            "the secret is not printed"
        );
    }
}
