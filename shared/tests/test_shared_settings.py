"""A bad setting stops a process at start with one clear line naming the variable."""

import os
import subprocess
import sys

import pytest

from energychain_shared.registry import load_registry
from energychain_shared.settings import REPO_ROOT, CommonSettings

pytestmark = pytest.mark.unit


def run_topics_command(**env_overrides) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_overrides}
    return subprocess.run(
        [sys.executable, "-c", "from energychain_shared.kafka import create_topics_main; create_topics_main()"],
        env=env, capture_output=True, text=True, timeout=60,
    )


def test_bad_setting_value_exits_with_one_line_naming_the_variable():
    result = run_topics_command(EC_PG_PORT="not-a-port")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("energychain: bad setting EC_PG_PORT:"), result.stderr


def test_unreachable_broker_exits_with_one_line_naming_the_setting():
    result = run_topics_command(EC_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", EC_KAFKA_CLIENT_TIMEOUT_S="2")
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "EC_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1: broker unreachable" in lines[0], result.stderr


def test_missing_signing_key_exits_with_one_line_naming_the_file_before_touching_the_broker(tmp_path):
    code = ("from energychain_shared.runtime import preflight; from energychain_shared.settings import CommonSettings;"
            "preflight(CommonSettings(), keys=('ledger',))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "EC_KEYS_DIR": str(tmp_path), "EC_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert lines == [f"energychain: missing signing key {tmp_path / 'ledger.key'}: run `energychain-keys init`"], result.stderr


def test_database_url_escapes_credentials():
    settings = CommonSettings(pg_user="ec", pg_password="p@ss/word", pg_port=5999)
    assert settings.database_url == "postgresql+asyncpg://ec:p%40ss%2Fword@127.0.0.1:5999/energychain"


def test_topic_names_carry_the_installation_prefix():
    from energychain_shared.topics import METER_READINGS

    assert CommonSettings(topic_prefix="site-a.").topic(METER_READINGS) == "site-a.meter.readings"


def test_the_shipped_registry_is_valid_and_names_the_demo_houses():
    registry = load_registry(REPO_ROOT / "data" / "registry.json")
    assert {r.username for r in registry.residents} >= {"luis", "chauncy", "angel"}
    assert registry.municipality_of("house-01").municipality_id == "parlier"
