//! The `pgmeta-capture` binary as users run it: libpq environment, jsonl output, exit codes and
//! messages for bad input. The password must never appear in anything it prints.

use crate::common::TestEnv;
use pgmeta::testkit::{PgCluster, free_port, unique_name};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_pgmeta-capture");
const PASSWORD: &str = pgmeta::testkit::SUPERUSER_PASSWORD;

fn capture_cmd(cluster: &PgCluster, database: &str, state: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", cluster.port().to_string())
        .env("PGUSER", "postgres")
        .env("PGPASSWORD", PASSWORD)
        .env("PGDATABASE", database)
        .args([
            "snapshot",
            "--once",
            "--output",
            "jsonl",
            "--service-name",
            "cli",
        ])
        .arg("--state-dir")
        .arg(state);
    c
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn libpq_environment_and_jsonl_just_work() {
    let env = TestEnv::new("cli").await;
    env.sql("CREATE TABLE t (id int PRIMARY KEY, note text); COMMENT ON TABLE t IS 'hello';")
        .await;
    let out = capture_cmd(env.cluster, &env.db, env.state.path())
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let fqns: Vec<&str> = events.iter().filter_map(|e| e["fqn"].as_str()).collect();
    assert_eq!(
        fqns,
        vec![
            format!("cli.{}", env.db),
            format!("cli.{}.public", env.db),
            format!("cli.{}.public.t", env.db)
        ]
    );
    assert_eq!(events[2]["table"]["description"], "hello");
    assert!(events.iter().all(|e| e["op"] == "SNAPSHOT"));
    assert!(!stderr.contains(PASSWORD) && !stdout.contains(PASSWORD));

    // Second run: nothing changed, nothing printed.
    let out = capture_cmd(env.cluster, &env.db, env.state.path())
        .output()
        .expect("run");
    assert!(out.status.success());
    assert_eq!(text(&out).0, "");

    env.sql("ALTER TABLE t ADD COLUMN extra int").await;
    let out = capture_cmd(env.cluster, &env.db, env.state.path())
        .output()
        .expect("run");
    let lines: Vec<serde_json::Value> = text(&out)
        .0
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["op"], "UPDATE");
    assert_eq!(
        lines[0]["changed_fields"],
        serde_json::json!(["ddl", "columns.extra"])
    );
}

#[test]
fn wrong_password_is_named_and_not_echoed() {
    let cluster = PgCluster::shared();
    let state = tempfile::tempdir().expect("dir");
    let out = capture_cmd(cluster, "postgres", state.path())
        .env("PGPASSWORD", "not-the-password-xyz")
        .output()
        .expect("run");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("password authentication failed for user \"postgres\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("SQLSTATE 28P01") && stderr.contains("hint: check the password"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password-xyz") && !stdout.contains("not-the-password-xyz"));
}

#[test]
fn unreachable_host_is_named() {
    let cluster = PgCluster::shared();
    let state = tempfile::tempdir().expect("dir");
    let port = free_port();
    let out = capture_cmd(cluster, "postgres", state.path())
        .env("PGPORT", port.to_string())
        .output()
        .expect("run");
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port}/postgres as postgres"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("refused") && stderr.contains("is the server running"),
        "{stderr}"
    );
}

#[test]
fn missing_database_is_named() {
    let cluster = PgCluster::shared();
    let state = tempfile::tempdir().expect("dir");
    let name = unique_name("no_such_db");
    let out = capture_cmd(cluster, &name, state.path())
        .output()
        .expect("run");
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("database \"{name}\" does not exist")) && stderr.contains("3D000"),
        "{stderr}"
    );
    assert!(stderr.contains("PGDATABASE"), "{stderr}");
}

#[test]
fn config_errors_name_the_key_and_exit_2() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[filters]\ntable = { include = [\"(unclosed\"] }\n").expect("write");
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&path)
        .args(["snapshot", "--once"])
        .output()
        .expect("run");
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("filters.table.include[0]: invalid regular expression"),
        "{stderr}"
    );

    std::fs::write(&path, "[source]\npasword = \"x\"\n").expect("write");
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&path)
        .args(["snapshot", "--once"])
        .output()
        .expect("run");
    let stderr = text(&out).1;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("unknown field `pasword`"), "{stderr}");
}
