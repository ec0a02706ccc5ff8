//! Durable per-database state: the digests of what was emitted (see `diff`), in the state
//! store (`entities`), and smaller parts (usage baselines, lineage sent) in JSON files. Written
//! only after the sink acknowledged the events, atomically (a store commit; a temp file, fsync
//! and rename), so a crash leaves either the old or the new state and at worst makes the next
//! run emit a change again (at-least-once), never skip one.

mod entities;
mod record;

pub use entities::{Commit, KeptSignature};

use crate::diff::{DIGEST_FORMAT, DatabaseState, EntityDigest, EntityKey};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("state.dir {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "state file {path} is damaged ({reason}); move it away to start over with a full snapshot"
    )]
    Corrupt { path: String, reason: String },
    #[error("state store {path}: {source}")]
    Store {
        path: String,
        source: Box<redb::Error>,
    },
}

#[derive(Debug, Clone)]
pub struct CheckpointStore {
    dir: PathBuf,
    /// The state store, opened at its first use and kept open while this store (or a clone)
    /// lives: opening it reads its header and allocator state, which a DDL's few reads and one
    /// commit should not pay for each time.
    entities: Arc<OnceLock<Arc<redb::Database>>>,
    /// Commits made with [`Durability::Deferred`] through this store (and its clones), and how
    /// many of them a [`CheckpointStore::flush`] has made durable since.
    deferred: Arc<DeferredCommits>,
}

/// How a state commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Durable when the commit returns (one fsync).
    Immediate,
    /// Visible to every later read at once, durable with the next durable commit or
    /// [`CheckpointStore::flush`]. A crash before then leaves the state as it was before the
    /// commit, as a crash between a send and its commit does: the events are sent again.
    Deferred,
}

#[derive(Debug, Default)]
struct DeferredCommits {
    made: std::sync::atomic::AtomicU64,
    durable: std::sync::atomic::AtomicU64,
}

#[derive(Deserialize)]
struct StateHeader {
    format: u32,
}

#[derive(Deserialize)]
struct StateFile {
    service: String,
    database: String,
    initialized: bool,
    /// Absent in files written before it existed: the capture then starts an epoch.
    #[serde(default)]
    epoch: i64,
    entities: Vec<(EntityKey, EntityDigest)>,
}

impl CheckpointStore {
    /// Runs `f` on a blocking thread: state files are read, written and fsynced there, not on
    /// the async runtime's threads (a large state takes tens of milliseconds to write).
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&CheckpointStore) -> Result<T, CheckpointError> + Send + 'static,
    ) -> Result<T, CheckpointError> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| CheckpointError::Io {
                path: self.dir.display().to_string(),
                source: std::io::Error::other(e),
            })?
    }

    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        std::fs::create_dir_all(dir).map_err(|source| CheckpointError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        Ok(CheckpointStore {
            dir: dir.to_owned(),
            entities: Arc::default(),
            deferred: Arc::default(),
        })
    }

    /// The state file of the JSON layout the store replaced.
    fn json_path(&self, service: &str, database: &str) -> PathBuf {
        self.dir.join(format!(
            "{}.{}.state.json",
            file_safe(service),
            file_safe(database)
        ))
    }

    /// Moves a state file of the JSON layout into the store (and removes it): the state of a
    /// capture upgraded from that layout, which then goes on where it was. Empty when there is
    /// none, or when it has another digest format (the next poll emits the full state again).
    fn import_json(&self, service: &str, database: &str) -> Result<DatabaseState, CheckpointError> {
        let path = self.json_path(service, database);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(DatabaseState::default());
            }
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let corrupt = |e: serde_json::Error| CheckpointError::Corrupt {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        // The format first (the rest is skipped unread), so an older layout is re-baselined
        // rather than reported as damage.
        let header: StateHeader = serde_json::from_slice(&text).map_err(corrupt)?;
        let remove = || {
            std::fs::remove_file(&path).map_err(|source| CheckpointError::Io {
                path: path.display().to_string(),
                source,
            })
        };
        if header.format != DIGEST_FORMAT {
            tracing::warn!(path = %path.display(), found = header.format, expected = DIGEST_FORMAT, "state written by another pgmeta version; emitting the full state again");
            remove()?;
            return Ok(DatabaseState::default());
        }
        let file: StateFile = serde_json::from_slice(&text).map_err(corrupt)?;
        same_database(&path, (&file.service, &file.database), (service, database))?;
        let mut state = DatabaseState {
            initialized: file.initialized,
            epoch: file.epoch,
            ..DatabaseState::default()
        };
        for (key, digest) in file.entities {
            state.insert(key, digest);
        }
        self.save(service, database, &state)?;
        remove()?;
        tracing::info!(path = %path.display(), entities = state.heads.len(), "state file moved into the state store");
        Ok(state)
    }

    /// Temp file, fsync, rename, fsync of the directory: a crash leaves the old or the new file.
    fn write_atomic(&self, path: &Path, value: &impl Serialize) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        let f = std::fs::File::create(&tmp)?;
        let mut out = std::io::BufWriter::new(&f);
        serde_json::to_writer(&mut out, value)?;
        out.flush()?;
        drop(out);
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all())
    }

    fn part_path(&self, service: &str, database: &str, part: &str) -> PathBuf {
        self.dir.join(format!(
            "{}.{}.{part}.json",
            file_safe(service),
            file_safe(database)
        ))
    }

    /// Another kind of per-database state (usage baseline, lineage edges), in its own file
    /// `<service>.<database>.<part>.json`; the default when there is none yet.
    pub fn load_part<T: serde::de::DeserializeOwned + Default>(
        &self,
        service: &str,
        database: &str,
        part: &str,
    ) -> Result<T, CheckpointError> {
        let path = self.part_path(service, database, part);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(T::default()),
            Err(source) => {
                return Err(CheckpointError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let file: PartFile<T> =
            serde_json::from_slice(&text).map_err(|e| CheckpointError::Corrupt {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        same_database(&path, (&file.service, &file.database), (service, database))?;
        Ok(file.data)
    }

    pub fn save_part<T: Serialize>(
        &self,
        service: &str,
        database: &str,
        part: &str,
        data: &T,
    ) -> Result<(), CheckpointError> {
        let path = self.part_path(service, database, part);
        let file = PartFileRef {
            service,
            database,
            data,
        };
        self.write_atomic(&path, &file)
            .map_err(|source| CheckpointError::Io {
                path: path.display().to_string(),
                source,
            })
    }
}

#[derive(Deserialize)]
struct PartFile<T> {
    service: String,
    database: String,
    data: T,
}

#[derive(Serialize)]
struct PartFileRef<'a, T> {
    service: &'a str,
    database: &'a str,
    data: &'a T,
}

/// A state file read for `want` (service, database) must hold that one's state.
fn same_database(
    path: &Path,
    found: (&str, &str),
    want: (&str, &str),
) -> Result<(), CheckpointError> {
    if found == want {
        return Ok(());
    }
    Err(CheckpointError::Corrupt {
        path: path.display().to_string(),
        reason: format!(
            "it holds the state of {}.{}, not {}.{}",
            found.0, found.1, want.0, want.1
        ),
    })
}

/// Keeps ASCII letters, digits, `_` and `-`; anything else becomes `%XX` per byte, so every
/// database name (spaces, quotes, unicode, slashes) maps to one distinct file name.
fn file_safe(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Diff, EntityDigest};
    use crate::model::EntityType;

    fn table(oid: i64, name: &str, version: i64) -> (EntityKey, EntityDigest) {
        (
            EntityKey {
                entity_type: EntityType::Table,
                oid,
            },
            EntityDigest {
                fqn: format!("svc.app.public.{name}"),
                version,
                fields: vec![oid as u64, 2],
                children: vec![],
                shape: None,
            },
        )
    }

    fn state_of(entities: &[(EntityKey, EntityDigest)]) -> DatabaseState {
        let mut state = DatabaseState {
            initialized: true,
            epoch: 7,
            ..Default::default()
        };
        for (k, d) in entities {
            state.insert(*k, d.clone());
        }
        state
    }

    #[test]
    fn state_round_trips_and_missing_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        assert_eq!(
            store.load("svc", "app db/ü").expect("load"),
            DatabaseState::default()
        );
        let state = state_of(&[table(42, "t", 3), table(43, "u", 1)]);
        store.save("svc", "app db/ü", &state).expect("save");
        assert_eq!(store.load("svc", "app db/ü").expect("load"), state);
        assert_eq!(
            store.load("svc", "app db_ü").expect("load"),
            DatabaseState::default()
        );
        // A second store on the same directory in this process shares the open database.
        let again = CheckpointStore::open(dir.path()).expect("open");
        assert_eq!(again.load("svc", "app db/ü").expect("load"), state);
    }

    /// The heads come without digests; digests are read by key; a commit writes what a diff
    /// changed and removes what it deleted, leaving the rest as it was.
    #[test]
    fn heads_load_alone_and_a_commit_writes_only_the_diff() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        let (a, b, c) = (table(1, "a", 1), table(2, "b", 1), table(3, "c", 1));
        store
            .save("svc", "db", &state_of(&[a.clone(), b.clone(), c.clone()]))
            .expect("save");
        let mut heads = store.load_heads("svc", "db").expect("heads");
        assert_eq!(heads.heads.len(), 3);
        assert!(heads.entities.is_empty());
        assert_eq!(heads.heads[&b.0], b.1.head());
        store
            .load_digests("svc", "db", &mut heads, &[b.0])
            .expect("digests");
        assert_eq!(heads.entities.len(), 1);
        assert_eq!(heads.entities[&b.0], b.1);

        // b changes, c is deleted, d is new.
        let mut b2 = b.1.clone();
        b2.version = 2;
        b2.fields = vec![9, 9];
        let d = table(4, "d", 1);
        let mut memory = state_of(&[a.clone(), b.clone(), c.clone()]);
        let mut diff = Diff::default();
        diff.changes = crate::diff::test_changes(&[
            (b.0, Some(b2.clone())),
            (c.0, None),
            (d.0, Some(d.1.clone())),
        ]);
        store
            .commit("svc", "db", (7, true), &diff, at_once(None))
            .expect("commit");
        memory.apply(&mut diff);
        assert_eq!(store.load("svc", "db").expect("load"), memory);
        assert!(memory.heads.contains_key(&a.0) && !memory.heads.contains_key(&c.0));
    }

    /// A durable commit of a diff that finishes the first snapshot, clearing `note`.
    fn at_once(note: Option<&str>) -> Commit<'_> {
        Commit {
            finishes: true,
            note,
            durability: Durability::Immediate,
        }
    }

    /// A deferred commit is read back at once and counts as unflushed until a flush; a diff
    /// committed in parts is durable at once whatever was asked.
    #[test]
    fn a_deferred_commit_is_visible_at_once_and_durable_after_a_flush() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        let a = table(1, "a", 1);
        store
            .save("svc", "db", &state_of(std::slice::from_ref(&a)))
            .expect("save");
        assert!(!store.unflushed());
        let b = table(2, "b", 1);
        let mut diff = Diff::default();
        diff.changes = crate::diff::test_changes(&[(b.0, Some(b.1.clone()))]);
        let deferred = Commit {
            durability: Durability::Deferred,
            ..at_once(None)
        };
        store
            .commit("svc", "db", (7, true), &diff, deferred)
            .expect("commit");
        assert!(store.unflushed());
        // A clone (another database's poll) sees it too.
        assert!(store.clone().unflushed());
        let mut memory = state_of(std::slice::from_ref(&a));
        memory.apply(&mut diff);
        assert_eq!(store.load("svc", "db").expect("load"), memory);
        store.flush().expect("flush");
        assert!(!store.unflushed());
        assert_eq!(store.load("svc", "db").expect("load"), memory);
        // Any durable commit (here a note's) makes the deferred ones before it durable.
        store
            .commit("svc", "db", (7, true), &diff, deferred)
            .expect("commit");
        assert!(store.unflushed());
        store
            .save_note("svc", "db", "in-flight", &vec![1u32])
            .expect("note");
        assert!(!store.unflushed(), "the note's commit made it durable");

        let many: Vec<_> = (10..10 + 2 * entities::COMMIT_PART as i64)
            .map(|oid| {
                let t = table(oid, &format!("t{oid}"), 1);
                (t.0, Some(t.1))
            })
            .collect();
        diff.changes = crate::diff::test_changes(&many);
        store
            .commit("svc", "db", (7, true), &diff, deferred)
            .expect("commit");
        assert!(!store.unflushed(), "a diff in parts is durable at once");
    }

    fn signature(fingerprint: &str) -> KeptSignature {
        KeptSignature {
            config: "c0ffee".into(),
            fingerprint: fingerprint.into(),
            shared: "s".into(),
            routine_bodies: true,
            lineage_edges: 3,
        }
    }

    /// A signature is kept only with a begun state, and only until the state is next written
    /// by anything else: then it may no longer describe what the state holds.
    #[test]
    fn a_kept_signature_lasts_until_the_state_is_written_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        let kept = |db: &str| store.kept_signature("svc", db).expect("kept");
        // No state, and a state not begun: nothing is kept.
        store
            .keep_signature("svc", "db", signature("f1"))
            .expect("keep");
        assert_eq!(kept("db"), None);
        store.begin("svc", "db", false, 7).expect("begin");
        store
            .keep_signature("svc", "db", signature("f1"))
            .expect("keep");
        assert_eq!(kept("db"), None);

        store
            .save("svc", "db", &state_of(&[table(1, "a", 1)]))
            .expect("save");
        store
            .keep_signature("svc", "db", signature("f1"))
            .expect("keep");
        assert_eq!(kept("db"), Some(signature("f1")));
        assert_eq!(kept("other"), None);
        // Kept with the state, not in place of it.
        assert_eq!(
            store.load("svc", "db").expect("load"),
            state_of(&[table(1, "a", 1)])
        );
        let mut diff = Diff::default();
        diff.changes = crate::diff::test_changes(&[(table(2, "b", 1).0, None)]);
        store
            .commit("svc", "db", (7, true), &diff, at_once(None))
            .expect("commit");
        assert_eq!(kept("db"), None);
        store
            .keep_signature("svc", "db", signature("f2"))
            .expect("keep");
        assert_eq!(kept("db"), Some(signature("f2")));
        store.begin("svc", "db", true, 8).expect("begin");
        assert_eq!(kept("db"), None);
    }

    /// A capture upgraded from the JSON state file goes on from it: the file moves into the
    /// store (and is removed), nothing is emitted again.
    #[test]
    fn a_json_state_file_moves_into_the_store() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        let (a, b) = (table(1, "a", 4), table(2, "b", 1));
        let json = serde_json::json!({
            "format": DIGEST_FORMAT, "service": "svc", "database": "db",
            "initialized": true, "epoch": 7,
            "entities": [[a.0, a.1], [b.0, b.1]],
        });
        let path = store.json_path("svc", "db");
        std::fs::write(&path, json.to_string()).expect("write");
        let heads = store.load_heads("svc", "db").expect("import");
        assert_eq!(heads, state_of(&[a.clone(), b.clone()]));
        assert!(!path.exists(), "the JSON state file stays after the import");
        assert_eq!(store.load("svc", "db").expect("load"), state_of(&[a, b]));
    }

    #[test]
    fn a_note_lasts_until_the_commit_that_clears_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        let note =
            |db: &str, part: &str| -> Vec<u32> { store.load_note("svc", db, part).expect("load") };
        assert!(note("db", "in-flight").is_empty());
        store
            .save_note("svc", "db", "in-flight", &vec![1u32, 2])
            .expect("save");
        store
            .save_note("svc", "db", "other", &vec![3u32])
            .expect("save");
        assert_eq!(note("db", "in-flight"), [1, 2]);
        assert!(note("db2", "in-flight").is_empty());
        // A commit without the note leaves it; the one made under it clears it alone.
        let mut diff = Diff::default();
        diff.changes = crate::diff::test_changes(&[(table(1, "a", 1).0, None)]);
        store
            .commit("svc", "db", (1, false), &diff, at_once(None))
            .expect("commit");
        assert_eq!(note("db", "in-flight"), [1, 2]);
        store
            .commit("svc", "db", (1, true), &diff, at_once(Some("in-flight")))
            .expect("commit");
        assert!(note("db", "in-flight").is_empty());
        assert_eq!(note("db", "other"), [3]);
        store.clear_note("svc", "db", "other").expect("clear");
        assert!(note("db", "other").is_empty());

        // A note in its own file (versions before) moves into the store, once.
        store
            .save_part("svc", "db", "in-flight", &vec![4u32])
            .expect("save");
        assert_eq!(note("db", "in-flight"), [4]);
        assert!(!dir.path().join("svc.db.in-flight.json").exists());
        store
            .commit("svc", "db", (1, true), &diff, at_once(Some("in-flight")))
            .expect("commit");
        assert!(
            note("db", "in-flight").is_empty(),
            "the file's note does not come back"
        );
    }

    #[test]
    fn damaged_state_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        std::fs::write(store.json_path("svc", "db"), b"{not json").expect("write");
        let err = store.load("svc", "db").expect_err("corrupt");
        assert!(
            err.to_string().contains("svc.db.state.json is damaged"),
            "{err}"
        );
    }

    #[test]
    fn parts_round_trip_and_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = CheckpointStore::open(dir.path()).expect("open");
        let empty: Vec<u32> = store.load_part("svc", "db", "usage").expect("load");
        assert!(empty.is_empty());
        store
            .save_part("svc", "db", "usage", &vec![1u32, 2])
            .expect("save");
        let back: Vec<u32> = store.load_part("svc", "db", "usage").expect("load");
        assert_eq!(back, vec![1, 2]);
        std::fs::write(store.part_path("svc", "db", "usage"), b"[").expect("write");
        let err = store
            .load_part::<Vec<u32>>("svc", "db", "usage")
            .expect_err("damaged");
        assert!(
            err.to_string().contains("svc.db.usage.json is damaged"),
            "{err}"
        );
    }

    #[test]
    fn file_names_are_distinct_and_safe() {
        assert_eq!(file_safe("app"), "app");
        assert_eq!(file_safe("a b"), "a%20b");
        assert_ne!(file_safe("a.b"), file_safe("a_b"));
        assert!(!file_safe("../etc").contains('/'));
    }
}
