//! The entity collections pgmeta-catalog serves, with OpenMetadata's names and parent chains.

/// One collection of the REST API (`/api/v1/<collection>`).
#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    /// Path segment, e.g. `tables`.
    pub collection: &'static str,
    /// Entity type as OpenMetadata spells it in references, e.g. `table`.
    pub entity_type: &'static str,
    /// The create request's field naming the parent by FQN, and the parent's kind.
    pub parent: Option<(&'static str, &'static Kind)>,
    /// Create-request fields besides `name` that must be present.
    pub required: &'static [&'static str],
    /// Create-request fields copied into the entity as they are.
    pub copied: &'static [&'static str],
    /// Entity fields returned only when `fields=` asks for them.
    pub optional: &'static [&'static str],
    /// Create-request fields accepted and not kept (their entity form is a reference this
    /// server does not model, or they do not persist).
    pub ignored: &'static [&'static str],
    /// Entity fields no create request carries, set by PATCH (the lineage workflow marks a
    /// view or query it has read with `processedLineage`).
    pub patched: &'static [&'static str],
}

pub static SERVICE: Kind = Kind {
    collection: "services/databaseServices",
    entity_type: "databaseService",
    parent: None,
    required: &["serviceType"],
    copied: &[
        "displayName",
        "description",
        "tags",
        "serviceType",
        "connection",
        "extension",
        "domains",
        "dataProducts",
        "ingestionRunner",
    ],
    optional: &["owners", "tags", "followers", "domains", "dataProducts"],
    ignored: &[],
    patched: &[],
};

pub static DATABASE: Kind = Kind {
    collection: "databases",
    entity_type: "database",
    parent: Some(("service", &SERVICE)),
    required: &[],
    copied: &[
        "displayName",
        "description",
        "tags",
        "extension",
        "domains",
        "dataProducts",
        "lifeCycle",
        "sourceHash",
        "default",
        "retentionPeriod",
        "sourceUrl",
    ],
    optional: &[
        "owners",
        "tags",
        "followers",
        "domains",
        "dataProducts",
        "usageSummary",
    ],
    ignored: &[],
    patched: &[],
};

pub static SCHEMA: Kind = Kind {
    collection: "databaseSchemas",
    entity_type: "databaseSchema",
    parent: Some(("database", &DATABASE)),
    required: &[],
    copied: &[
        "displayName",
        "description",
        "tags",
        "extension",
        "domains",
        "dataProducts",
        "lifeCycle",
        "sourceHash",
        "retentionPeriod",
        "sourceUrl",
    ],
    optional: &[
        "owners",
        "tags",
        "followers",
        "domains",
        "dataProducts",
        "usageSummary",
    ],
    ignored: &[],
    patched: &[],
};

pub static TABLE: Kind = Kind {
    collection: "tables",
    entity_type: "table",
    parent: Some(("databaseSchema", &SCHEMA)),
    required: &["columns"],
    copied: &[
        "displayName",
        "description",
        "tags",
        "extension",
        "domains",
        "dataProducts",
        "lifeCycle",
        "sourceHash",
        "dataModel",
        "tableType",
        "columns",
        "tableConstraints",
        "tablePartition",
        "tableProfilerConfig",
        "schemaDefinition",
        "retentionPeriod",
        "sourceUrl",
        "fileFormat",
        "locationPath",
    ],
    optional: &[
        "owners",
        "tags",
        "followers",
        "tableConstraints",
        "usageSummary",
        "joins",
        "extension",
        "domains",
        "dataProducts",
    ],
    ignored: &[],
    patched: &["processedLineage"],
};

pub static STORED_PROCEDURE: Kind = Kind {
    collection: "storedProcedures",
    entity_type: "storedProcedure",
    parent: Some(("databaseSchema", &SCHEMA)),
    required: &["storedProcedureCode"],
    copied: &[
        "displayName",
        "description",
        "tags",
        "extension",
        "domains",
        "dataProducts",
        "lifeCycle",
        "sourceHash",
        "storedProcedureCode",
        "storedProcedureType",
        "sourceUrl",
    ],
    optional: &[
        "owners",
        "tags",
        "followers",
        "extension",
        "domains",
        "dataProducts",
    ],
    ignored: &[],
    patched: &[],
};

pub static USER: Kind = Kind {
    collection: "users",
    entity_type: "user",
    parent: None,
    required: &["email"],
    copied: &[
        "displayName",
        "description",
        "email",
        "timezone",
        "isBot",
        "isAdmin",
        "profile",
    ],
    optional: &["teams", "roles", "owns", "follows"],
    ignored: &[
        "password",
        "confirmPassword",
        "createPasswordType",
        "botName",
        "teams",
        "roles",
        "personas",
        "defaultPersona",
        "authenticationMechanism",
        "externalId",
        "scimUserName",
        "domains",
    ],
    patched: &[],
};

/// Queries have no parent in their FQN (the name is a checksum of the text); their service is a
/// reference all the same.
pub static QUERY: Kind = Kind {
    collection: "queries",
    entity_type: "query",
    parent: None,
    required: &["query", "service"],
    copied: &[
        "displayName",
        "description",
        "tags",
        "query",
        "query_type",
        "exclude_usage",
        "duration",
        "usedBy",
        "queryDate",
        "triggeredBy",
        "processedLineage",
        "domains",
        "queryUsedIn",
    ],
    optional: &["owners", "tags", "followers", "users", "votes"],
    ignored: &["users", "dialect"],
    patched: &[],
};

pub static ALL: [&Kind; 7] = [
    &SERVICE,
    &DATABASE,
    &SCHEMA,
    &TABLE,
    &STORED_PROCEDURE,
    &USER,
    &QUERY,
];

pub fn by_collection(collection: &str) -> Option<&'static Kind> {
    ALL.iter().copied().find(|k| k.collection == collection)
}

pub fn by_entity_type(entity_type: &str) -> Option<&'static Kind> {
    ALL.iter().copied().find(|k| k.entity_type == entity_type)
}

impl Kind {
    /// The chain of ancestors, nearest first (a table: schema, database, service).
    pub fn ancestors(&'static self) -> Vec<(&'static str, &'static Kind)> {
        let mut out = Vec::new();
        let mut cur = self;
        while let Some((field, parent)) = cur.parent {
            out.push((field, parent));
            cur = parent;
        }
        out
    }

    /// The field name under which an entity refers to the ancestor of kind `k`
    /// (`service` for the service, else the parent field name).
    pub fn reference_field(k: &Kind) -> &'static str {
        match k.entity_type {
            "databaseService" => "service",
            other => other_field(other),
        }
    }
}

fn other_field(entity_type: &str) -> &'static str {
    match entity_type {
        "database" => "database",
        "databaseSchema" => "databaseSchema",
        _ => "parent",
    }
}
