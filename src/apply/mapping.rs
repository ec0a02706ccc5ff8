//! Pure mapping of pgmeta's events to OpenMetadata API request bodies (the `Create*Request`,
//! `AddLineage` and usage shapes of openmetadata-spec). No I/O: unit-tested below.

use super::name::EntityName;
use crate::event::{ColumnEdge, LineageEvent, LineageOrigin, MetadataEvent};
use crate::model::{
    Column, ConstraintType, Database, DatabaseSchema, EntityType, Fqn, Routine, RoutineKind, Table,
    TableType, TypeFamily, quote_ident,
};
use crate::openmetadata::kind::{self, Kind};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The collection an entity type of the events lives in.
pub(super) fn kind_of(entity_type: EntityType) -> &'static Kind {
    match entity_type {
        EntityType::Database => &kind::DATABASE,
        EntityType::DatabaseSchema => &kind::SCHEMA,
        EntityType::Table => &kind::TABLE,
        EntityType::Routine => &kind::STORED_PROCEDURE,
    }
}

/// The create request for the entity of a CREATE/UPDATE/SNAPSHOT event named `name` (`None`
/// for an event without its entity, which the capture never sends). Owners are added by the
/// caller.
pub fn create_request(e: &MetadataEvent, name: &EntityName) -> Option<Value> {
    let parent = name.parent().map(|p| p.fqn()).unwrap_or_default();
    let mut body = if let Some(d) = &e.database {
        database(d, &parent)
    } else if let Some(s) = &e.database_schema {
        schema(s, &parent)
    } else if let Some(t) = &e.table {
        table(t, name, &parent)
    } else if let Some(r) = &e.routine {
        routine(r, &parent)
    } else {
        return None;
    };
    if let Value::Object(m) = &mut body {
        m.retain(|_, v| !v.is_null());
    }
    Some(body)
}

/// The minimal create request of `kind`, an ancestor of `name` created on demand (service,
/// database or schema), so an event whose parent has not been applied yet still applies.
pub(super) fn ancestor_request(kind: &Kind, name: &EntityName, service_type: &str) -> Value {
    let ancestor = |n: usize| name.ancestor(n);
    let fqn = |n: usize| ancestor(n).map(|a| a.fqn()).unwrap_or_default();
    let own = |n: usize| ancestor(n).map(|a| a.name().to_owned()).unwrap_or_default();
    match kind.entity_type {
        "databaseService" => json!({"name": own(1), "serviceType": service_type}),
        "database" => json!({"name": own(2), "service": fqn(1)}),
        _ => json!({"name": own(3), "database": fqn(2)}),
    }
}

fn database(d: &Database, service: &str) -> Value {
    json!({"name": d.name, "service": service, "description": d.description})
}

fn schema(s: &DatabaseSchema, database: &str) -> Value {
    json!({"name": s.name, "database": database, "description": s.description})
}

fn table_type(t: TableType) -> &'static str {
    match t {
        TableType::Table | TableType::Partition => "Regular",
        TableType::PartitionedTable => "Partitioned",
        TableType::View => "View",
        TableType::MaterializedView => "MaterializedView",
        TableType::ForeignTable => "Foreign",
    }
}

/// What OpenMetadata puts in a column's `constraint`: a one-column primary key or unique
/// constraint is the column's (and not a table constraint); a column of a primary key of
/// several columns has none; else its nullability. As OpenMetadata's own connector does.
fn column_constraint(t: &Table, c: &Column) -> Option<&'static str> {
    let keys = |kind: ConstraintType| {
        t.constraints
            .iter()
            .filter(move |k| k.constraint_type == kind)
            .map(|k| &k.columns)
    };
    if let Some(pk) = keys(ConstraintType::PrimaryKey).find(|cols| cols.contains(&c.name)) {
        return (pk.len() == 1).then_some("PRIMARY_KEY");
    }
    if keys(ConstraintType::Unique).any(|cols| cols.len() == 1 && cols[0] == c.name) {
        return Some("UNIQUE");
    }
    Some(if c.nullable { "NULL" } else { "NOT_NULL" })
}

/// A foreign key's `relationshipType`: PostgreSQL makes its referred columns unique (a
/// primary key or unique constraint), so it is ONE_TO_ONE when its own columns are unique in
/// this table too, else MANY_TO_ONE.
fn relationship(t: &Table, columns: &[String]) -> &'static str {
    let unique_here = t.constraints.iter().any(|k| {
        matches!(
            k.constraint_type,
            ConstraintType::PrimaryKey | ConstraintType::Unique
        ) && k.columns.len() == columns.len()
            && k.columns.iter().all(|c| columns.contains(c))
    });
    if unique_here {
        "ONE_TO_ONE"
    } else {
        "MANY_TO_ONE"
    }
}

fn table(t: &Table, name: &EntityName, schema_fqn: &str) -> Value {
    let columns: Vec<Value> = t
        .columns
        .iter()
        .map(|c| column(c, column_constraint(t, c)))
        .collect();
    let table_fqn = |schema: &str, table: &str| name.sibling_object(schema, table);
    let constraints: Vec<Value> = t
        .constraints
        .iter()
        .filter_map(|c| {
            let kind = match c.constraint_type {
                // One column: the column's constraint instead (see `column_constraint`).
                ConstraintType::PrimaryKey | ConstraintType::Unique if c.columns.len() == 1 => {
                    return None;
                }
                ConstraintType::PrimaryKey => "PRIMARY_KEY",
                ConstraintType::Unique => "UNIQUE",
                ConstraintType::ForeignKey => "FOREIGN_KEY",
                // No OpenMetadata constraint type for CHECK and EXCLUDE; the DDL keeps them.
                ConstraintType::Check | ConstraintType::Exclusion => return None,
            };
            let mut out = json!({"constraintType": kind, "columns": c.columns});
            if let Some(r) = &c.references {
                let target = table_fqn(&r.schema, &r.table);
                let referred: Vec<String> = r
                    .columns
                    .iter()
                    .map(|col| format!("{target}.{}", Fqn::new([col.as_str()])))
                    .collect();
                out["referredColumns"] = json!(referred);
                out["relationshipType"] = json!(relationship(t, &c.columns));
            }
            Some(out)
        })
        .collect();
    // A view's definition as the statement that makes it, as OpenMetadata's connector gives it.
    let definition = match (t.table_type, &t.view_definition) {
        (TableType::View, Some(d)) => Some(format!(
            "create view {}.{} as {d}",
            quote_ident(&t.schema),
            quote_ident(&t.name)
        )),
        (TableType::MaterializedView, Some(d)) => Some(format!(
            "create materialized view {}.{} as {d}",
            quote_ident(&t.schema),
            quote_ident(&t.name)
        )),
        _ if t.table_type.is_view() => t.view_definition.clone(),
        _ => t.ddl.clone(),
    };
    let mut body = json!({
        "name": t.name,
        "databaseSchema": schema_fqn,
        "tableType": table_type(t.table_type),
        "columns": columns,
        "tableConstraints": constraints,
        "description": t.description,
        "schemaDefinition": definition,
    });
    if let Some(p) = &t.partitioning {
        body["tablePartition"] = partition(p, t);
    }
    body
}

/// OpenMetadata's `tablePartition`: one entry per key column, with the interval type the
/// strategy implies (expression keys are given as their text).
fn partition(p: &crate::model::Partitioning, t: &Table) -> Value {
    let inner = p
        .key
        .find('(')
        .and_then(|i| p.key.rfind(')').map(|j| &p.key[i + 1..j]))
        .unwrap_or(&p.key);
    let columns: Vec<Value> = inner
        .split(',')
        .map(|k| k.trim().trim_matches('"'))
        .filter(|k| !k.is_empty())
        .map(|k| {
            let family = t
                .columns
                .iter()
                .find(|c| c.name == k)
                .map(|c| c.type_family);
            let interval_type = match (p.strategy.to_ascii_uppercase().as_str(), family) {
                ("RANGE", Some(TypeFamily::Date | TypeFamily::Timestamp)) => "TIME-UNIT",
                ("RANGE", Some(TypeFamily::Integer)) => "INTEGER-RANGE",
                ("LIST", _) => "COLUMN-VALUE",
                _ => "OTHER",
            };
            json!({"columnName": k, "intervalType": interval_type})
        })
        .collect();
    json!({"columns": columns})
}

fn column(c: &Column, constraint: Option<&str>) -> Value {
    let (data_type, length, precision, scale) = data_type(c);
    let mut out = json!({
        "name": c.name,
        "dataType": data_type,
        "dataTypeDisplay": c.data_type.as_ref(),
        "ordinalPosition": c.attnum,
    });
    // Absent rather than null, as OpenMetadata's connector leaves them.
    if let Some(d) = &c.description {
        out["description"] = json!(d);
    }
    if let Some(k) = constraint {
        out["constraint"] = json!(k);
    }
    if c.is_array {
        let element = c.element_type.as_deref().unwrap_or("unknown");
        out["arrayDataType"] = json!(scalar_type(element, TypeFamily::Other).0);
    }
    if let Some(l) = length {
        out["dataLength"] = json!(l);
    }
    if let Some(p) = precision {
        out["precision"] = json!(p);
    }
    if let Some(s) = scale {
        out["scale"] = json!(s);
    }
    out
}

/// A column's OpenMetadata data type, with length, precision and scale from its typmod; the
/// PostgreSQL type goes to `dataTypeDisplay` unchanged.
pub fn data_type(c: &Column) -> (&'static str, Option<i64>, Option<i64>, Option<i64>) {
    if c.is_array {
        return ("ARRAY", None, None, None);
    }
    let base = c
        .domain
        .as_ref()
        .map(|_| c.data_type.as_ref())
        .unwrap_or(c.data_type.as_ref());
    scalar_type(base, c.type_family)
}

fn typmod_numbers(t: &str) -> Vec<i64> {
    t.find('(')
        .and_then(|i| t.rfind(')').map(|j| &t[i + 1..j]))
        .map(|inner| {
            inner
                .split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn scalar_type(
    t: &str,
    family: TypeFamily,
) -> (&'static str, Option<i64>, Option<i64>, Option<i64>) {
    let name = t.split('(').next().unwrap_or(t).trim();
    let nums = typmod_numbers(t);
    let first = nums.first().copied();
    match name {
        "smallint" | "int2" | "smallserial" => ("SMALLINT", None, None, None),
        "integer" | "int" | "int4" | "serial" => ("INT", None, None, None),
        "bigint" | "int8" | "bigserial" | "oid" => ("BIGINT", None, None, None),
        "numeric" | "decimal" => (
            "NUMERIC",
            None,
            first,
            nums.get(1).copied().or(first.map(|_| 0)),
        ),
        "real" | "float4" => ("FLOAT", None, None, None),
        "double precision" | "float8" => ("DOUBLE", None, None, None),
        "money" => ("MONEY", None, None, None),
        // OpenMetadata requires a length for VARCHAR and CHAR; unbounded is given as 1, as
        // its own PostgreSQL ingestion does.
        "character varying" | "varchar" => ("VARCHAR", Some(first.unwrap_or(1)), None, None),
        "character" | "char" | "bpchar" => ("CHAR", Some(first.unwrap_or(1)), None, None),
        "text" | "name" | "citext" => ("TEXT", None, None, None),
        "bytea" => ("BYTEA", None, None, None),
        "boolean" | "bool" => ("BOOLEAN", None, None, None),
        "date" => ("DATE", None, None, None),
        "timestamp without time zone" | "timestamp" => ("TIMESTAMP", None, None, None),
        "timestamp with time zone" | "timestamptz" => ("TIMESTAMPZ", None, None, None),
        "time without time zone" | "time with time zone" | "time" | "timetz" => {
            ("TIME", None, None, None)
        }
        "interval" => ("INTERVAL", None, None, None),
        "uuid" => ("UUID", None, None, None),
        "json" | "jsonb" => ("JSON", None, None, None),
        "xml" => ("XML", None, None, None),
        "inet" => ("INET", None, None, None),
        "cidr" => ("CIDR", None, None, None),
        "macaddr" | "macaddr8" => ("MACADDR", None, None, None),
        "tsvector" => ("TSVECTOR", None, None, None),
        "tsquery" => ("TSQUERY", None, None, None),
        "bit" | "bit varying" | "varbit" => ("BIT", None, None, None),
        "point" => ("POINT", None, None, None),
        "polygon" => ("POLYGON", None, None, None),
        "line" | "lseg" | "box" | "path" | "circle" => ("GEOMETRY", None, None, None),
        "pg_lsn" => ("PG_LSN", None, None, None),
        "pg_snapshot" => ("PG_SNAPSHOT", None, None, None),
        "txid_snapshot" => ("TXID_SNAPSHOT", None, None, None),
        "geometry" => ("GEOMETRY", None, None, None),
        "geography" => ("GEOGRAPHY", None, None, None),
        // Domains, enums and other user types: by the family of the type underneath.
        _ => (
            match family {
                TypeFamily::Boolean => "BOOLEAN",
                TypeFamily::Integer => "INT",
                TypeFamily::Decimal => "NUMERIC",
                TypeFamily::Float => "DOUBLE",
                TypeFamily::Money => "MONEY",
                TypeFamily::Text => "TEXT",
                TypeFamily::Binary => "BYTEA",
                TypeFamily::Date => "DATE",
                TypeFamily::Time => "TIME",
                TypeFamily::Timestamp => "TIMESTAMP",
                TypeFamily::Interval => "INTERVAL",
                TypeFamily::Uuid => "UUID",
                TypeFamily::Json => "JSON",
                TypeFamily::Xml => "XML",
                TypeFamily::Network => "INET",
                TypeFamily::Geometric => "GEOMETRY",
                TypeFamily::Bit => "BIT",
                TypeFamily::TextSearch => "TSVECTOR",
                TypeFamily::Enum => "ENUM",
                TypeFamily::Composite => "STRUCT",
                TypeFamily::Range | TypeFamily::Other => "UNKNOWN",
            },
            None,
            None,
            None,
        ),
    }
}

fn routine(r: &Routine, schema_fqn: &str) -> Value {
    let procedure_type = match r.kind {
        RoutineKind::Procedure => "StoredProcedure",
        RoutineKind::Function | RoutineKind::Aggregate | RoutineKind::Window => "Function",
    };
    json!({
        "name": r.signature(),
        "databaseSchema": schema_fqn,
        "description": r.description,
        "storedProcedureType": procedure_type,
        "storedProcedureCode": {
            // OpenMetadata's language enum has SQL, Java, JavaScript, Python and External.
            "language": match r.language.as_str() {
                "sql" | "plpgsql" => "SQL",
                "plpython3u" | "plpythonu" => "Python",
                "plv8" => "JavaScript",
                _ => "External",
            },
            "code": r.body.clone().unwrap_or_default(),
        },
    })
}

/// The owner role of the event's entity.
pub(super) fn owner(e: &MetadataEvent) -> Option<&str> {
    e.database
        .as_ref()
        .map(|d| d.owner.as_str())
        .or(e.database_schema.as_ref().map(|s| s.owner.as_str()))
        .or(e.table.as_ref().map(|t| t.owner.as_str()))
        .or(e.routine.as_ref().map(|r| r.owner.as_str()))
}

/// The `lineageDetails` of a lineage event: column lineage grouped by target column, as
/// column FQNs; SQL; the source; and for routine edges the stored procedure as `pipeline`.
pub fn lineage_details(e: &LineageEvent, pipeline: Option<Value>) -> Value {
    let mut by_target: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for ColumnEdge {
        from_column,
        to_column,
    } in &e.column_lineage
    {
        let entry = by_target.entry(to_column.as_str()).or_default();
        if from_column != "*" {
            entry.push(format!(
                "{}.{}",
                e.from_fqn,
                Fqn::new([from_column.as_str()])
            ));
        }
    }
    let columns: Vec<Value> = by_target
        .into_iter()
        .filter(|(_, from)| !from.is_empty())
        .map(|(to, from)| json!({"fromColumns": from, "toColumn": format!("{}.{}", e.to_fqn, Fqn::new([to]))}))
        .collect();
    let mut details = Map::new();
    details.insert("source".into(), json!(lineage_source(e.origin)));
    if let Some(sql) = &e.sql {
        details.insert("sqlQuery".into(), json!(sql));
    }
    if !columns.is_empty() {
        details.insert("columnsLineage".into(), Value::Array(columns));
    }
    if let Some(p) = pipeline {
        details.insert("pipeline".into(), p);
    }
    Value::Object(details)
}

pub(super) fn lineage_source(origin: LineageOrigin) -> &'static str {
    match origin {
        LineageOrigin::View => "ViewLineage",
        LineageOrigin::Query | LineageOrigin::Routine => "QueryLineage",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::{CaptureMode, LineageOp, Op, SourceInfo};
    use crate::model::fixtures;

    fn source() -> SourceInfo {
        SourceInfo {
            service: "s".into(),
            database: "d".into(),
            server_version: "15".into(),
            capture_mode: CaptureMode::Poll,
            pgmeta_version: "0".into(),
        }
    }

    pub(crate) fn table_event(fqn: &str, name: &str) -> MetadataEvent {
        let mut t = fixtures::table(1, name, TableType::Table);
        t.columns = vec![
            fixtures::column(1, "id", "integer"),
            fixtures::column(2, "title", "character varying(20)"),
        ];
        t.columns[1].type_family = TypeFamily::Text;
        MetadataEvent {
            event_id: "e".into(),
            emitted_at: 0,
            source: source(),
            entity_type: EntityType::Table,
            fqn: fqn.into(),
            previous_fqn: None,
            op: Op::Create,
            changed_fields: vec![],
            object_id: 1,
            entity_version: 1,
            database: None,
            database_schema: None,
            table: Some(t),
            routine: None,
            truncated_fields: vec![],
            capture_epoch: 0,
            field_changes: vec![],
        }
    }

    fn lineage_event(from: &str, to: &str, cols: &[(&str, &str)]) -> LineageEvent {
        LineageEvent {
            event_id: "e".into(),
            emitted_at: 0,
            source: source(),
            op: LineageOp::Create,
            origin: LineageOrigin::View,
            from_fqn: from.into(),
            to_fqn: to.into(),
            column_lineage: cols
                .iter()
                .map(|(f, t)| ColumnEdge {
                    from_column: (*f).into(),
                    to_column: (*t).into(),
                })
                .collect(),
            sql: None,
            routine_fqn: None,
            queryids: vec![],
            catalog_confirmed: None,
            edge_version: 1,
        }
    }

    fn col(data_type: &str, family: TypeFamily) -> Column {
        let mut c = fixtures::column(1, "c", data_type);
        c.type_family = family;
        c
    }

    #[test]
    fn postgres_types_map_to_openmetadata_types() {
        let cases = [
            ("integer", TypeFamily::Integer, ("INT", None, None, None)),
            (
                "character varying(50)",
                TypeFamily::Text,
                ("VARCHAR", Some(50), None, None),
            ),
            (
                "character varying",
                TypeFamily::Text,
                ("VARCHAR", Some(1), None, None),
            ),
            (
                "character(3)",
                TypeFamily::Text,
                ("CHAR", Some(3), None, None),
            ),
            (
                "numeric(10,2)",
                TypeFamily::Decimal,
                ("NUMERIC", None, Some(10), Some(2)),
            ),
            (
                "numeric",
                TypeFamily::Decimal,
                ("NUMERIC", None, None, None),
            ),
            (
                "timestamp with time zone",
                TypeFamily::Timestamp,
                ("TIMESTAMPZ", None, None, None),
            ),
            (
                "timestamp(3) without time zone",
                TypeFamily::Timestamp,
                ("TIMESTAMP", None, None, None),
            ),
            ("jsonb", TypeFamily::Json, ("JSON", None, None, None)),
            ("mpaa_rating", TypeFamily::Enum, ("ENUM", None, None, None)),
            ("year", TypeFamily::Integer, ("INT", None, None, None)),
            (
                "tsvector",
                TypeFamily::TextSearch,
                ("TSVECTOR", None, None, None),
            ),
            (
                "int4range",
                TypeFamily::Range,
                ("UNKNOWN", None, None, None),
            ),
        ];
        for (pg, family, want) in cases {
            assert_eq!(data_type(&col(pg, family)), want, "{pg}");
            assert!(crate::openmetadata::DATA_TYPES.contains(&want.0));
        }
        let mut arr = col("text[]", TypeFamily::Text);
        arr.is_array = true;
        arr.element_type = Some("text".into());
        let c = column(&arr, Some("NULL"));
        assert_eq!(c["dataType"], "ARRAY");
        assert_eq!(c["arrayDataType"], "TEXT");
        assert_eq!(c["dataTypeDisplay"], "text[]");
    }

    #[test]
    fn constraints_take_the_place_openmetadata_gives_them() {
        use crate::model::fixtures;
        use crate::model::{Constraint, ForeignKeyReference};
        let key = |kind: ConstraintType, cols: &[&str], references: Option<ForeignKeyReference>| {
            Constraint {
                name: "k".into(),
                constraint_type: kind,
                columns: cols.iter().map(|c| (*c).to_owned()).collect(),
                definition: String::new(),
                references,
                deferrable: false,
                description: None,
                local: true,
            }
        };
        let mut t = fixtures::table(1, "lines", TableType::Table);
        t.schema = "sales".into();
        t.columns = ["order_id", "line_no", "code", "note", "book_id"]
            .iter()
            .enumerate()
            .map(|(i, c)| fixtures::column(i as i32 + 1, c, "integer"))
            .collect();
        t.columns[3].nullable = true;
        t.columns[4].nullable = false;
        let books = ForeignKeyReference {
            schema: "catalog".into(),
            table: "books".into(),
            columns: vec!["book_id".into()],
            on_update: "a".into(),
            on_delete: "a".into(),
            match_type: "s".into(),
        };
        t.constraints = vec![
            key(ConstraintType::PrimaryKey, &["order_id", "line_no"], None),
            key(ConstraintType::Unique, &["code"], None),
            key(ConstraintType::ForeignKey, &["book_id"], Some(books)),
        ];
        let name = EntityName::parse(EntityType::Table, "s.d.sales.lines").expect("name");
        let body = table(&t, &name, "s.d.sales");
        let constraint = |i: usize| body["columns"][i].get("constraint").cloned();
        // Members of a two-column key have none; a one-column unique key is the column's.
        assert_eq!(constraint(0), None);
        assert_eq!(constraint(1), None);
        assert_eq!(constraint(2), Some(json!("UNIQUE")));
        assert_eq!(constraint(3), Some(json!("NULL")));
        assert_eq!(constraint(4), Some(json!("NOT_NULL")));
        assert_eq!(body["columns"][3].get("description"), None);
        let kinds: Vec<&str> = body["tableConstraints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["constraintType"].as_str())
            .collect();
        assert_eq!(kinds, ["PRIMARY_KEY", "FOREIGN_KEY"]);
        assert_eq!(
            body["tableConstraints"][1]["relationshipType"],
            "MANY_TO_ONE"
        );
        assert_eq!(
            body["tableConstraints"][1]["referredColumns"][0],
            "s.d.catalog.books.book_id"
        );

        let mut v = fixtures::table(2, "Sales by day", TableType::View);
        v.schema = "reporting".into();
        v.view_definition = Some(" SELECT 1;".into());
        let name =
            EntityName::parse(EntityType::Table, "s.d.reporting.\"Sales by day\"").expect("name");
        assert_eq!(
            table(&v, &name, "s.d.reporting")["schemaDefinition"],
            "create view reporting.\"Sales by day\" as  SELECT 1;"
        );
    }

    #[test]
    fn a_table_event_becomes_a_valid_create_table_request() {
        let e = table_event("s.d.public.film", "film");
        let name = EntityName::of_event(&e).expect("name");
        let body = create_request(&e, &name).expect("a request");
        assert_eq!(body["databaseSchema"], "s.d.public");
        assert_eq!(body["name"], "film");
        crate::server::validate(&crate::openmetadata::kind::TABLE, body.clone())
            .expect("valid for the catalog");
    }

    #[test]
    fn column_lineage_groups_by_target_and_skips_wildcards() {
        let e = lineage_event(
            "s.d.public.a",
            "s.d.public.v",
            &[("x", "y"), ("z", "y"), ("*", "w")],
        );
        let d = lineage_details(&e, None);
        assert_eq!(d["source"], "ViewLineage");
        assert_eq!(
            d["columnsLineage"],
            json!([{"fromColumns": ["s.d.public.a.x", "s.d.public.a.z"], "toColumn": "s.d.public.v.y"}])
        );
    }

    #[test]
    fn ancestors_on_demand() {
        let name = EntityName::parse(EntityType::Table, "svc.\"my.db\".public.t").expect("name");
        assert_eq!(
            ancestor_request(&kind::DATABASE, &name, "Postgres"),
            json!({"name": "my.db", "service": "svc"})
        );
        assert_eq!(
            ancestor_request(&kind::SCHEMA, &name, "Postgres"),
            json!({"name": "public", "database": "svc.\"my.db\""})
        );
        assert_eq!(
            ancestor_request(&kind::SERVICE, &name, "Postgres"),
            json!({"name": "svc", "serviceType": "Postgres"})
        );
    }
}
