"""Ledger integration fixtures: settings on the real test database/broker, keys, migrations once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest

from energychain_ledger.adapters.migrations import upgrade_to_head
from energychain_ledger.bootstrap import open_ledger
from energychain_ledger.settings import LedgerSettings
from energychain_shared import keys as key_files


@pytest.fixture(scope="session")
def ledger_settings(infrastructure, tmp_path_factory) -> LedgerSettings:
    """Ledger settings on the test database and this session's topics, with fresh keys; schema migrated once."""
    keys_dir = tmp_path_factory.mktemp("ledger-keys")
    for name in (key_files.TOKEN_KEY, *key_files.SERVICE_KEYS):
        key_files.ensure_key_pair(keys_dir, name)
    settings = LedgerSettings(**{
        **infrastructure.model_dump(), "keys_dir": keys_dir,
        "ledger_poll_timeout_ms": 100, "ledger_batch_max": 500,
    })
    upgrade_to_head(settings)
    return settings


@pytest.fixture
async def ledger(ledger_settings):
    """An open ledger (pool, registry channels, keys) for one test."""
    opened = await open_ledger(ledger_settings, writer=True)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def unique() -> str:
    """A suffix that isolates one test's channels and entry ids from every other run."""
    return uuid.uuid4().hex[:10]


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout: float = 30.0) -> None:
    """Wait until ``check`` passes (the consumer runs concurrently)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


@pytest.fixture
def wait_until():
    """The ``eventually`` helper as a fixture (test modules cannot import conftest)."""
    return eventually
