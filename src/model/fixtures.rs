//! Model values for unit tests across modules.

use super::{Column, Table, TableType, TypeFamily};

/// A nullable column with nothing optional set.
pub(crate) fn column(attnum: i32, name: &str, ty: &str) -> Column {
    Column {
        attnum,
        name: name.into(),
        data_type: ty.into(),
        type_family: TypeFamily::Integer,
        is_array: false,
        element_type: None,
        domain: None,
        enum_labels: vec![],
        nullable: true,
        default: None,
        identity: None,
        generated: None,
        collation: None,
        description: None,
    }
}

/// A table in `public` owned by `app`, without columns, constraints or indexes.
pub(crate) fn table(oid: i64, name: &str, table_type: TableType) -> Table {
    Table {
        oid,
        schema: "public".into(),
        name: name.into(),
        table_type,
        owner: "app".into(),
        description: None,
        row_estimate: None,
        size_bytes: None,
        columns: vec![],
        constraints: vec![],
        indexes: vec![],
        view_definition: None,
        partitioning: None,
        partition_of: None,
        foreign_table: None,
        inherits: vec![],
        of_type: None,
        ddl: None,
        triggers: vec![],
        row_level_security: false,
        force_row_level_security: false,
        policies: vec![],
        privileges: vec![],
    }
}
