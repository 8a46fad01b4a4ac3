"""Settings of the web server (EC_WEB_*), on top of the common ones."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from energychain_shared.settings import REPO_ROOT, CommonSettings


class WebSettings(CommonSettings):
    """Where the web server listens and where the built app is; services are reached at the common EC_*_URL."""

    web_host: str = "127.0.0.1"
    web_port: int = Field(default=8100, ge=1, le=65535)
    web_dist_dir: Path = Field(default=REPO_ROOT / "web" / "app" / "dist", description="The built single-page app.")
    web_proxy_timeout_s: float = Field(default=30.0, gt=0)

    def upstreams(self) -> dict[str, str]:
        """The services the browser may reach under /api/<name>/, by name (the common EC_*_URL settings)."""
        return {
            "meter-ingest": self.meter_ingest_url.rstrip("/"),
            "ledger": self.ledger_url.rstrip("/"),
            "billing": self.billing_url.rstrip("/"),
            "escrow": self.escrow_url.rstrip("/"),
            "market": self.market_url.rstrip("/"),
        }
