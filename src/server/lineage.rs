//! Lineage routes: add an edge (with column lineage and SQL), read an entity's upstream and
//! downstream graph, read or delete one edge.

use super::api::{ApiError, Shared, bad, kind_of_type};
use super::store::{StoreError, reference};
use crate::openmetadata::kind::Kind;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

type ApiResult = Result<Response, ApiError>;

pub(super) fn router() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/api/v1/lineage", put(add_edge))
        .route("/api/v1/lineage/getLineageEdge/{from}/{to}", get(get_edge))
        .route(
            "/api/v1/lineage/{entity_type}/name/{*fqn}",
            get(graph_by_name),
        )
        .route("/api/v1/lineage/{entity_type}/{id}", get(graph_by_id))
        .route(
            "/api/v1/lineage/{from_type}/{from_id}/{to_type}/{to_id}",
            delete(delete_edge).patch(patch_edge),
        )
}

/// `edge.fromEntity` / `edge.toEntity`: `{id, type}` of an existing entity.
async fn endpoint(
    app: &Shared,
    edge: &Value,
    field: &str,
) -> Result<(&'static Kind, Map<String, Value>), ApiError> {
    let r = edge
        .get(field)
        .ok_or_else(|| bad(format!("edge.{field} is required")))?;
    let (Some(id), Some(t)) = (
        r.get("id").and_then(Value::as_str),
        r.get("type").and_then(Value::as_str),
    ) else {
        return Err(bad(format!("edge.{field} must have string id and type")));
    };
    let found = app.store.entity_by_id(id).await?;
    match found {
        Some((k, body)) if k.entity_type == t => Ok((k, body)),
        _ => Err(
            StoreError::NotFound(format!("{t} instance for {id} not found (edge.{field})")).into(),
        ),
    }
}

fn validate_details(details: &Value) -> Result<(), ApiError> {
    if details.is_null() {
        return Ok(());
    }
    let Value::Object(d) = details else {
        return Err(bad("edge.lineageDetails must be an object"));
    };
    if let Some(q) = d.get("sqlQuery").filter(|v| !v.is_null()) {
        if !q.is_string() {
            return Err(bad("edge.lineageDetails.sqlQuery must be a string"));
        }
    }
    if let Some(cols) = d.get("columnsLineage").filter(|v| !v.is_null()) {
        let Value::Array(cols) = cols else {
            return Err(bad("edge.lineageDetails.columnsLineage must be an array"));
        };
        for (i, c) in cols.iter().enumerate() {
            let from_ok = c
                .get("fromColumns")
                .is_none_or(|f| f.as_array().is_some_and(|a| a.iter().all(Value::is_string)));
            let to_ok = c
                .get("toColumn")
                .is_none_or(|t| t.is_string() || t.is_null());
            if !from_ok || !to_ok {
                return Err(bad(format!(
                    "edge.lineageDetails.columnsLineage[{i}] must be {{fromColumns: [string], toColumn: string}}"
                )));
            }
        }
    }
    if let Some(s) = d.get("source").filter(|v| !v.is_null()) {
        if !s.as_str().is_some_and(|s| SOURCES.contains(&s)) {
            return Err(bad(format!(
                "edge.lineageDetails.source must be one of {SOURCES:?}"
            )));
        }
    }
    Ok(())
}

/// OpenMetadata's `lineageDetails.source` enum.
const SOURCES: &[&str] = &[
    "Manual",
    "ViewLineage",
    "QueryLineage",
    "PipelineLineage",
    "DashboardLineage",
    "DbtLineage",
    "SparkLineage",
    "OpenLineage",
    "ExternalTableLineage",
    "CrossDatabaseLineage",
    "ChildAssets",
];

async fn add_edge(
    State(app): State<Shared>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> ApiResult {
    let Json(body) = body.map_err(super::api::rejected)?;
    let edge = body.get("edge").ok_or_else(|| bad("edge is required"))?;
    let (_, from) = endpoint(&app, edge, "fromEntity").await?;
    let (_, to) = endpoint(&app, edge, "toEntity").await?;
    let details = edge.get("lineageDetails").cloned().unwrap_or(Value::Null);
    validate_details(&details)?;
    let id = |e: &Map<String, Value>| {
        e.get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut stored = match details {
        Value::Object(d) => d,
        _ => Map::new(),
    };
    stored.retain(|_, v| !v.is_null());
    let changed = app
        .store
        .put_edge(&id(&from), &id(&to), &Value::Object(stored))
        .await?;
    count_edge_write(changed);
    Ok(StatusCode::OK.into_response())
}

async fn get_edge(
    State(app): State<Shared>,
    Path((from, to)): Path<(String, String)>,
) -> ApiResult {
    let details = app
        .store
        .get_edge(&from, &to)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no lineage edge from {from} to {to}")))?;
    let r = |e: Option<(&'static Kind, Map<String, Value>)>| e.map(|(k, b)| reference(k, &b));
    let from_ref = r(app.store.entity_by_id(&from).await?);
    let to_ref = r(app.store.entity_by_id(&to).await?);
    // OpenMetadata answers with the details flattened into the edge (its client reads
    // `edge.columnsLineage`, `edge.pipeline`).
    let mut edge = json!({"fromEntity": from_ref, "toEntity": to_ref});
    if let (Value::Object(e), Value::Object(d)) = (&mut edge, details) {
        e.extend(d);
    }
    Ok(Json(json!({ "edge": edge })).into_response())
}

async fn delete_edge(
    State(app): State<Shared>,
    Path((_, from, _, to)): Path<(String, String, String, String)>,
) -> ApiResult {
    if app.store.delete_edge(&from, &to).await? {
        super::metrics()
            .entity_writes
            .with_label_values(&["lineage_edge", "hard_deleted"])
            .inc();
        Ok(StatusCode::OK.into_response())
    } else {
        Err(StoreError::NotFound(format!("no lineage edge from {from} to {to}")).into())
    }
}

/// `PATCH /lineage/{fromType}/{fromId}/{toType}/{toId}`: a JSON Patch of the edge's details
/// (the lineage workflow sends one when an edge it adds exists already). The patched details
/// are validated as a PUT's are.
async fn patch_edge(
    State(app): State<Shared>,
    Path((_, from, _, to)): Path<(String, String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult {
    let ops: Vec<json_patch::PatchOperation> = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("not an RFC 6902 JSON Patch: {e}")))?;
    let details = app
        .store
        .get_edge(&from, &to)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no lineage edge from {from} to {to}")))?;
    let mut patched = details.clone();
    json_patch::patch(&mut patched, &ops)
        .map_err(|e| bad(format!("the patch does not apply to the edge: {e}")))?;
    validate_details(&patched)?;
    if let Value::Object(d) = &mut patched {
        d.retain(|_, v| !v.is_null());
    }
    let changed = patched != details && app.store.put_edge(&from, &to, &patched).await?;
    count_edge_write(changed);
    Ok(StatusCode::OK.into_response())
}

fn count_edge_write(changed: bool) {
    super::metrics()
        .entity_writes
        .with_label_values(&[
            "lineage_edge",
            if changed { "updated" } else { "unchanged" },
        ])
        .inc();
}

fn depth(q: &HashMap<String, String>, name: &str) -> Result<usize, ApiError> {
    match q.get(name) {
        None => Ok(1),
        Some(d) => d
            .parse::<usize>()
            .ok()
            .filter(|d| *d <= 10)
            .ok_or_else(|| bad(format!("{name} must be an integer from 0 to 10"))),
    }
}

async fn graph_by_id(
    State(app): State<Shared>,
    Path((entity_type, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let k = kind_of_type(&entity_type)?;
    let e = app
        .store
        .get(k, false, &id, super::store::Include::All)
        .await?;
    graph(&app, k, e, &q).await
}

async fn graph_by_name(
    State(app): State<Shared>,
    Path((entity_type, fqn)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let k = kind_of_type(&entity_type)?;
    let e = app
        .store
        .get(k, true, &fqn, super::store::Include::All)
        .await?;
    graph(&app, k, e, &q).await
}

/// OpenMetadata's `EntityLineage`: the entity, the other nodes, and the edges up to the asked
/// depths (breadth first; each edge once). As in OpenMetadata, soft-deleted entities and their
/// edges are left out unless `includeDeleted=true`.
async fn graph(
    app: &Shared,
    kind: &'static Kind,
    e: Map<String, Value>,
    q: &HashMap<String, String>,
) -> ApiResult {
    let root = e
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut nodes: BTreeMap<String, Value> = BTreeMap::new();
    let edges_of = |upstream: bool,
                    found: Vec<(String, String, Value)>,
                    out: &mut Vec<Value>,
                    next: &mut Vec<String>,
                    seen: &mut HashSet<String>| {
        for (from, to, details) in found {
            let other = if upstream { from.clone() } else { to.clone() };
            let mut edge = json!({"fromEntity": from, "toEntity": to});
            if details.as_object().is_some_and(|d| !d.is_empty()) {
                edge["lineageDetails"] = details;
            }
            out.push(edge);
            if seen.insert(other.clone()) {
                next.push(other);
            }
        }
    };
    let mut result = Map::new();
    for (upstream, field, param) in [
        (true, "upstreamEdges", "upstreamDepth"),
        (false, "downstreamEdges", "downstreamDepth"),
    ] {
        let mut out = Vec::new();
        let mut seen = HashSet::from([root.clone()]);
        let mut frontier = vec![root.clone()];
        for _ in 0..depth(q, param)? {
            if frontier.is_empty() {
                break;
            }
            let found = app.store.edges(&frontier, upstream).await?;
            let mut next = Vec::new();
            edges_of(upstream, found, &mut out, &mut next, &mut seen);
            frontier = next;
        }
        for id in seen.into_iter().filter(|id| *id != root) {
            nodes.entry(id).or_insert(Value::Null);
        }
        result.insert(field.into(), Value::Array(out));
    }
    let include_deleted = q.get("includeDeleted").is_some_and(|v| v == "true");
    let mut node_refs = Vec::new();
    let mut hidden: HashSet<String> = HashSet::new();
    for id in nodes.keys() {
        if let Some((k, body)) = app.store.entity_by_id(id).await? {
            if !include_deleted && body.get("deleted") == Some(&Value::Bool(true)) {
                hidden.insert(id.clone());
                continue;
            }
            node_refs.push(reference(k, &body));
        }
    }
    if !hidden.is_empty() {
        for field in ["upstreamEdges", "downstreamEdges"] {
            if let Some(Value::Array(edges)) = result.get_mut(field) {
                edges.retain(|edge| {
                    ["fromEntity", "toEntity"]
                        .iter()
                        .all(|end| edge[*end].as_str().is_none_or(|id| !hidden.contains(id)))
                });
            }
        }
    }
    result.insert("entity".into(), reference(kind, &e));
    result.insert("nodes".into(), Value::Array(node_refs));
    Ok(Json(Value::Object(result)).into_response())
}
