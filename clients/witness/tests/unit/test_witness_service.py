"""Settings, the command line (init, vkey, status) and the API (/healthz, /metrics, /status)."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest
from typer.testing import CliRunner

from energychain_shared.tlog import note

from energychain_witness.api import create_app
from energychain_witness.cli import app
from energychain_witness.settings import WitnessSettings

pytestmark = pytest.mark.unit


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("EC_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("EC_WITNESS_NAME", "witness-parlier")
    monkeypatch.delenv("EC_WITNESS_DIR", raising=False)
    monkeypatch.delenv("EC_WITNESS_LEDGER_VKEY", raising=False)
    return tmp_path / "run"


def test_settings_default_to_a_dir_of_the_witness_own_under_the_run_dir(env):
    settings = WitnessSettings()
    assert settings.resolved_witness_dir == env / "witness" / "witness-parlier"
    assert settings.store_path == env / "witness" / "witness-parlier" / "state.sqlite"
    assert (settings.witness_ledger_url, settings.witness_port, settings.witness_interval_s,
            settings.witness_audit_entries) == ("http://127.0.0.1:8102", 8110, 1.0, 500)
    with pytest.raises(FileNotFoundError, match="EC_WITNESS_LEDGER_VKEY"):
        settings.ledger_vkey()
    (env / "keys").mkdir(parents=True)
    (env / "keys" / "ledger.vkey").write_text("energychain.local/ledger+abcd0123+AQ==\n")
    assert settings.ledger_vkey() == "energychain.local/ledger+abcd0123+AQ=="
    pinned = settings.model_copy(update={"witness_ledger_vkey": "pinned+00000000+AQ=="})
    assert pinned.ledger_vkey() == "pinned+00000000+AQ=="


def test_init_creates_the_key_once_and_prints_the_cosignature_verifier_key(env):
    runner = CliRunner()
    first = runner.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    vkey = first.stdout.strip().splitlines()[-1]
    name, _, public_key = note.parse_verifier_key(vkey)
    assert name == "witness-parlier"
    assert vkey == note.verifier_key(name, public_key, key_type=note.COSIGNATURE_V1)
    directory = env / "witness" / "witness-parlier"
    assert (directory / "witness.vkey").read_text().strip() == vkey
    assert (directory / "witness.key").stat().st_mode & 0o077 == 0
    again = runner.invoke(app, ["init"])
    assert again.stdout.strip().splitlines()[-1] == vkey
    assert runner.invoke(app, ["vkey"]).stdout.strip() == vkey


def test_commands_without_a_key_or_a_login_stop_with_one_line(env):
    runner = CliRunner()
    result = runner.invoke(app, ["vkey"])
    assert result.exit_code == 3 and "energychain-witness init" in result.output
    runner.invoke(app, ["init"])
    result = runner.invoke(app, ["round"])
    assert result.exit_code == 3 and "EC_WITNESS_LEDGER_VKEY" in result.output


async def test_the_api_serves_health_metrics_and_status(ledger, open_witness):
    witness = open_witness()
    ledger.channel("resident:h1")
    ledger.append(["resident:h1"])
    await witness.round()
    ledger.serve_checkpoint = lambda answer: {**answer, "note": ledger.sign(answer["size"], secrets.token_bytes(32))}
    assert (await witness.round()).reason == "fork"
    transport = httpx.ASGITransport(app=create_app(witness))
    async with httpx.AsyncClient(transport=transport, base_url="http://witness") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        metrics = (await client.get("/metrics")).text
        assert "witness_rounds_total" in metrics and "witness_cosigned_size 1.0" in metrics
        assert 'witness_refusals_total{reason="fork"}' in metrics
        status = (await client.get("/status")).json()
    assert status["name"] == ledger.witness_name and status["vkey"] == witness.vkey
    assert status["mode"] == "member"
    assert status["cosigned"]["size"] == 1 and status["cosigned"]["submitted"] is True
    assert [c["channel"] for c in status["watched_channels"]] == ["resident:h1"]
    assert status["refusals"][0]["reason"] == "fork"
    assert status["last_round"]["status"] == "refused"
    json.dumps(status)


def test_the_password_comes_from_a_users_file_when_it_is_not_set(env, tmp_path):
    users = tmp_path / "users.json"
    users.write_text('{"users": [{"username": "witness-parlier", "password": "from-the-file"}]}')
    settings = WitnessSettings(witness_username="witness-parlier", witness_users_file=users)
    assert settings.login_password() == "from-the-file"
    assert WitnessSettings(witness_username="witness-parlier", witness_users_file=users,
                           witness_password="set").login_password() == "set"
    with pytest.raises(ValueError, match="no user 'nobody'"):
        WitnessSettings(witness_username="nobody", witness_users_file=users).login_password()
