//! Bounds on what pgmeta-catalog accepts and stores: JSON size and nesting depth, measured
//! without allocating a copy and without recursion (a value built by a PATCH may be deeper
//! than a recursive walk should go).

use serde_json::Value;

/// Deepest nesting a stored entity may have. serde_json refuses to read past 128 levels, so a
/// stored body must stay well inside that or it could not be read back; OpenMetadata's own
/// entities (a table with nested struct columns) stay far below 64.
pub(super) const MAX_DEPTH: usize = 64;

/// Default bound on a request body, and on how much a PATCH may grow an entity. A table of
/// 100,000 columns is about 5 MB of JSON; PostgreSQL tables have at most 1,600.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The length of `v` serialized as compact JSON.
pub(super) fn json_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a Value to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

/// Nesting depth of `v`: 0 for a scalar, 1 for a flat array or object, and so on.
pub(super) fn depth(v: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        match v {
            Value::Array(items) => {
                deepest = deepest.max(d + 1);
                stack.extend(items.iter().map(|i| (i, d + 1)));
            }
            Value::Object(fields) => {
                deepest = deepest.max(d + 1);
                stack.extend(fields.values().map(|i| (i, d + 1)));
            }
            _ => deepest = deepest.max(d),
        }
    }
    deepest
}

/// Whether a string or key anywhere in `v` holds a NUL character: PostgreSQL's text (and
/// OpenMetadata's own jsonb store) cannot hold one, so such a body is refused up front.
pub(super) fn has_nul(v: &Value) -> bool {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) if s.contains('\0') => return true,
            Value::Array(items) => stack.extend(items),
            Value::Object(fields) => {
                if fields.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(fields.values());
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn length_is_the_compact_serialization() {
        for v in [
            json!(null),
            json!({"a": [1, 2, "ü\n"]}),
            json!("x".repeat(100)),
        ] {
            assert_eq!(json_len(&v), v.to_string().len());
        }
    }

    #[test]
    fn nul_characters_are_found_in_values_and_keys() {
        assert!(!has_nul(&json!({"a": ["b", {"c": "d"}]})));
        assert!(has_nul(&json!({"a": ["b", {"c": "d\u{0}"}]})));
        assert!(has_nul(&json!({"a\u{0}": 1})));
    }

    #[test]
    fn depth_counts_containers() {
        assert_eq!(depth(&json!(1)), 0);
        assert_eq!(depth(&json!([])), 1);
        assert_eq!(depth(&json!({"a": [1, {"b": []}]})), 4);
        let mut deep = json!(0);
        for _ in 0..10_000 {
            deep = Value::Array(vec![deep]);
        }
        assert_eq!(depth(&deep), 10_000);
        // Dropping a deep Value recurses; keep it from overflowing the test thread's stack.
        let mut v = deep;
        while let Value::Array(mut a) = v {
            v = a.pop().unwrap_or(Value::Null);
        }
    }
}
