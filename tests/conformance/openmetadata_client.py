"""Drives pgmeta-catalog with OpenMetadata's official Python client (openmetadata-ingestion)
and asserts what it reads back; the client parses every answer into its strict pydantic
models (extra="forbid"), so a response that is not schema-exact fails here.

    python openmetadata_client.py drive HOST_PORT TOKEN
    python openmetadata_client.py validate BODIES.jsonl

`validate` checks request bodies pgmeta-apply sends against the client's generated request
models: one JSON object per line, {"model": "<CreateTableRequest|...>", "body": {...}}.
Prints one line per check and a summary; exits non-zero on the first failure.
"""

import json
import sys
import warnings

warnings.filterwarnings("ignore")

from metadata.generated.schema.api.data.createDatabase import CreateDatabaseRequest
from metadata.generated.schema.api.data.createDatabaseSchema import (
    CreateDatabaseSchemaRequest,
)
from metadata.generated.schema.api.data.createQuery import CreateQueryRequest
from metadata.generated.schema.api.data.createStoredProcedure import (
    CreateStoredProcedureRequest,
)
from metadata.generated.schema.api.data.createTable import CreateTableRequest
from metadata.generated.schema.api.lineage.addLineage import AddLineageRequest
from metadata.generated.schema.api.services.createDatabaseService import (
    CreateDatabaseServiceRequest,
)
from metadata.generated.schema.api.teams.createUser import CreateUserRequest

CHECKS = 0


def check(name, ok, detail=""):
    global CHECKS
    if not ok:
        print(f"FAIL {name} {detail}")
        sys.exit(1)
    CHECKS += 1
    print(f"ok   {name}")


def drive(host_port, token):
    from metadata.generated.schema.entity.data.database import Database
    from metadata.generated.schema.entity.data.databaseSchema import DatabaseSchema
    from metadata.generated.schema.entity.data.storedProcedure import (
        Language,
        StoredProcedure,
        StoredProcedureCode,
    )
    from metadata.generated.schema.entity.data.table import (
        Column,
        Constraint,
        ConstraintType,
        DataType,
        Table,
        TableConstraint,
        TableType,
    )
    from metadata.generated.schema.entity.services.connections.metadata.openMetadataConnection import (
        AuthProvider,
        OpenMetadataConnection,
    )
    from metadata.generated.schema.entity.services.databaseService import (
        DatabaseService,
        DatabaseServiceType,
    )
    from metadata.generated.schema.entity.teams.user import User
    from metadata.generated.schema.security.client.openMetadataJWTClientConfig import (
        OpenMetadataJWTClientConfig,
    )
    from metadata.generated.schema.type.entityLineage import (
        ColumnLineage,
        EntitiesEdge,
        LineageDetails,
    )
    from metadata.generated.schema.type.entityLineage import Source as LineageSource
    from metadata.generated.schema.type.entityReference import EntityReference
    from metadata.generated.schema.type.usageRequest import UsageRequest
    from metadata.ingestion.ometa.ometa_api import OpenMetadata

    om = OpenMetadata(
        OpenMetadataConnection(
            hostPort=host_port,
            authProvider=AuthProvider.openmetadata,
            securityConfig=OpenMetadataJWTClientConfig(jwtToken=token),
            enableVersionValidation=False,
        )
    )
    check("health_check (GET /system/version)", om.health_check())

    svc = om.create_or_update(
        CreateDatabaseServiceRequest(name="conf", serviceType=DatabaseServiceType.Postgres)
    )
    check("create_or_update service", svc.fullyQualifiedName.root == "conf")
    db = om.create_or_update(CreateDatabaseRequest(name="shop", service="conf"))
    check("create_or_update database", db.service.fullyQualifiedName == "conf")
    schema = om.create_or_update(
        CreateDatabaseSchemaRequest(name="sales.eu", database="conf.shop")
    )
    check(
        "schema FQN quotes a dotted name",
        schema.fullyQualifiedName.root == 'conf.shop."sales.eu"',
        schema.fullyQualifiedName.root,
    )
    check("schema refers to its service", schema.service.name == "conf")

    user = om.create_or_update(CreateUserRequest(name="alice", email="alice@example.com"))
    columns = [
        Column(name="id", dataType=DataType.INT, constraint=Constraint.NOT_NULL),
        Column(
            name="customer",
            dataType=DataType.VARCHAR,
            dataLength=50,
            dataTypeDisplay="character varying(50)",
            description="who ordered",
        ),
    ]
    create_orders = CreateTableRequest(
        name="orders",
        databaseSchema=schema.fullyQualifiedName.root,
        columns=columns,
        tableConstraints=[
            TableConstraint(constraintType=ConstraintType.PRIMARY_KEY, columns=["id"])
        ],
        tableType=TableType.Regular,
        owners=[EntityReference(id=user.id, type="user")],
    )
    orders = om.create_or_update(create_orders)
    check("table created at version 0.1", orders.version.root == 0.1, orders.version)
    check(
        "column FQN",
        orders.columns[1].fullyQualifiedName.root == 'conf.shop."sales.eu".orders.customer',
    )
    again = om.create_or_update(create_orders)
    check("a PUT that changes nothing keeps the version", again.version.root == 0.1)
    wider = create_orders.model_copy(
        update={"columns": columns + [Column(name="total", dataType=DataType.NUMERIC, precision=10, scale=2)]}
    )
    v2 = om.create_or_update(wider)
    check("an added column is version 0.2", v2.version.root == 0.2, v2.version)
    added = [f.name.root for f in v2.changeDescription.fieldsAdded]
    check("changeDescription names the added columns", "columns" in added, added)
    narrower = create_orders.model_copy(update={"columns": columns[:1]})
    v3 = om.create_or_update(narrower)
    check("a dropped column is a major version", v3.version.root == 1.2, v3.version)

    got = om.get_by_name(
        entity=Table,
        fqn='conf.shop."sales.eu".orders',
        fields=["tableConstraints", "owners"],
    )
    check("get_by_name with fields", got is not None and got.id == orders.id)
    check("constraints read back", got.tableConstraints[0].constraintType == ConstraintType.PRIMARY_KEY)
    check("owners read back", got.owners.root[0].name == "alice")
    check("get_by_name of a missing table is None", om.get_by_name(entity=Table, fqn="conf.shop.x.nope") is None)
    check("get_by_id", om.get_by_id(entity=Table, entity_id=orders.id).name.root == "orders")

    view = om.create_or_update(
        CreateTableRequest(
            name="daily",
            databaseSchema=schema.fullyQualifiedName.root,
            columns=[Column(name="n", dataType=DataType.BIGINT)],
            tableType=TableType.View,
            schemaDefinition="SELECT count(id) AS n FROM orders",
        )
    )
    proc = om.create_or_update(
        CreateStoredProcedureRequest(
            name="refresh(integer)",
            databaseSchema=schema.fullyQualifiedName.root,
            storedProcedureCode=StoredProcedureCode(language=Language.SQL, code="BEGIN END"),
        )
    )
    check("stored procedure", proc.storedProcedureCode.code == "BEGIN END")
    check(
        "get_by_name stored procedure",
        om.get_by_name(entity=StoredProcedure, fqn='conf.shop."sales.eu".refresh(integer)') is not None,
    )

    lineage = om.add_lineage(
        AddLineageRequest(
            edge=EntitiesEdge(
                fromEntity=EntityReference(id=orders.id, type="table"),
                toEntity=EntityReference(id=view.id, type="table"),
                lineageDetails=LineageDetails(
                    sqlQuery="SELECT count(id) AS n FROM orders",
                    columnsLineage=[
                        ColumnLineage(
                            fromColumns=['conf.shop."sales.eu".orders.id'],
                            toColumn='conf.shop."sales.eu".daily.n',
                        )
                    ],
                    source=LineageSource.ViewLineage,
                    pipeline=EntityReference(id=proc.id, type="storedProcedure"),
                ),
            )
        )
    )
    check("add_lineage returns the origin's lineage", "error" not in lineage, lineage)
    check(
        "the origin's downstream edge",
        any(e["toEntity"] == str(view.id.root) for e in lineage["downstreamEdges"]),
        lineage,
    )
    up = om.get_lineage_by_name(entity=Table, fqn=view.fullyQualifiedName.root, up_depth=1, down_depth=1)
    edge = up["upstreamEdges"][0]
    check("upstream edge", edge["fromEntity"] == str(orders.id.root))
    check(
        "column lineage read back",
        edge["lineageDetails"]["columnsLineage"][0]["toColumn"] == 'conf.shop."sales.eu".daily.n',
    )
    check("nodes", {n["name"] for n in up["nodes"]} == {"orders"}, up["nodes"])
    edge = om.get_lineage_edge(str(orders.id.root), str(view.id.root))
    check("get_lineage_edge", edge is not None and edge["edge"]["source"] == "ViewLineage", edge)
    # The same edge again with another query: the client PATCHes the existing edge.
    om.add_lineage(
        AddLineageRequest(
            edge=EntitiesEdge(
                fromEntity=EntityReference(id=orders.id, type="table"),
                toEntity=EntityReference(id=view.id, type="table"),
                lineageDetails=LineageDetails(
                    sqlQuery="SELECT count(*) AS n FROM orders",
                    source=LineageSource.ViewLineage,
                ),
            )
        ),
        check_patch=True,
    )
    # Read past the client's own edge cache.
    edge = om.client.get(f"/lineage/getLineageEdge/{orders.id.root}/{view.id.root}")
    check(
        "add_lineage of an existing edge patches it",
        edge is not None and edge["edge"].get("sqlQuery") == "SELECT count(*) AS n FROM orders",
        edge,
    )
    check(
        "the patch keeps the column lineage",
        edge is not None and len(edge["edge"].get("columnsLineage") or []) == 1,
        edge,
    )

    om.publish_table_usage(orders, UsageRequest(date="2026-11-27", count=5))
    om.publish_table_usage(orders, UsageRequest(date="2026-11-27", count=2))
    with_usage = om.get_by_name(entity=Table, fqn=orders.fullyQualifiedName.root, fields=["usageSummary"])
    check(
        "publish_table_usage adds to the day",
        with_usage.usageSummary.dailyStats.count == 7,
        with_usage.usageSummary,
    )

    query = om.create_or_update(
        CreateQueryRequest(
            query="SELECT * FROM orders",
            service="conf",
            queryUsedIn=[EntityReference(id=orders.id, type="table")],
        )
    )
    check("query", query.checksum is not None and query.service.name == "conf")

    tables = om.list_entities(entity=Table, params={"databaseSchema": schema.fullyQualifiedName.root})
    check("list_entities", sorted(t.name.root for t in tables.entities) == ["daily", "orders"])
    paged = list(om.list_all_entities(entity=Table, limit=1))
    check("list_all_entities pages with the after cursor", len(paged) == 2, len(paged))
    history = om.list_versions(entity_id=orders.id, entity=Table)
    check("list_versions", len(history.versions) == 3, len(history.versions))

    om.delete(entity=Table, entity_id=view.id)
    check("soft delete hides the table", om.get_by_name(entity=Table, fqn=view.fullyQualifiedName.root) is None)
    om.delete(entity=DatabaseService, entity_id=svc.id, recursive=True, hard_delete=True)
    check("recursive hard delete", om.get_by_name(entity=Database, fqn="conf.shop") is None)
    check(
        "children gone too",
        om.get_by_name(entity=DatabaseSchema, fqn=schema.fullyQualifiedName.root) is None,
    )
    check("user untouched", om.get_by_name(entity=User, fqn="alice") is not None)


MODELS = {
    "CreateDatabaseServiceRequest": CreateDatabaseServiceRequest,
    "CreateDatabaseRequest": CreateDatabaseRequest,
    "CreateDatabaseSchemaRequest": CreateDatabaseSchemaRequest,
    "CreateTableRequest": CreateTableRequest,
    "CreateStoredProcedureRequest": CreateStoredProcedureRequest,
    "CreateQueryRequest": CreateQueryRequest,
    "AddLineageRequest": AddLineageRequest,
}


def validate(path):
    seen = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            item = json.loads(line)
            model = MODELS[item["model"]]
            try:
                model.model_validate_json(json.dumps(item["body"]))
            except Exception as e:  # noqa: BLE001 - report which body and why
                print(f"FAIL line {n}: {item['model']}: {e}")
                sys.exit(1)
            seen[item["model"]] = seen.get(item["model"], 0) + 1
    for model, count in sorted(seen.items()):
        check(f"{count} {model} bodies validate", True)


if __name__ == "__main__":
    if sys.argv[1] == "drive":
        drive(sys.argv[2], sys.argv[3])
    else:
        validate(sys.argv[2])
    print(f"conformance: {CHECKS} checks passed")
