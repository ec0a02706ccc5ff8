//! How the state store encodes an entity's head and digest.
//!
//! postcard (serde in a compact binary form) behind a one-byte tag. JSON, which the store wrote
//! before, spent a snapshot's time on printing and parsing numbers: a digest is mostly hashes
//! (a `u64` per field, thirteen `u32` per column), and at 100,000 tables the JSON records made a
//! 2.1 GB store whose serialization and writes were a third of the capture's CPU time. Records
//! written as JSON are still read (a JSON record starts with `{`, never with the tag), so an
//! upgraded capture keeps its state and re-emits nothing; each record moves to the binary form
//! when its entity is next written.
//!
//! postcard is not self-describing: the encoded types must serialize every field, in
//! declaration order (no `skip_serializing_if`), and a change of one of them is a new
//! [`crate::diff::DIGEST_FORMAT`].

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The first byte of a postcard record.
const POSTCARD: u8 = 0;

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_extend(value, vec![POSTCARD])
}

/// A record of either form; the error says why it does not decode.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match bytes.split_first() {
        Some((&POSTCARD, rest)) => postcard::from_bytes(rest).map_err(|e| e.to_string()),
        _ => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{EntityDigest, Head};

    fn digest(shape: Option<crate::schema_change::Shape>) -> EntityDigest {
        EntityDigest {
            fqn: "svc.db.\"odd \"\" schema\".tåble".into(),
            version: 7,
            fields: vec![1, u64::MAX, 0],
            children: Vec::new(),
            shape,
        }
    }

    #[test]
    fn a_digest_round_trips_and_is_smaller_than_its_json() {
        let shape = crate::schema_change::Shape {
            fields: vec![
                ("description".into(), Some("a\tcomment".into())),
                ("owner".into(), None),
            ],
            ..Default::default()
        };
        for d in [digest(None), digest(Some(shape))] {
            let bytes = encode(&d).expect("encodes");
            assert_eq!(bytes[0], POSTCARD);
            let back: EntityDigest = decode(&bytes).expect("decodes");
            assert_eq!(back, d);
            let json = serde_json::to_vec(&d).expect("json");
            assert!(
                bytes.len() < json.len(),
                "{} >= {}",
                bytes.len(),
                json.len()
            );
        }
    }

    #[test]
    fn records_written_as_json_are_still_read() {
        let d = digest(None);
        let json = serde_json::to_vec(&d).expect("json");
        assert_eq!(decode::<EntityDigest>(&json).expect("decodes"), d);
        let head: Head = decode(br#"{"fqn":"svc.db.s.t","version":3,"values":42}"#).expect("head");
        assert_eq!(head.values, 42);
    }

    /// Every type a record holds, each field set: what the golden bytes below pin.
    fn full_digest() -> EntityDigest {
        use crate::model::{
            Column, Constraint, ConstraintType, ForeignKeyReference, Identity, Index, TypeFamily,
        };
        let column = Column {
            attnum: 2,
            name: "amount".into(),
            data_type: "numeric(12,2)".into(),
            type_family: TypeFamily::Decimal,
            is_array: false,
            element_type: Some("numeric".into()),
            domain: Some("money_d".into()),
            enum_labels: vec!["a".into()],
            nullable: true,
            default: Some("0".into()),
            identity: Some(Identity::ByDefault),
            generated: Some("a + 1".into()),
            collation: Some("C".into()),
            description: Some("paid".into()),
        };
        let constraint = Constraint {
            name: "fk".into(),
            constraint_type: ConstraintType::ForeignKey,
            columns: vec!["amount".into()],
            definition: "FOREIGN KEY (amount) REFERENCES s.p(id)".into(),
            references: Some(ForeignKeyReference {
                schema: "s".into(),
                table: "p".into(),
                columns: vec!["id".into()],
                on_update: "NO ACTION".into(),
                on_delete: "CASCADE".into(),
                match_type: "SIMPLE".into(),
            }),
            deferrable: true,
            description: Some("c".into()),
            local: true,
        };
        let index = Index {
            name: "i".into(),
            columns: vec!["lower(x)".into()],
            is_unique: true,
            is_primary: false,
            method: "btree".into(),
            predicate: Some("x > 0".into()),
            definition: "CREATE INDEX i ON s.t (lower(x))".into(),
            description: Some("d".into()),
        };
        EntityDigest {
            children: vec![crate::diff::ChildDigest {
                group: crate::diff::ChildGroup::Index,
                attnum: 0,
                name: "i".into(),
                all: 9,
                fields: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13],
            }],
            ..digest(Some(crate::schema_change::Shape {
                fields: vec![("owner".into(), Some("o".into()))],
                columns: vec![column],
                constraints: vec![constraint],
                indexes: vec![index],
            }))
        }
    }

    /// postcard records carry no field names: a state written before a change to any type
    /// they hold would no longer decode. Such a change must bump `DIGEST_FORMAT` (the next
    /// poll then re-baselines instead of failing on the old records) and renew these bytes.
    #[test]
    fn the_record_layout_changes_only_with_the_digest_format() {
        let bytes = encode(&full_digest()).expect("encodes");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            (crate::diff::DIGEST_FORMAT, hex.as_str()),
            (3, GOLDEN),
            "the encoded layout of the state's records changed: bump DIGEST_FORMAT and renew GOLDEN"
        );
        assert_eq!(decode::<EntityDigest>(&bytes).expect("decodes"), {
            let mut d = full_digest();
            // Not stored (`serde(skip)`): read back as its default.
            if let Some(s) = &mut d.shape {
                s.constraints[0].local = false;
            }
            d
        });
    }

    const GOLDEN: &str = concat!(
        "001d7376632e64622e226f646420222220736368656d61222e74c3a5626c650e0301ffffffffffffffffff01",
        "000102000169090102030405060708090a0b0c0d0101056f776e657201016f010406616d6f756e740d6e756d",
        "657269632831322c3229020001076e756d6572696301076d6f6e65795f64010161010101300101010561202b",
        "20310101430104706169640102666b020106616d6f756e7427464f524549474e204b45592028616d6f756e74",
        "29205245464552454e43455320732e7028696429010173017001026964094e4f20414354494f4e0743415343",
        "4144450653494d504c450101016301016901086c6f7765722878290100056274726565010578203e20302043",
        "524541544520494e4445582069204f4e20732e7420286c6f77657228782929010164",
    );

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let bytes = encode(&digest(None)).expect("encodes");
        assert!(decode::<EntityDigest>(&bytes[..bytes.len() / 2]).is_err());
        assert!(decode::<EntityDigest>(b"").is_err());
        assert!(decode::<EntityDigest>(b"{not json").is_err());
    }
}
