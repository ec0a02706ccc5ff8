//! Include/exclude filters as OpenMetadata users know them (`databaseFilterPattern`,
//! `schemaFilterPattern`, `tableFilterPattern`): regular expressions matched
//! case-insensitively from the start of the name (Python's `re.match`), excludes win, and an
//! empty include list includes everything.

use regex::Regex;

#[derive(Debug, Clone, Default)]
pub struct NameFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

/// A pattern that does not compile, with the config key that holds it.
#[derive(Debug, thiserror::Error)]
#[error("{key}: invalid regular expression {pattern:?}: {source}")]
pub struct FilterError {
    pub key: String,
    pub pattern: String,
    #[source]
    pub source: regex::Error,
}

impl NameFilter {
    /// `key` names the config section (e.g. `filters.table`) for error messages.
    pub fn new(key: &str, include: &[String], exclude: &[String]) -> Result<Self, FilterError> {
        let compile = |list: &[String], which: &str| -> Result<Vec<Regex>, FilterError> {
            list.iter()
                .enumerate()
                .map(|(i, p)| {
                    Regex::new(&format!("(?i)^(?:{p})")).map_err(|source| FilterError {
                        key: format!("{key}.{which}[{i}]"),
                        pattern: p.clone(),
                        source,
                    })
                })
                .collect()
        };
        Ok(NameFilter {
            include: compile(include, "include")?,
            exclude: compile(exclude, "exclude")?,
        })
    }

    pub fn accepts(&self, name: &str) -> bool {
        !self.exclude.iter().any(|r| r.is_match(name))
            && (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(include: &[&str], exclude: &[&str]) -> NameFilter {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        NameFilter::new("filters.table", &v(include), &v(exclude)).expect("valid")
    }

    #[test]
    fn empty_filter_accepts_everything() {
        assert!(f(&[], &[]).accepts("anything"));
    }

    #[test]
    fn include_is_anchored_at_start_and_case_insensitive() {
        let filter = f(&["film"], &[]);
        assert!(filter.accepts("film"));
        assert!(filter.accepts("FILM_actor"));
        assert!(!filter.accepts("my_film"));
    }

    #[test]
    fn exclude_wins_over_include() {
        let filter = f(&["pay.*"], &["payment_p2022_0[1-3]$"]);
        assert!(filter.accepts("payment"));
        assert!(filter.accepts("payment_p2022_04"));
        assert!(!filter.accepts("payment_p2022_02"));
        assert!(!filter.accepts("rental"));
    }

    #[test]
    fn bad_pattern_names_its_key() {
        let err = NameFilter::new("filters.schema", &["ok".into(), "(".into()], &[])
            .expect_err("must fail");
        let msg = err.to_string();
        assert!(
            msg.starts_with("filters.schema.include[1]: invalid regular expression \"(\""),
            "{msg}"
        );
    }
}
