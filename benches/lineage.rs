//! `make bench`: statements per second through parse + lineage on one core, for short OLTP
//! statements and long analytic queries, against the Python `sqllineage` package on the same
//! statements in the same run (its venv from `scripts/install-python-tools.sh`).
//!
//! Both sides get the same text and no catalog; pgmeta computes table and column lineage for
//! every statement (as the capture does), sqllineage's runner is asked for source tables,
//! target tables and column lineage.

use pgmeta::lineage::{Resolver, Session};
use std::io::Write;
use std::time::Instant;

/// Short statements as pg_stat_statements shows them (constants as `$n`).
fn oltp(n: usize) -> Vec<String> {
    let templates = [
        "SELECT id, name, email FROM customers{i} WHERE id = $1",
        "SELECT o.id, o.amount FROM orders{i} o WHERE o.customer_id = $1 ORDER BY o.ordered_at DESC LIMIT $2",
        "INSERT INTO orders{i} (id, customer_id, amount, status) VALUES ($1, $2, $3, $4)",
        "UPDATE accounts{i} SET balance = balance + $1 WHERE aid = $2",
        "SELECT c.name, count(*) FROM customers{i} c JOIN orders o ON o.customer_id = c.id WHERE c.id = $1 GROUP BY c.name",
        "DELETE FROM sessions{i} WHERE expires_at < $1",
        "INSERT INTO audit{i} (tbl, op, at) SELECT 'orders', 'I', now() FROM orders WHERE id = $1",
        "UPDATE orders{i} o SET status = $1 FROM payments p WHERE p.order_id = o.id AND p.id = $2",
    ];
    (0..n)
        .map(|k| templates[k % templates.len()].replace("{i}", &(k % 97).to_string()))
        .collect()
}

/// Long analytic statements: CTE chains, joins, windows, CASE, set operations, 2-4 KB each.
fn analytic(n: usize) -> Vec<String> {
    let templates = [
        "INSERT INTO mart.customer_ltv{i} (customer_id, first_order, last_order, orders, revenue, segment)
WITH orders_clean AS (
  SELECT o.id, o.customer_id, o.ordered_at::date AS day, coalesce(o.amount, 0) AS amount, o.status
  FROM sales.orders o WHERE o.status NOT IN ('void', 'test') AND o.ordered_at >= date_trunc('year', now()) - interval '3 years'
), payments_agg AS (
  SELECT p.order_id, sum(p.amount) AS paid, max(p.paid_at) AS last_paid FROM sales.payments p GROUP BY p.order_id
), joined AS (
  SELECT oc.customer_id, oc.day, oc.amount, coalesce(pa.paid, 0) AS paid,
         row_number() OVER (PARTITION BY oc.customer_id ORDER BY oc.day) AS rn,
         sum(oc.amount) OVER (PARTITION BY oc.customer_id) AS total
  FROM orders_clean oc LEFT JOIN payments_agg pa ON pa.order_id = oc.id
)
SELECT j.customer_id, min(j.day), max(j.day), count(*), sum(j.paid),
       CASE WHEN sum(j.paid) > 10000 THEN 'gold' WHEN sum(j.paid) > 1000 THEN 'silver' ELSE 'bronze' END
FROM joined j JOIN sales.customers c ON c.id = j.customer_id
WHERE c.email NOT LIKE '%@example.com'
GROUP BY j.customer_id
HAVING count(*) > 1",
        "CREATE TABLE mart.daily_region{i} AS
SELECT d.day, r.region_name, s.channel,
       sum(s.quantity * s.unit_price * (1 - coalesce(s.discount, 0))) AS net_revenue,
       sum(s.quantity) AS units, count(DISTINCT s.customer_id) AS buyers,
       avg(s.unit_price) FILTER (WHERE s.channel = 'web') AS avg_web_price,
       rank() OVER (PARTITION BY d.day ORDER BY sum(s.quantity * s.unit_price) DESC) AS region_rank
FROM dw.fact_sales s
JOIN dw.dim_date d ON d.date_key = s.date_key
JOIN dw.dim_store st ON st.store_key = s.store_key
JOIN dw.dim_region r ON r.region_key = st.region_key
LEFT JOIN dw.dim_promotion pr ON pr.promo_key = s.promo_key AND pr.active
WHERE d.year BETWEEN 2019 AND 2024 AND s.quantity > 0
  AND EXISTS (SELECT 1 FROM dw.dim_customer dc WHERE dc.customer_key = s.customer_key AND dc.is_test = false)
GROUP BY d.day, r.region_name, s.channel",
        "SELECT x.category, x.month, x.revenue, x.revenue - lag(x.revenue) OVER w AS change,
       100.0 * x.revenue / nullif(sum(x.revenue) OVER (PARTITION BY x.month), 0) AS share
FROM (
  SELECT p.category, date_trunc('month', o.ordered_at) AS month, sum(i.qty * i.price) AS revenue
  FROM shop.order_items i
  JOIN shop.orders o ON o.id = i.order_id
  JOIN shop.products p ON p.id = i.product_id
  WHERE o.status = 'complete'
  GROUP BY 1, 2
  UNION ALL
  SELECT 'refunds', date_trunc('month', r.refunded_at), -sum(r.amount)
  FROM shop.refunds r GROUP BY 2
) x
WINDOW w AS (PARTITION BY x.category ORDER BY x.month)
ORDER BY x.month, share DESC",
        "MERGE INTO mart.inventory{i} t
USING (
  WITH moves AS (
    SELECT m.sku, m.warehouse_id, sum(CASE WHEN m.kind = 'in' THEN m.qty ELSE -m.qty END) AS delta
    FROM ops.stock_moves m WHERE m.moved_at > now() - interval '1 day' GROUP BY m.sku, m.warehouse_id
  )
  SELECT mv.sku, mv.warehouse_id, mv.delta, w.region FROM moves mv JOIN ops.warehouses w ON w.id = mv.warehouse_id
) s ON t.sku = s.sku AND t.warehouse_id = s.warehouse_id
WHEN MATCHED THEN UPDATE SET on_hand = t.on_hand + s.delta, region = s.region
WHEN NOT MATCHED THEN INSERT (sku, warehouse_id, on_hand, region) VALUES (s.sku, s.warehouse_id, s.delta, s.region)",
    ];
    (0..n)
        .map(|k| templates[k % templates.len()].replace("{i}", &(k % 97).to_string()))
        .collect()
}

struct Figure {
    statements: usize,
    parsed: usize,
    seconds: f64,
    bytes: usize,
}

fn pgmeta(statements: &[String], rounds: usize) -> Figure {
    let resolver = Resolver::without_catalog();
    let mut parsed = 0;
    let mut edges = 0usize;
    let started = Instant::now();
    for _ in 0..rounds {
        for sql in statements {
            if let Ok(l) = Session::new(&resolver).analyze(sql) {
                parsed += 1;
                edges += l.column_lineage.len() + l.sources.len();
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    std::hint::black_box(edges);
    Figure {
        statements: statements.len() * rounds,
        parsed,
        seconds,
        bytes: statements.iter().map(String::len).sum::<usize>() * rounds,
    }
}

const SQLLINEAGE: &str = r#"
import json, sys, time, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.CRITICAL)
from sqllineage.runner import LineageRunner
stmts = json.load(open(sys.argv[1]))
ok = 0
t = time.perf_counter()
for s in stmts:
    try:
        r = LineageRunner(s, dialect="postgres", silent_mode=True)
        r.source_tables; r.target_tables; r.get_column_lineage()
        ok += 1
    except Exception:
        pass
print(json.dumps({"statements": len(stmts), "parsed": ok, "seconds": time.perf_counter() - t}))
"#;

fn sqllineage(statements: &[String]) -> Result<Figure, String> {
    let home = std::env::var("HOME").unwrap_or_default();
    let cache = std::env::var("XDG_CACHE_HOME").unwrap_or_else(|_| format!("{home}/.cache"));
    let python = format!("{cache}/pgmeta/venv-sqllineage/bin/python");
    if !std::path::Path::new(&python).exists() {
        return Err(format!(
            "{python} not found (run scripts/install-python-tools.sh)"
        ));
    }
    let mut file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    serde_json::to_writer(&mut file, statements).map_err(|e| e.to_string())?;
    file.flush().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(&python)
        .args(["-c", SQLLINEAGE])
        .arg(file.path())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(Figure {
        statements: v["statements"].as_u64().unwrap_or(0) as usize,
        parsed: v["parsed"].as_u64().unwrap_or(0) as usize,
        seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
        bytes: statements.iter().map(String::len).sum(),
    })
}

fn report(name: &str, ours: &Figure, theirs: Result<Figure, String>) {
    let rate = ours.statements as f64 / ours.seconds;
    println!(
        "{name}: pgmeta {rate:.0} statements/s ({:.1} MB/s), {}/{} parsed ({:.1}%)",
        ours.bytes as f64 / ours.seconds / 1e6,
        ours.parsed,
        ours.statements,
        100.0 * ours.parsed as f64 / ours.statements as f64
    );
    match theirs {
        Ok(t) => {
            let their_rate = t.statements as f64 / t.seconds;
            println!(
                "{name}: sqllineage {their_rate:.1} statements/s, {}/{} parsed ({:.1}%); ratio {:.0}x (target >= 100x)",
                t.parsed,
                t.statements,
                100.0 * t.parsed as f64 / t.statements as f64,
                rate / their_rate
            );
        }
        Err(e) => println!("{name}: sqllineage not measured: {e}"),
    }
}

fn main() {
    // sqllineage is slow: it gets a sample of each workload; pgmeta runs the same sample many
    // times over so its timing is not noise.
    let short = oltp(400);
    let long = analytic(40);
    report("OLTP (short)", &pgmeta(&short, 50), sqllineage(&short));
    report("analytic (long)", &pgmeta(&long, 50), sqllineage(&long));
}
