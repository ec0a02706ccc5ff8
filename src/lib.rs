//! pgmeta: near-real-time metadata change capture from PostgreSQL into Kafka.
//!
//! ```text
//!  catalog poll ──► CatalogSnapshot ──► diff(state) ──► MetadataEvent ──► Avro ──► Sink (Kafka | jsonl)
//!                                                                                  │ acknowledged
//!                                                            state file ◄── state.apply
//! ```
//!
//! Sources read ([`source`], [`pg`]), the model describes ([`model`]), the diff decides
//! ([`diff`]), the codec encodes ([`codec`]), sinks write ([`sink`]).
//!
//! # Delivery guarantee
//! At least once, made harmless by idempotence. A poll's events are written to the sink and
//! acknowledged (`acks=all`, idempotent producer) before the capture's state advances, so a
//! crash can repeat a change but never lose one. A repeated change carries the same
//! `event_id` and `entity_version`, and every event is keyed by its FQN, so per-entity order
//! holds within a partition and a consumer can drop what it has already applied. A clean
//! restart repeats nothing: the state file says what was emitted.

pub mod apply;
pub mod capture;
pub mod checkpoint;
pub mod cli;
pub mod codec;
pub mod config;
pub mod diff;
pub mod event;
pub mod filter;
pub mod lineage;
pub mod memory;
pub mod model;
pub mod openmetadata;
pub mod pg;
pub mod server;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod usage;
