//! A normalized type family for each column, so consumers need not know every PostgreSQL
//! type name. Derived from the scalar type (the domain's base type, the array's element type)
//! using `pg_type.typcategory` plus the type name where a category is too coarse.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TypeFamily {
    Boolean,
    Integer,
    Decimal,
    Float,
    Money,
    Text,
    Binary,
    Date,
    Time,
    Timestamp,
    Interval,
    Uuid,
    Json,
    Xml,
    Network,
    Geometric,
    Bit,
    TextSearch,
    Enum,
    Range,
    Composite,
    Other,
}

impl TypeFamily {
    /// `typname` and `typcategory` of the scalar type (after resolving domains and arrays).
    pub fn classify(typname: &str, typcategory: &str) -> TypeFamily {
        match typname {
            "int2" | "int4" | "int8" | "oid" | "xid" | "xid8" | "cid" => {
                return TypeFamily::Integer;
            }
            "numeric" => return TypeFamily::Decimal,
            "float4" | "float8" => return TypeFamily::Float,
            "money" => return TypeFamily::Money,
            "bytea" => return TypeFamily::Binary,
            "date" => return TypeFamily::Date,
            "time" | "timetz" => return TypeFamily::Time,
            "timestamp" | "timestamptz" => return TypeFamily::Timestamp,
            "interval" => return TypeFamily::Interval,
            "uuid" => return TypeFamily::Uuid,
            "json" | "jsonb" | "jsonpath" => return TypeFamily::Json,
            "xml" => return TypeFamily::Xml,
            "tsvector" | "tsquery" => return TypeFamily::TextSearch,
            _ => {}
        }
        match typcategory {
            "B" => TypeFamily::Boolean,
            "N" => TypeFamily::Integer,
            "S" => TypeFamily::Text,
            "D" => TypeFamily::Timestamp,
            "T" => TypeFamily::Interval,
            "I" => TypeFamily::Network,
            "G" => TypeFamily::Geometric,
            "V" => TypeFamily::Bit,
            "E" => TypeFamily::Enum,
            "R" => TypeFamily::Range,
            "C" => TypeFamily::Composite,
            _ => TypeFamily::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_types() {
        let cases = [
            ("int4", "N", TypeFamily::Integer),
            ("numeric", "N", TypeFamily::Decimal),
            ("float8", "N", TypeFamily::Float),
            ("varchar", "S", TypeFamily::Text),
            ("bpchar", "S", TypeFamily::Text),
            ("citext", "S", TypeFamily::Text),
            ("bool", "B", TypeFamily::Boolean),
            ("timestamptz", "D", TypeFamily::Timestamp),
            ("date", "D", TypeFamily::Date),
            ("timetz", "D", TypeFamily::Time),
            ("interval", "T", TypeFamily::Interval),
            ("jsonb", "U", TypeFamily::Json),
            ("uuid", "U", TypeFamily::Uuid),
            ("inet", "I", TypeFamily::Network),
            ("point", "G", TypeFamily::Geometric),
            ("varbit", "V", TypeFamily::Bit),
            ("tsvector", "U", TypeFamily::TextSearch),
            ("mpaa_rating", "E", TypeFamily::Enum),
            ("int4range", "R", TypeFamily::Range),
            ("my_row", "C", TypeFamily::Composite),
            ("bytea", "U", TypeFamily::Binary),
            ("money", "N", TypeFamily::Money),
            ("hstore", "U", TypeFamily::Other),
        ];
        for (name, cat, want) in cases {
            assert_eq!(TypeFamily::classify(name, cat), want, "{name}");
        }
    }
}
