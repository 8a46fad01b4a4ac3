"""Ops API (GSA only): replay status and control, dead letters (listing, re-drive), health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Annotated

from energychain_shared import keys
from energychain_shared.auth import Principal, Revocations, Role, require_role
from energychain_shared.kafka import check_kafka
from energychain_shared.observability import install_health
from energychain_shared.problems import install_problem_details
from energychain_shared.revocation_feed import follow_revocations
from fastapi import Depends, FastAPI, HTTPException, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from energychain_meter_ingest.adapters.csv_source import HouseSource
from energychain_meter_ingest.adapters.dead_letters import DeadLetterFollower
from energychain_meter_ingest.bootstrap import build_redriver, build_replay, open_publisher
from energychain_meter_ingest.dead_letter_api import dead_letter_router
from energychain_meter_ingest.domain.clock import parse_speed
from energychain_meter_ingest.domain.dead_letters import DeadLetterBook
from energychain_meter_ingest.replay import RefusedExport, Replay, ReplayState
from energychain_meter_ingest.settings import MeterIngestSettings

log = logging.getLogger(__name__)
GsaOnly = Annotated[Principal, Depends(require_role(Role.GSA))]


class StartReplay(BaseModel):
    """POST /replay/start body."""

    model_config = ConfigDict(extra="forbid")

    from_time: AwareDatetime | None = Field(default=None, description="Simulated start; default: checkpoint or first reading.")
    speed: str | None = Field(default=None, description="Simulated s per wall s; 0 or 'max' = as fast as possible.")
    until: AwareDatetime | None = Field(
        default=None, description="Simulated end (exclusive): the replay finishes there; a later start continues."
    )
    reset: bool = Field(default=False, description="Forget the checkpoint and start from the beginning.")

    @field_validator("speed")
    @classmethod
    def _speed(cls, value: str | None) -> str | None:
        if value is not None:
            parse_speed(value)
        return value


class ChangeSpeed(BaseModel):
    """POST /replay/speed body."""

    model_config = ConfigDict(extra="forbid")

    speed: str

    @field_validator("speed")
    @classmethod
    def _speed(cls, value: str) -> str:
        parse_speed(value)
        return value


class ReplayController:
    """Runs at most one replay task in the API process."""

    def __init__(self, settings: MeterIngestSettings, sources: list[HouseSource]) -> None:
        self.settings = settings
        self.replay: Replay = build_replay(settings, sources)
        self.task: asyncio.Task | None = None

    @property
    def running(self) -> bool:
        """True while a replay task is alive."""
        return self.task is not None and not self.task.done()

    def start(self, request: StartReplay) -> None:
        """Start the replay in the background (refused files fail here, before anything is published)."""
        if self.running:
            raise HTTPException(status.HTTP_409_CONFLICT, detail="replay already running: pause, resume or change speed")
        self.replay.check_sources()
        if request.reset:
            self.replay.checkpoints.clear()
        self.replay = build_replay(self.settings, self.replay.sources)
        speed = parse_speed(request.speed if request.speed is not None else self.settings.meter_ingest_speed)
        self.task = asyncio.create_task(self._run(speed, request.from_time, request.until))

    async def _run(self, speed, from_time: datetime | None, until: datetime | None) -> None:
        try:
            async with open_publisher(self.settings) as publisher:
                await self.replay.run(publisher, speed=speed, from_time=from_time, until=until)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("replay failed")

    async def shutdown(self) -> None:
        """Stop a running replay at the end of its hour (checkpointed)."""
        if self.running:
            self.replay.stop()
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=30)
            except TimeoutError:
                self.task.cancel()


def create_app(settings: MeterIngestSettings, sources: list[HouseSource], *, token_public_key=None) -> FastAPI:
    """The ops API around one replay controller."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.token_public_key = token_public_key or keys.load_public_key(settings.resolved_keys_dir, keys.TOKEN_KEY)
        app.state.controller = ReplayController(settings, sources)
        app.state.dead_letters = DeadLetterFollower(settings, DeadLetterBook())
        app.state.dead_letters.start()
        app.state.redriver = build_redriver(settings, sources, app.state.dead_letters)
        app.state.revocations = Revocations()
        following = asyncio.create_task(follow_revocations(app.state.revocations, settings))
        try:
            yield
        finally:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
            await app.state.controller.shutdown()
            await app.state.dead_letters.stop()

    app = FastAPI(title="EnergyChain meter ingest", version="0.1.0", lifespan=lifespan)

    async def kafka_ready() -> None:
        await check_kafka(settings)

    install_health(app, {"kafka": kafka_ready})
    install_problem_details(app)

    def controller() -> ReplayController:
        return app.state.controller

    @app.get("/replay/status", tags=["replay"])
    async def replay_status(_: GsaOnly) -> dict:
        """Simulated time, speed, state and counters (published, dead-lettered, flagged)."""
        return controller().replay.status()

    @app.post("/replay/start", tags=["replay"], status_code=202)
    async def start(_: GsaOnly, body: StartReplay | None = None) -> dict:
        """Start replaying from the checkpoint, or from ``from_time``, at ``speed``."""
        try:
            controller().start(body or StartReplay())
        except RefusedExport as error:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(error)) from None
        await asyncio.sleep(0)
        return controller().replay.status()

    @app.post("/replay/pause", tags=["replay"])
    async def pause(_: GsaOnly) -> dict:
        """Pause at the end of the current simulated hour."""
        replay = controller().replay
        if replay.state is not ReplayState.RUNNING:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=f"replay is {replay.state.value}, not running")
        replay.pause()
        return replay.status()

    @app.post("/replay/resume", tags=["replay"])
    async def resume(_: GsaOnly) -> dict:
        """Resume a paused replay."""
        replay = controller().replay
        if not controller().running:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=f"replay is {replay.state.value}: use start")
        replay.resume()
        return replay.status()

    @app.post("/replay/speed", tags=["replay"])
    async def speed(_: GsaOnly, body: ChangeSpeed) -> dict:
        """Change the speed (1 = real time, 3600 = an hour per second, 0 or 'max' = flat out)."""
        replay = controller().replay
        replay.set_speed(parse_speed(body.speed))
        return replay.status()

    app.include_router(dead_letter_router())
    return app
