//! A property test of pgmeta-catalog: random sequences of PUT, PATCH (well-formed and hostile),
//! delete and restore against the real server, with the invariants checked after the run:
//! every live entity's FQN is its parent's FQN plus its quoted name, its versions increase
//! and a version once seen is never rewritten, it is reachable by name and by id, and no child
//! outlives its parent. Seeded, so a failure names the seed that reproduces it
//! (`PGMETA_PROPERTY_SEED`, `PGMETA_PROPERTY_STEPS` for a longer run).

use crate::common::{Rng, TestEnv};
use crate::server_hardening::{Api, TOKEN};
use pgmeta::testkit::CatalogServer;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const NAMES: &[&str] = &["a", "b", "c.d", "ü", "with space", "\"q\"", "x"];
const TYPES: &[&str] = &["INT", "BIGINT", "TEXT", "VARCHAR", "ARRAY", "STRUCT"];

fn columns(rng: &mut Rng) -> Value {
    let n = rng.below(6);
    let mut names: Vec<&str> = NAMES.to_vec();
    let cols: Vec<Value> = (0..n)
        .filter_map(|_| {
            if names.is_empty() {
                return None;
            }
            let name = names.remove(rng.below(names.len()));
            Some(json!({"name": name, "dataType": rng.pick(TYPES)}))
        })
        .collect();
    Value::Array(cols)
}

fn random_patch(rng: &mut Rng, entity: &Value) -> Value {
    let fields = ["/description", "/displayName"];
    let protected = [
        "",
        "/id",
        "/name",
        "/fullyQualifiedName",
        "/version",
        "/deleted",
        "/href",
        "/changeDescription",
        "/databaseSchema",
        "/database",
        "/service",
        "/updatedAt",
    ];
    let op = match rng.below(9) {
        0..=2 => {
            json!({"op": "replace", "path": rng.pick(&fields), "value": format!("v{}", rng.next() % 100)})
        }
        3 => json!({"op": "add", "path": "/tags", "value": []}),
        4 => json!({"op": "replace", "path": rng.pick(&protected), "value": entity.clone()}),
        5 => json!({"op": "move", "from": rng.pick(&protected[1..]), "path": "/description"}),
        6 => json!({"op": "copy", "from": rng.pick(&protected[1..]), "path": "/displayName"}),
        7 => json!({"op": "remove", "path": rng.pick(&protected[1..])}),
        _ => json!({"op": "copy", "from": "", "path": "/extension"}),
    };
    json!([op])
}

#[tokio::test]
async fn random_puts_and_patches_keep_every_invariant() {
    let seed: u64 = std::env::var("PGMETA_PROPERTY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe);
    let steps: usize = std::env::var("PGMETA_PROPERTY_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let env = TestEnv::new("properties").await;
    let catalog = CatalogServer::start(&env.cluster.url(&env.db), Some(TOKEN));
    let api = Api::new(&catalog, Some(TOKEN));
    let mut rng = Rng::new(seed);
    // (id, version) -> the body first seen at that version.
    let mut seen: BTreeMap<(String, String), Value> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut checked = 0;
    api.parents().await;
    for step in 0..steps {
        let table = *rng.pick(NAMES);
        let schema = *rng.pick(&["s", "t"]);
        let (status, answer) = match rng.below(10) {
            0 => {
                api.put(
                    "databaseSchemas",
                    json!({"name": schema, "database": "svc.db"}),
                )
                .await
            }
            1..=4 => {
                let body = json!({"name": table, "databaseSchema": format!("svc.db.{schema}"),
                    "columns": columns(&mut rng), "description": format!("d{}", rng.below(3))});
                api.put("tables", body).await
            }
            5..=7 => {
                let (_, list) = api.get("tables?limit=100&include=non-deleted").await;
                let data = list["data"].as_array().cloned().unwrap_or_default();
                if data.is_empty() {
                    continue;
                }
                let e = rng.pick(&data).clone();
                let id = e["id"].as_str().unwrap_or_default().to_owned();
                api.patch(&format!("tables/{id}"), random_patch(&mut rng, &e))
                    .await
            }
            8 => {
                let hard = rng.below(3) == 0;
                api.call(
                    reqwest::Method::DELETE,
                    &format!(
                        "databaseSchemas/name/svc.db.{schema}?recursive=true&hardDelete={hard}"
                    ),
                    None,
                )
                .await
            }
            _ => {
                let (_, list) = api.get("tables?limit=100&include=deleted").await;
                let data = list["data"].as_array().cloned().unwrap_or_default();
                if data.is_empty() {
                    continue;
                }
                let id = rng.pick(&data)["id"].clone();
                api.put("tables/restore", json!({"id": id})).await
            }
        };
        assert!(status < 500, "step {step} (seed {seed}): {status} {answer}");
        *statuses.entry(status).or_default() += 1;
        if let (Some(id), Some(v)) = (answer["id"].as_str(), answer.get("version")) {
            seen.entry((id.to_owned(), v.to_string()))
                .or_insert(answer.clone());
        }
        if step % 50 == 49 {
            checked += check_invariants(&api, seed).await;
        }
    }
    checked += check_invariants(&api, seed).await;
    assert!(
        checked > 0,
        "seed {seed}: no table was ever checked: {statuses:?}"
    );
    for ((id, version), body) in &seen {
        let (status, stored) = api.get(&format!("tables/{id}/versions/{version}")).await;
        if status == 404 {
            continue; // hard-deleted since
        }
        assert_eq!(status, 200);
        for field in ["fullyQualifiedName", "description", "columns", "version"] {
            assert_eq!(
                stored[field], body[field],
                "seed {seed}: version {version} of {id} was rewritten ({field})"
            );
        }
    }
    // The hostile patches were refused, the rest applied.
    assert!(
        statuses.contains_key(&400) && statuses.contains_key(&200),
        "seed {seed}: {statuses:?}"
    );
}

/// Checks every invariant over everything the server holds; returns how many tables it saw.
async fn check_invariants(api: &Api, seed: u64) -> usize {
    let (_, schemas) = api.get("databaseSchemas?limit=1000&include=all").await;
    let schema_fqns: BTreeMap<String, bool> = schemas["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["id"].as_str().unwrap_or_default().to_owned(),
                s["deleted"] == json!(true),
            )
        })
        .collect();
    let (_, tables) = api.get("tables?limit=1000&include=all").await;
    let tables = tables["data"].as_array().cloned().unwrap_or_default();
    for t in &tables {
        let id = t["id"].as_str().expect("id");
        let fqn = t["fullyQualifiedName"].as_str().expect("fqn");
        let parent = &t["databaseSchema"];
        let name = t["name"].as_str().expect("name");
        let own = pgmeta::model::Fqn::new([name]).to_string();
        assert_eq!(
            fqn,
            format!(
                "{}.{own}",
                parent["fullyQualifiedName"].as_str().unwrap_or_default()
            ),
            "seed {seed}: {t}"
        );
        let parent_deleted = schema_fqns.get(parent["id"].as_str().unwrap_or_default());
        assert!(
            parent_deleted.is_some(),
            "seed {seed}: {fqn}'s parent is gone"
        );
        if parent_deleted == Some(&true) {
            assert_eq!(
                t["deleted"],
                json!(true),
                "seed {seed}: {fqn} is live under a deleted schema"
            );
        }
        let (status, by_id) = api.get(&format!("tables/{id}?include=all&fields=*")).await;
        assert_eq!(status, 200, "seed {seed}: {fqn} not reachable by id");
        let (status, by_name) = api
            .get(&format!("tables/name/{}?include=all", urlencode(fqn)))
            .await;
        assert_eq!(
            (status, by_name["id"].as_str()),
            (200, Some(id)),
            "seed {seed}: {fqn} not reachable by name"
        );
        let (_, versions) = api.get(&format!("tables/{id}/versions")).await;
        let numbers: Vec<f64> = versions["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                v.as_str()
                    .and_then(|s| serde_json::from_str::<Value>(s).ok())
            })
            .filter_map(|v| v["version"].as_f64())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[0] > w[1]),
            "seed {seed}: {fqn} versions {numbers:?}"
        );
        assert_eq!(
            numbers.first().copied(),
            by_id["version"].as_f64(),
            "seed {seed}: {fqn}"
        );
    }
    tables.len()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
