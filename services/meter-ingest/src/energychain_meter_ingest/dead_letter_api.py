"""Dead-letter routes of the ops API (GSA only): the durable listing from the topics, and re-driving a corrected row."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from aiokafka.errors import KafkaError
from energychain_shared.auth import Principal, Role, require_role
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from energychain_meter_ingest.domain.dead_letters import (
    CorrectionRejected,
    DeadLetterQuery,
    InvalidQuery,
    Listed,
    RedriveRefused,
    Resolution,
    UnknownDeadLetter,
)
from energychain_meter_ingest.redrive import StillReading

GsaOnly = Annotated[Principal, Depends(require_role(Role.GSA))]
Kind = Literal["reading", "ledger_append"]
REASON_PATTERN = r"^[a-z0-9_]{1,64}$"
DeadLetterId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ResolutionOut(BaseModel):
    """How a reading dead letter was resolved."""

    reading_event_id: str = Field(description="the event id of the reading published for the corrected row")
    raw: str = Field(description="the corrected row")
    redriven_by: str
    resolved_at: datetime = Field(description="when the broker took the marker (MeterReadingRedriven)")

    @classmethod
    def of(cls, resolution: Resolution) -> ResolutionOut:
        return cls(reading_event_id=resolution.reading_event_id, raw=resolution.raw,
                   redriven_by=resolution.redriven_by, resolved_at=resolution.resolved_at)


class DeadLetterOut(BaseModel):
    """One dead letter: a meter row (``reading``) or a refused ledger append (``ledger_append``)."""

    id: str = Field(description="the dead letter's event id (stable: the same row dead-lettered again is the same)")
    kind: Kind
    reason: str
    detail: str
    occurred_at: datetime = Field(description="event time: the end of the row's hour, or the append's event time")
    dead_lettered_at: datetime = Field(description="when the broker took the dead letter")
    position: str = Field(description="topic:partition:offset")
    house_id: str | None = None
    source_file: str | None = Field(default=None, description="readings: the export file")
    source_line: int | None = Field(default=None, description="readings: the row's line in it")
    raw: str | None = Field(default=None, description="readings: the row as read")
    entry_id: str | None = Field(default=None, description="appends: the ledger entry refused")
    producer: str | None = Field(default=None, description="appends: the service that asked for it")
    request: dict[str, Any] | None = Field(default=None, description="appends: the request as the ledger read it")
    resolution: ResolutionOut | None = Field(default=None, description="null while not re-driven")

    @classmethod
    def of(cls, listed: Listed) -> DeadLetterOut:
        letter = listed.letter
        return cls(
            id=letter.id, kind=letter.kind, reason=letter.reason, detail=letter.detail,
            occurred_at=letter.occurred_at, dead_lettered_at=letter.dead_lettered_at, position=letter.position,
            house_id=letter.house_id, source_file=letter.source_file, source_line=letter.source_line,
            raw=letter.raw, entry_id=letter.entry_id, producer=letter.producer,
            request=None if letter.request is None else dict(letter.request),
            resolution=None if listed.resolution is None else ResolutionOut.of(listed.resolution),
        )


class ProcessCounts(BaseModel):
    """Rows the replay of this API process dead-lettered since it started."""

    total: int
    by_reason: dict[str, int]


class DeadLettersOut(BaseModel):
    """GET /dead-letters: the matching dead letters, newest event time first, and counts over all that match."""

    caught_up: bool = Field(description="false while the topics are not read to their end: the listing may be short")
    total: int = Field(description="dead letters matching the filters (the list holds at most `limit` of them)")
    unresolved: int
    by_reason: dict[str, int]
    dead_letters: list[DeadLetterOut]
    this_process: ProcessCounts


class RedriveRow(BaseModel):
    """POST /dead-letters/{id}/redrive body: the corrected CSV line (the export's eight columns)."""

    model_config = ConfigDict(extra="forbid")

    raw: str = Field(min_length=1, max_length=4096, examples=["2021-07-01T02:00:00,0,0,0,0.54,0,0.54,40"])

    @field_validator("raw")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n\x00"):
            raise ValueError("must be one line of text (no line break, no NUL)")
        return value


class RedriveOut(BaseModel):
    """The dead letter resolved and the reading published for its corrected row."""

    dead_letter_id: str
    reading_event_id: str
    house_id: str
    source_file: str
    source_line: int
    redriven_by: str
    resolved_at: datetime


def _refusal(status_code: int, field: str, message: str, rule: str | None = None) -> HTTPException:
    detail = {"field": field, "message": message}
    if rule is not None:
        detail["rule"] = rule
    return HTTPException(status_code, detail=detail)


def dead_letter_router() -> APIRouter:
    """GET /dead-letters and POST /dead-letters/{id}/redrive (the app's state holds the follower and the re-driver)."""
    router = APIRouter(tags=["dead letters"])

    @router.get("/dead-letters", response_model=DeadLettersOut)
    async def dead_letters(
        request: Request,
        _: GsaOnly,
        kind: Annotated[Kind | None, Query(description="reading or ledger_append")] = None,
        reason: Annotated[str | None, Query(pattern=REASON_PATTERN, description="a reason code")] = None,
        since: Annotated[AwareDatetime | None, Query(description="event time from (inclusive, with offset)")] = None,
        until: Annotated[AwareDatetime | None, Query(description="event time to (exclusive, with offset)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> DeadLettersOut:
        """Dead letters read off meter.readings.dlq and ledger.appends.dlq since the beginning, newest event
        time first, with counts by reason; whether each reading dead letter was re-driven."""
        try:
            query = DeadLetterQuery(kind=kind, reason=reason, since=since, until=until)
        except InvalidQuery as error:
            raise _refusal(status.HTTP_422_UNPROCESSABLE_CONTENT, error.field, error.message) from None
        follower = request.app.state.dead_letters
        behind = await follower.behind()
        selection = follower.book.select(query, limit=limit)
        counts = request.app.state.controller.replay.counters.dead_letters_by_reason
        return DeadLettersOut(
            caught_up=behind == 0, total=selection.total, unresolved=selection.unresolved,
            by_reason=selection.by_reason, dead_letters=[DeadLetterOut.of(listed) for listed in selection.listed],
            this_process=ProcessCounts(total=sum(counts.values()), by_reason=dict(sorted(counts.items()))),
        )

    @router.post(
        "/dead-letters/{dead_letter_id}/redrive", response_model=RedriveOut,
        responses={503: {"description": "the dead-letter topics are not read to their end yet, or the broker is away"}},
    )
    async def redrive(request: Request, principal: GsaOnly, dead_letter_id: DeadLetterId, body: RedriveRow) -> RedriveOut:
        """Publish a reading dead letter's corrected row as the reading the replay would have published for it
        (same event id), then mark the dead letter resolved. 404 unknown id; 409 not a reading, already
        re-driven (rule already_redriven), or its file unknown; 422 when the corrected row still fails."""
        try:
            resolution = await request.app.state.redriver.redrive(dead_letter_id, body.raw, operator=principal.subject)
        except UnknownDeadLetter as error:
            raise _refusal(status.HTTP_404_NOT_FOUND, error.field, error.message) from None
        except CorrectionRejected as error:
            raise _refusal(status.HTTP_422_UNPROCESSABLE_CONTENT, error.field, error.message, error.rule) from None
        except RedriveRefused as error:
            raise _refusal(status.HTTP_409_CONFLICT, error.field, error.message, error.rule) from None
        except StillReading as error:
            raise _refusal(status.HTTP_503_SERVICE_UNAVAILABLE, "dead_letter_id", str(error)) from None
        except (KafkaError, TimeoutError) as error:
            # Nothing is marked resolved unless it was sent: a retry publishes the same reading (same id) again.
            raise _refusal(status.HTTP_503_SERVICE_UNAVAILABLE, "dead_letter_id",
                           f"the broker did not take it ({type(error).__name__}): try again") from None
        return RedriveOut(
            dead_letter_id=resolution.dead_letter_id, reading_event_id=resolution.reading_event_id,
            house_id=resolution.house_id, source_file=resolution.source_file, source_line=resolution.source_line,
            redriven_by=resolution.redriven_by, resolved_at=resolution.resolved_at,
        )

    return router
