//! The replication listener: DDL reaches Kafka within a fraction of a second instead of at
//! the next poll.
//!
//! ```text
//!  DDL ─► event trigger ─► pg_logical_emit_message('pgmeta', …) ─► WAL ─► slot (pgoutput)
//!        BEGIN … M(pgmeta) … COMMIT end_lsn ─► read catalog ─► diff ─► sink (acks=all)
//!                                                   └──────────── then ─► applied LSN = end_lsn
//! ```
//!
//! Invariants:
//! - The slot's confirmed position never passes a transaction whose changes are not
//!   acknowledged by the sink: `end_lsn` is reported only after the events are durable, so a
//!   crash replays that transaction (at least once; its re-read emits what is still missing).
//!   Nor does it pass one whose state commit is not durable: a DDL's commit is deferred (no
//!   fsync of its own, see `checkpoint::Durability`) and its position held until the store is
//!   flushed, at most `STATE_FLUSH_AFTER` later, so a burst of DDL waits on one fsync per
//!   flush instead of one per transaction, and a crash that loses the commit replays the DDL.
//! - Gap-free start: the slot exists before the initial read. A DDL committed before the slot's
//!   consistent point is in the read; one after it is replayed by the slot, and re-reading after
//!   it emits nothing the initial read already emitted (every read diffs the *current* catalog
//!   against what was emitted, so it is idempotent). Hence no DDL is lost or applied twice, and
//!   versions only move forward, whatever the interleaving at start.
//! - Idle slots do not hold WAL: between transactions the keepalive's WAL end is acknowledged.

use super::CaptureError;
use crate::checkpoint::CheckpointStore;
use crate::event::CaptureMode;
use crate::pg::ddl_trigger::{MESSAGE_PREFIX, PUBLICATION};
use crate::pg::touched::Touched;
use crate::pg::{ErrorClass, PgError, PgTarget};
use crate::shutdown::Shutdown;
use crate::sink::Sink;
use crate::source::CatalogPollSource;
use pgwire_replication::client::ReplicationEvent;
use pgwire_replication::lsn::Lsn;
use std::time::Duration;

/// How often the slot-lag gauges are refreshed.
const SLOT_LAG_INTERVAL: Duration = Duration::from_secs(2);
/// How long after a DDL's deferred state commit the store is flushed and its position
/// acknowledged (see the module docs).
const STATE_FLUSH_AFTER: Duration = Duration::from_millis(200);

/// A position to acknowledge once the state store is flushed, and when to flush it.
type HeldAck = Option<(Lsn, tokio::time::Instant)>;

/// Acknowledges `lsn`, or holds it (with the earliest flush time) while a deferred state
/// commit is not durable yet.
fn acknowledge(
    stream: &mut pgwire_replication::ReplicationClient,
    store: &CheckpointStore,
    lsn: Lsn,
    held: &mut HeldAck,
) {
    if held.is_some() || store.unflushed() {
        let at = held.map_or_else(|| tokio::time::Instant::now() + STATE_FLUSH_AFTER, |h| h.1);
        *held = Some((lsn, at));
    } else {
        stream.update_applied_lsn(lsn);
    }
}

/// Flushes the state store and acknowledges the position held for it.
async fn flush_held(
    stream: &mut pgwire_replication::ReplicationClient,
    store: &CheckpointStore,
    held: &mut HeldAck,
) -> Result<(), CaptureError> {
    if let Some((lsn, _)) = *held {
        store.blocking(|s| s.flush()).await?;
        stream.update_applied_lsn(lsn);
        *held = None;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::DdlMessage;

    #[test]
    fn reads_the_transaction_id_and_whether_the_command_changes_metadata() {
        let msg = br#"{"event" : "ddl_command_end", "tag" : "CREATE TABLE", "xid" : 74123}"#;
        let parsed = DdlMessage::parse(msg);
        assert_eq!((parsed.xid, parsed.changes_metadata), (Some(74123), true));
        let refresh =
            br#"{"event" : "ddl_command_end", "tag" : "REFRESH MATERIALIZED VIEW", "xid" : 9}"#;
        assert!(!DdlMessage::parse(refresh).changes_metadata);
        assert!(!DdlMessage::parse(br#"{"tag": "REINDEX"}"#).changes_metadata);
        // GRANT changes privileges, which are captured.
        let grant = DdlMessage::parse(br#"{"tag": "GRANT"}"#);
        assert_eq!((grant.xid, grant.changes_metadata), (None, true));
        // Not the trigger's JSON: read for, never skipped.
        assert!(DdlMessage::parse(b"not json").changes_metadata);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    #[error("replication slot {slot}: {reason}")]
    Slot { slot: String, reason: String },
    #[error("replication stream of slot {slot}: {reason}")]
    Stream { slot: String, reason: String },
    #[error("replication slot {slot} is held by another session: {reason}")]
    SlotInUse { slot: String, reason: String },
    #[error(
        "the DDL trigger is not installed in {database} (no publication {PUBLICATION}); run `pgmeta-capture install` as a superuser"
    )]
    NotInstalled { database: String },
    #[error(
        "role {user} may not use replication: grant it with ALTER ROLE {user} REPLICATION (or leave replication.enabled off to capture by polling)"
    )]
    NoReplicationPrivilege { user: String },
    #[error(
        "DDL capture through replication needs PostgreSQL 14 or later (pgoutput's `messages` option); this server is {version}"
    )]
    ServerTooOld { version: String },
    #[error(
        "slot {slot} retains {bytes} bytes of WAL, over replication.max_retained_wal_bytes = {limit}, while events cannot be delivered ({cause}); stopping so the server's disk does not fill. Fix the sink and restart, or drop the slot with `pgmeta-capture uninstall` (the next start takes a fresh snapshot)"
    )]
    WalRetained {
        slot: String,
        bytes: i64,
        limit: i64,
        cause: String,
    },
}

impl ReplicationError {
    /// Missing setup rather than a failure: the capture can still poll.
    pub fn is_missing_setup(&self) -> bool {
        matches!(
            self,
            ReplicationError::NotInstalled { .. }
                | ReplicationError::NoReplicationPrivilege { .. }
                | ReplicationError::ServerTooOld { .. }
        )
    }
}

#[derive(Debug)]
pub struct ReplicationSource {
    poll: CatalogPollSource,
    target: PgTarget,
    slot: String,
    safety_poll_interval: Duration,
    max_retained_wal_bytes: i64,
    slot_takeover_after: Option<Duration>,
    /// For visibility checks and the slot gauges; reconnected when it breaks.
    aux: Option<tokio_postgres::Client>,
    /// The usage poller of the same database and its interval.
    usage: Option<(super::UsageSource, Duration)>,
}

impl ReplicationSource {
    pub fn new(
        poll: CatalogPollSource,
        target: PgTarget,
        slot: String,
        config: &crate::config::ReplicationConfig,
    ) -> Self {
        ReplicationSource {
            poll,
            target,
            slot,
            safety_poll_interval: config.safety_poll_interval,
            max_retained_wal_bytes: config.max_retained_wal_bytes,
            slot_takeover_after: config.slot_takeover_after,
            aux: None,
            usage: None,
        }
    }

    /// Also polls usage on its interval, between transactions.
    pub fn with_usage(mut self, usage: Option<(super::UsageSource, Duration)>) -> Self {
        self.usage = usage;
        self
    }

    /// Streams until shutdown; call [`ReplicationSource::prepare`] first. A slot held by
    /// another session is waited for (see `ReplicationSource::wait_for_slot`) before
    /// anything is read or emitted, so two instances never emit side by side. Transient
    /// failures of the read or the sink are retried in place, without acknowledging the
    /// transaction, while the stream's keepalives go on being answered, until the slot retains
    /// more WAL than `replication.max_retained_wal_bytes`.
    pub async fn run<S: Sink>(
        mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mut shutdown: Shutdown,
    ) -> Result<(), CaptureError> {
        loop {
            if !self.wait_for_slot(&mut shutdown).await? {
                return Ok(());
            }
            match self.stream(sink, store, &mut shutdown).await {
                // Taken by another session between the check and START_REPLICATION.
                Err(CaptureError::Replication(ReplicationError::SlotInUse { reason, .. })) => {
                    tracing::warn!(slot = %self.slot, reason = %reason, "replication slot taken before the stream started; waiting again");
                }
                other => return other,
            }
        }
    }

    /// Waits until no session holds the slot: during a restart the previous instance, or the
    /// walsender of one that died, which PostgreSQL ends only at `wal_sender_timeout`.
    /// Starting anyway would fail ("replication slot … is active for PID …") and crash-loop.
    /// With `replication.slot_takeover_after`, the holder is ended after that long. False when
    /// shutdown came first.
    async fn wait_for_slot(&mut self, shutdown: &mut Shutdown) -> Result<bool, CaptureError> {
        const NOTE_EVERY: Duration = Duration::from_secs(30);
        let label = self.target.to_string();
        let client = self.target.connect().await?;
        let started = std::time::Instant::now();
        let mut noted: Option<std::time::Instant> = None;
        let mut terminate_tried: Option<std::time::Instant> = None;
        loop {
            let holder: Option<i32> = client
                .query_opt(
                    "SELECT active_pid FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                    &[&self.slot],
                )
                .await
                .map_err(|e| PgError::query("replication slot holder", &label, &e))?
                .and_then(|r| r.get(0));
            let Some(pid) = holder else {
                if noted.is_some() {
                    tracing::info!(slot = %self.slot, waited_s = started.elapsed().as_secs(), "replication slot released; taking it over");
                }
                return Ok(true);
            };
            if noted.is_none_or(|n| n.elapsed() >= NOTE_EVERY) {
                tracing::warn!(slot = %self.slot, holder_pid = pid, waited_s = started.elapsed().as_secs(), takeover_after = ?self.slot_takeover_after, "replication slot is held by another session (a previous instance?); waiting for it");
                noted = Some(std::time::Instant::now());
            }
            if let Some(after) = self.slot_takeover_after
                && started.elapsed() >= after
                && terminate_tried.is_none_or(|t| t.elapsed() >= NOTE_EVERY)
            {
                terminate_tried = Some(std::time::Instant::now());
                match client
                    .query_one("SELECT pg_catalog.pg_terminate_backend($1)", &[&pid])
                    .await
                {
                    Ok(_) => {
                        tracing::warn!(slot = %self.slot, holder_pid = pid, "ended the session holding the replication slot (replication.slot_takeover_after)")
                    }
                    Err(e) => {
                        tracing::warn!(slot = %self.slot, holder_pid = pid, error = %PgError::query("pg_terminate_backend", &label, &e), "cannot end the session holding the replication slot; waiting on")
                    }
                }
            }
            tokio::select! {
                _ = shutdown.wait() => return Ok(false),
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    /// Reads, emits and streams until shutdown or an error.
    async fn stream<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        shutdown: &mut Shutdown,
    ) -> Result<(), CaptureError> {
        // After `prepare` made the slot (see the module docs for why this order is gap-free).
        self.emit_with_retry(sink, store, CaptureMode::Poll, None, shutdown)
            .await?;
        let cfg = self
            .target
            .replication_config(&self.slot, PUBLICATION)
            .map_err(|e| self.stream_error(e))?;
        let mut stream = pgwire_replication::ReplicationClient::connect(cfg)
            .await
            .map_err(|e| self.stream_error(e))?;
        tracing::info!(slot = %self.slot, "replication stream started");
        let mut safety = tokio::time::interval(self.safety_poll_interval);
        safety.tick().await;
        let mut lag_tick = tokio::time::interval(SLOT_LAG_INTERVAL);
        let mut usage_tick = tokio::time::interval(
            self.usage
                .as_ref()
                .map_or(Duration::from_secs(3600), |(_, i)| *i),
        );
        usage_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // When the oldest received, unacknowledged DDL transaction arrived.
        let mut unacked_since: Option<std::time::Instant> = None;
        // Transaction ids of the DDL since the last read (from the trigger's messages), and
        // what the DDL touched, which is what the read reads.
        let mut pending_xids: Vec<i64> = Vec::new();
        let mut touched = Touched::default();
        let mut in_transaction = false;
        let mut saw_ddl = false;
        // End LSN of the last committed transaction not yet acknowledged, and whether any
        // transaction since the last read carried DDL.
        let mut unacked: Option<Lsn> = None;
        let mut ddl_pending = false;
        let mut held: HeldAck = None;
        loop {
            // Under a burst of DDL, transactions already waiting in the stream are folded into
            // one catalog read: read once the stream has nothing more ready, then acknowledge
            // the last of them. A read always sees the current catalog, so nothing is missed.
            let event = if let (Some(lsn), false) = (unacked, in_transaction) {
                match futures_util::FutureExt::now_or_never(stream.recv()) {
                    Some(event) => event,
                    None => {
                        if ddl_pending {
                            self.wait_until_visible(&pending_xids).await;
                            pending_xids.clear();
                            let read = std::mem::take(&mut touched);
                            self.emit_with_retry(
                                sink,
                                store,
                                CaptureMode::Replication,
                                Some(&read),
                                shutdown,
                            )
                            .await?;
                            fail::fail_point!("replication-after-emit-before-ack");
                        }
                        acknowledge(&mut stream, store, lsn, &mut held);
                        (unacked, ddl_pending, unacked_since) = (None, false, None);
                        continue;
                    }
                }
            } else {
                tokio::select! {
                    _ = shutdown.wait() => {
                        flush_held(&mut stream, store, &mut held).await?;
                        stream.stop();
                        tracing::info!(slot = %self.slot, "replication stream stopped");
                        return Ok(());
                    }
                    _ = tokio::time::sleep_until(held.map_or_else(tokio::time::Instant::now, |h| h.1)), if held.is_some() => {
                        flush_held(&mut stream, store, &mut held).await?;
                        continue;
                    }
                    _ = lag_tick.tick() => {
                        self.record_slot_lag(unacked_since).await;
                        continue;
                    }
                    _ = usage_tick.tick(), if !in_transaction && self.usage.is_some() => {
                        if let Some((usage, _)) = &mut self.usage {
                            if let Err(e) = usage.poll(sink, store).await {
                                if matches!(e, CaptureError::Checkpoint(_)) {
                                    return Err(e);
                                }
                                let cause = e.cause();
                                tracing::warn!(database = %usage.database(), error = %e, error.system = cause.system, error.code = %cause.code, "usage poll failed");
                            }
                        }
                        continue;
                    }
                    _ = safety.tick(), if !in_transaction => {
                        self.emit_with_retry(sink, store, CaptureMode::Poll, None, shutdown).await?;
                        continue;
                    }
                    event = stream.recv() => event,
                }
            };
            match event.map_err(|e| self.stream_error(e))? {
                None => return Err(self.stream_error("the server ended the stream")),
                Some(ReplicationEvent::Begin { .. }) => (in_transaction, saw_ddl) = (true, false),
                Some(ReplicationEvent::Message {
                    prefix, content, ..
                }) if prefix == MESSAGE_PREFIX => {
                    let message = DdlMessage::parse(&content);
                    if message.changes_metadata {
                        saw_ddl = true;
                        pending_xids.extend(message.xid);
                        touched.merge(message.touched);
                    } else {
                        crate::telemetry::metrics().ddl_skipped.inc();
                    }
                }
                Some(ReplicationEvent::Commit { end_lsn, .. }) => {
                    fail::fail_point!("replication-commit-received");
                    in_transaction = false;
                    ddl_pending |= saw_ddl;
                    unacked = Some(end_lsn);
                    unacked_since.get_or_insert_with(std::time::Instant::now);
                }
                Some(ReplicationEvent::KeepAlive { wal_end, .. })
                    if !in_transaction && unacked.is_none() =>
                {
                    acknowledge(&mut stream, store, wal_end, &mut held)
                }
                Some(_) => {}
            }
        }
    }

    async fn emit_with_retry<S: Sink>(
        &mut self,
        sink: &mut S,
        store: &CheckpointStore,
        mode: CaptureMode,
        touched: Option<&Touched>,
        shutdown: &mut Shutdown,
    ) -> Result<(), CaptureError> {
        let mut backoff = Duration::from_millis(200);
        loop {
            match self
                .poll
                .read_and_emit_touched(sink, store, mode, touched)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.class() == ErrorClass::Transient && !shutdown.is_triggered() => {
                    if let Some(bytes) = self.retained_wal().await
                        && bytes > self.max_retained_wal_bytes
                    {
                        return Err(replication_error(ReplicationError::WalRetained {
                            slot: self.slot.clone(),
                            bytes,
                            limit: self.max_retained_wal_bytes,
                            cause: e.to_string(),
                        }));
                    }
                    let cause = e.cause();
                    tracing::warn!(slot = %self.slot, error = %e, error.system = cause.system, error.code = %cause.code, retry_in = ?backoff, "emitting DDL changes failed; the transaction stays unacknowledged");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Checks what replication needs (naming what is missing) and creates the slot unless it
    /// exists.
    pub async fn prepare(target: &PgTarget, slot: &str) -> Result<(), CaptureError> {
        let label = target.to_string();
        let client = target.connect().await?;
        let q = |e: tokio_postgres::Error| PgError::query("replication setup", &label, &e);
        let row = client
            .query_one(
                "SELECT current_user::text, r.rolreplication OR r.rolsuper,
                        EXISTS (SELECT 1 FROM pg_catalog.pg_publication WHERE pubname = $1),
                        EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $2),
                        current_setting('server_version_num')::int4, current_setting('server_version')
                 FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
                &[&PUBLICATION, &slot],
            )
            .await
            .map_err(q)?;
        if row.get::<_, i32>(4) < 140_000 {
            return Err(replication_error(ReplicationError::ServerTooOld {
                version: row.get(5),
            }));
        }
        let user: String = row.get(0);
        if !row.get::<_, bool>(1) {
            return Err(replication_error(
                ReplicationError::NoReplicationPrivilege { user },
            ));
        }
        if !row.get::<_, bool>(2) {
            return Err(replication_error(ReplicationError::NotInstalled {
                database: target.dbname().to_owned(),
            }));
        }
        if !row.get::<_, bool>(3) {
            client
                .execute(
                    "SELECT pg_catalog.pg_create_logical_replication_slot($1, 'pgoutput')",
                    &[&slot],
                )
                .await
                .map_err(|e| {
                    replication_error(ReplicationError::Slot {
                        slot: slot.to_owned(),
                        reason: e
                            .as_db_error()
                            .map_or_else(|| e.to_string(), |d| d.message().to_owned()),
                    })
                })?;
            tracing::info!(slot = %slot, "created replication slot");
        }
        Ok(())
    }

    /// Waits until the DDL transactions are visible to new snapshots. PostgreSQL flushes a
    /// commit record (which the walsender may already have sent us) before it removes the
    /// transaction from the proc array, so a read started at once could still see the catalog
    /// as it was, find nothing changed, and the change would be acknowledged unemitted.
    async fn wait_until_visible(&mut self, xids: &[i64]) {
        if xids.is_empty() {
            return;
        }
        let slot = self.slot.clone();
        let Some(client) = self.aux().await else {
            return;
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let visible = client
                .query_one(
                    "SELECT bool_and(pg_catalog.txid_visible_in_snapshot(x, pg_catalog.txid_current_snapshot()))
                     FROM unnest($1::int8[]) x",
                    &[&xids],
                )
                .await
                .map(|row| row.get::<_, Option<bool>>(0).unwrap_or(true));
            match visible {
                Ok(true) => return,
                Ok(false) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(2)).await
                }
                Ok(false) => {
                    tracing::warn!(slot = %slot, "DDL transaction still invisible after 10 s; reading anyway");
                    return;
                }
                Err(e) => {
                    tracing::warn!(slot = %slot, error = %e, "cannot check DDL visibility; reading anyway");
                    return;
                }
            }
        }
    }

    /// Updates the slot-lag gauges (best effort: an unreachable server leaves them as they are).
    async fn record_slot_lag(&mut self, unacked_since: Option<std::time::Instant>) {
        let m = crate::telemetry::metrics();
        m.slot_lag_seconds
            .set(unacked_since.map_or(0.0, |t| t.elapsed().as_secs_f64()));
        let slot = self.slot.clone();
        let Some(client) = self.aux().await else {
            return;
        };
        let row = client
            .query_opt(
                "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn)::int8,
                        pg_catalog.pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::int8
                 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await;
        if let Ok(Some(row)) = row {
            m.slot_lag_bytes
                .set(row.get::<_, Option<i64>>(0).unwrap_or(0));
            m.slot_confirmed_lsn
                .set(row.get::<_, Option<i64>>(1).unwrap_or(0));
        }
    }

    /// The auxiliary connection, (re)connected on demand; `None` while the server is away.
    async fn aux(&mut self) -> Option<&tokio_postgres::Client> {
        if self.aux.as_ref().is_none_or(|c| c.is_closed()) {
            self.aux = self.target.connect().await.ok();
        }
        self.aux.as_ref()
    }

    /// WAL the slot holds on the server, when the server can be asked.
    async fn retained_wal(&mut self) -> Option<i64> {
        let slot = self.slot.clone();
        let client = self.aux().await?;
        let row = client
            .query_opt(
                "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::int8
                 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .ok()??;
        row.get(0)
    }

    fn stream_error(&self, e: impl std::fmt::Display) -> CaptureError {
        let reason = e.to_string();
        let slot = self.slot.clone();
        // object_in_use: "replication slot … is active for PID …".
        replication_error(if reason.contains("SQLSTATE 55006") {
            ReplicationError::SlotInUse { slot, reason }
        } else {
            ReplicationError::Stream { slot, reason }
        })
    }
}

/// Command tags whose commands change nothing pgmeta emits: a REFRESH rewrites a
/// materialized view's rows (its row estimate and size are volatile, never a change on their
/// own), a REINDEX rebuilds an index as it was. A transaction of only these needs no catalog
/// read at all, which keeps a database that refreshes a view every few hundred milliseconds
/// from costing a read each time.
const NO_METADATA_TAGS: [&str; 2] = ["REFRESH MATERIALIZED VIEW", "REINDEX"];

/// One message of the DDL trigger.
#[derive(Debug, PartialEq, Eq)]
struct DdlMessage {
    /// The 64-bit transaction id (`txid_current()`).
    xid: Option<i64>,
    /// Whether its command may change what pgmeta emits. A message that is not the trigger's
    /// JSON may: it is read for, never skipped.
    changes_metadata: bool,
    /// What it names (see `pg::touched`).
    touched: Touched,
}

impl DdlMessage {
    fn parse(content: &[u8]) -> DdlMessage {
        let json = serde_json::from_slice::<serde_json::Value>(content).ok();
        let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
        let tag = field("tag").and_then(serde_json::Value::as_str);
        let mut touched = Touched::default();
        touched.note(json.as_ref());
        DdlMessage {
            xid: field("xid").and_then(serde_json::Value::as_i64),
            changes_metadata: !tag.is_some_and(|t| NO_METADATA_TAGS.contains(&t)),
            touched,
        }
    }
}

fn replication_error(e: ReplicationError) -> CaptureError {
    CaptureError::Replication(e)
}
