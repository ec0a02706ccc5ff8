//! Who may call pgmeta-catalog.
//!
//! - With a token, every API call carries `Authorization: Bearer <token>` (the scheme in any
//!   case, as RFC 7235 says). The comparison is of SHA-256 digests in constant time, so
//!   neither the token's bytes nor its length leak through timing.
//! - Without a token (loopback only, unless the operator says `--insecure-no-auth`), a caller
//!   must name the server by an IP address, `localhost`, or the public URL's host, and a
//!   browser's `Origin` must do the same. A web page that rebinds its own DNS name to
//!   127.0.0.1, or posts across origins, is refused: it cannot send either.

use crate::config::Secret;
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no token, a wrong one, or another scheme.
    Unauthorized,
    /// 403: the Host or Origin names this server by a name it does not answer to.
    ForeignName { header: &'static str },
}

/// The server's access rule.
#[derive(Debug)]
pub struct Access {
    token_digest: Option<[u8; 32]>,
    /// Host names (besides IP addresses and `localhost`) callers may use without a token.
    names: Vec<String>,
}

impl Access {
    /// `public_url`'s host is accepted as a name when there is no token.
    pub fn new(token: Option<&Secret>, public_url: &str) -> Access {
        let names = host_of_url(public_url)
            .map(|h| vec![h.to_ascii_lowercase()])
            .unwrap_or_default();
        Access {
            token_digest: token.map(|t| Sha256::digest(t.expose().as_bytes()).into()),
            names,
        }
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        match &self.token_digest {
            Some(expected) => {
                let given = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(bearer)
                    .ok_or(Refusal::Unauthorized)?;
                let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
                if bool::from(digest.ct_eq(expected)) {
                    Ok(())
                } else {
                    Err(Refusal::Unauthorized)
                }
            }
            None => {
                let host = headers.get(header::HOST).map(|h| h.to_str().ok());
                if let Some(host) = host {
                    if !host.and_then(host_part).is_some_and(|h| self.known(h)) {
                        return Err(Refusal::ForeignName { header: "Host" });
                    }
                }
                if let Some(origin) = headers.get(header::ORIGIN) {
                    let ok = origin
                        .to_str()
                        .ok()
                        .and_then(host_of_url)
                        .is_some_and(|h| self.known(h));
                    if !ok {
                        return Err(Refusal::ForeignName { header: "Origin" });
                    }
                }
                Ok(())
            }
        }
    }

    fn known(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        is_ip_literal(&host)
            || host == "localhost"
            || host.ends_with(".localhost")
            || self.names.contains(&host)
    }
}

/// The token of `Bearer <token>`, the scheme compared case-insensitively.
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `host` of `host[:port]` or `[v6]:port`.
fn host_part(authority: &str) -> Option<&str> {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map(|(h, _)| h);
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    (!host.is_empty()).then_some(host)
}

/// The host of `scheme://host[:port][/...]`.
fn host_of_url(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    host_part(authority)
}

fn is_ip_literal(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    #[test]
    fn the_token_is_checked_with_any_case_of_the_scheme() {
        let token = Secret::new("s3cret".to_owned());
        let access = Access::new(Some(&token), "http://127.0.0.1:8585");
        for ok in ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret "] {
            assert_eq!(
                access.check(&headers(&[(header::AUTHORIZATION, ok)])),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Basic s3cret",
            "s3cret",
            "Bearer ",
        ] {
            assert_eq!(
                access.check(&headers(&[(header::AUTHORIZATION, bad)])),
                Err(Refusal::Unauthorized),
                "{bad}"
            );
        }
        assert_eq!(access.check(&HeaderMap::new()), Err(Refusal::Unauthorized));
        // With a token, the Host does not matter.
        let h = headers(&[
            (header::AUTHORIZATION, "Bearer s3cret"),
            (header::HOST, "evil.example"),
        ]);
        assert_eq!(access.check(&h), Ok(()));
    }

    #[test]
    fn without_a_token_only_addresses_and_known_names_pass() {
        let access = Access::new(None, "http://catalog.internal:8585/");
        for ok in [
            "127.0.0.1:8585",
            "localhost:8585",
            "LOCALHOST",
            "[::1]:8585",
            "10.1.2.3:8585",
            "catalog.internal:8585",
            "app.localhost",
        ] {
            assert_eq!(
                access.check(&headers(&[(header::HOST, ok)])),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "evil.example",
            "evil.example:8585",
            "127.0.0.1.nip.io:8585",
            "",
        ] {
            assert_eq!(
                access.check(&headers(&[(header::HOST, bad)])),
                Err(Refusal::ForeignName { header: "Host" }),
                "{bad}"
            );
        }
        let cross = headers(&[
            (header::HOST, "127.0.0.1:8585"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert_eq!(
            access.check(&cross),
            Err(Refusal::ForeignName { header: "Origin" })
        );
        let null = headers(&[(header::HOST, "127.0.0.1:8585"), (header::ORIGIN, "null")]);
        assert_eq!(
            access.check(&null),
            Err(Refusal::ForeignName { header: "Origin" })
        );
        let same = headers(&[
            (header::HOST, "localhost:8585"),
            (header::ORIGIN, "http://localhost:8585"),
        ]);
        assert_eq!(access.check(&same), Ok(()));
        // No Host at all (HTTP/1.0 tools): not a browser.
        assert_eq!(access.check(&HeaderMap::new()), Ok(()));
    }

    #[test]
    fn hosts_are_taken_from_authorities_and_urls() {
        assert_eq!(host_part("a.b:80"), Some("a.b"));
        assert_eq!(host_part("[::1]:80"), Some("::1"));
        assert_eq!(host_part("a.b"), Some("a.b"));
        assert_eq!(
            host_of_url("https://u:p@h.example:1/x?y"),
            Some("h.example")
        );
        assert_eq!(host_of_url("null"), None);
    }
}
