"""The whole system as processes (energychain_cli.sandbox), fed the three Parlier houses' hourly exports.

The real seed exports when they are beside the checkout; otherwise the project's own
generated demo exports of the same houses and dates (`energychain-meter-ingest generate-demo`),
so the system tests run on any machine (the fixture ``parlier_exports`` of energychain_shared.testing).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from energychain_cli.sandbox import Sandbox
from energychain_shared.settings import REPO_ROOT
from energychain_shared.testing import manifest_of
SCALE = {"EC_SCALE_BILLING_WORKER": "3", "EC_SCALE_LEDGER_CONSUMER": "2"}
ESCROW_CAP_CENTS = 100_800  # low, so a year of three houses sees treasury rollovers


@pytest.fixture(scope="session")
def system(infrastructure, parlier_exports, tmp_path_factory) -> Iterator[Sandbox]:
    """Every service running on a database, topic prefix and ports of its own; torn down after the session."""
    run_dir = tmp_path_factory.mktemp("system")
    manifest = manifest_of(parlier_exports, run_dir)
    registry = json.loads((REPO_ROOT / "data" / "registry.json").read_text())
    for municipality in registry["municipalities"]:
        municipality["escrow"]["cap_cents"] = ESCROW_CAP_CENTS
    (run_dir / "registry.json").write_text(json.dumps(registry))
    # Scaled out as in production: three billing workers and two ledger consumers share the partitions.
    sandbox = Sandbox.prepare(infrastructure, run_dir, manifest=manifest, registry=run_dir / "registry.json",
                              extra_env=SCALE)
    try:
        sandbox.services("start")
        sandbox.wait_ready()
        yield sandbox
    finally:
        sandbox.destroy()


@pytest.fixture(scope="session")
def escrow_cap_cents() -> int:
    """The escrow cap of the system's registry."""
    return ESCROW_CAP_CENTS


@pytest.fixture(scope="session")
def kit():
    """This module's helpers (test modules cannot import each other under importlib mode)."""
    import sys

    return sys.modules[__name__]
