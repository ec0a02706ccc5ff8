//! Reading a Prometheus text scrape (`/metrics`), for tests and benchmarks.

/// The values of the samples whose line begins with `selector`: a metric's name (each of its
/// samples, whatever their labels; `name` does not select `name_total`), or a name with its
/// labels, whole (`name{a="b"}`) or begun (`name{`).
pub fn samples<'a>(scrape: &'a str, selector: &'a str) -> impl Iterator<Item = f64> + 'a {
    scrape.lines().filter_map(move |line| {
        let rest = line.strip_prefix(selector)?;
        let name_ends = selector.ends_with(['{', '}']) || rest.starts_with([' ', '{']);
        if !name_ends {
            return None;
        }
        line.rsplit_once(' ')?.1.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::samples;

    const SCRAPE: &str = "# HELP a_total Things.\n# TYPE a_total counter\na_total{kind=\"x\"} 2\na_total{kind=\"y\"} 3\na 7\na_bytes 1.5e3\n";

    #[test]
    fn a_name_selects_its_samples_and_no_longer_name() {
        assert_eq!(samples(SCRAPE, "a").collect::<Vec<_>>(), [7.0]);
        assert_eq!(samples(SCRAPE, "a_total").sum::<f64>(), 5.0);
        assert_eq!(samples(SCRAPE, "a_bytes").next(), Some(1500.0));
    }

    #[test]
    fn labels_select_one_sample() {
        assert_eq!(
            samples(SCRAPE, "a_total{kind=\"y\"}").collect::<Vec<_>>(),
            [3.0]
        );
        assert_eq!(samples(SCRAPE, "a_total{").count(), 2);
        assert_eq!(samples(SCRAPE, "missing").next(), None);
    }
}
