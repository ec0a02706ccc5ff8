//! One integration-test binary against real services: a throwaway PostgreSQL cluster and a
//! tansu broker (see `pgmeta::testkit`).

mod common;

mod apply;
mod apply_hostile;
mod apply_orders;
mod broker;
mod catalog;
mod changes;
mod chaos;
mod cli;
mod conformance;
mod deploy;
mod equivalence;
mod filters;
mod foreign_readers;
mod full_read_parts;
mod health;
mod identifiers;
mod limits;
mod lineage;
mod pagila;
mod registry_tls;
mod replication;
mod restart;
mod schema_changes;
mod schema_evolution;
mod server_hardening;
mod server_properties;
mod shutdown;
mod structure;
mod targeted_reads;
mod tls;
mod torture;
mod usage;
