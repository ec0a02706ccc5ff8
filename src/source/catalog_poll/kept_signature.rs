//! The catalog signature kept with the state, so that a capture started again on a catalog
//! that did not change since reads none of it: a full read of 100,000 tables takes tens of
//! seconds and leaves its peak's memory behind, to find nothing to send.
//!
//! The signature is kept only by a full read that sent and saved the whole catalog, and every
//! other write of the state drops it (see `CheckpointStore::keep_signature`); so a kept
//! signature always describes the catalog the state holds. A start compares the catalog's
//! fingerprint with it (see `pg::catalog::CatalogSignature::kept`) unless names sent before a
//! crash wait for their retraction, `--full` asks for everything again, the configuration
//! the state was made under changed, or the lineage part of the state (a file of its own)
//! holds another number of edges than it did.

use super::CatalogPollSource;
use crate::checkpoint::{CheckpointStore, KeptSignature};
use crate::diff::DIGEST_FORMAT;
use crate::pg::catalog::CatalogSignature;

impl CatalogPollSource {
    /// What the emitted state depends on besides the catalog, hashed: pgmeta's version, the
    /// digests' format, the filters and what is included, and the diff's and lineage's options.
    fn config_key(&self) -> String {
        let s = &self.scope;
        let config = format!(
            "pgmeta {} digests {DIGEST_FORMAT} filters {:?} fqn {} tables {} views {} routines {} ddl {} mark_deleted {} lineage {}",
            env!("CARGO_PKG_VERSION"),
            s.filters,
            s.use_fqn_for_filtering,
            s.include_tables,
            s.include_views,
            s.include_stored_procedures,
            s.include_ddl,
            self.diff_options.mark_deleted_tables,
            self.lineage.is_some(),
        );
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(config.as_bytes()))
    }

    /// How many view and routine lineage edges the state's lineage part holds.
    fn lineage_edges(&self) -> usize {
        self.lineage.as_ref().map_or(0, |l| l.edges.len())
    }

    /// The signature an earlier run kept with the state under this configuration, to compare
    /// the catalog with; `None` when there is none.
    pub(super) async fn kept_signature(
        &mut self,
        store: &CheckpointStore,
    ) -> Result<Option<CatalogSignature>, super::super::CaptureError> {
        let (service, name) = (self.scope.service.clone(), self.database().to_owned());
        let kept = store
            .blocking(move |s| s.kept_signature(&service, &name))
            .await?;
        let config = self.config_key();
        let Some(kept) =
            kept.filter(|k| k.config == config && k.lineage_edges == self.lineage_edges())
        else {
            return Ok(None);
        };
        tracing::debug!(database = %self.database(), "comparing the catalog with the signature kept with the state");
        self.routine_bodies = kept.routine_bodies;
        Ok(Some(CatalogSignature::kept(kept.fingerprint, kept.shared)))
    }

    /// Keeps `signature` with the state, which a full read of that catalog has just brought
    /// there. A failure costs the next start a full read: it is logged, not returned.
    pub(super) async fn keep_signature(
        &self,
        store: &CheckpointStore,
        signature: &CatalogSignature,
    ) {
        let (fingerprint, shared) = signature.fingerprint();
        let kept = KeptSignature {
            config: self.config_key(),
            fingerprint: fingerprint.to_owned(),
            shared: shared.to_owned(),
            routine_bodies: self.routine_bodies,
            lineage_edges: self.lineage_edges(),
        };
        let (service, name) = (self.scope.service.clone(), self.database().to_owned());
        if let Err(e) = store
            .blocking(move |s| s.keep_signature(&service, &name, kept))
            .await
        {
            tracing::warn!(database = %self.database(), error = %e, "keeping the catalog signature with the state failed; the next start reads the whole catalog");
        }
    }
}
