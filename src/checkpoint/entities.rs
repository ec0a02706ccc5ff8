//! The emitted state's store: one redb database per state directory (`state.redb`) holding,
//! per captured database, a head and a digest for each entity emitted.
//!
//! Why an embedded store and not the JSON file it replaces: a 10,000-table database's digests
//! are about 110 MB of JSON, which every catalog change read and wrote in full (a second and a
//! half of a DDL's latency). Keyed records let a change read the heads (name, version, one
//! hash: a few hundred kilobytes), then only the digests of what changed, and write only
//! those. redb because it is pure Rust (no C toolchain), keeps the crash safety the file had
//! (a commit is atomic and durable: a crash leaves the old or the new state), and takes one
//! dependency without others.

use super::{CheckpointError, CheckpointStore, Durability, record};
use crate::diff::{DIGEST_FORMAT, DatabaseState, Diff, EntityDigest, EntityKey, Head};
use crate::model::EntityType;
use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// (service, database) -> [`Meta`] as JSON.
const DATABASES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("databases");
/// (service, database, entity type, oid) -> [`Head`] (see [`record`]).
const HEADS: TableDefinition<(&str, &str, u8, i64), &[u8]> = TableDefinition::new("heads");
/// (service, database, entity type, oid) -> [`EntityDigest`] (see [`record`]).
const DIGESTS: TableDefinition<(&str, &str, u8, i64), &[u8]> = TableDefinition::new("digests");

/// (service, database, part) -> a poll's write-ahead note as JSON (see `source::in_flight`).
/// In the store, not a file of its own: a file's atomic write takes two fsyncs (the file and
/// its directory) where a commit takes one, and its clearing rides in the commit of the
/// state that holds what it noted (see [`CheckpointStore::commit`]): a DDL's path to its event
/// waited on two fsyncs instead of six, and on one (the note's) since a DDL's state commit is
/// deferred (see [`Durability::Deferred`]). On one disk with a busy database, ext4 makes an fsync
/// that meets its periodic journal commit wait 60-100 ms (measured with `perf trace` during
/// `make bench`), so their count is what a burst of DDL's worst latencies paid.
const NOTES: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("notes");

/// redb's page cache (reads and a tenth for writes). It is a ceiling that stays resident once
/// filled: every page a full read's pass over the heads touched stays cached for the life of
/// the process (up to this size). A cache earns its keep on the B-tree's interior pages, which
/// every lookup by key touches again (a few hundred KiB at 100,000 tables), not on one pass
/// over the leaves; 1 MiB holds them. (At 4 MiB an idle capture of 100,000 tables held 2 MB
/// more, and its snapshot was no faster: 15.8 s at 1 MiB.)
const CACHE_BYTES: usize = 1024 * 1024;

/// Entities per commit of a large diff (see [`CheckpointStore::commit`]).
pub(super) const COMMIT_PART: usize = 1000;

/// How long opening the store waits while another process holds it.
const OPEN_WAIT: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize)]
struct Meta {
    format: u32,
    initialized: bool,
    epoch: i64,
    /// The catalog this state describes, kept by the full read that brought the state there;
    /// every other write of the state drops it. Absent in stores written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature: Option<KeptSignature>,
}

/// A catalog signature kept with the state (see `pg::catalog::CatalogSignature::kept`): a
/// capture that starts again on a catalog with the same fingerprint, under the same
/// configuration, has nothing to read.
/// Every field has a default, so that one written by another version reads (and, its
/// `config` differing, is not used) instead of failing the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeptSignature {
    /// What the emitted state depends on besides the catalog (pgmeta's version, filters,
    /// options; see `CatalogPollSource`), hashed: another one and the kept signature says
    /// nothing.
    pub config: String,
    pub fingerprint: String,
    pub shared: String,
    /// Whether the catalog had routine bodies (whose lineage resolves relation names).
    pub routine_bodies: bool,
    /// How many view and routine lineage edges were sent (the state's lineage part): another
    /// count at start (that file lost or replaced) and the catalog is read to send them again.
    pub lineage_edges: usize,
}

type Key<'a> = (&'a str, &'a str, u8, i64);

fn type_code(t: EntityType) -> u8 {
    match t {
        EntityType::Database => 0,
        EntityType::DatabaseSchema => 1,
        EntityType::Table => 2,
        EntityType::Routine => 3,
    }
}

fn type_of(code: u8) -> Option<EntityType> {
    Some(match code {
        0 => EntityType::Database,
        1 => EntityType::DatabaseSchema,
        2 => EntityType::Table,
        3 => EntityType::Routine,
        _ => return None,
    })
}

/// The store of a state directory, shared by every [`CheckpointStore`] of this process that
/// names it (redb allows one open per file; another process waits for it).
fn open(dir: &Path) -> Result<Arc<redb::Database>, CheckpointError> {
    static OPEN: Mutex<Vec<(PathBuf, Weak<redb::Database>)>> = Mutex::new(Vec::new());
    let path = dir.join("state.redb");
    let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
    open.retain(|(_, db)| db.strong_count() > 0);
    if let Some(db) = open
        .iter()
        .find(|(p, _)| *p == path)
        .and_then(|(_, db)| db.upgrade())
    {
        return Ok(db);
    }
    let started = Instant::now();
    let mut warned = false;
    let db = loop {
        match redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
        {
            Ok(db) => break Arc::new(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if started.elapsed() < OPEN_WAIT => {
                if !warned {
                    tracing::warn!(path = %path.display(), "the state store is open in another process (another capture with the same state.dir?); waiting for it");
                    warned = true;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => return Err(store_error(&path, e)),
        }
    };
    open.push((path, Arc::downgrade(&db)));
    Ok(db)
}

fn store_error(path: &Path, e: impl Into<redb::Error>) -> CheckpointError {
    CheckpointError::Store {
        path: path.display().to_string(),
        source: boxed(e),
    }
}

/// redb's error, boxed (it is large).
fn boxed(e: impl Into<redb::Error>) -> Box<redb::Error> {
    Box::new(e.into())
}

impl CheckpointStore {
    fn store(&self) -> Result<Arc<redb::Database>, CheckpointError> {
        if let Some(db) = self.entities.get() {
            return Ok(db.clone());
        }
        let db = open(&self.dir)?;
        // Another thread may have opened it meanwhile: the registry gave both the same one.
        Ok(self.entities.get_or_init(|| db).clone())
    }

    fn store_path(&self) -> PathBuf {
        self.dir.join("state.redb")
    }

    /// The database's [`Meta`] record in `databases`, if it has one.
    fn meta(
        &self,
        databases: &impl ReadableTable<(&'static str, &'static str), &'static [u8]>,
        service: &str,
        database: &str,
    ) -> Result<Option<Meta>, CheckpointError> {
        let value = databases
            .get((service, database))
            .map_err(|e| store_error(&self.store_path(), e))?;
        value
            .map(|v| serde_json::from_slice::<Meta>(v.value()))
            .transpose()
            .map_err(|e| self.corrupt(service, database, e.to_string()))
    }

    fn corrupt(&self, service: &str, database: &str, reason: String) -> CheckpointError {
        CheckpointError::Corrupt {
            path: format!("{} ({service}.{database})", self.store_path().display()),
            reason,
        }
    }

    /// Whether the database was begun, the heads of everything emitted for it, and no digest
    /// (see [`CheckpointStore::load_digests`]). An empty state for a database never captured,
    /// or captured with another digest format (the next poll then emits the full state
    /// again). A state file of the JSON layout before this store is moved in first.
    pub fn load_heads(
        &self,
        service: &str,
        database: &str,
    ) -> Result<DatabaseState, CheckpointError> {
        self.read_heads(service, database, None)
    }

    /// [`CheckpointStore::load_heads`] of `keys` alone (those the state holds): what a
    /// targeted read's diff needs, read by key however large the state.
    pub fn load_heads_of(
        &self,
        service: &str,
        database: &str,
        keys: &[EntityKey],
    ) -> Result<DatabaseState, CheckpointError> {
        self.read_heads(service, database, Some(keys))
    }

    fn read_heads(
        &self,
        service: &str,
        database: &str,
        keys: Option<&[EntityKey]>,
    ) -> Result<DatabaseState, CheckpointError> {
        let db = self.store()?;
        let err = |e: redb::Error| store_error(&self.store_path(), e);
        let txn = db.begin_read().map_err(|e| err(e.into()))?;
        let meta = match txn.open_table(DATABASES) {
            Ok(t) => self.meta(&t, service, database)?,
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(err(e.into())),
        };
        let meta = match meta {
            Some(meta) => meta,
            None => {
                drop(txn);
                let mut state = self.import_json(service, database)?;
                if let Some(keys) = keys {
                    let keys: std::collections::HashSet<&EntityKey> = keys.iter().collect();
                    state.heads.retain(|k, _| keys.contains(k));
                    state.entities.clear();
                }
                return Ok(state);
            }
        };
        if meta.format != DIGEST_FORMAT {
            tracing::warn!(
                service,
                database,
                found = meta.format,
                expected = DIGEST_FORMAT,
                "state written by another pgmeta version; emitting the full state again"
            );
            return Ok(DatabaseState::default());
        }
        let mut state = DatabaseState {
            initialized: meta.initialized,
            epoch: meta.epoch,
            ..DatabaseState::default()
        };
        let heads = match txn.open_table(HEADS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(state),
            Err(e) => return Err(err(e.into())),
        };
        let head = |v: &[u8]| -> Result<Head, CheckpointError> {
            record::decode(v).map_err(|e| self.corrupt(service, database, e))
        };
        if let Some(keys) = keys {
            for key in keys {
                let k: Key = (service, database, type_code(key.entity_type), key.oid);
                if let Some(v) = heads.get(k).map_err(|e| err(e.into()))? {
                    state.heads.insert(*key, head(v.value())?);
                }
            }
            return Ok(state);
        }
        let range = heads
            .range((service, database, 0u8, i64::MIN)..=(service, database, u8::MAX, i64::MAX))
            .map_err(|e| err(e.into()))?;
        for row in range {
            let (k, v) = row.map_err(|e| err(e.into()))?;
            let (_, _, code, oid) = k.value();
            let Some(entity_type) = type_of(code) else {
                return Err(self.corrupt(service, database, format!("entity type {code}")));
            };
            state
                .heads
                .insert(EntityKey { entity_type, oid }, head(v.value())?);
        }
        Ok(state)
    }

    /// Reads the digests of `keys` into `state` (those it holds: a key without one is skipped).
    pub fn load_digests(
        &self,
        service: &str,
        database: &str,
        state: &mut DatabaseState,
        keys: &[EntityKey],
    ) -> Result<(), CheckpointError> {
        if keys.is_empty() {
            return Ok(());
        }
        let db = self.store()?;
        let err = |e: redb::Error| store_error(&self.store_path(), e);
        let txn = db.begin_read().map_err(|e| err(e.into()))?;
        let digests = match txn.open_table(DIGESTS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(err(e.into())),
        };
        for key in keys {
            let k: Key = (service, database, type_code(key.entity_type), key.oid);
            if let Some(v) = digests.get(k).map_err(|e| err(e.into()))? {
                let digest: EntityDigest =
                    record::decode(v.value()).map_err(|e| self.corrupt(service, database, e))?;
                state.entities.insert(*key, digest);
            }
        }
        Ok(())
    }

    /// The whole state, every digest included.
    pub fn load(&self, service: &str, database: &str) -> Result<DatabaseState, CheckpointError> {
        let mut state = self.load_heads(service, database)?;
        let keys: Vec<EntityKey> = state.heads.keys().copied().collect();
        self.load_digests(service, database, &mut state, &keys)?;
        Ok(state)
    }

    /// Marks the state begun at `epoch`, before anything is sent under it.
    pub fn begin(
        &self,
        service: &str,
        database: &str,
        initialized: bool,
        epoch: i64,
    ) -> Result<(), CheckpointError> {
        self.write(
            service,
            database,
            (epoch, initialized),
            (None, Durability::Immediate),
            |_, _| Ok(()),
        )
    }

    /// Records what `diff` sent, once the sink acknowledged it: the digests of created and
    /// changed entities, the removal of deleted and forgotten ones, and, when the diff
    /// `finishes` what a first snapshot sends, the state begun (`initialized` says whether it
    /// was before; a full read in parts finishes with its last part). A large diff (a first
    /// snapshot) is committed in parts of `COMMIT_PART` entities, so its pages are not all
    /// held in memory at once; the state is marked begun by the last part only. A crash
    /// between parts leaves entities whose events were sent without their digests, which the
    /// next read sends again with the same event ids: at least once, as a crash between send
    /// and commit always did. The note `note` that the send was made under is cleared by the
    /// last part's commit: the state holds what it noted from then on. `how.durability` says
    /// when the commit is durable; a diff committed in parts always is at once (deferred
    /// commits keep their freed pages until a durable one, and would grow the file).
    pub fn commit(
        &self,
        service: &str,
        database: &str,
        (epoch, initialized): (i64, bool),
        diff: &Diff,
        how: Commit<'_>,
    ) -> Result<(), CheckpointError> {
        let (put, delete) = diff.writes();
        let parts: Vec<&[(EntityKey, &EntityDigest)]> = put.chunks(COMMIT_PART).collect();
        let last = parts.len().saturating_sub(1);
        let durability = if parts.len() > 1 {
            Durability::Immediate
        } else {
            how.durability
        };
        for i in 0..parts.len().max(1) {
            let part = parts.get(i).copied().unwrap_or_default();
            let delete = if i == 0 { delete.as_slice() } else { &[] };
            self.write(
                service,
                database,
                (epoch, initialized || (how.finishes && i == last)),
                (how.note.filter(|_| i == last), durability),
                |heads, digests| {
                    for key in delete {
                        let k: Key = (service, database, type_code(key.entity_type), key.oid);
                        heads.remove(k).map_err(boxed)?;
                        digests.remove(k).map_err(boxed)?;
                    }
                    for (key, digest) in part {
                        write_entity(heads, digests, service, database, *key, digest)?;
                    }
                    Ok(())
                },
            )?;
        }
        Ok(())
    }

    /// Replaces the whole state of the database with `state`.
    pub fn save(
        &self,
        service: &str,
        database: &str,
        state: &DatabaseState,
    ) -> Result<(), CheckpointError> {
        self.write(
            service,
            database,
            (state.epoch, state.initialized),
            (None, Durability::Immediate),
            |heads, digests| {
                let range =
                    (service, database, 0u8, i64::MIN)..=(service, database, u8::MAX, i64::MAX);
                heads
                    .retain_in(range.clone(), |_, _| false)
                    .map_err(boxed)?;
                digests.retain_in(range, |_, _| false).map_err(boxed)?;
                for (key, digest) in &state.entities {
                    write_entity(heads, digests, service, database, *key, digest)?;
                }
                Ok(())
            },
        )
    }

    /// Keeps `signature` with the state of the database, which a full read of the catalog it
    /// describes has just brought there (sent and committed). Nothing is kept for a state not
    /// begun, or not written yet.
    pub fn keep_signature(
        &self,
        service: &str,
        database: &str,
        signature: KeptSignature,
    ) -> Result<(), CheckpointError> {
        let db = self.store()?;
        let err = |e: redb::Error| store_error(&self.store_path(), e);
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        let kept = {
            let mut databases = txn.open_table(DATABASES).map_err(|e| err(e.into()))?;
            match self
                .meta(&databases, service, database)?
                .filter(|m| m.format == DIGEST_FORMAT && m.initialized)
            {
                Some(meta) => {
                    let meta = serde_json::to_vec(&Meta {
                        signature: Some(signature),
                        ..meta
                    })
                    .map_err(|e| err(redb::Error::Io(std::io::Error::other(e))))?;
                    databases
                        .insert((service, database), meta.as_slice())
                        .map_err(|e| err(e.into()))?;
                    true
                }
                None => false,
            }
        };
        if kept {
            self.finish(txn, Durability::Immediate)
        } else {
            txn.abort().map_err(|e| err(e.into()))
        }
    }

    /// The signature kept with the begun state of the database, if any (see
    /// [`CheckpointStore::keep_signature`]).
    pub fn kept_signature(
        &self,
        service: &str,
        database: &str,
    ) -> Result<Option<KeptSignature>, CheckpointError> {
        let db = self.store()?;
        let err = |e: redb::Error| store_error(&self.store_path(), e);
        let txn = db.begin_read().map_err(|e| err(e.into()))?;
        let meta = match txn.open_table(DATABASES) {
            Ok(t) => self.meta(&t, service, database)?,
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(err(e.into())),
        };
        Ok(meta
            .filter(|m| m.format == DIGEST_FORMAT && m.initialized)
            .and_then(|m| m.signature))
    }

    /// The note `part` of the database (see `source::in_flight`); the default when there is
    /// none. A note in a file of its own (`<service>.<database>.<part>.json`), where versions
    /// before the store kept it, moves into the store here.
    pub fn load_note<T: DeserializeOwned + Serialize + Default>(
        &self,
        service: &str,
        database: &str,
        part: &str,
    ) -> Result<T, CheckpointError> {
        let db = self.store()?;
        let err = |e: redb::Error| store_error(&self.store_path(), e);
        let txn = db.begin_read().map_err(|e| err(e.into()))?;
        let note = match txn.open_table(NOTES) {
            Ok(t) => t
                .get((service, database, part))
                .map_err(|e| err(e.into()))?
                .map(|v| serde_json::from_slice::<T>(v.value())),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(err(e.into())),
        };
        drop(txn);
        match note {
            Some(note) => note.map_err(|e| self.corrupt(service, database, e.to_string())),
            None => {
                let file = self.part_path(service, database, part);
                if !file.exists() {
                    return Ok(T::default());
                }
                let note: T = self.load_part(service, database, part)?;
                self.save_note(service, database, part, &note)?;
                std::fs::remove_file(&file).map_err(|source| CheckpointError::Io {
                    path: file.display().to_string(),
                    source,
                })?;
                Ok(note)
            }
        }
    }

    /// Writes the note `part` of the database, durably (before the send it notes).
    pub fn save_note<T: Serialize>(
        &self,
        service: &str,
        database: &str,
        part: &str,
        note: &T,
    ) -> Result<(), CheckpointError> {
        let value = serde_json::to_vec(note).map_err(|e| {
            store_error(
                &self.store_path(),
                redb::Error::Io(std::io::Error::other(e)),
            )
        })?;
        self.put_note((service, database, part), Some(&value))
    }

    /// Clears the note `part` of the database.
    pub fn clear_note(
        &self,
        service: &str,
        database: &str,
        part: &str,
    ) -> Result<(), CheckpointError> {
        self.put_note((service, database, part), None)
    }

    /// Sets (or with `None` removes) a note in a commit of its own.
    fn put_note(
        &self,
        key: (&str, &str, &str),
        value: Option<&[u8]>,
    ) -> Result<(), CheckpointError> {
        let db = self.store()?;
        let err = |e: redb::Error| store_error(&self.store_path(), e);
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        {
            let mut notes = txn.open_table(NOTES).map_err(|e| err(e.into()))?;
            match value {
                Some(value) => notes.insert(key, value).map(drop),
                None => notes.remove(key).map(drop),
            }
            .map_err(|e| err(e.into()))?;
        }
        self.finish(txn, Durability::Immediate)
    }

    /// Writes the database's records with `f` and its [`Meta`] in one commit, and clears the
    /// note `note` (see [`CheckpointStore::save_note`]) in the same commit when given.
    fn write(
        &self,
        service: &str,
        database: &str,
        (epoch, initialized): (i64, bool),
        (note, durability): (Option<&str>, Durability),
        f: impl FnOnce(&mut Records<'_>, &mut Records<'_>) -> Result<(), Box<redb::Error>>,
    ) -> Result<(), CheckpointError> {
        let db = self.store()?;
        let err = |e: redb::Error| store_error(&self.store_path(), e);
        let mut txn = db.begin_write().map_err(|e| err(e.into()))?;
        if durability == Durability::Deferred {
            txn.set_durability(redb::Durability::None);
        }
        if let Some(part) = note {
            txn.open_table(NOTES)
                .map_err(|e| err(e.into()))?
                .remove((service, database, part))
                .map_err(|e| err(e.into()))?;
        }
        {
            let mut heads = txn.open_table(HEADS).map_err(|e| err(e.into()))?;
            let mut digests = txn.open_table(DIGESTS).map_err(|e| err(e.into()))?;
            f(&mut heads, &mut digests).map_err(|e| err(*e))?;
            let meta = serde_json::to_vec(&Meta {
                format: DIGEST_FORMAT,
                initialized,
                epoch,
                signature: None,
            })
            .map_err(|e| err(redb::Error::Io(std::io::Error::other(e))))?;
            txn.open_table(DATABASES)
                .map_err(|e| err(e.into()))?
                .insert((service, database), meta.as_slice())
                .map_err(|e| err(e.into()))?;
        }
        self.finish(txn, durability)
    }

    /// Commits `txn` and counts it: a deferred commit as made, a durable one as making every
    /// deferred commit before it durable (redb persists the earlier non-durable ones with it),
    /// so [`CheckpointStore::flush`] has nothing to write after any durable commit (a note's,
    /// a poll's). The count is taken while `txn` holds the store's single writer: a deferred
    /// commit not counted yet is left unflushed, never taken for durable.
    fn finish(
        &self,
        txn: redb::WriteTransaction,
        durability: Durability,
    ) -> Result<(), CheckpointError> {
        let made = self.deferred.made.load(Ordering::SeqCst);
        txn.commit()
            .map_err(|e| store_error(&self.store_path(), e))?;
        match durability {
            Durability::Deferred => self.deferred.made.fetch_add(1, Ordering::SeqCst),
            Durability::Immediate => self.deferred.durable.fetch_max(made, Ordering::SeqCst),
        };
        Ok(())
    }

    /// Makes the deferred commits made through this store so far durable, with one empty
    /// durable commit; nothing to write when there are none.
    pub fn flush(&self) -> Result<(), CheckpointError> {
        if !self.unflushed() {
            return Ok(());
        }
        let txn = self
            .store()?
            .begin_write()
            .map_err(|e| store_error(&self.store_path(), e))?;
        self.finish(txn, Durability::Immediate)
    }

    /// Whether a deferred commit made through this store is not durable yet (see
    /// [`CheckpointStore::flush`]).
    pub fn unflushed(&self) -> bool {
        self.deferred.made.load(Ordering::SeqCst) > self.deferred.durable.load(Ordering::SeqCst)
    }
}

/// What a state commit finishes and clears, and how it reaches the disk (see
/// [`CheckpointStore::commit`]).
#[derive(Debug, Clone, Copy)]
pub struct Commit<'a> {
    /// Whether the diff finishes what a first snapshot sends (the state is begun by it).
    pub finishes: bool,
    /// The write-ahead note the send was made under, cleared by the commit.
    pub note: Option<&'a str>,
    pub durability: Durability,
}

type Records<'txn> = redb::Table<'txn, Key<'static>, &'static [u8]>;

fn write_entity(
    heads: &mut Records<'_>,
    digests: &mut Records<'_>,
    service: &str,
    database: &str,
    key: EntityKey,
    digest: &EntityDigest,
) -> Result<(), Box<redb::Error>> {
    let io = |e: postcard::Error| boxed(redb::Error::Io(std::io::Error::other(e)));
    let k: Key = (service, database, type_code(key.entity_type), key.oid);
    let head = record::encode(&digest.head()).map_err(io)?;
    heads.insert(k, head.as_slice()).map_err(boxed)?;
    let digest = record::encode(digest).map_err(io)?;
    digests.insert(k, digest.as_slice()).map_err(boxed)?;
    Ok(())
}
