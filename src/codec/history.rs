//! Every released version of each event schema (`schemas/history/<name>/v<n>.avsc`, the last
//! one equal to the current `schemas/<name>.avsc`). A reader decodes records written with any
//! of them: it finds the writer schema by the record's fingerprint and resolves it to the
//! current one. Tests prove each step is a compatible evolution; changing a schema means
//! adding its new version here.

/// One released schema version.
#[derive(Debug, Clone, Copy)]
pub struct Released {
    pub name: &'static str,
    pub version: u32,
    pub text: &'static str,
}

macro_rules! released {
    ($name:literal, $version:literal) => {
        Released {
            name: $name,
            version: $version,
            text: include_str!(concat!(
                "../../schemas/history/",
                $name,
                "/v",
                $version,
                ".avsc"
            )),
        }
    };
}

/// Oldest first within each schema.
pub const RELEASED: &[Released] = &[
    released!("MetadataEvent", 1),
    released!("MetadataEvent", 2),
    released!("MetadataEvent", 3),
    released!("MetadataEvent", 4),
    released!("MetadataEvent", 5),
    released!("UsageEvent", 1),
    released!("UsageEvent", 2),
    released!("UsageEvent", 3),
    released!("LineageEvent", 1),
    released!("SchemaChangeEvent", 1),
];

/// The released versions of the schema `name`, oldest first.
pub fn versions(name: &str) -> impl Iterator<Item = &'static Released> + '_ {
    RELEASED.iter().filter(move |r| r.name == name)
}
