//! The module graph is the one `src/lib.rs` and the README draw, and it has no cycle: derived
//! from the code (`crate::<module>` between top-level modules, `super::<module>` between the
//! submodules of one directory), test code left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The code of a file without its test module (`#[cfg(test)] mod tests { ... }` comes last)
/// and without test-only declarations (`#[cfg(test)] mod fixtures;`).
fn production_code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" {
            match lines.next() {
                Some(next) if next.trim_end().ends_with('{') => break,
                _ => continue,
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The identifiers that follow `prefix` in `code`.
fn references(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().next_back();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_owned()];
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).expect("read dir").flatten() {
        out.extend(rust_files(&entry.path()));
    }
    out.retain(|p| {
        p.extension().is_some_and(|e| e == "rs")
            && !matches!(
                p.file_name().and_then(|n| n.to_str()),
                Some("tests.rs" | "fixtures.rs")
            )
    });
    out
}

/// The modules of directory `dir` (files and subdirectories) and what each refers to with
/// `prefix` (`crate::` at the top, `super::` below), only among those modules.
fn graph(dir: &Path, prefix: &str, skip: &[&str]) -> Graph {
    let mut modules: BTreeMap<String, PathBuf> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        let name = path
            .file_stem()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if skip.contains(&name.as_str())
            || (path.is_file() && path.extension().is_none_or(|e| e != "rs"))
        {
            continue;
        }
        modules.insert(name, path);
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut g = Graph::new();
    for (name, path) in &modules {
        let mut uses = BTreeSet::new();
        for file in rust_files(path) {
            let code = production_code(&std::fs::read_to_string(&file).expect("read"));
            uses.extend(references(&code, prefix));
        }
        uses.retain(|u| u != name && names.contains(u));
        g.insert(name.clone(), uses);
    }
    g
}

/// A cycle through `start`, if there is one.
fn cycle(g: &Graph, start: &str) -> Option<Vec<String>> {
    fn walk(
        g: &Graph,
        at: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in g.get(at).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(g, next, start, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(g, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

fn assert_acyclic(what: &str, g: &Graph) {
    for name in g.keys() {
        if let Some(c) = cycle(g, name) {
            panic!("{what}: cycle {} -> {name}", c.join(" -> "));
        }
    }
}

/// The graph drawn in a ```text block of `doc` under the line `heading`: `module ─► uses ...`.
fn drawn(doc: &str, heading: &str) -> Graph {
    let mut g = Graph::new();
    let mut lines = doc
        .lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .skip_while(|l| *l != heading)
        .skip_while(|l| !l.starts_with("```text"))
        .skip(1);
    for line in lines.by_ref().take_while(|l| !l.starts_with("```")) {
        let Some((name, uses)) = line.split_once('─') else {
            continue;
        };
        let uses = uses.trim_start_matches('►');
        g.insert(
            name.trim().to_owned(),
            uses.split_whitespace().map(str::to_owned).collect(),
        );
    }
    g
}

fn show(g: &Graph) -> String {
    g.iter()
        .map(|(k, v)| {
            format!(
                "{k:<13}─► {}",
                v.iter().cloned().collect::<Vec<_>>().join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_module_graph_is_the_drawn_one_and_has_no_cycle() {
    let root = pgmeta::testkit::project_dir();
    let src = root.join("src");
    let code = graph(&src, "crate::", &["lib", "bin"]);
    assert_acyclic("src", &code);
    for (dir, _) in code.iter().filter(|(m, _)| src.join(m).is_dir()) {
        let sub = graph(&src.join(dir), "super::", &["mod"]);
        assert_acyclic(&format!("src/{dir}"), &sub);
        for (subdir, _) in sub.iter().filter(|(m, _)| src.join(dir).join(m).is_dir()) {
            let path = src.join(dir).join(subdir);
            assert_acyclic(
                &format!("src/{dir}/{subdir}"),
                &graph(&path, "super::", &["mod"]),
            );
        }
    }
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    for (what, doc, heading) in [
        ("src/lib.rs", lib.as_str(), "# Modules"),
        ("README.md", readme.as_str(), "## Code layout"),
    ] {
        let drawn = drawn(doc, heading);
        assert!(
            drawn == code,
            "{what} draws another module graph than the code's; the code's is:\n{}",
            show(&code)
        );
    }
}

/// An FQN is a typed name inside pgmeta and a string only at the edges: it is split in one
/// place, where a name enters pgmeta-apply from an event (`apply::name`), besides its own
/// definition (`model::ident`).
#[test]
fn an_fqn_is_split_only_where_a_name_enters() {
    let src = pgmeta::testkit::project_dir().join("src");
    let allowed = [src.join("apply/name.rs"), src.join("model/ident.rs")];
    let mut splits = Vec::new();
    for file in rust_files(&src) {
        if allowed.contains(&file) {
            continue;
        }
        let code = production_code(&std::fs::read_to_string(&file).expect("read"));
        for (i, line) in code.lines().enumerate() {
            if line.contains(".parts()") {
                splits.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        splits.is_empty(),
        "FQNs split outside the edge:\n{}",
        splits.join("\n")
    );
}
