//! Contracts: the tables and columns other teams depend on (`schema_changes.protected`). A
//! BREAKING change to one of them is a contract violation, in its record and its metric.

use super::{ChangeClass, SchemaChange};
use crate::config::ProtectedObject;

/// Whether `change` is BREAKING and touches a protected table or column: a change of the
/// whole table (a drop, a rename) touches each of its protected columns too.
pub fn violates(protected: &[ProtectedObject], change: &SchemaChange) -> bool {
    if change.class != ChangeClass::Breaking {
        return false;
    }
    let is = |want: &Option<String>, name: &str| want.as_deref().is_none_or(|w| w == name);
    protected.iter().any(|p| {
        is(&p.schema, &change.schema)
            && is(&p.table, &change.name)
            && (p.whole
                || change.columns.is_empty()
                || change.columns.iter().any(|c| is(&p.column, c)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_change::ChangedObjectType;

    fn change(class: ChangeClass, columns: &[&str]) -> SchemaChange {
        SchemaChange {
            rule: "column.dropped",
            class,
            reason: String::new(),
            object_type: ChangedObjectType::Column,
            object_fqn: String::new(),
            entity_fqn: String::new(),
            schema: "sales".into(),
            name: "orders".into(),
            path: String::new(),
            before: None,
            after: None,
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    fn protected(patterns: &[&str]) -> Vec<ProtectedObject> {
        patterns
            .iter()
            .map(|p| ProtectedObject::parse(p).expect("pattern"))
            .collect()
    }

    #[test]
    fn breaking_changes_of_protected_tables_and_columns_violate() {
        let amount = change(ChangeClass::Breaking, &["amount"]);
        assert!(violates(&protected(&["sales.orders"]), &amount));
        assert!(violates(&protected(&["sales.orders.amount"]), &amount));
        assert!(violates(&protected(&["*.orders.*"]), &amount));
        assert!(!violates(&protected(&["sales.orders.note"]), &amount));
        assert!(!violates(&protected(&["sales.customers"]), &amount));
        // A drop of the whole table touches every protected column of it.
        assert!(violates(
            &protected(&["sales.orders.note"]),
            &change(ChangeClass::Breaking, &[])
        ));
        // Only BREAKING changes violate.
        assert!(!violates(
            &protected(&["sales.orders"]),
            &change(ChangeClass::PotentiallyBreaking, &["amount"])
        ));
    }

    #[test]
    fn a_pattern_is_two_or_three_names() {
        for bad in ["orders", "a.b.c.d", "sales..amount", ""] {
            assert!(ProtectedObject::parse(bad).is_err(), "{bad}");
        }
    }
}
