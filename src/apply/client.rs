//! `HttpMetadataClient`: the calls pgmeta-apply makes to an OpenMetadata-compatible server,
//! with every failure classified where it arises (transient: retry; definite: dead-letter).

use crate::openmetadata::kind::Kind;
use serde_json::Value;
use std::time::Duration;

/// Entities per page when listing (OpenMetadata allows up to 1,000,000).
const LIST_PAGE: usize = 1000;

/// Why a call or an event failed, kept typed from where it arises to the log line, the
/// metric label and the dead-letter header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The server answered with this HTTP status.
    Status(u16),
    /// No answer: the connection failed, timed out or was dropped.
    Network,
    /// The request cannot be built (a URL past what HTTP takes).
    Request,
    /// The event's names or times are not valid.
    MalformedEvent,
    /// The message is not a pgmeta event of its topic.
    NotAnEvent,
    /// An entity the event refers to is not in the server.
    MissingEntity,
}

impl Cause {
    /// A bounded label: `http_409`, `network`, `request`, `malformed_event`, `not_an_event`,
    /// `missing_entity` (an HTTP status outside 100-599 is `http_other`).
    pub fn label(self) -> String {
        match self {
            Cause::Status(s) if (100..600).contains(&s) => format!("http_{s}"),
            Cause::Status(_) => "http_other".into(),
            Cause::Network => "network".into(),
            Cause::Request => "request".into(),
            Cause::MalformedEvent => "malformed_event".into(),
            Cause::NotAnEvent => "not_an_event".into(),
            Cause::MissingEntity => "missing_entity".into(),
        }
    }
}

/// How a failed call is handled, and why it failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Worth retrying: 5xx, 408, 409, 429, 401/403 (the operator fixes the token), timeouts,
    /// refused or dropped connections.
    #[error("{message}")]
    Transient { cause: Cause, message: String },
    /// An entity the event refers to is not in the server yet (its own event is still on its
    /// way, on this or another topic): retried like a transient failure, but dead-lettered
    /// once it has waited `missing_entity_timeout`.
    #[error("{0}")]
    Missing(String),
    /// Retrying cannot help: the server rejected the request (4xx), the request cannot be
    /// built, or the message is not a valid event. The event goes to the dead-letter topic.
    #[error("{message}")]
    Definite { cause: Cause, message: String },
}

impl ApplyError {
    pub fn transient(cause: Cause, message: impl Into<String>) -> Self {
        ApplyError::Transient {
            cause,
            message: message.into(),
        }
    }

    pub fn definite(cause: Cause, message: impl Into<String>) -> Self {
        ApplyError::Definite {
            cause,
            message: message.into(),
        }
    }

    /// A malformed event: definite, with the reason.
    pub fn malformed(reason: impl std::fmt::Display) -> Self {
        Self::definite(Cause::MalformedEvent, format!("malformed event: {reason}"))
    }

    /// A bounded label for metrics.
    pub fn error_type(&self) -> &'static str {
        match self {
            ApplyError::Transient { .. } => "transient",
            ApplyError::Missing(_) => "missing",
            ApplyError::Definite { .. } => "definite",
        }
    }

    pub fn cause(&self) -> Cause {
        match self {
            ApplyError::Transient { cause, .. } | ApplyError::Definite { cause, .. } => *cause,
            ApplyError::Missing(_) => Cause::MissingEntity,
        }
    }
}

/// A server answer that is not a success.
#[derive(Debug)]
pub struct Rejection {
    pub status: u16,
    pub message: String,
}

impl Rejection {
    /// The rejection of request `what`, as a definite failure.
    pub fn definite(self, what: &str) -> ApplyError {
        ApplyError::definite(
            Cause::Status(self.status),
            format!("{what}: {}: {}", self.status, self.message),
        )
    }
}

#[derive(Debug, Clone)]
pub struct HttpMetadataClient {
    http: reqwest::Client,
    /// e.g. `http://127.0.0.1:8585/api`; paths are appended as `/v1/...`.
    base: String,
    token: Option<crate::config::Secret>,
}

/// Percent-encodes an FQN for a path segment (quotes, spaces, slashes, unicode).
pub fn encode_path(fqn: &str) -> String {
    let mut out = String::new();
    for b in fqn.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl HttpMetadataClient {
    pub fn new(
        base: &str,
        token: Option<crate::config::Secret>,
        timeout: Duration,
    ) -> Result<Self, String> {
        crate::pg::tls::install_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpMetadataClient {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.base)
    }

    /// `what` names the request without its variable parts (`GET /tables/name`): it is the
    /// `request` label of `pgmeta_apply_server_requests_total`.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Result<Value, Rejection>, ApplyError> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t.expose()),
            None => req,
        };
        let requests = &super::metrics().server_requests;
        let response = req.send().await.map_err(|e| {
            requests.with_label_values(&[what, "failed"]).inc();
            if e.is_builder() {
                // The request cannot even be built (a URL no server takes, say from a name
                // of 100,000 characters): the same event fails the same way on every try.
                return ApplyError::definite(
                    Cause::Request,
                    format!("{what}: the request cannot be built: {}", describe(&e)),
                );
            }
            ApplyError::transient(Cause::Network, format!("{what}: {}", describe(&e)))
        })?;
        let status = response.status();
        let class = match status.as_u16() {
            200..=299 => "2xx",
            400..=499 => "4xx",
            500..=599 => "5xx",
            _ => "other",
        };
        requests.with_label_values(&[what, class]).inc();
        let text = response.text().await.map_err(|e| {
            ApplyError::transient(
                Cause::Network,
                format!("{what}: reading the answer: {}", describe(&e)),
            )
        })?;
        if status.is_success() {
            return Ok(Ok(serde_json::from_str(&text).unwrap_or(Value::Null)));
        }
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(300).collect());
        // 409: the server saw a concurrent write of the same entity; the next try reads the
        // result of that write.
        if status.is_server_error() || [408, 409, 429].contains(&status.as_u16()) {
            return Err(ApplyError::transient(
                Cause::Status(status.as_u16()),
                format!("{what}: {status}: {message}"),
            ));
        }
        if status.as_u16() == 401 || status.as_u16() == 403 {
            // A token problem is fixed by the operator, not by skipping the event.
            return Err(ApplyError::transient(
                Cause::Status(status.as_u16()),
                format!("{what}: {status}: {message} (check the token)"),
            ));
        }
        Ok(Err(Rejection {
            status: status.as_u16(),
            message,
        }))
    }

    /// `GET /system/version`: whether the server answers (for `/readyz`).
    pub async fn version(&self) -> Result<(), ApplyError> {
        match self
            .send(
                self.http.get(self.url("system/version")),
                "GET /system/version",
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(r) => Err(r.definite("GET /system/version")),
        }
    }

    /// `PUT /{collection}` with a create request.
    pub async fn put(
        &self,
        kind: &Kind,
        body: &Value,
    ) -> Result<Result<Value, Rejection>, ApplyError> {
        let what = format!("PUT /{}", kind.collection);
        self.send(self.http.put(self.url(kind.collection)).json(body), &what)
            .await
    }

    /// `GET /{collection}/name/{fqn}`: `None` when absent (404). `include_all` sees deleted
    /// entities too.
    pub async fn get_by_name(
        &self,
        kind: &Kind,
        fqn: &str,
        fields: &str,
        include_all: bool,
    ) -> Result<Option<Value>, ApplyError> {
        let include = if include_all { "all" } else { "non-deleted" };
        let path = format!(
            "{}/name/{}?fields={fields}&include={include}",
            kind.collection,
            encode_path(fqn)
        );
        match self
            .send(
                self.http.get(self.url(&path)),
                &format!("GET /{}/name", kind.collection),
            )
            .await?
        {
            Ok(v) => Ok(Some(v)),
            Err(r) if r.status == 404 => Ok(None),
            Err(r) => Err(r.definite(&format!("GET /{}/name", kind.collection))),
        }
    }

    /// Every entity of `kind` under the parent `parent_fqn`, deleted ones included:
    /// `GET /{collection}?{parent field}=..&include=all`, page after page. `None` when the
    /// server does not know the parent (so it holds none of its children).
    pub async fn list_children(
        &self,
        kind: &Kind,
        parent_fqn: &str,
    ) -> Result<Option<Vec<Value>>, ApplyError> {
        let Some((field, _)) = kind.parent else {
            return Ok(None);
        };
        let what = format!("GET /{}?{field}=", kind.collection);
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![
                (field, parent_fqn.to_owned()),
                ("include", "all".to_owned()),
                ("limit", LIST_PAGE.to_string()),
            ];
            if let Some(a) = &after {
                query.push(("after", a.clone()));
            }
            let mut page = match self
                .send(
                    self.http.get(self.url(kind.collection)).query(&query),
                    &what,
                )
                .await?
            {
                Ok(page) => page,
                Err(r) if r.status == 404 => return Ok(None),
                Err(r) => {
                    return Err(r.definite(&what));
                }
            };
            if let Some(Value::Array(data)) = page.get_mut("data").map(Value::take) {
                all.extend(data);
            }
            match page
                .get("paging")
                .and_then(|p| p.get("after"))
                .and_then(Value::as_str)
            {
                Some(a) if after.as_deref() != Some(a) => after = Some(a.to_owned()),
                _ => return Ok(Some(all)),
            }
        }
    }

    /// `PATCH /{collection}/{id}` with an RFC 6902 JSON Patch.
    pub async fn patch(
        &self,
        kind: &Kind,
        id: &str,
        ops: &Value,
    ) -> Result<Result<Value, Rejection>, ApplyError> {
        let what = format!("PATCH /{}", kind.collection);
        let req = self
            .http
            .patch(self.url(&format!("{}/{id}", kind.collection)))
            .header(reqwest::header::CONTENT_TYPE, "application/json-patch+json")
            .body(ops.to_string());
        self.send(req, &what).await
    }

    /// `DELETE /{collection}/name/{fqn}`; an entity already gone is success.
    pub async fn delete_by_name(
        &self,
        kind: &Kind,
        fqn: &str,
        hard: bool,
    ) -> Result<Result<(), Rejection>, ApplyError> {
        let path = format!(
            "{}/name/{}?recursive=true&hardDelete={hard}",
            kind.collection,
            encode_path(fqn)
        );
        match self
            .send(
                self.http.delete(self.url(&path)),
                &format!("DELETE /{}/name", kind.collection),
            )
            .await?
        {
            Ok(_) => Ok(Ok(())),
            Err(r) if r.status == 404 => Ok(Ok(())),
            Err(r) => Ok(Err(r)),
        }
    }

    pub async fn put_lineage(&self, body: &Value) -> Result<Result<Value, Rejection>, ApplyError> {
        self.send(
            self.http.put(self.url("lineage")).json(body),
            "PUT /lineage",
        )
        .await
    }

    /// The edge with its details flattened in (`source`, `sqlQuery`, ...), `None` when there
    /// is no edge.
    pub async fn lineage_edge(&self, from: &str, to: &str) -> Result<Option<Value>, ApplyError> {
        let path = format!("lineage/getLineageEdge/{from}/{to}");
        match self
            .send(
                self.http.get(self.url(&path)),
                "GET /lineage/getLineageEdge",
            )
            .await?
        {
            Ok(v) => Ok(Some(v.get("edge").cloned().unwrap_or(Value::Null))),
            Err(r) if r.status == 404 => Ok(None),
            Err(r) => Err(r.definite("GET /lineage/getLineageEdge")),
        }
    }

    /// The lineage graph below the table `fqn`, `depth` levels deep (`None`: no such table).
    pub async fn downstream_lineage(
        &self,
        fqn: &str,
        depth: u32,
    ) -> Result<Option<Value>, ApplyError> {
        let path = format!(
            "lineage/table/name/{}?upstreamDepth=0&downstreamDepth={depth}",
            encode_path(fqn)
        );
        match self
            .send(self.http.get(self.url(&path)), "GET /lineage/table/name")
            .await?
        {
            Ok(v) => Ok(Some(v)),
            Err(r) if r.status == 404 => Ok(None),
            Err(r) => Err(r.definite("GET /lineage/table/name")),
        }
    }

    pub async fn delete_lineage(
        &self,
        from: &str,
        to: &str,
    ) -> Result<Result<(), Rejection>, ApplyError> {
        let path = format!("lineage/table/{from}/table/{to}");
        match self
            .send(self.http.delete(self.url(&path)), "DELETE /lineage")
            .await?
        {
            Ok(_) => Ok(Ok(())),
            Err(r) if r.status == 404 => Ok(Ok(())),
            Err(r) => Ok(Err(r)),
        }
    }

    /// `PUT /usage/table/{id}`: sets the day's count (create or update).
    pub async fn put_usage(
        &self,
        table_id: &str,
        date: &str,
        count: i64,
    ) -> Result<Result<Value, Rejection>, ApplyError> {
        let body = serde_json::json!({"date": date, "count": count});
        self.send(
            self.http
                .put(self.url(&format!("usage/table/{table_id}")))
                .json(&body),
            "PUT /usage/table",
        )
        .await
    }
}

/// A reqwest error in words, without the URL's query (which never holds secrets here, but
/// the error chain is what an operator needs).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    crate::error_chain::with_sources(kind.to_owned(), e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqns_are_percent_encoded_for_paths() {
        assert_eq!(encode_path("svc.db.public.film"), "svc.db.public.film");
        assert_eq!(
            encode_path("s.d.\"a.b\".x y/ü"),
            "s.d.%22a.b%22.x%20y%2F%C3%BC"
        );
    }
}
