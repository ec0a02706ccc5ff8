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
//! # Modules
//!
//! Three binaries sit on top: `pgmeta-capture` ([`capture`]: [`source`]s read PostgreSQL
//! through [`pg`], [`diff`] against the [`checkpoint`] state, [`sink`]s write [`event`]s
//! encoded by [`codec`]), `pgmeta-apply` ([`apply`]: Kafka to an OpenMetadata server) and
//! `pgmeta-catalog` ([`server`]: an OpenMetadata-compatible server). [`openmetadata`] is the
//! REST contract apply and the server share; [`registry`] is the Schema Registry client the
//! sink and apply share for the Confluent framing; [`schema_change`] classifies the diff's
//! changes for downstream teams (rules, impact through lineage, contracts); [`model`]
//! (PostgreSQL's catalog as pgmeta describes it) is at the bottom. Each module uses only
//! those after its arrow, so the graph has no cycle (`tests/structure.rs` derives it from the
//! code, checks it equals this table and the README's, and that no directory's submodules
//! form a cycle either):
//!
//! ```text
//! apply        ─► codec config error_chain event kafka lineage memory model openmetadata pg registry shutdown sink telemetry
//! capture      ─► apply checkpoint config diff event lineage pg shutdown sink source
//! checkpoint   ─► diff model
//! cli          ─► config memory telemetry
//! codec        ─► event
//! config       ─► filter
//! diff         ─► event model schema_change
//! error_chain  ─►
//! event        ─► model
//! filter       ─►
//! kafka        ─►
//! lineage      ─► event model
//! memory       ─►
//! model        ─►
//! openmetadata ─►
//! pg           ─► config error_chain event lineage model usage
//! registry     ─► config error_chain pg
//! schema_change ─► config event lineage model
//! server       ─► config event model openmetadata pg shutdown telemetry
//! shutdown     ─►
//! sink         ─► codec config event kafka registry telemetry
//! source       ─► checkpoint config diff event lineage model pg registry schema_change shutdown sink telemetry usage
//! telemetry    ─► event kafka memory shutdown
//! testkit      ─► capture codec config event model pg shutdown sink
//! usage        ─► event
//! ```
//!
//! # Delivery guarantee
//! At least once, made harmless by idempotence. A poll's events are written to the sink and
//! acknowledged (`acks=all`, idempotent producer) before the capture's state advances, so a
//! crash can repeat a change but never lose one. A repeated change carries the same
//! `event_id` and `entity_version`, and every event is keyed by its FQN, so per-entity order
//! holds within a partition and a consumer can drop what it has already applied. A clean
//! restart repeats nothing: the state store says what was emitted.

#![warn(unreachable_pub)]

pub mod apply;
pub mod capture;
pub mod checkpoint;
pub mod cli;
pub mod codec;
pub mod config;
pub mod diff;
mod error_chain;
pub mod event;
pub mod filter;
pub mod kafka;
pub mod lineage;
pub mod memory;
pub mod model;
pub mod openmetadata;
pub mod pg;
pub mod registry;
pub mod schema_change;
pub mod server;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod telemetry;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod usage;
