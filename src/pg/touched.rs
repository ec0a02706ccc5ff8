//! What a DDL transaction touched, from the trigger's messages: the input of a targeted
//! catalog read (`catalog::read_touched`). Pure: no I/O.
//!
//! A message names its object by catalog and OID (`ddl_command_end`) or, for a dropped one, by
//! its address (`sql_drop`). Objects that hang off a relation (a constraint, trigger, policy,
//! rule or default) stand for their relation; a dropped relation needs nothing read, only its
//! OID noted (the read checks that it is gone). What cannot be narrowed to relations (types,
//! routines, schemas, extensions, GRANT, a dropped index, a message of an older trigger) asks
//! for the full read.

use serde_json::Value;
use std::collections::BTreeSet;

/// Catalogs whose rows hang off one relation (`conrelid`, `tgrelid`, `polrelid`, `ev_class`,
/// `adrelid`).
pub const ATTACHED_CATALOGS: [&str; 5] = [
    "pg_constraint",
    "pg_trigger",
    "pg_policy",
    "pg_rewrite",
    "pg_attrdef",
];

/// Dropped objects that hang off a relation, whose address is (schema, relation, name).
const DROPPED_ATTACHED: [&str; 6] = [
    "table column",
    "table constraint",
    "default value",
    "trigger",
    "policy",
    "rule",
];

const DROPPED_RELATIONS: [&str; 4] = ["table", "view", "materialized view", "foreign table"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// `pg_class` OIDs: relations, indexes, sequences.
    pub relations: BTreeSet<u32>,
    /// Of those, the ones an ALTER TABLE named (an ALTER of a partitioned table can detach a
    /// partition, which nothing else names: that takes the full read).
    pub altered: BTreeSet<u32>,
    /// (catalog, OID) of rows that hang off a relation (see [`ATTACHED_CATALOGS`]).
    pub attached: BTreeSet<(String, u32)>,
    /// (schema, relation) of relations a dropped column, constraint, trigger... belonged to.
    pub relations_named: BTreeSet<(String, String)>,
    /// `pg_class` OIDs of dropped tables, views, materialized views and foreign tables.
    pub dropped: BTreeSet<u32>,
    /// Schemas whose sequences changed (a sequence was dropped).
    pub sequences_dropped: bool,
    /// Why only the full read will do, if so.
    pub everything: Option<String>,
}

impl Touched {
    /// Whether nothing was noted.
    pub fn is_empty(&self) -> bool {
        *self == Touched::default()
    }

    /// Notes one trigger message (its JSON, parsed).
    pub fn note(&mut self, message: Option<&Value>) {
        let Some(m) = message else {
            return self.everything("a DDL message that is not the trigger's JSON");
        };
        let text = |name: &str| m.get(name).and_then(Value::as_str);
        let tag = text("tag").unwrap_or_default();
        let object_type = text("object_type").unwrap_or_default();
        if text("event") == Some("sql_drop") {
            return self.note_drop(m, tag, object_type);
        }
        let (Some(catalog), Some(oid)) = (text("classid"), objid(m)) else {
            return self.everything(&format!("{tag} names no object"));
        };
        match catalog {
            "pg_class" => {
                self.relations.insert(oid);
                if tag == "ALTER TABLE" {
                    self.altered.insert(oid);
                }
            }
            c if ATTACHED_CATALOGS.contains(&c) => {
                self.attached.insert((c.to_owned(), oid));
            }
            _ => self.everything(&format!("{tag} on a {object_type}")),
        }
    }

    fn note_drop(&mut self, m: &Value, tag: &str, object_type: &str) {
        let original = m.get("original").and_then(Value::as_bool);
        let address: Vec<&str> = m
            .get("address_names")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        match (object_type, original, address.as_slice()) {
            (t, Some(_), _) if DROPPED_RELATIONS.contains(&t) => {
                match (m.get("classid").and_then(Value::as_str), objid(m)) {
                    (Some("pg_class"), Some(oid)) => {
                        self.dropped.insert(oid);
                    }
                    // A message of a trigger installed before drops carried their OID.
                    _ => self.everything(&format!("{tag} of a {object_type} without its OID")),
                }
            }
            (t, Some(_), [schema, relation, ..]) if DROPPED_ATTACHED.contains(&t) => {
                self.relations_named
                    .insert(((*schema).to_owned(), (*relation).to_owned()));
            }
            ("sequence", Some(_), _) => self.sequences_dropped = true,
            // Dropped with what the command dropped (its table, its constraint), which the
            // other messages of the transaction name.
            ("index" | "type" | "toast table", Some(false), _) => {}
            _ => self.everything(&format!("{tag} of a {object_type}")),
        }
    }

    /// Adds what `other` touched.
    pub fn merge(&mut self, other: Touched) {
        self.relations.extend(other.relations);
        self.altered.extend(other.altered);
        self.attached.extend(other.attached);
        self.relations_named.extend(other.relations_named);
        self.dropped.extend(other.dropped);
        self.sequences_dropped |= other.sequences_dropped;
        if let Some(why) = other.everything {
            self.everything(&why);
        }
    }

    fn everything(&mut self, why: &str) {
        self.everything.get_or_insert_with(|| why.to_owned());
    }
}

/// The message's `objid`: a number, or its text (`json_build_object` of an `int8` writes a
/// number; older triggers wrote `oid` text). `None` when absent or zero.
fn objid(m: &Value) -> Option<u32> {
    m.get("objid")
        .and_then(|o| match o {
            Value::String(s) => s.parse::<u32>().ok(),
            other => other.as_u64().and_then(|o| u32::try_from(o).ok()),
        })
        .filter(|o| *o != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touched(messages: &[&str]) -> Touched {
        let mut t = Touched::default();
        for m in messages {
            t.note(serde_json::from_str::<Value>(m).ok().as_ref());
        }
        t
    }

    #[test]
    fn relations_and_what_hangs_off_them_are_named_by_oid() {
        let t = touched(&[
            r#"{"event":"ddl_command_end","tag":"CREATE TABLE","object_type":"table","classid":"pg_class","objid":"16400"}"#,
            r#"{"event":"ddl_command_end","tag":"ALTER TABLE","object_type":"table","classid":"pg_class","objid":16401}"#,
            r#"{"event":"ddl_command_end","tag":"COMMENT","object_type":"table column","classid":"pg_class","objid":16402}"#,
            r#"{"event":"ddl_command_end","tag":"CREATE TRIGGER","object_type":"trigger","classid":"pg_trigger","objid":16403}"#,
        ]);
        assert_eq!(t.relations, BTreeSet::from([16400, 16401, 16402]));
        assert_eq!(t.altered, BTreeSet::from([16401]));
        assert_eq!(
            t.attached,
            BTreeSet::from([("pg_trigger".to_owned(), 16403)])
        );
        assert_eq!(t.everything, None);
    }

    /// DROP TABLE x CASCADE as PostgreSQL reports it: the table (original), a view on it, its
    /// row types, index, sequence and triggers (not original), and the FK of another table.
    #[test]
    fn a_dropped_table_names_its_oid_and_the_surviving_tables_it_changed() {
        let t = touched(&[
            r#"{"event":"sql_drop","tag":"DROP TABLE","object_type":"table","original":true,"address_names":["public","p2"],"classid":"pg_class","objid":16390}"#,
            r#"{"event":"sql_drop","tag":"DROP TABLE","object_type":"view","original":false,"address_names":["public","v2"],"classid":"pg_class","objid":16395}"#,
            r#"{"event":"sql_drop","tag":"DROP TABLE","object_type":"sequence","original":false,"address_names":["public","p1_id_seq"]}"#,
            r#"{"event":"sql_drop","tag":"DROP TABLE","object_type":"type","original":false,"address_names":["public.p2"]}"#,
            r#"{"event":"sql_drop","tag":"DROP TABLE","object_type":"index","original":false,"address_names":["public","p1_pkey"]}"#,
            r#"{"event":"sql_drop","tag":"DROP TABLE","object_type":"table constraint","original":false,"address_names":["public","c1","c1_id_fkey"]}"#,
            r#"{"event":"sql_drop","tag":"DROP TABLE","object_type":"trigger","original":false,"address_names":["public","p2","RI_ConstraintTrigger_a_1"]}"#,
        ]);
        assert_eq!(t.everything, None);
        assert!(t.relations.is_empty());
        assert_eq!(t.dropped, BTreeSet::from([16390, 16395]));
        assert_eq!(
            t.relations_named,
            BTreeSet::from([
                ("public".to_owned(), "c1".to_owned()),
                ("public".to_owned(), "p2".to_owned())
            ])
        );
        assert!(t.sequences_dropped);
    }

    #[test]
    fn what_cannot_be_narrowed_to_relations_takes_the_full_read() {
        for (message, why) in [
            (
                r#"{"event":"ddl_command_end","tag":"GRANT","object_type":"TABLE","classid":null,"objid":null}"#,
                "GRANT names no object",
            ),
            (
                r#"{"event":"ddl_command_end","tag":"ALTER TYPE","object_type":"type","classid":"pg_type","objid":5}"#,
                "ALTER TYPE on a type",
            ),
            (
                r#"{"event":"sql_drop","tag":"DROP INDEX","object_type":"index","original":true,"address_names":["public","i"]}"#,
                "DROP INDEX of a index",
            ),
            (
                r#"{"event":"ddl_command_end","tag":"CREATE TABLE","object_type":"table"}"#,
                "CREATE TABLE names no object",
            ),
            (
                r#"{"event":"sql_drop","tag":"DROP VIEW","object_type":"view","original":true,"address_names":["public","v"]}"#,
                "DROP VIEW of a view without its OID",
            ),
        ] {
            assert_eq!(touched(&[message]).everything.as_deref(), Some(why));
        }
        assert!(touched(&["not json"]).everything.is_some());
        assert!(touched(&[]).is_empty());
    }
}
