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
    // The metadata event, then its classification (the schema-changes topic's record).
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(lines[0]["op"], "UPDATE");
    assert_eq!(
        lines[0]["changed_fields"],
        serde_json::json!(["ddl", "columns.extra"])
    );
    assert_eq!(
        lines[0]["field_changes"],
        serde_json::json!([{"path": "columns.extra", "before": null, "after": "extra integer"}])
    );
    assert_eq!(
        (&lines[1]["rule"], &lines[1]["change_class"]),
        (
            &serde_json::json!("column.added"),
            &serde_json::json!("NON_BREAKING")
        )
    );
    assert_eq!(lines[1]["metadata_event_id"], lines[0]["event_id"]);
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

#[tokio::test]
async fn run_polls_until_sigterm_and_exits_cleanly() {
    let env = TestEnv::new("daemon").await;
    env.sql("CREATE TABLE t (id int)").await;
    let out = env.state.path().join("events.jsonl");
    let mut child = Command::new(BIN)
        .arg("--url")
        .arg(env.cluster.url(&env.db))
        .args(["--output", "jsonl", "--output-path"])
        .arg(&out)
        .arg("--state-dir")
        .arg(env.state.path())
        .args(["run", "--poll-interval", "200ms"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let wait_for = |needle: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if std::fs::read_to_string(&out).is_ok_and(|t| t.contains(needle)) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {needle:?} in the output"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    wait_for("\"op\":\"SNAPSHOT\"");
    env.sql("ALTER TABLE t ADD COLUMN added_while_running int")
        .await;
    wait_for("columns.added_while_running");

    let started = std::time::Instant::now();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit status {status:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

fn check_as(cluster: &PgCluster, db: &str, user: &str, password: &str) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .arg("--url")
        .arg(format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{db}",
            cluster.port()
        ))
        .arg("check")
        .output()
        .expect("run check");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn row<'a>(report: &'a str, name: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} row in:\n{report}"))
}

#[tokio::test]
async fn check_names_each_capability_and_its_fix() {
    let env = TestEnv::new("check").await;
    env.sql("CREATE TABLE t (id int)").await;

    let (code, report) = check_as(env.cluster, &env.db, "postgres", PASSWORD);
    assert_eq!(code, Some(0), "{report}");
    for name in [
        "connect",
        "catalog readable",
        "wal_level = logical",
        "REPLICATION",
        "free replication slots",
        "DDL event trigger",
    ] {
        assert!(row(&report, name).contains(" ok "), "{report}");
    }
    assert!(
        row(&report, "pg_stat_statements").contains("FAIL")
            && row(&report, "pg_stat_statements").contains("CREATE EXTENSION pg_stat_statements")
    );
    let streaming = row(&report, "DDL messages (PG 14+)");
    if env.cluster.major_version() >= 14 {
        assert!(streaming.contains(" ok "), "{report}");
    } else {
        assert!(
            streaming.contains("replication capture polls instead"),
            "{report}"
        );
    }

    // A role with nothing but LOGIN: capture works; what it lacks is optional and named.
    let role = format!("{}_min", env.db);
    env.sql(&format!("CREATE ROLE {role} LOGIN PASSWORD 'min-pw'"))
        .await;
    let (code, report) = check_as(env.cluster, &env.db, &role, "min-pw");
    assert_eq!(code, Some(0), "{report}");
    assert!(
        row(&report, "REPLICATION").contains(&format!("ALTER ROLE {role} REPLICATION")),
        "{report}"
    );
    assert!(
        row(&report, "pg_read_all_stats").contains(&format!("GRANT pg_read_all_stats TO {role}")),
        "{report}"
    );
    assert!(
        row(&report, "DDL event trigger").contains("FAIL"),
        "{report}"
    );
    let state = tempfile::tempdir().expect("dir");
    let out = capture_cmd(env.cluster, &env.db, state.path())
        .env("PGUSER", &role)
        .env("PGPASSWORD", "min-pw")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "capture as the minimal role: {}",
        text(&out).1
    );
    assert!(text(&out).0.contains(&format!("cli.{}.public.t", env.db)));

    // Without CONNECT: a required capability fails, with the GRANT that fixes it.
    let denied = format!("{}_noconn", env.db);
    env.sql(&format!(
        "REVOKE CONNECT ON DATABASE {} FROM PUBLIC; CREATE ROLE {denied} LOGIN PASSWORD 'x-pw'",
        env.db
    ))
    .await;
    let (code, report) = check_as(env.cluster, &env.db, &denied, "x-pw");
    assert_eq!(code, Some(1), "{report}");
    assert!(
        row(&report, "connect")
            .contains(&format!("GRANT CONNECT ON DATABASE {} TO <role>", env.db)),
        "{report}"
    );
    env.sql(&format!("GRANT CONNECT ON DATABASE {} TO PUBLIC", env.db))
        .await;
}
