//! Whether a column's new type holds every value of its old type: PostgreSQL type names as
//! `format_type` prints them (`character varying(50)`, `numeric(10,2)`,
//! `timestamp(3) with time zone`), compared by base type and modifiers.

/// How a type changed, for code that reads or writes the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeChange {
    Same,
    /// Every old value fits the new type unchanged (`integer` -> `bigint`, `varchar(50)` ->
    /// `varchar(80)` or `text`, `numeric(10,2)` -> `numeric(12,2)`).
    Widened,
    /// Some old values no longer fit (`varchar(50)` -> `varchar(20)`, `bigint` -> `integer`).
    Narrowed,
    /// Another kind of value (`text` -> `integer`, a scalar becoming an array).
    FamilyChanged,
    /// The same kind of value with other semantics or neither wider nor narrower
    /// (`timestamp` -> `timestamptz`, `json` -> `jsonb`, `numeric(10,2)` -> `numeric(10,4)`).
    Changed,
}

/// A type name split into its base name and its modifiers: `numeric(10,2)` is
/// (`numeric`, [10, 2]); `timestamp(3) with time zone` is (`timestamp with time zone`, [3]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ty {
    base: String,
    args: Vec<u32>,
}

fn parse(name: &str) -> Ty {
    let name = name.trim();
    if let (Some(open), Some(close)) = (name.find('('), name.find(')')) {
        if open < close {
            let args: Option<Vec<u32>> = name[open + 1..close]
                .split(',')
                .map(|a| a.trim().parse().ok())
                .collect();
            if let Some(args) = args {
                let base = format!("{}{}", name[..open].trim_end(), &name[close + 1..]);
                return Ty { base, args };
            }
        }
    }
    Ty {
        base: name.to_owned(),
        args: vec![],
    }
}

/// Rank within a family where each type holds every value of those ranked below it.
fn integer_rank(base: &str) -> Option<u32> {
    match base {
        "smallint" => Some(1),
        "integer" => Some(2),
        "bigint" => Some(3),
        _ => None,
    }
}

/// Decimal digits an integer type needs at most.
fn integer_digits(rank: u32) -> u32 {
    match rank {
        1 => 5,
        2 => 10,
        _ => 19,
    }
}

fn is_text(base: &str) -> bool {
    matches!(base, "character varying" | "text")
}

fn compare_args(old: &[u32], new: &[u32]) -> TypeChange {
    match (old.first(), new.first()) {
        (None, None) => TypeChange::Same,
        // No modifier is the widest: `varchar`, `numeric`, `timestamp` (precision 6).
        (Some(_), None) => TypeChange::Widened,
        (None, Some(_)) => TypeChange::Narrowed,
        (Some(o), Some(n)) if o == n => TypeChange::Same,
        (Some(o), Some(n)) if n > o => TypeChange::Widened,
        _ => TypeChange::Narrowed,
    }
}

/// `numeric(p,s)`: wider when neither its scale nor its integer digits shrink.
fn compare_numeric(old: &[u32], new: &[u32]) -> TypeChange {
    let (Some(&p0), Some(&p1)) = (old.first(), new.first()) else {
        return compare_args(old, new);
    };
    let (s0, s1) = (
        old.get(1).copied().unwrap_or(0),
        new.get(1).copied().unwrap_or(0),
    );
    let (i0, i1) = (p0.saturating_sub(s0), p1.saturating_sub(s1));
    match (s1.cmp(&s0), i1.cmp(&i0)) {
        (std::cmp::Ordering::Equal, std::cmp::Ordering::Equal) => TypeChange::Same,
        (a, b) if a.is_ge() && b.is_ge() => TypeChange::Widened,
        (a, b) if a.is_le() && b.is_le() => TypeChange::Narrowed,
        _ => TypeChange::Changed,
    }
}

/// Compares two scalar (non-array) types.
pub fn compare(old: &str, new: &str) -> TypeChange {
    let (o, n) = (parse(old), parse(new));
    if o == n {
        return TypeChange::Same;
    }
    if o.base == n.base {
        return match o.base.as_str() {
            "numeric" => compare_numeric(&o.args, &n.args),
            // Padding: a longer `character(n)` changes the stored values.
            "character" => TypeChange::Changed,
            _ => compare_args(&o.args, &n.args),
        };
    }
    match (integer_rank(&o.base), integer_rank(&n.base)) {
        (Some(a), Some(b)) => {
            return if b > a {
                TypeChange::Widened
            } else {
                TypeChange::Narrowed
            };
        }
        (Some(a), None) if n.base == "numeric" => {
            let digits = integer_digits(a);
            return match (n.args.first(), n.args.get(1).copied().unwrap_or(0)) {
                (None, _) => TypeChange::Widened,
                (Some(&p), s) if p.saturating_sub(s) >= digits => TypeChange::Widened,
                _ => TypeChange::Narrowed,
            };
        }
        (Some(a), None) if n.base == "double precision" && a <= 2 => {
            return TypeChange::Widened;
        }
        (Some(_), None) if n.base == "real" || n.base == "double precision" => {
            // bigint -> double precision, or any integer -> real, rounds large values.
            return TypeChange::Narrowed;
        }
        (None, Some(_)) if matches!(o.base.as_str(), "numeric" | "real" | "double precision") => {
            return TypeChange::Narrowed;
        }
        _ => {}
    }
    match (o.base.as_str(), n.base.as_str()) {
        ("real", "double precision") => TypeChange::Widened,
        ("double precision", "real") => TypeChange::Narrowed,
        (a, b) if is_text(a) && is_text(b) => {
            // `varchar(n)` -> `text` widens; `text` -> `varchar(n)` narrows; `varchar` and
            // `text` hold the same values.
            match (o.args.first(), n.args.first()) {
                (Some(_), None) => TypeChange::Widened,
                (None, Some(_)) => TypeChange::Narrowed,
                _ => TypeChange::Same,
            }
        }
        ("character", b) if is_text(b) => TypeChange::Changed,
        (a, "character") if is_text(a) => TypeChange::Changed,
        (a, b) if same_family(a, b) => TypeChange::Changed,
        _ => TypeChange::FamilyChanged,
    }
}

/// Types that hold the same kind of value under another representation or semantics.
fn same_family(a: &str, b: &str) -> bool {
    fn family(t: &str) -> &str {
        match t {
            "timestamp without time zone" | "timestamp with time zone" => "timestamp",
            "time without time zone" | "time with time zone" => "time",
            "json" | "jsonb" => "json",
            "bit" | "bit varying" => "bit",
            "numeric" | "real" | "double precision" => "number",
            "inet" | "cidr" => "network",
            _ => t,
        }
    }
    family(a) == family(b)
}

#[cfg(test)]
mod tests {
    use super::TypeChange::*;
    use super::*;

    #[test]
    fn integers_widen_upwards_and_narrow_downwards() {
        assert_eq!(compare("integer", "bigint"), Widened);
        assert_eq!(compare("smallint", "integer"), Widened);
        assert_eq!(compare("bigint", "integer"), Narrowed);
        assert_eq!(compare("integer", "integer"), Same);
    }

    #[test]
    fn varchar_lengths_and_text() {
        assert_eq!(
            compare("character varying(50)", "character varying(80)"),
            Widened
        );
        assert_eq!(
            compare("character varying(50)", "character varying(20)"),
            Narrowed
        );
        assert_eq!(compare("character varying(50)", "text"), Widened);
        assert_eq!(compare("character varying", "text"), Same);
        assert_eq!(compare("text", "character varying(10)"), Narrowed);
        assert_eq!(
            compare("character varying(10)", "character varying"),
            Widened
        );
        assert_eq!(compare("character(10)", "text"), Changed);
        assert_eq!(compare("character(10)", "character(12)"), Changed);
    }

    #[test]
    fn numeric_precision_and_scale() {
        assert_eq!(compare("numeric(10,2)", "numeric(12,2)"), Widened);
        assert_eq!(compare("numeric(10,2)", "numeric(12,4)"), Widened);
        assert_eq!(compare("numeric(12,2)", "numeric(10,2)"), Narrowed);
        // More decimals, fewer integer digits: neither.
        assert_eq!(compare("numeric(10,2)", "numeric(10,4)"), Changed);
        assert_eq!(compare("numeric(10,2)", "numeric"), Widened);
        assert_eq!(compare("numeric", "numeric(10,2)"), Narrowed);
    }

    #[test]
    fn integers_into_decimals_and_floats() {
        assert_eq!(compare("integer", "numeric"), Widened);
        assert_eq!(compare("integer", "numeric(12,2)"), Widened);
        assert_eq!(compare("bigint", "numeric(12,2)"), Narrowed);
        assert_eq!(compare("integer", "double precision"), Widened);
        assert_eq!(compare("bigint", "double precision"), Narrowed);
        assert_eq!(compare("numeric(10,2)", "integer"), Narrowed);
        assert_eq!(compare("real", "double precision"), Widened);
        assert_eq!(compare("double precision", "real"), Narrowed);
    }

    #[test]
    fn other_kinds_of_change() {
        assert_eq!(compare("text", "integer"), FamilyChanged);
        assert_eq!(compare("integer", "text"), FamilyChanged);
        assert_eq!(compare("uuid", "text"), FamilyChanged);
        assert_eq!(
            compare("timestamp without time zone", "timestamp with time zone"),
            Changed
        );
        assert_eq!(compare("json", "jsonb"), Changed);
        assert_eq!(
            compare(
                "timestamp(3) without time zone",
                "timestamp without time zone"
            ),
            Widened
        );
        assert_eq!(
            compare(
                "timestamp without time zone",
                "timestamp(0) without time zone"
            ),
            Narrowed
        );
    }
}
