//! An error's chain of sources in words: where tokio-postgres and reqwest put the cause an
//! operator needs ("Connection refused", "certificate not valid for name").

/// `first`, then `": "` and each source of `e` in turn (not `e` itself, which `first` names).
pub(crate) fn with_sources(first: String, e: &dyn std::error::Error) -> String {
    let mut out = first;
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    /// An error whose cause is `.0`, as reqwest's and tokio-postgres's are.
    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_source_follows_in_turn() {
        let e = Wrapped(std::io::Error::other("Connection refused"));
        assert_eq!(
            super::with_sources("cannot connect".into(), &e),
            "cannot connect: Connection refused"
        );
    }
}
