"""The Grafana board is held to the code: its provisioning is what compose mounts, and every
query it runs is valid SQL over the services' real schemas (migrated into a real PostgreSQL)."""

import json
import re
import uuid

import asyncpg
import pytest
import yaml

from energychain_shared.migrations import upgrade_async
from energychain_shared.settings import REPO_ROOT

GRAFANA = REPO_ROOT / "deploy" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "gsa.json").read_text())
COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
# The schemas the board reads, and the package whose migrations create each.
SCHEMAS = {"market": "energychain_market", "escrow": "energychain_escrow"}


def dashboard_queries() -> list[tuple[str, str]]:
    found = [(panel["title"], target["rawSql"])
             for panel in DASHBOARD["panels"] for target in panel.get("targets", []) if target.get("rawSql")]
    found += [(f"variable {v['name']}", v["query"]) for v in DASHBOARD.get("templating", {}).get("list", [])
              if v.get("type") == "query"]
    return found


@pytest.mark.unit
def test_compose_mounts_the_provisioning_and_dashboards_that_exist():
    grafana = COMPOSE["services"]["grafana"]
    mounts = {source: target.removesuffix(":ro") for source, target in (v.split(":", 1) for v in grafana["volumes"])}
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "energychain.yaml").read_text())
    assert provider["providers"][0]["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "energychain.yaml").read_text())
    variables = set(re.findall(r"\$\{(\w+)\}", json.dumps(datasource)))
    assert variables <= set(grafana["environment"]), variables - set(grafana["environment"])
    uid = datasource["datasources"][0]["uid"]
    assert {p["datasource"]["uid"] for p in DASHBOARD["panels"] if "datasource" in p} == {uid}


@pytest.mark.integration
async def test_every_dashboard_query_runs_on_the_migrated_schemas(infrastructure):
    assert dashboard_queries(), "the dashboard has no SQL queries"
    suffix = uuid.uuid4().hex[:8]
    connection = await asyncpg.connect(infrastructure.asyncpg_dsn)
    try:
        for schema, package in SCHEMAS.items():
            await upgrade_async(infrastructure, package=package, schema=f"{schema}_grafana_{suffix}")
        for title, sql in dashboard_queries():
            for schema in SCHEMAS:
                sql = re.sub(rf"\b{schema}\.", f"{schema}_grafana_{suffix}.", sql)
            sql = re.sub(r"\$__timeFilter\((\w+)\)",
                         r"\1 BETWEEN '2021-07-01T00:00:00Z' AND '2022-07-01T00:00:00Z'", sql)
            sql = sql.replace("$house", "'house-01'")
            assert "$" not in sql, f"{title}: a Grafana macro the test does not expand: {sql}"
            try:
                await connection.fetch(sql)
            except asyncpg.PostgresError as error:
                pytest.fail(f"panel {title!r}: {error}\n{sql}")
    finally:
        for schema in SCHEMAS:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}_grafana_{suffix}" CASCADE')
        await connection.close()
