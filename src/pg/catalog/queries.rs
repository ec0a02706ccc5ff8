//! The catalog queries. Each returns every row of its kind for the whole database in one round
//! trip (pg_dump's getTables/getTableAttrs approach); rows are joined in memory. None takes a
//! lock on a user table, and none reads user data, so the capture role needs no SELECT on
//! tables.

/// Schemas that are PostgreSQL's own (`pg_*` names are reserved, so users cannot create them)
/// and pgmeta's own DDL-trigger schema.
const USER_NAMESPACE: &str =
    "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' AND n.nspname <> 'pgmeta'";

/// Objects that belong to an extension (e.g. pg_stat_statements' views) are the extension's,
/// not the user's schema.
macro_rules! not_extension_member {
    ($catalog:literal, $oid:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = '",
            $catalog,
            "'::regclass AND e.objid = ",
            $oid,
            " AND e.deptype = 'e')"
        )
    };
}

/// ` AND {column} = ANY('{1,2}'::oid[])` for a targeted read or a part of `oids`, nothing
/// for the full read. OIDs are numbers: the literal needs no quoting.
///
/// `column` is the relation's own `pg_class.oid`, not the row's link to it (`attrelid`,
/// `conrelid`, ...): then the planner finds a part's 5,000 relations through
/// `pg_class_oid_index` and each one's rows through the catalog's index on the link, so a
/// part's read costs what the part holds; with the filter on the link it scanned the whole
/// catalog (`pg_attribute`'s 2 million rows at 100,000 tables) once per part. See also
/// `random_page_cost` in `pg::catalog::set_timeouts`.
pub(super) fn only(column: &str, oids: Option<&[u32]>) -> String {
    oids.map(|oids| format!(" AND {column} = ANY({})", oid_array(oids)))
        .unwrap_or_default()
}

fn oid_array(oids: &[u32]) -> String {
    let list: Vec<String> = oids.iter().map(u32::to_string).collect();
    format!("'{{{}}}'::pg_catalog.oid[]", list.join(","))
}

/// Which of the relations `$1` the catalog still holds as the full read's queries would see
/// them (filtered or not), for a targeted read: one it looked at that is not here is gone.
pub(super) fn existing_relations() -> String {
    format!(
        "SELECT c.oid::int8 FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_NAMESPACE} AND {}",
        not_extension_member!("pg_catalog.pg_class", "c.oid"),
    )
}

/// Every relation the full read's queries see (filtered or not), partitions last: the full
/// read in parts reads them in this order, so a parent comes before its partitions.
pub(super) fn all_relations() -> String {
    format!(
        "SELECT c.oid FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_NAMESPACE} AND {}
ORDER BY c.relispartition, c.oid",
        not_extension_member!("pg_catalog.pg_class", "c.oid"),
    )
}

/// The relation each row of an attached catalog hangs off, by the catalog's name as the
/// trigger reports it; `None` for any other catalog.
pub(super) fn attached_relation(catalog: &str) -> Option<&'static str> {
    Some(match catalog {
        "pg_constraint" => "SELECT conrelid FROM pg_catalog.pg_constraint WHERE oid = ANY($1)",
        "pg_trigger" => "SELECT tgrelid FROM pg_catalog.pg_trigger WHERE oid = ANY($1)",
        "pg_policy" => "SELECT polrelid FROM pg_catalog.pg_policy WHERE oid = ANY($1)",
        "pg_rewrite" => "SELECT ev_class FROM pg_catalog.pg_rewrite WHERE oid = ANY($1)",
        "pg_attrdef" => "SELECT adrelid FROM pg_catalog.pg_attrdef WHERE oid = ANY($1)",
        _ => return None,
    })
}

/// Relations by (schema, name), from two arrays.
pub(super) const RELATIONS_NAMED: &str = "\
SELECT c.oid FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN unnest($1::text[], $2::text[]) AS x(s, r) ON n.nspname = x.s AND c.relname = x.r";

/// What a targeted read of the relations `$1` (relations, indexes, sequences) must read: an
/// index stands for its table, a sequence for the table owning it; then every inheritance
/// descendant, every view reading one of them and every table with an FK to one of them.
/// Rows: (oid, relkind, whether it owns a sequence). Each step follows an index (an FK is
/// found through its constraint's dependency on the referenced table, not by scanning
/// `pg_constraint`, which has no index on `confrelid`), so the cost follows the change, not
/// the catalog's size.
pub(super) const TOUCHED_RELATIONS: &str = "\
WITH RECURSIVE base AS (
  SELECT CASE WHEN c.relkind IN ('i', 'I') THEN i.indrelid ELSE c.oid END AS oid, c.relkind = 'S' AS seq
  FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
  WHERE c.oid = ANY($1)
), rels AS (
  SELECT oid FROM base WHERE NOT seq
  UNION SELECT d.refobjid FROM base b JOIN pg_catalog.pg_depend d
    ON b.seq AND d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = b.oid
   AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
), family AS (
  SELECT oid FROM rels
  UNION SELECT h.inhrelid FROM family f JOIN pg_catalog.pg_inherits h ON h.inhparent = f.oid
), affected AS (
  SELECT oid FROM family
  UNION SELECT r.ev_class FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
   WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid IN (SELECT oid FROM family)
  UNION SELECT co.conrelid FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_constraint co ON d.classid = 'pg_catalog.pg_constraint'::regclass AND co.oid = d.objid
   WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid IN (SELECT oid FROM family)
     AND co.contype = 'f' AND co.confrelid = d.refobjid
)
SELECT a.oid, c.relkind::text,
       EXISTS (
         SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class s
           ON s.oid = d.objid AND s.relkind = 'S'
          WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
            AND d.refobjid = a.oid AND d.deptype IN ('a', 'i'))
FROM affected a JOIN pg_catalog.pg_class c ON c.oid = a.oid";

/// What the relations `$1` need read beside them to be described whole: the relations their
/// views read (lineage resolves names against them) and their FKs reference (key columns).
pub(super) const CONTEXT_RELATIONS: &str = "\
SELECT DISTINCT d.refobjid FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
 AND d.refclassid = 'pg_catalog.pg_class'::regclass
WHERE r.ev_class = ANY($1) AND d.refobjid <> r.ev_class
UNION SELECT co.confrelid FROM pg_catalog.pg_constraint co
WHERE co.contype = 'f' AND co.conrelid = ANY($1)";

/// The key columns that FKs of the relations `$1` reference in relations outside `$1`: a read
/// of part of the catalog names them without reading those relations whole.
pub(super) const REFERENCED_COLUMNS: &str = "\
SELECT DISTINCT co.confrelid, a.attnum, a.attname::text FROM pg_catalog.pg_constraint co
JOIN pg_catalog.pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = ANY (co.confkey)
WHERE co.contype = 'f' AND co.conrelid = ANY($1) AND co.confrelid <> ALL ($1)";

/// The relations that have user triggers (a superset of those [`triggers`] reads: a
/// partition's clones of its parent's trigger count too).
pub(super) const TRIGGERED_RELATIONS: &str =
    "SELECT DISTINCT tgrelid FROM pg_catalog.pg_trigger WHERE NOT tgisinternal";

/// Whether one of the relations `$1` is of the kind `$2` (`p` partitioned table, `S`
/// sequence).
pub(super) const ANY_OF_KIND: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = ANY($1) AND relkind::text = $2)";

/// A cheap signature of everything the snapshot reads. Any DDL that changes what pgmeta emits
/// writes a new row version (new xmin) into one of these catalogs, or adds/removes rows; so an
/// equal signature means an unchanged catalog and the full read can be skipped. (Freezing
/// keeps xmin readable since 9.4; in-place statistics updates by VACUUM/ANALYZE do not change
/// xmin, which is right: statistics alone are not a change.) Two columns: the database's own
/// catalogs, and the shared catalogs' part ([`SHARED_PARTS`]).
pub(super) fn fingerprint() -> String {
    let per_catalog = |table: &str, filter: &str| {
        format!(
            "(SELECT count(*)::text || ':' || coalesce(sum(xmin::text::int8), 0)::text FROM pg_catalog.{table} {filter})"
        )
    };
    let parts = [
        per_catalog("pg_namespace", ""),
        per_catalog("pg_class", ""),
        per_catalog("pg_attribute", "WHERE attnum > 0"),
        per_catalog("pg_attrdef", ""),
        per_catalog("pg_constraint", ""),
        per_catalog("pg_index", ""),
        per_catalog("pg_description", ""),
        per_catalog("pg_proc", ""),
        per_catalog("pg_type", ""),
        per_catalog("pg_enum", ""),
        per_catalog("pg_inherits", ""),
        per_catalog("pg_partitioned_table", ""),
        per_catalog("pg_foreign_table", ""),
        per_catalog("pg_foreign_server", ""),
        per_catalog("pg_collation", ""),
        per_catalog("pg_trigger", ""),
        per_catalog("pg_policy", ""),
        per_catalog("pg_sequence", ""),
        per_catalog("pg_extension", ""),
        // Which column owns each sequence (ALTER SEQUENCE ... OWNED BY changes only pg_depend):
        // looked up per sequence through pg_depend's index, not a scan of all of pg_depend.
        "(SELECT count(*)::text || ':' || coalesce(sum(d.xmin::text::int8), 0)::text
          FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_depend d
            ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = s.seqrelid
           AND d.deptype IN ('a', 'i'))"
            .into(),
    ];
    format!(
        "SELECT concat_ws('/', {}), concat_ws('/', {SHARED_PARTS})",
        parts.join(", ")
    )
}

/// What the snapshot reads from the catalogs the whole server shares, narrowed to this
/// database, so that roles and comments elsewhere on the server do not force a re-read. Owners,
/// grantees and policy roles are emitted by name: renaming a role changes them without
/// touching the objects. pg_shdepend lists every role this database's objects depend on
/// (owner, ACL, policy) except the bootstrap superuser (OID 10), which PostgreSQL does not
/// record; with it and the database's owner, that is all of them. No event trigger fires on
/// these (ALTER ROLE, COMMENT ON DATABASE), so the DDL marker's check computes them too.
const SHARED_PARTS: &str = "
    (SELECT xmin::text FROM pg_catalog.pg_database WHERE datname = current_database()),
    (SELECT coalesce(max(xmin::text), '') FROM pg_catalog.pg_shdescription
      WHERE classoid = 'pg_catalog.pg_database'::regclass
        AND objoid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())),
    (SELECT md5(coalesce(string_agg(r.oid::text || ':' || r.rolname, ',' ORDER BY r.oid), ''))
      FROM pg_catalog.pg_roles r WHERE r.oid = 10 OR r.oid IN (
        SELECT datdba FROM pg_catalog.pg_database WHERE datname = current_database()
        UNION SELECT refobjid FROM pg_catalog.pg_shdepend
          WHERE dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
            AND refclassid = 'pg_catalog.pg_authid'::regclass))";

/// The snapshot, and whether the DDL marker can tell which transactions changed the
/// catalog: both of pgmeta's event triggers fire in ordinary sessions and the marker table
/// is readable (see `pg::ddl_trigger`). Checked in this order so that a missing schema or
/// privilege reads as `false`, never as an error.
pub(super) const SNAPSHOT_AND_MARKER: &str = "
SELECT pg_catalog.txid_current_snapshot()::text,
  CASE WHEN (SELECT count(*) FROM pg_catalog.pg_event_trigger
             WHERE evtname IN ('pgmeta_ddl_command_end', 'pgmeta_sql_drop')
               AND evtenabled IN ('O', 'A')) <> 2 THEN false
       ELSE coalesce((SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE')
                             AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
                      FROM pg_catalog.pg_class c
                      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = 'pgmeta' AND c.relname = 'ddl_backend'), false)
  END";

/// Whether a transaction that ran DDL committed between the snapshot `$1` (text) and this
/// one: a marker row visible now whose transaction `$1` does not see. Rows of transactions
/// that ended before `$1` was taken are left out through the index on `xid`, so this reads
/// only the markers of recent DDL, whatever the catalog's size. With the shared catalogs'
/// part of the fingerprint, which no event trigger covers.
pub(super) fn ddl_committed_since() -> String {
    format!(
        "SELECT EXISTS (
           SELECT 1 FROM pgmeta.ddl_backend
           WHERE xid >= pg_catalog.txid_snapshot_xmin($1::text::pg_catalog.txid_snapshot)
             AND NOT pg_catalog.txid_visible_in_snapshot(xid, $1::text::pg_catalog.txid_snapshot)),
         concat_ws('/', {SHARED_PARTS})"
    )
}

pub(super) const DATABASE: &str = "\
SELECT d.oid, d.datname::text, pg_catalog.pg_get_userbyid(d.datdba)::text,
       pg_catalog.shobj_description(d.oid, 'pg_database'),
       pg_catalog.pg_encoding_to_char(d.encoding)::text, d.datcollate::text,
       current_setting('server_version'), current_setting('server_version_num')::int4
FROM pg_catalog.pg_database d
WHERE d.datname = current_database()";

pub(super) fn schemas() -> String {
    format!(
        "SELECT n.oid, n.nspname::text, pg_catalog.pg_get_userbyid(n.nspowner)::text, d.description
FROM pg_catalog.pg_namespace n
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = n.oid AND d.classoid = 'pg_catalog.pg_namespace'::regclass AND d.objsubid = 0
WHERE {USER_NAMESPACE}"
    )
}

pub(super) fn relations(oids: Option<&[u32]>) -> String {
    format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, c.relispartition,
       pg_catalog.pg_get_userbyid(c.relowner)::text, d.description,
       c.reltuples::float8, c.relpages::int8 * current_setting('block_size')::int8,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END,
       CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END,
       pn.nspname::text, pc.relname::text,
       fs.srvname::text, ft.ftoptions,
       CASE WHEN NOT c.relispartition THEN
         ARRAY(SELECT pg_catalog.quote_ident(hn.nspname) || '.' || pg_catalog.quote_ident(hc.relname)
               FROM pg_catalog.pg_inherits h
               JOIN pg_catalog.pg_class hc ON hc.oid = h.inhparent
               JOIN pg_catalog.pg_namespace hn ON hn.oid = hc.relnamespace
               WHERE h.inhrelid = c.oid ORDER BY h.inhseqno) END,
       CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END,
       c.relrowsecurity, c.relforcerowsecurity, c.relnatts
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
LEFT JOIN pg_catalog.pg_inherits i ON c.relispartition AND i.inhrelid = c.oid
LEFT JOIN pg_catalog.pg_class pc ON pc.oid = i.inhparent
LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid
LEFT JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_NAMESPACE}
  AND {}{}",
        not_extension_member!("pg_catalog.pg_class", "c.oid"),
        only("c.oid", oids)
    )
}

/// Columns: the raw attributes. Types are resolved by [`column_types`], once per distinct
/// `(type, typmod)` rather than once per column (a large schema has 200,000 columns and a few
/// dozen distinct types); no ORDER BY, the reader sorts per table.
pub(super) fn columns(oids: Option<&[u32]>) -> String {
    let only = only("c.oid", oids);
    format!(
        "SELECT a.attrelid, a.attnum, a.attname::text, a.atttypid, a.atttypmod,
       a.attnotnull, a.atthasdef,
       CASE WHEN a.atthasdef THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END,
       a.attidentity::text, a.attgenerated::text, a.attcollation, d.description
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_NAMESPACE}{only}"
    )
}

/// Every distinct column type in use, resolved through domains and arrays to the scalar type
/// that decides the type family.
pub(super) fn column_types(oids: Option<&[u32]>) -> String {
    let only = only("c.oid", oids);
    format!(
        "WITH used AS (
  SELECT DISTINCT a.atttypid, a.atttypmod
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_NAMESPACE}{only})
SELECT u.atttypid, u.atttypmod, pg_catalog.format_type(u.atttypid, u.atttypmod),
       CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.oid, NULL) END,
       bt.typcategory = 'A',
       CASE WHEN bt.typcategory = 'A' THEN pg_catalog.format_type(et.oid, NULL) END,
       coalesce(et.typname, bt.typname)::text, coalesce(et.typcategory, bt.typcategory)::text,
       coalesce(et.oid, bt.oid), t.typcollation
FROM used u
JOIN pg_catalog.pg_type t ON t.oid = u.atttypid
JOIN pg_catalog.pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_catalog.pg_type et ON bt.typcategory = 'A' AND et.oid = bt.typelem"
    )
}

/// Collation names as a column definition spells them (schema-qualified outside pg_catalog).
pub(super) const COLLATIONS: &str = "\
SELECT co.oid, CASE WHEN cn.nspname = 'pg_catalog' THEN quote_ident(co.collname)
                    ELSE quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace";

pub(super) const ENUM_LABELS: &str = "\
SELECT enumtypid, array_agg(enumlabel::text ORDER BY enumsortorder)
FROM pg_catalog.pg_enum GROUP BY enumtypid";

/// Constraints with their key attnums; the reader turns them into names from the columns it
/// read (no per-row subquery).
///
/// A plain primary key, unique constraint or foreign key (column keys, not deferrable, and
/// for a key no INCLUDE or NULLS NOT DISTINCT, for a foreign key MATCH SIMPLE and NO ACTION
/// both ways) is not deparsed, as plain indexes are not (see [`indexes`]): the query gives
/// its text up to the first column list (and the referenced table's name as
/// `pg_get_constraintdef` spells it: qualified unless visible in the search path), and the
/// reader adds the columns (`rows::plain_constraint_definition`).
pub(super) fn constraints(server_version_num: i32, oids: Option<&[u32]>) -> String {
    let only = only("c.oid", oids);
    let (key_nulls, delete_columns) = if server_version_num >= 150000 {
        (
            " AND NOT ci.indnullsnotdistinct",
            " AND co.confdelsetcols IS NULL",
        )
    } else {
        ("", "")
    };
    let period = if server_version_num >= 180000 {
        " AND NOT co.conperiod"
    } else {
        ""
    };
    let enforced = if server_version_num >= 180000 {
        " AND co.conenforced"
    } else {
        ""
    };
    let plain = format!("NOT co.condeferrable AND co.convalidated{period}{enforced}");
    let plain_key =
        format!("co.contype IN ('p', 'u') AND {plain} AND ci.indnatts = ci.indnkeyatts{key_nulls}");
    let plain_fk = format!(
        "co.contype = 'f' AND {plain} AND co.confmatchtype = 's' AND co.confupdtype = 'a'
        AND co.confdeltype = 'a'{delete_columns}"
    );
    format!(
        "SELECT co.conrelid, co.conname::text, co.contype::text, co.conkey,
       CASE WHEN NOT ({plain_key}) AND NOT ({plain_fk}) THEN pg_catalog.pg_get_constraintdef(co.oid, true) END,
       co.confrelid, rn.nspname::text, rc.relname::text, co.confkey,
       co.confupdtype::text, co.confdeltype::text, co.confmatchtype::text, co.condeferrable,
       d.description,
       -- Keys that are expressions (attnum 0: an exclusion constraint such as
       -- EXCLUDE USING btree ((id * 0) WITH =)), deparsed from the constraint's index.
       CASE WHEN 0 = ANY (co.conkey) AND co.conindid <> 0 THEN
         ARRAY(SELECT pg_catalog.pg_get_indexdef(co.conindid, k, true)
               FROM generate_series(1, pg_catalog.array_length(co.conkey, 1)) k ORDER BY k) END,
       co.conislocal AND co.conparentid = 0,
       co.oid,
       CASE WHEN {plain_key} THEN
              CASE co.contype WHEN 'p' THEN 'PRIMARY KEY (' ELSE 'UNIQUE (' END
            WHEN {plain_fk} THEN 'FOREIGN KEY (' END,
       CASE WHEN {plain_fk} THEN
         CASE WHEN pg_catalog.pg_table_is_visible(co.confrelid) THEN pg_catalog.quote_ident(rc.relname)
              ELSE pg_catalog.quote_ident(rn.nspname) || '.' || pg_catalog.quote_ident(rc.relname) END END
FROM pg_catalog.pg_constraint co
JOIN pg_catalog.pg_class c ON c.oid = co.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = co.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
LEFT JOIN pg_catalog.pg_index ci ON ci.indexrelid = co.conindid
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = co.oid AND d.classoid = 'pg_catalog.pg_constraint'::regclass AND d.objsubid = 0
WHERE co.contype IN ('p', 'u', 'f', 'c', 'x') AND {USER_NAMESPACE}
  -- An FK that references a partitioned table gets one internal clone per referenced
  -- partition, on the same referencing table (parent constraint on the same conrelid).
  -- PostgreSQL derives them; pg_dump and psql's \\d hide them; so do we.
  AND NOT (co.contype = 'f' AND co.conparentid <> 0 AND EXISTS (
        SELECT 1 FROM pg_catalog.pg_constraint pc WHERE pc.oid = co.conparentid AND pc.conrelid = co.conrelid)){only}"
    )
}

/// The definitions of the constraints `$1` that were not plain after all (see
/// [`constraints`]).
pub(super) const CONSTRAINT_DEFINITIONS: &str = "\
SELECT co.oid, pg_catalog.pg_get_constraintdef(co.oid, true)
FROM pg_catalog.pg_constraint co WHERE co.oid = ANY($1)";

/// Indexes with their key attnums; only expression keys (attnum 0) are deparsed per key.
///
/// A plain index (only columns as keys, nothing but the defaults: no predicate, INCLUDE,
/// storage parameters, ordering options or NULLS NOT DISTINCT, not on a partitioned table)
/// is not deparsed: `pg_get_indexdef` costs 30 us per index (3 s of a 100,000-table full
/// read), and its text is then `CREATE [UNIQUE ]INDEX name ON schema.table USING method
/// (columns)`. The query quotes the names (the server's own `quote_ident`) and gives that text
/// up to its column list; the reader adds the columns once it knows their opclasses and
/// collations are the defaults too (`rows::plain_index_definition`), and asks the server
/// for the rest.
pub(super) fn indexes(server_version_num: i32, oids: Option<&[u32]>) -> String {
    let only = only("c.oid", oids);
    let nulls_distinct = if server_version_num >= 150000 {
        " AND NOT i.indnullsnotdistinct"
    } else {
        ""
    };
    let plain = format!(
        "ic.relkind = 'i' AND i.indexprs IS NULL AND i.indpred IS NULL AND ic.reloptions IS NULL
        AND i.indnatts = i.indnkeyatts AND 0 = ALL (i.indoption::int2[]){nulls_distinct}"
    );
    format!(
        "SELECT i.indrelid, ic.relname::text, i.indisunique, i.indisprimary, am.amname::text,
       (i.indkey::int2[])[0:i.indnkeyatts - 1],
       CASE WHEN 0 = ANY (i.indkey::int2[]) THEN
         ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, true)
               FROM generate_series(1, i.indnkeyatts) k ORDER BY k) END,
       pg_catalog.pg_get_expr(i.indpred, i.indrelid),
       CASE WHEN NOT ({plain}) THEN pg_catalog.pg_get_indexdef(i.indexrelid) END,
       d.description,
       i.indexrelid,
       CASE WHEN {plain} THEN
         pg_catalog.format('CREATE %sINDEX %I ON %I.%I USING %I (',
           CASE WHEN i.indisunique THEN 'UNIQUE ' ELSE '' END, ic.relname, n.nspname, c.relname, am.amname) END,
       i.indclass::pg_catalog.oid[], i.indcollation::pg_catalog.oid[]
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = i.indexrelid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('r', 'p', 'm', 'f') AND {USER_NAMESPACE}{only}"
    )
}

/// The definitions of the indexes `$1` that were not plain after all (see [`indexes`]).
pub(super) const INDEX_DEFINITIONS: &str =
    "SELECT i.indexrelid, pg_catalog.pg_get_indexdef(i.indexrelid)
FROM pg_catalog.pg_index i WHERE i.indexrelid = ANY($1)";

/// Operator classes: whether each is its input type's default (a plain index's keys use
/// those, see [`indexes`]).
pub(super) const OPERATOR_CLASSES: &str =
    "SELECT oc.oid, oc.opcdefault, oc.opcintype FROM pg_catalog.pg_opclass oc";

/// `server_version_num` decides the body expression: SQL-standard bodies (`BEGIN ATOMIC`,
/// PostgreSQL 14+) live in `prosqlbody`, not `prosrc`.
pub(super) fn routines(server_version_num: i32) -> String {
    let body = if server_version_num >= 140000 {
        "CASE WHEN l.lanname IN ('c', 'internal') THEN NULL
              WHEN p.prosqlbody IS NOT NULL THEN pg_catalog.pg_get_function_sqlbody(p.oid)
              ELSE p.prosrc END"
    } else {
        "CASE WHEN l.lanname IN ('c', 'internal') THEN NULL ELSE p.prosrc END"
    };
    format!(
        "SELECT p.oid, n.nspname::text, p.proname::text, p.prokind::text,
       pg_catalog.pg_get_function_identity_arguments(p.oid),
       CASE WHEN p.prokind <> 'p' THEN pg_catalog.pg_get_function_result(p.oid) END,
       l.lanname::text, {body}, pg_catalog.pg_get_userbyid(p.proowner)::text, d.description,
       p.provolatile::text, p.prosecdef
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_language l ON l.oid = p.prolang
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = p.oid AND d.classoid = 'pg_catalog.pg_proc'::regclass AND d.objsubid = 0
WHERE {USER_NAMESPACE} AND {}",
        not_extension_member!("pg_catalog.pg_proc", "p.oid")
    )
}

/// Installed extensions.
pub(super) const EXTENSIONS: &str = "\
SELECT e.extname::text, e.extversion::text, n.nspname::text
FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace";

/// One row per (object, grantee) of an ACL, the NULL ACL read as the kind's default. `$kind`
/// is `acldefault`'s object kind (an SQL `"char"` expression).
macro_rules! grants {
    ($oid:literal, $acl:literal, $kind:literal, $owner:literal, $from:literal) => {
        concat!(
            "SELECT ", $oid, ", CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END,
       array_agg(a.privilege_type::text ORDER BY a.privilege_type::text),
       coalesce(array_agg(a.privilege_type::text ORDER BY a.privilege_type::text) FILTER (WHERE a.is_grantable), '{}')
", $from, "
CROSS JOIN LATERAL pg_catalog.aclexplode(coalesce(", $acl, ", pg_catalog.acldefault(", $kind, ", ", $owner, "))) a
WHERE "
        )
    };
}

/// Privileges on relations (tables, views, sequences) and schemas and routines.
/// `oids` narrows the relations (sequences too unless `with_sequences`).
pub(super) fn relation_grants(oids: Option<&[u32]>, with_sequences: bool) -> String {
    let only = match oids {
        Some(oids) if with_sequences => {
            format!(" AND (c.relkind = 'S' OR c.oid = ANY({}))", oid_array(oids))
        }
        _ => only("c.oid", oids),
    };
    format!(
        "{} c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND {USER_NAMESPACE}{only} GROUP BY 1, 2",
        grants!(
            "c.oid",
            "c.relacl",
            "CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::\"char\"",
            "c.relowner",
            "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
        )
    )
}

pub(super) fn schema_grants() -> String {
    format!(
        "{} {USER_NAMESPACE} GROUP BY 1, 2",
        grants!(
            "n.oid",
            "n.nspacl",
            "'n'",
            "n.nspowner",
            "FROM pg_catalog.pg_namespace n"
        )
    )
}

pub(super) fn routine_grants() -> String {
    format!(
        "{} {USER_NAMESPACE} GROUP BY 1, 2",
        grants!(
            "p.oid",
            "p.proacl",
            "'f'",
            "p.proowner",
            "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
        )
    )
}

/// User triggers: not the internal ones (FK enforcement), nor, from PostgreSQL 13 on, a
/// partition's clones of its parent's trigger (before 13 those are internal).
pub(super) fn triggers(server_version_num: i32, oids: Option<&[u32]>) -> String {
    let only = only("c.oid", oids);
    let not_clone = if server_version_num >= 130000 {
        "AND t.tgparentid = 0"
    } else {
        ""
    };
    format!(
        "SELECT t.tgrelid, t.tgname::text, t.tgtype::int4, t.tgenabled::text, t.tgconstraint <> 0,
       pg_catalog.pg_get_triggerdef(t.oid, true),
       pg_catalog.quote_ident(fn.nspname) || '.' || pg_catalog.quote_ident(f.proname)
FROM pg_catalog.pg_trigger t
JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid
JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace
WHERE NOT t.tgisinternal {not_clone} AND {USER_NAMESPACE}{only}"
    )
}

/// Row-level security policies.
pub(super) fn policies(oids: Option<&[u32]>) -> String {
    let only = only("c.oid", oids);
    format!(
        "SELECT p.polrelid, p.polname::text, p.polcmd::text, p.polpermissive,
       ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r)::text END
             FROM unnest(p.polroles) r ORDER BY 1),
       pg_catalog.pg_get_expr(p.polqual, p.polrelid, true),
       pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid, true)
FROM pg_catalog.pg_policy p
JOIN pg_catalog.pg_class c ON c.oid = p.polrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE {USER_NAMESPACE}{only}"
    )
}

/// Sequences with the column that owns them (serial: an auto dependency; identity: internal).
pub(super) fn sequences() -> String {
    format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, pg_catalog.format_type(s.seqtypid, NULL),
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle,
       pg_catalog.pg_get_userbyid(c.relowner)::text,
       pg_catalog.quote_ident(tn.nspname) || '.' || pg_catalog.quote_ident(t.relname) || '.'
         || pg_catalog.quote_ident(a.attname),
       d.description
FROM pg_catalog.pg_sequence s
JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_depend o
  ON o.classid = 'pg_catalog.pg_class'::regclass AND o.objid = c.oid
 AND o.refclassid = 'pg_catalog.pg_class'::regclass AND o.refobjsubid > 0 AND o.deptype IN ('a', 'i')
LEFT JOIN pg_catalog.pg_class t ON t.oid = o.refobjid
LEFT JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = o.refobjid AND a.attnum = o.refobjsubid
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE {USER_NAMESPACE} AND {}",
        not_extension_member!("pg_catalog.pg_class", "c.oid")
    )
}

/// Databases `ingest_all_databases` considers.
pub(super) const DATABASES: &str = "\
SELECT datname::text FROM pg_catalog.pg_database
WHERE datallowconn AND NOT datistemplate ORDER BY datname";

/// The reading session's effective search path.
pub(super) const SEARCH_PATH: &str = "SELECT pg_catalog.current_schemas(false)::text[]";

/// What views and materialized views read: `pg_depend` rows of their rewrite rules that
/// reference relations (and columns, `refobjsubid` = attnum), excluding the view itself.
pub(super) fn view_dependencies(oids: Option<&[u32]>) -> String {
    format!(
        "SELECT DISTINCT r.ev_class::oid::int8, d.refobjid::oid::int8, d.refobjsubid::int4
FROM pg_catalog.pg_rewrite r
JOIN pg_catalog.pg_depend d
  ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
 AND d.refclassid = 'pg_catalog.pg_class'::regclass
JOIN pg_catalog.pg_class v ON v.oid = r.ev_class AND v.relkind IN ('v', 'm')
WHERE d.refobjid <> r.ev_class{}",
        // pg_rewrite holds a row per view, few beside pg_class: filtered there, it is
        // scanned and each row's relation looked up, not the other way round.
        only("r.ev_class", oids)
    )
}

/// Relation names, their columns, and whether each is a view (or materialized view), for
/// resolving names in the query log and in routine bodies; `named`, only the relations whose
/// name is in `$1` (UTF-8 bytes: a name the database's encoding cannot hold matches nothing,
/// where as text it would fail the query).
pub(super) fn relation_columns(named: bool) -> String {
    format!(
        "SELECT n.nspname::text, c.relname::text,
       coalesce(array_agg(a.attname::text ORDER BY a.attnum)
                FILTER (WHERE a.attnum > 0 AND NOT a.attisdropped), '{{}}'),
       bool_or(c.relkind IN ('v', 'm'))
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_NAMESPACE}
  AND {not_member}{named}
GROUP BY 1, 2",
        not_member = not_extension_member!("pg_catalog.pg_class", "c.oid"),
        named = if named {
            "\n  AND pg_catalog.convert_to(c.relname::text, 'UTF8') = ANY($1::bytea[])"
        } else {
            ""
        }
    )
}

/// The relations [`relation_columns`] reads, by name alone, and whether each is a view.
pub(super) fn relation_names() -> String {
    format!(
        "SELECT n.nspname::text, c.relname::text, c.relkind IN ('v', 'm')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {USER_NAMESPACE}
  AND {not_member}",
        not_member = not_extension_member!("pg_catalog.pg_class", "c.oid")
    )
}

/// The database's search path setting as written (`"$user", public`), and the name.
pub(super) const SEARCH_PATH_SETTING: &str =
    "SELECT current_setting('search_path'), current_database()::text";
