//! A reconstructed `CREATE` statement per table and view (`include_ddl`).
//!
//! Built from the catalog snapshot rather than by running `pg_dump` per table: pg_dump takes
//! locks and costs a process per call. The text is meant for people and catalogs (OpenMetadata's
//! `schemaDefinition`), and it is valid SQL: with the schemas, types and routines in place,
//! every table's and view's text replays on an empty database and recreates the same shape
//! (`tests/torture.rs` proves it on the torture schema and pagila): identifiers quoted as
//! `quote_ident()` does, INHERITS, OF type, a partition's own constraints, exclusion
//! constraints, indexes of materialized views, and what pg_dump writes beside a table:
//! triggers, row-level security and its policies, grants to roles other than the owner
//! (OpenMetadata has no field for them, so its `schemaDefinition` is where a reader of the
//! catalog sees them). Not included: ownership, comments (`COMMENT ON` travels in the events'
//! description fields), storage options, UNLOGGED, column privileges, and rights the owner
//! revoked from itself.

use super::{Table, TableType, quote_ident};

pub fn create_statement(t: &Table) -> String {
    let name = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name));
    match t.table_type {
        TableType::View | TableType::MaterializedView => {
            let kind = if t.table_type == TableType::View {
                "VIEW"
            } else {
                "MATERIALIZED VIEW"
            };
            let body = t
                .view_definition
                .as_deref()
                .unwrap_or("")
                .trim()
                .trim_end_matches(';');
            let mut sql = format!("CREATE {kind} {name} AS\n{body};");
            // A materialized view can have indexes of its own.
            push_indexes(&mut sql, t);
            push_attached(&mut sql, t, &name);
            sql
        }
        _ => {
            let mut sql = String::new();
            if let Some(parent) = &t.partition_of {
                // A partition gets its parent's columns and constraints; only its own
                // constraints (an FK added to the partition alone, say) are listed.
                sql.push_str(&format!(
                    "CREATE TABLE {name} PARTITION OF {}.{}",
                    quote_ident(&parent.parent_schema),
                    quote_ident(&parent.parent_table),
                ));
                let own: Vec<String> = t
                    .constraints
                    .iter()
                    .filter(|c| c.local)
                    .map(|c| format!("CONSTRAINT {} {}", quote_ident(&c.name), c.definition))
                    .collect();
                push_items(&mut sql, &own, false);
                sql.push_str(&format!("\n    {}", parent.bound));
            } else if let Some(of_type) = &t.of_type {
                // A typed table's columns come from its type; only their options are its own.
                sql.push_str(&format!("CREATE TABLE {name} OF {of_type}"));
                let mut items: Vec<String> = t.columns.iter().filter_map(column_options).collect();
                items.extend(constraint_items(t));
                push_items(&mut sql, &items, false);
            } else {
                let foreign = if t.table_type == TableType::ForeignTable {
                    "FOREIGN "
                } else {
                    ""
                };
                sql.push_str(&format!("CREATE {foreign}TABLE {name} ("));
                let mut items: Vec<String> = t.columns.iter().map(column_definition).collect();
                items.extend(constraint_items(t));
                push_items(&mut sql, &items, true);
                if !t.inherits.is_empty() {
                    sql.push_str(&format!(" INHERITS ({})", t.inherits.join(", ")));
                }
            }
            if let Some(p) = &t.partitioning {
                sql.push_str(&format!(" PARTITION BY {}", p.key));
            }
            if let Some(f) = &t.foreign_table {
                sql.push_str(&format!(" SERVER {}", quote_ident(&f.server)));
                if !f.options.is_empty() {
                    let opts: Vec<String> = f.options.iter().map(|o| foreign_option(o)).collect();
                    sql.push_str(&format!(" OPTIONS ({})", opts.join(", ")));
                }
            }
            sql.push(';');
            push_indexes(&mut sql, t);
            push_attached(&mut sql, t, &name);
            sql
        }
    }
}

/// Triggers (and how they are enabled), row-level security, policies and grants.
fn push_attached(sql: &mut String, t: &Table, name: &str) {
    for trigger in &t.triggers {
        sql.push('\n');
        sql.push_str(&trigger.definition);
        sql.push(';');
        let how = match trigger.enabled.as_str() {
            "DISABLED" => "DISABLE",
            "ALWAYS" => "ENABLE ALWAYS",
            "REPLICA" => "ENABLE REPLICA",
            _ => continue,
        };
        sql.push_str(&format!(
            "\nALTER TABLE {name} {how} TRIGGER {};",
            quote_ident(&trigger.name)
        ));
    }
    if t.row_level_security {
        sql.push_str(&format!("\nALTER TABLE {name} ENABLE ROW LEVEL SECURITY;"));
    }
    if t.force_row_level_security {
        sql.push_str(&format!("\nALTER TABLE {name} FORCE ROW LEVEL SECURITY;"));
    }
    for p in &t.policies {
        sql.push_str(&format!(
            "\nCREATE POLICY {} ON {name} AS {} FOR {} TO {}",
            quote_ident(&p.name),
            if p.permissive {
                "PERMISSIVE"
            } else {
                "RESTRICTIVE"
            },
            p.command,
            p.roles
                .iter()
                .map(|r| role(r))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Some(using) = &p.using {
            sql.push_str(&format!(" USING ({using})"));
        }
        if let Some(check) = &p.with_check {
            sql.push_str(&format!(" WITH CHECK ({check})"));
        }
        sql.push(';');
    }
    for g in t.privileges.iter().filter(|g| g.grantee != t.owner) {
        let plain: Vec<&str> = g
            .privileges
            .iter()
            .filter(|p| !g.grantable.contains(p))
            .map(String::as_str)
            .collect();
        for (privileges, option) in [
            (plain, ""),
            (
                g.grantable.iter().map(String::as_str).collect(),
                " WITH GRANT OPTION",
            ),
        ] {
            if !privileges.is_empty() {
                sql.push_str(&format!(
                    "\nGRANT {} ON TABLE {name} TO {}{option};",
                    privileges.join(", "),
                    role(&g.grantee)
                ));
            }
        }
    }
}

/// A role as GRANT and CREATE POLICY take it: `PUBLIC` is a keyword, not a name.
fn role(name: &str) -> String {
    if name == "PUBLIC" {
        name.to_owned()
    } else {
        quote_ident(name)
    }
}

/// `CREATE INDEX` of each index, except those that back a constraint (the constraint
/// creates them).
fn push_indexes(sql: &mut String, t: &Table) {
    for index in &t.indexes {
        if !t.constraints.iter().any(|c| c.name == index.name) {
            sql.push('\n');
            sql.push_str(&index.definition);
            sql.push(';');
        }
    }
}

fn constraint_items(t: &Table) -> impl Iterator<Item = String> + '_ {
    t.constraints
        .iter()
        .map(|c| format!("CONSTRAINT {} {}", quote_ident(&c.name), c.definition))
}

/// `(item, ...)` on their own lines; `()` for none when `always` (a table of no columns), else
/// nothing.
fn push_items(sql: &mut String, items: &[String], always: bool) {
    if items.is_empty() {
        if always {
            sql.push(')');
        }
        return;
    }
    if !always {
        sql.push_str(" (");
    }
    for (i, item) in items.iter().enumerate() {
        sql.push_str(if i == 0 { "\n    " } else { ",\n    " });
        sql.push_str(item);
    }
    sql.push_str("\n)");
}

/// `col WITH OPTIONS NOT NULL DEFAULT ...` of a typed table's column, when it has options.
fn column_options(c: &super::Column) -> Option<String> {
    let mut options = String::new();
    if !c.nullable {
        options.push_str(" NOT NULL");
    }
    if let Some(d) = &c.default {
        options.push_str(&format!(" DEFAULT {d}"));
    }
    (!options.is_empty()).then(|| format!("{} WITH OPTIONS{options}", quote_ident(&c.name)))
}

fn column_definition(c: &super::Column) -> String {
    let mut def = format!("{} {}", quote_ident(&c.name), c.data_type);
    if let Some(coll) = &c.collation {
        def.push_str(&format!(" COLLATE {coll}"));
    }
    if let Some(expr) = &c.generated {
        def.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
    } else if let Some(identity) = c.identity {
        let how = match identity {
            super::Identity::Always => "ALWAYS",
            super::Identity::ByDefault => "BY DEFAULT",
        };
        def.push_str(&format!(" GENERATED {how} AS IDENTITY"));
    } else if let Some(default) = &c.default {
        def.push_str(&format!(" DEFAULT {default}"));
    }
    if !c.nullable {
        def.push_str(" NOT NULL");
    }
    def
}

/// `ftoptions` entries come as `key=value`.
fn foreign_option(option: &str) -> String {
    let (key, value) = option.split_once('=').unwrap_or((option, ""));
    format!("{} '{}'", quote_ident(key), value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Constraint, ConstraintType, ForeignTable, Identity, Index, PartitionOf, Partitioning,
    };

    use crate::model::fixtures::column;

    fn table(name: &str, table_type: TableType) -> Table {
        crate::model::fixtures::table(1, name, table_type)
    }

    #[test]
    fn table_with_columns_constraints_and_indexes() {
        let mut t = table("Order Items", TableType::Table);
        let mut id = column(1, "id", "bigint");
        id.identity = Some(Identity::Always);
        id.nullable = false;
        let mut qty = column(2, "qty", "integer");
        qty.default = Some("1".into());
        let mut total = column(3, "total", "numeric(10,2)");
        total.generated = Some("(qty * 2)".into());
        let mut label = column(4, "Label", "text");
        label.collation = Some("\"C\"".into());
        t.columns = vec![id, qty, total, label];
        t.constraints = vec![Constraint {
            name: "order_items_pkey".into(),
            constraint_type: ConstraintType::PrimaryKey,
            columns: vec!["id".into()],
            definition: "PRIMARY KEY (id)".into(),
            references: None,
            deferrable: false,
            description: None,
            local: true,
        }];
        t.indexes = vec![
            Index {
                name: "order_items_pkey".into(),
                columns: vec!["id".into()],
                is_unique: true,
                is_primary: true,
                method: "btree".into(),
                predicate: None,
                definition: "CREATE UNIQUE INDEX order_items_pkey ON public.\"Order Items\" USING btree (id)".into(),
                description: None,
            },
            Index {
                name: "qty_idx".into(),
                columns: vec!["qty".into()],
                is_unique: false,
                is_primary: false,
                method: "btree".into(),
                predicate: None,
                definition: "CREATE INDEX qty_idx ON public.\"Order Items\" USING btree (qty)".into(),
                description: None,
            },
        ];
        assert_eq!(
            create_statement(&t),
            "CREATE TABLE public.\"Order Items\" (\n    id bigint GENERATED ALWAYS AS IDENTITY NOT NULL,\n    qty integer DEFAULT 1,\n    total numeric(10,2) GENERATED ALWAYS AS ((qty * 2)) STORED,\n    \"Label\" text COLLATE \"C\",\n    CONSTRAINT order_items_pkey PRIMARY KEY (id)\n);\nCREATE INDEX qty_idx ON public.\"Order Items\" USING btree (qty);"
        );
    }

    #[test]
    fn views_and_materialized_views() {
        let mut v = table("v", TableType::View);
        v.view_definition = Some(" SELECT 1 AS one;".into());
        assert_eq!(
            create_statement(&v),
            "CREATE VIEW public.v AS\nSELECT 1 AS one;"
        );
        v.table_type = TableType::MaterializedView;
        assert_eq!(
            create_statement(&v),
            "CREATE MATERIALIZED VIEW public.v AS\nSELECT 1 AS one;"
        );
    }

    #[test]
    fn partitioned_table_and_partition() {
        let mut parent = table("payment", TableType::PartitionedTable);
        parent.columns = vec![column(1, "paid_at", "date")];
        parent.partitioning = Some(Partitioning {
            strategy: "RANGE".into(),
            key: "RANGE (paid_at)".into(),
        });
        assert_eq!(
            create_statement(&parent),
            "CREATE TABLE public.payment (\n    paid_at date\n) PARTITION BY RANGE (paid_at);"
        );
        let mut part = table("payment_2024", TableType::Partition);
        part.partition_of = Some(PartitionOf {
            parent_schema: "public".into(),
            parent_table: "payment".into(),
            bound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')".into(),
        });
        assert_eq!(
            create_statement(&part),
            "CREATE TABLE public.payment_2024 PARTITION OF public.payment\n    FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
        );
    }

    #[test]
    fn foreign_table_with_options() {
        let mut t = table("remote", TableType::ForeignTable);
        t.columns = vec![column(1, "id", "integer")];
        t.foreign_table = Some(ForeignTable {
            server: "files".into(),
            options: vec!["filename=/tmp/it's.csv".into(), "format=csv".into()],
        });
        assert_eq!(
            create_statement(&t),
            "CREATE FOREIGN TABLE public.remote (\n    id integer\n) SERVER files OPTIONS (filename '/tmp/it''s.csv', format 'csv');"
        );
    }

    #[test]
    fn table_without_columns() {
        assert_eq!(
            create_statement(&table("empty", TableType::Table)),
            "CREATE TABLE public.empty ();"
        );
    }
}
