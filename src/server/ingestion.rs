//! What OpenMetadata's own ingestion framework (`metadata ingest` with a `postgres` source)
//! asks of the server besides entities: the test-connection definition whose steps the
//! client then runs against the database itself.
//!
//! The definitions are fixed data, as OpenMetadata ships them with its server: a step's
//! `name` is the key the connector maps to its own check, so the names are the contract.

use super::api::{ApiError, Shared};
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

pub(super) fn router() -> axum::Router<Shared> {
    axum::Router::new().route(
        "/api/v1/services/testConnectionDefinitions/name/{name}",
        get(|Path(name): Path<String>| async move { definition(&name).map(Json) }),
    )
}

/// One step: its name (the connector's key), what it checks, and whether the connection
/// fails without it.
struct Step(&'static str, &'static str, bool);

/// The steps of each service type's connection test.
fn steps(service_type: &str) -> Option<&'static [Step]> {
    const POSTGRES: &[Step] = &[
        Step(
            "CheckAccess",
            "Reach the database and authenticate with the given credentials.",
            true,
        ),
        Step("GetDatabases", "List the databases the user can see.", true),
        Step("GetSchemas", "List the schemas the user can see.", true),
        Step("GetTables", "List the tables of a schema.", true),
        Step("GetViews", "List the views of a schema.", false),
        Step(
            "GetTags",
            "Read pg_policy, pg_class and pg_namespace for the policy tags of tables.",
            false,
        ),
        Step(
            "GetQueries",
            "Read pg_stat_statements for the usage and lineage workflows.",
            false,
        ),
    ];
    (service_type == "Postgres").then_some(POSTGRES)
}

/// `GET /services/testConnectionDefinitions/name/{Type}.testConnectionDefinition`.
fn definition(name: &str) -> Result<Value, ApiError> {
    let not_found = || {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("testConnectionDefinition instance for {name} not found"),
        )
    };
    let service_type = name
        .strip_suffix(".testConnectionDefinition")
        .ok_or_else(not_found)?;
    let steps = steps(service_type).ok_or_else(not_found)?;
    // A stable id: the same definition answers with the same id on every server start.
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes());
    Ok(json!({
        "id": id.to_string(),
        "name": service_type,
        "fullyQualifiedName": name,
        "displayName": format!("{service_type} Test Connection"),
        "steps": steps.iter().map(|Step(name, description, mandatory)| json!({
            "name": name,
            "description": description,
            "mandatory": mandatory,
            "shortCircuit": false,
        })).collect::<Vec<_>>(),
        "version": 0.1,
        "deleted": false,
    }))
}

#[cfg(test)]
mod tests {
    use super::definition;

    #[test]
    fn serves_the_postgres_definition_by_its_fqn_and_nothing_else() {
        let d = definition("Postgres.testConnectionDefinition").expect("postgres");
        let names: Vec<&str> = d["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "CheckAccess",
                "GetDatabases",
                "GetSchemas",
                "GetTables",
                "GetViews",
                "GetTags",
                "GetQueries"
            ]
        );
        assert_eq!(d["fullyQualifiedName"], "Postgres.testConnectionDefinition");
        assert_eq!(
            d["id"],
            definition("Postgres.testConnectionDefinition").expect("again")["id"]
        );
        for other in ["Mysql.testConnectionDefinition", "Postgres", ""] {
            assert_eq!(
                definition(other).expect_err(other).0,
                axum::http::StatusCode::NOT_FOUND
            );
        }
    }
}
