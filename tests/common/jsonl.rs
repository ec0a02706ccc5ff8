//! The JSON lines a capture writes (`JsonlSink`), compared between two captures of the same
//! catalog.

use std::path::PathBuf;

/// The records of `out` after the first `from` lines, each without what differs between
/// two captures of the same catalog (event ids, which follow the capture epoch; times;
/// capture epochs).
pub fn records(out: &PathBuf, from: usize) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .skip(from)
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            if let Some(o) = v.as_object_mut() {
                for volatile in [
                    "event_id",
                    "metadata_event_id",
                    "emitted_at",
                    "capture_epoch",
                ] {
                    o.remove(volatile);
                }
            }
            v
        })
        .collect()
}

fn sorted(records: &[serde_json::Value]) -> Vec<String> {
    let mut out: Vec<String> = records.iter().map(|r| r.to_string()).collect();
    out.sort();
    out
}

/// `second` holds the records `first` holds (in any order), each as often.
pub fn assert_same_records(step: &str, first: &[serde_json::Value], second: &[serde_json::Value]) {
    let (first, second) = (sorted(first), sorted(second));
    let only_first: Vec<&String> = first.iter().filter(|r| !second.contains(r)).collect();
    let only_second: Vec<&String> = second.iter().filter(|r| !first.contains(r)).collect();
    assert!(
        first == second,
        "{step}: other records were sent\nonly in the first: {only_first:#?}\nonly in the second: {only_second:#?}"
    );
}
