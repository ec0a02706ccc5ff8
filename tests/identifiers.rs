//! Identifier quoting against the server's own `quote_ident()`: every keyword the server
//! lists (`pg_get_keywords()`, whatever its category) and names with quotes, spaces, capitals,
//! digits, `$`, unicode and 63 bytes. Runs on every version of the test matrix.

use crate::common::TestEnv;
use pgmeta::model::quote_ident;

#[tokio::test]
async fn quoting_equals_the_servers_quote_ident_for_every_keyword() {
    let env = TestEnv::new("quote_ident").await;
    let keywords: Vec<String> = env
        .client
        .query(
            "SELECT word FROM pg_catalog.pg_get_keywords() ORDER BY word",
            &[],
        )
        .await
        .expect("keywords")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(keywords.len() > 400, "{} keywords", keywords.len());
    let odd = [
        "film",
        "Film",
        "two words",
        "say \"hi\"",
        "1abc",
        "_x1$",
        "a$",
        "bıgınt",
        "ü",
        "tab\tname",
        &"x".repeat(63),
        &"é".repeat(31),
    ];
    let names: Vec<String> = keywords
        .iter()
        .cloned()
        .chain(odd.iter().map(|s| (*s).to_owned()))
        .collect();
    let rows = env
        .client
        .query(
            "SELECT n, quote_ident(n) FROM unnest($1::text[]) n",
            &[&names],
        )
        .await
        .expect("quote_ident");
    let mut wrong = Vec::new();
    for r in rows {
        let (name, theirs): (String, String) = (r.get(0), r.get(1));
        if quote_ident(&name) != theirs {
            wrong.push(format!(
                "{name}: ours {} theirs {theirs}",
                quote_ident(&name)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} differ:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
