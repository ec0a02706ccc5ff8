//! The deploy kit against the running binaries: every metric the Prometheus alert rules and the
//! Grafana dashboard use is exported by pgmeta-capture, pgmeta-apply or pgmeta-catalog, scraped
//! during a workload; and what the capture emitted, the apply consumed, with no lag left.

use crate::common::TestEnv;
use pgmeta::testkit::scrape::samples;
use pgmeta::testkit::{CatalogServer, Service, free_port};
use std::collections::BTreeSet;

use std::time::{Duration, Instant};

fn deploy(path: &str) -> String {
    let file = pgmeta::testkit::project_dir().join("deploy").join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// `pgmeta_*` names in a text, histogram suffixes removed.
fn referenced(text: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"pgmeta_[a-z_]+").expect("regex");
    re.find_iter(text)
        .map(|m| {
            let name = m.as_str();
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name)
                .to_owned()
        })
        .collect()
}

async fn scrape(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    match reqwest::get(&url).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The sum of the samples of metric `name` whose line holds `filter` (a label, say).
fn sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.contains(filter))
        .flat_map(|l| samples(l, name))
        .sum()
}

#[tokio::test]
async fn alert_rules_and_dashboard_use_only_exported_metrics() {
    let env = TestEnv::new("deploy").await;
    env.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; CREATE TABLE a (id int PRIMARY KEY, v text); CREATE VIEW va AS SELECT id FROM a; SELECT count(*) FROM a;").await;
    let catalog_db = format!("{}_catalog", env.db);
    env.cluster.create_database(&catalog_db).await;
    let catalog = CatalogServer::start(&env.cluster.url(&catalog_db), None);

    let (capture_port, apply_port) = (free_port(), free_port());
    let state = tempfile::tempdir().expect("state dir");
    let topic = |t: &str| format!("{}.{t}", env.db);
    let port = env.cluster.port().to_string();
    let state_dir = state.path().to_string_lossy().into_owned();
    let config = state.path().join("capture.toml");
    std::fs::write(
        &config,
        format!(
            "service_name = \"svc\"\n[kafka]\nbrokers = \"{}\"\nmetadata_topic = \"{}\"\nusage_topic = \"{}\"\nlineage_topic = \"{}\"\nschema_changes_topic = \"{}\"\n[poll]\ninterval = \"1s\"\n[usage]\ninterval = \"1s\"\n",
            env.brokers,
            topic("metadata"),
            topic("usage"),
            topic("lineage"),
            topic("schema-changes")
        ),
    )
    .expect("config");
    let capture_args: Vec<String> = [
        "--config",
        &config.to_string_lossy(),
        "--state-dir",
        &state_dir,
        "--metrics-listen",
        &format!("127.0.0.1:{capture_port}"),
        "run",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let password = pgmeta::testkit::SUPERUSER_PASSWORD;
    let mut capture = Service::start(
        "pgmeta-capture",
        &capture_args,
        &[
            ("PGHOST", "127.0.0.1"),
            ("PGPORT", &port),
            ("PGUSER", "postgres"),
            ("PGPASSWORD", password),
            ("PGDATABASE", &env.db),
        ],
    );
    // The capture creates the topics; apply subscribes once they exist.
    let deadline = Instant::now() + Duration::from_secs(60);
    while sum(
        &scrape(capture_port).await,
        "pgmeta_capture_events_total",
        "",
    ) == 0.0
    {
        assert!(
            Instant::now() < deadline,
            "capture emitted nothing; log:\n{}",
            capture.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let apply_args: Vec<String> = [
        "--brokers",
        &env.brokers,
        "--group",
        &env.db,
        "--instance-id",
        &env.db,
        "--metadata-topic",
        &topic("metadata"),
        "--usage-topic",
        &topic("usage"),
        "--lineage-topic",
        &topic("lineage"),
        "--dead-letter-topic",
        &topic("dlq"),
        "--server-url",
        &catalog.api(),
        "--metrics-listen",
        &format!("127.0.0.1:{apply_port}"),
        "--kafka-option",
        "topic.metadata.refresh.interval.ms=1000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let apply = Service::start("pgmeta-apply", &apply_args, &[]);
    env.sql("ALTER TABLE a ADD COLUMN w int; COMMENT ON TABLE a IS 'watched';")
        .await;

    // Caught up: every record the capture acknowledged was consumed, and no lag is left.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (mut emitted, mut consumed) = (0.0, -1.0);
    while emitted != consumed || emitted == 0.0 {
        assert!(
            Instant::now() < deadline,
            "apply did not catch up: emitted {emitted}, consumed {consumed}; apply log:\n{}",
            apply.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The schema-changes topic is for downstream teams: apply does not read it.
        let capture_text = scrape(capture_port).await;
        emitted = sum(&capture_text, "pgmeta_capture_events_total", "")
            - sum(
                &capture_text,
                "pgmeta_capture_events_total",
                "entity_type=\"schema_change\"",
            );
        consumed = sum(&scrape(apply_port).await, "pgmeta_apply_events_total", "");
    }
    // And the lag gauge, refreshed every 5 s, returns to zero.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape(apply_port).await;
        let partitions = samples(&text, "pgmeta_apply_consumer_lag_messages{").count();
        if partitions > 0 && sum(&text, "pgmeta_apply_consumer_lag_messages", "") == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "consumer lag did not return to zero:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let apply_text = scrape(apply_port).await;
    assert_eq!(
        sum(&apply_text, "pgmeta_apply_events_total", "dead_lettered"),
        0.0
    );
    assert!(
        sum(
            &apply_text,
            "pgmeta_apply_events_total",
            "outcome=\"applied\""
        ) > 0.0
    );

    // A BREAKING change: its counter, scraped from the running capture, fires the alert rule
    // (promtool's rule unit test replays the scraped samples); the NON_BREAKING one did not.
    env.sql("ALTER TABLE a DROP COLUMN w").await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut capture_text = scrape(capture_port).await;
    while sum(
        &capture_text,
        "pgmeta_capture_schema_changes_total",
        "class=\"BREAKING\"",
    ) == 0.0
    {
        assert!(
            Instant::now() < deadline,
            "no BREAKING schema change counted:\n{capture_text}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        capture_text = scrape(capture_port).await;
    }
    assert_breaking_alert_fires(&capture_text);

    let mut exported = BTreeSet::new();
    let catalog_text = scrape(catalog.port).await;
    for text in [scrape(capture_port).await, apply_text, catalog_text] {
        for line in text.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            if let Some(name) = line.split(' ').next() {
                exported.insert(name.to_owned());
            }
        }
    }
    let mut used = referenced(&deploy("prometheus/pgmeta-alerts.yml"));
    let dashboard = referenced(&deploy("grafana/pgmeta-dashboard.json"));
    assert!(
        dashboard.len() >= 15,
        "the dashboard uses the metrics: {dashboard:?}"
    );
    used.extend(dashboard);
    let missing: Vec<&String> = used.iter().filter(|m| !exported.contains(*m)).collect();
    assert!(
        missing.is_empty(),
        "referenced but not exported: {missing:?}\nexported: {exported:?}"
    );
    assert_eq!(
        capture
            .terminate(Duration::from_secs(10))
            .map(|s| s.success()),
        Some(true),
        "capture exits 0 on SIGTERM"
    );
}

/// Replays the capture's `pgmeta_capture_schema_changes_total` samples (from 0 a minute
/// earlier) through `promtool test rules`: the BREAKING alert fires for each BREAKING rule
/// counted, and for nothing else.
fn assert_breaking_alert_fires(metrics: &str) {
    let series: Vec<(&str, &str)> = metrics
        .lines()
        .filter(|l| l.starts_with("pgmeta_capture_schema_changes_total{"))
        .filter_map(|l| l.rsplit_once(' '))
        .collect();
    let breaking: Vec<String> = series
        .iter()
        .filter(|(s, _)| s.contains("class=\"BREAKING\""))
        .filter_map(|(s, _)| {
            let rule = s.split("rule=\"").nth(1)?.split('"').next()?;
            Some(rule.to_owned())
        })
        .collect();
    assert!(!breaking.is_empty(), "{metrics}");
    assert!(
        series
            .iter()
            .any(|(s, _)| !s.contains("class=\"BREAKING\"")),
        "a NON_BREAKING change was counted too: {metrics}"
    );
    let rules = pgmeta::testkit::project_dir().join("deploy/prometheus/pgmeta-alerts.yml");
    let mut test = format!(
        "rule_files:\n  - {}\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n",
        rules.display()
    );
    for (name, value) in &series {
        test.push_str(&format!(
            "      - series: '{name}'\n        values: '0 {value} {value} {value} {value}'\n"
        ));
    }
    test.push_str(
        "    alert_rule_test:\n      - eval_time: 4m\n        alertname: PgmetaBreakingSchemaChange\n        exp_alerts:\n",
    );
    for rule in &breaking {
        test.push_str(&format!(
            "          - exp_labels: {{severity: warning, rule: \"{rule}\"}}\n            exp_annotations:\n              summary: \"A BREAKING schema change ({rule}) reached the schema-changes topic\"\n              description: \"Each record on the pgmeta.schema-changes topic names the changed object, its before and after, and the views, routines and ETL statements it reaches. Route this alert to the owners' chat or pager in Alertmanager.\"\n"
        ));
    }
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("breaking.test.yml");
    std::fs::write(&file, &test).expect("write the rule test");
    let out = match std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(&file)
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            pgmeta::testkit::skip(
                "alert_rules_and_dashboard_use_only_exported_metrics (promtool test rules)",
                pgmeta::testkit::Missing::Tool,
                "promtool not installed (Debian package prometheus)",
            );
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}{}\n{test}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_kubernetes_capture_config_parses() {
    let manifest = deploy("kubernetes/pgmeta-capture.yaml");
    let start = manifest
        .find("capture.toml: |")
        .expect("the ConfigMap's capture.toml");
    let toml: String = manifest[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", &l[4..]))
        .collect();
    let config: pgmeta::config::CaptureConfig =
        toml::from_str(&toml).unwrap_or_else(|e| panic!("{e}\n{toml}"));
    assert_eq!(config.service_name, "postgres_prod");
}

#[test]
fn promtool_accepts_the_alert_rules() {
    let rules = pgmeta::testkit::project_dir().join("deploy/prometheus/pgmeta-alerts.yml");
    let out = match std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
    {
        Ok(out) => out,
        Err(_) => {
            pgmeta::testkit::skip(
                "promtool_accepts_the_alert_rules",
                pgmeta::testkit::Missing::Tool,
                "promtool not installed (Debian package prometheus)",
            );
            return;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS: 11 rules found"), "{text}");
}
