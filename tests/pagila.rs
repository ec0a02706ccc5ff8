//! The pagila sample (../shared/corpus, absent from a user's clone: then the test says it is
//! skipped) loads and snapshots without errors, and the events count what the catalog counts.

use crate::common::{TestEnv, poll_ok};
use pgmeta::model::{ConstraintType, TableType};
use std::path::PathBuf;

pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var("PGMETA_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| pgmeta::testkit::project_dir().join("../shared/corpus"));
    dir.join("pagila/pagila-schema.sql").exists().then_some(dir)
}

#[tokio::test]
async fn pagila_snapshot_counts_equal_the_catalog() {
    let Some(corpus) = corpus_dir() else {
        pgmeta::testkit::skip(
            "pagila_snapshot_counts_equal_the_catalog",
            pgmeta::testkit::Missing::Corpus,
            "../shared/corpus not found (set PGMETA_CORPUS)",
        );
        return;
    };
    let env = TestEnv::new("pagila").await;
    env.cluster
        .psql_file(&env.db, &corpus.join("pagila/pagila-schema.sql"));
    env.cluster
        .psql_file(&env.db, &corpus.join("pagila/pagila-data.sql"));
    env.sql("REFRESH MATERIALIZED VIEW rental_by_category; ANALYZE;")
        .await;

    let mut capture = env.capture().await;
    poll_ok(&mut capture).await;
    let tables: Vec<pgmeta::model::Table> = env
        .records()
        .into_iter()
        .filter_map(|r| r.event.and_then(|e| e.table))
        .collect();
    let count = |kind: TableType| tables.iter().filter(|t| t.table_type == kind).count() as i64;

    let row = env
        .client
        .query_one(
            "SELECT count(*) FILTER (WHERE relkind = 'r' AND NOT relispartition),
                    count(*) FILTER (WHERE relkind = 'p' AND NOT relispartition),
                    count(*) FILTER (WHERE relispartition AND relkind IN ('r', 'p')),
                    count(*) FILTER (WHERE relkind = 'v'),
                    count(*) FILTER (WHERE relkind = 'm'),
                    (SELECT count(*) FROM pg_attribute a JOIN pg_class c2 ON c2.oid = a.attrelid
                      WHERE c2.relnamespace = 'public'::regnamespace AND c2.relkind IN ('r','p','v','m','f')
                        AND a.attnum > 0 AND NOT a.attisdropped),
                    (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace)
             FROM pg_class WHERE relnamespace = 'public'::regnamespace",
            &[],
        )
        .await
        .expect("catalog counts");
    let got = [
        count(TableType::Table),
        count(TableType::PartitionedTable),
        count(TableType::Partition),
        count(TableType::View),
        count(TableType::MaterializedView),
        tables.iter().map(|t| t.columns.len() as i64).sum(),
        tables
            .iter()
            .flat_map(|t| &t.constraints)
            .filter(|c| c.constraint_type == ConstraintType::ForeignKey)
            .count() as i64,
    ];
    let want: Vec<i64> = (0..7).map(|i| row.get(i)).collect();
    assert_eq!(
        got.to_vec(),
        want,
        "[tables, partitioned, partitions, views, matviews, columns, FKs]"
    );
    // The corpus README's own counts, as a cross-check that the fixture is what we think.
    assert_eq!((want[1], want[2], want[3], want[4]), (1, 7, 7, 1));
    assert!(tables.iter().any(|t| {
        t.name == "payment_p2022_01"
            && t.partition_of
                .as_ref()
                .is_some_and(|p| p.parent_table == "payment")
    }));
    assert!(
        tables
            .iter()
            .filter(|t| t.table_type == TableType::Table)
            .all(|t| t.row_estimate.is_some()),
        "analyzed tables carry estimates"
    );
}
