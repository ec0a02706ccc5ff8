//! The search endpoints OpenMetadata's ingestion workflows use to resolve and list entities,
//! answered from the catalog's own tables (OpenMetadata asks Elasticsearch; this server has
//! none, and its collections are small enough to scan):
//!
//! - `GET /search/fieldQuery?fieldName=&fieldValue=&index=&from=&size=&deleted=`: entities
//!   whose field equals the value, `*` matching any run of characters (the connectors look
//!   tables up by FQN, with `*` for a part they do not know).
//! - `GET /search/query?q=&index=&query_filter=&size=&sort_field=&sort_order=&search_after=`
//!   `&include_source_fields=&deleted=`: the subset of Elasticsearch's query DSL the workflows
//!   send in `query_filter` (`bool` with `must`/`should`/`filter`/`must_not`, `term`, `terms`,
//!   `exists`, `match_all`), sorted by one field and paged with `search_after`.
//!
//! Answers have Elasticsearch's shape (`hits.total.value`, `hits.hits[]._source`, `sort`).

use super::api::{ApiError, Shared, bad};
use super::store::Include;
use crate::openmetadata::kind::{self, Kind};
use axum::Json;
use axum::extract::{Query, State};
use axum::routing::get;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

pub(super) fn router() -> axum::Router<Shared> {
    axum::Router::new()
        .route("/api/v1/search/fieldQuery", get(field_query))
        .route("/api/v1/search/query", get(query))
}

/// The collection behind a search index; `None` for an index of entities this server does
/// not hold (it has none of them: an empty answer, as an empty index gives).
fn kind_of_index(index: &str) -> Result<Option<&'static Kind>, ApiError> {
    let kind = match index {
        "table_search_index" | "table" => &kind::TABLE,
        "database_search_index" | "database" => &kind::DATABASE,
        "database_schema_search_index" | "databaseSchema" => &kind::SCHEMA,
        "database_service_search_index" | "databaseService" => &kind::SERVICE,
        "stored_procedure_search_index" | "storedProcedure" => &kind::STORED_PROCEDURE,
        "query_search_index" | "query" => &kind::QUERY,
        "user_search_index" | "user" => &kind::USER,
        other if other.ends_with("_search_index") || other.ends_with("_index") => return Ok(None),
        other => return Err(bad(format!("unknown search index {other:?}"))),
    };
    Ok(Some(kind))
}

/// Query parameters, repeated ones kept (`include_source_fields`, `search_after`).
type Params = Query<Vec<(String, String)>>;

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn number(params: &[(String, String)], name: &str, default: usize) -> Result<usize, ApiError> {
    param(params, name).map_or(Ok(default), |v| {
        v.parse()
            .map_err(|_| bad(format!("{name} must be a non-negative integer, not {v:?}")))
    })
}

/// `deleted=true` searches the deleted entities, anything else the live ones.
fn include(params: &[(String, String)]) -> Include {
    match param(params, "deleted") {
        Some("true") => Include::Deleted,
        _ => Include::NonDeleted,
    }
}

/// Every entity of `kind` (live or deleted as asked), in FQN order, read page by page.
async fn scan(
    app: &super::api::AppState,
    kind: &'static Kind,
    include: Include,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    const PAGE: i64 = 1000;
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let (page, _) = app
            .store
            .list(kind, None, include, PAGE, after.as_deref(), None)
            .await?;
        let full = page.len() as i64 == PAGE;
        after = page
            .last()
            .and_then(|e| e.get("fullyQualifiedName"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        all.extend(page);
        if !full || after.is_none() {
            return Ok(all);
        }
    }
}

fn answer(total: usize, hits: Vec<Value>) -> Json<Value> {
    Json(json!({"hits": {"total": {"value": total, "relation": "eq"}, "hits": hits}}))
}

fn hit(index: &str, entity: Map<String, Value>, sort: Option<Value>) -> Value {
    let id = entity.get("id").cloned().unwrap_or(Value::Null);
    let mut h = json!({"_index": index, "_id": id, "_score": 1.0, "_source": entity});
    if let Some(s) = sort {
        h["sort"] = json!([s]);
    }
    h
}

async fn field_query(
    State(app): State<Shared>,
    Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let index = param(&params, "index").unwrap_or("table_search_index");
    let field = param(&params, "fieldName").ok_or_else(|| bad("fieldName is required"))?;
    let value = param(&params, "fieldValue").ok_or_else(|| bad("fieldValue is required"))?;
    let (from, size) = (number(&params, "from", 0)?, number(&params, "size", 10)?);
    let Some(kind) = kind_of_index(index)? else {
        return Ok(answer(0, Vec::new()));
    };
    // The same field paths as a query's (`service.name.keyword`).
    let found: Vec<Value> = scan(&app, kind, include(&params))
        .await?
        .into_iter()
        .map(Value::Object)
        .filter(|e| {
            values_at(e, field)
                .iter()
                .any(|v| v.as_str().is_some_and(|s| glob(value, s)))
        })
        .collect();
    let total = found.len();
    let hits = found
        .into_iter()
        .skip(from)
        .take(size)
        .filter_map(|e| match e {
            Value::Object(m) => Some(hit(index, m, None)),
            _ => None,
        })
        .collect();
    Ok(answer(total, hits))
}

async fn query(State(app): State<Shared>, Query(params): Params) -> Result<Json<Value>, ApiError> {
    let index = param(&params, "index").unwrap_or("table_search_index");
    let filter: Value = match param(&params, "query_filter").filter(|f| !f.trim().is_empty()) {
        Some(f) => {
            serde_json::from_str(f).map_err(|e| bad(format!("query_filter is not JSON: {e}")))?
        }
        None => json!({"query": {"match_all": {}}}),
    };
    let filter = filter.get("query").cloned().unwrap_or(filter);
    let text = param(&params, "q").unwrap_or("").trim();
    let (from, size) = (number(&params, "from", 0)?, number(&params, "size", 10)?);
    let sort_field = param(&params, "sort_field").unwrap_or("fullyQualifiedName");
    let descending = match param(&params, "sort_order").unwrap_or("desc") {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(bad(format!(
                "sort_order must be asc or desc, not {other:?}"
            )));
        }
    };
    let after = param(&params, "search_after");
    let fields: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "include_source_fields")
        .map(|(_, v)| v.as_str())
        .collect();
    let Some(kind) = kind_of_index(index)? else {
        return Ok(answer(0, Vec::new()));
    };
    let mut found = Vec::new();
    for e in scan(&app, kind, include(&params)).await? {
        let entity = Value::Object(e);
        if matches(&filter, &entity).map_err(bad)? && matches_text(text, &entity) {
            found.push(entity);
        }
    }
    let key = |e: &Value| sort_key(e, sort_field);
    found.sort_by(|a, b| {
        let o = compare(&key(a), &key(b));
        if descending { o.reverse() } else { o }
    });
    let total = found.len();
    let hits = found
        .into_iter()
        .filter(|e| {
            after.is_none_or(|a| {
                let o = compare(&key(e), &Value::String(a.to_owned()));
                if descending {
                    o == Ordering::Less
                } else {
                    o == Ordering::Greater
                }
            })
        })
        .skip(if after.is_some() { 0 } else { from })
        .take(size)
        .filter_map(|e| {
            let sort = Some(sort_key(&e, sort_field));
            let Value::Object(mut m) = e else {
                return None;
            };
            if !fields.is_empty() {
                m.retain(|k, _| {
                    fields.contains(&k.as_str()) || k == "id" || k == "fullyQualifiedName"
                });
            }
            Some(hit(index, m, sort))
        })
        .collect();
    Ok(answer(total, hits))
}

/// The value an entity sorts by (a string, or null when it has none).
fn sort_key(entity: &Value, field: &str) -> Value {
    values_at(entity, field)
        .first()
        .map_or(Value::Null, |v| (*v).clone())
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// The values under a dotted path (`service.name.keyword`: Elasticsearch's `.keyword`
/// sub-field is the field itself), through arrays.
fn values_at<'a>(entity: &'a Value, path: &str) -> Vec<&'a Value> {
    let path = path.strip_suffix(".keyword").unwrap_or(path);
    let mut at = vec![entity];
    for part in path.split('.') {
        at = at
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().filter_map(|i| i.get(part)).collect(),
                other => other.get(part).into_iter().collect::<Vec<_>>(),
            })
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            })
            .collect();
    }
    at.into_iter().filter(|v| !v.is_null()).collect()
}

/// Whether a value equals a term: strings exactly, booleans and numbers also from their
/// string spelling (`"true"`, `"1"`), as Elasticsearch coerces a term to the field's type.
fn term_equals(value: &Value, term: &Value) -> bool {
    match (value, term) {
        (Value::String(v), Value::String(t)) => v == t,
        (Value::Bool(v), Value::String(t)) | (Value::String(t), Value::Bool(v)) => {
            t == if *v { "true" } else { "false" }
        }
        (Value::Number(n), Value::String(t)) | (Value::String(t), Value::Number(n)) => {
            t.parse::<f64>().ok() == n.as_f64()
        }
        (v, t) => v == t,
    }
}

/// Evaluates one clause of the query DSL subset against an entity.
pub(super) fn matches(clause: &Value, entity: &Value) -> Result<bool, String> {
    let Some(object) = clause.as_object() else {
        return Err(format!("a query clause must be an object, not {clause}"));
    };
    let mut all = true;
    for (name, body) in object {
        let holds = match name.as_str() {
            "match_all" => true,
            "term" => {
                let (field, term) = single(body, "term")?;
                let term = term.get("value").unwrap_or(term);
                values_at(entity, field)
                    .iter()
                    .any(|v| term_equals(v, term))
            }
            "terms" => {
                let (field, terms) = single(body, "terms")?;
                let terms = terms
                    .as_array()
                    .ok_or_else(|| format!("terms of {field} must be an array"))?;
                values_at(entity, field)
                    .iter()
                    .any(|v| terms.iter().any(|t| term_equals(v, t)))
            }
            "exists" => {
                let field = body
                    .get("field")
                    .and_then(Value::as_str)
                    .ok_or("exists needs a field")?;
                values_at(entity, field)
                    .iter()
                    .any(|v| !matches!(v, Value::String(s) if s.is_empty()))
            }
            "bool" => boolean(body, entity)?,
            other => {
                return Err(format!(
                    "query clause {other:?} is not supported by pgmeta-catalog's search (supported: bool, term, terms, exists, match_all)"
                ));
            }
        };
        all &= holds;
    }
    Ok(all)
}

/// The one `field: value` pair of a `term`/`terms` clause.
fn single<'a>(body: &'a Value, clause: &str) -> Result<(&'a str, &'a Value), String> {
    match body.as_object().map(|o| o.iter().collect::<Vec<_>>()) {
        Some(pairs) if pairs.len() == 1 => Ok((pairs[0].0.as_str(), pairs[0].1)),
        _ => Err(format!("{clause} needs exactly one field")),
    }
}

fn clauses(body: &Value, name: &str) -> Vec<Value> {
    match body.get(name) {
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn boolean(body: &Value, entity: &Value) -> Result<bool, String> {
    for c in clauses(body, "must").iter().chain(&clauses(body, "filter")) {
        if !matches(c, entity)? {
            return Ok(false);
        }
    }
    for c in &clauses(body, "must_not") {
        if matches(c, entity)? {
            return Ok(false);
        }
    }
    let should = clauses(body, "should");
    if should.is_empty() {
        return Ok(true);
    }
    for c in &should {
        if matches(c, entity)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The `q` text: empty or `*` matches everything; else an entity whose name or FQN contains
/// it (case-insensitive), or a `field:value` pair that holds.
fn matches_text(text: &str, entity: &Value) -> bool {
    if text.is_empty() || text == "*" {
        return true;
    }
    if let Some((field, value)) = text.split_once(':') {
        let value = value.trim_matches('"');
        return values_at(entity, field)
            .iter()
            .any(|v| term_equals(v, &Value::String(value.to_owned())));
    }
    let text = text.to_lowercase();
    ["name", "fullyQualifiedName"].iter().any(|f| {
        values_at(entity, f)
            .iter()
            .any(|v| v.as_str().is_some_and(|s| s.to_lowercase().contains(&text)))
    })
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    if !value.ends_with(last) {
        return false;
    }
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> Value {
        json!({
            "name": "book_sales", "fullyQualifiedName": "om.shop.reporting.book_sales",
            "tableType": "View", "deleted": false, "schemaDefinition": "select 1",
            "service": {"name": "om", "type": "databaseService"},
            "tags": [{"tagFQN": "PII.Sensitive"}],
        })
    }

    #[test]
    fn the_view_listing_filter_of_the_lineage_workflow_selects_views_of_the_service() {
        let filter = json!({"bool": {"must": [
            {"bool": {"should": [{"term": {"service.name.keyword": "om"}}]}},
            {"bool": {"must": [{"bool": {"should": [
                {"term": {"tableType": "View"}}, {"term": {"tableType": "MaterializedView"}}]}}]}},
            {"bool": {"should": [{"term": {"deleted": false}}]}},
            {"bool": {"should": [{"exists": {"field": "schemaDefinition"}}]}},
        ]}});
        assert_eq!(matches(&filter, &view()), Ok(true));
        let mut table = view();
        table["tableType"] = json!("Regular");
        assert_eq!(matches(&filter, &table), Ok(false));
        let mut other = view();
        other["service"]["name"] = json!("pgmeta");
        assert_eq!(matches(&filter, &other), Ok(false));
        let mut no_sql = view();
        no_sql["schemaDefinition"] = json!("");
        assert_eq!(matches(&filter, &no_sql), Ok(false));
    }

    #[test]
    fn terms_exists_must_not_and_coercion() {
        let v = view();
        assert_eq!(
            matches(&json!({"term": {"deleted": "false"}}), &v),
            Ok(true)
        );
        assert_eq!(
            matches(&json!({"term": {"deleted": {"value": true}}}), &v),
            Ok(false)
        );
        assert_eq!(
            matches(
                &json!({"terms": {"tags.tagFQN": ["x", "PII.Sensitive"]}}),
                &v
            ),
            Ok(true)
        );
        assert_eq!(
            matches(&json!({"exists": {"field": "processedLineage"}}), &v),
            Ok(false)
        );
        assert_eq!(
            matches(
                &json!({"bool": {"must_not": {"exists": {"field": "processedLineage"}}}}),
                &v
            ),
            Ok(true)
        );
        assert_eq!(matches(&json!({"match_all": {}}), &v), Ok(true));
        let refused = matches(&json!({"wildcard": {"name": "b*"}}), &v);
        assert!(refused.is_err_and(|e| e.contains("wildcard")));
    }

    #[test]
    fn globs_and_text() {
        assert!(glob("om.shop.sales.orders", "om.shop.sales.orders"));
        assert!(!glob("om.shop.sales.orders", "om.shop.sales.orders_2026"));
        assert!(glob("om.*.sales.orders", "om.shop.sales.orders"));
        assert!(glob("*.orders", "om.shop.sales.orders"));
        assert!(glob("om.*", "om.x"));
        assert!(!glob("om.*.orders", "om.orders"));
        assert!(glob("*", ""));
        assert!(matches_text("", &view()));
        assert!(matches_text("SALES", &view()));
        assert!(matches_text("tableType:View", &view()));
        assert!(!matches_text("orders", &view()));
    }

    #[test]
    fn indexes_map_to_collections_and_unknown_ones_are_empty_or_refused() {
        assert_eq!(
            kind_of_index("table_search_index").ok().flatten(),
            Some(&kind::TABLE)
        );
        assert!(matches!(kind_of_index("dashboard_search_index"), Ok(None)));
        assert!(kind_of_index("tables; drop").is_err());
    }
}
