"""Streaming readers of meter export files: one open file and one pending row per house."""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from energychain_meter_ingest.domain.readings import (
    MeterFileParser,
    NotAMeterExport,
    Reading,
    Rejection,
    ValidationPolicy,
    check_header,
    out_of_contract_rejection,
    unknown_house_rejection,
)

SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class HouseSource:
    """Which export file holds which house's readings."""

    house_id: str
    path: Path

    @property
    def source_file(self) -> str:
        """The name dead letters and readings cite (the file name, stable across machines)."""
        return self.path.name


def inspect_export(path: Path) -> None:
    """Refuse a file that is not a meter export (missing, empty, binary, wrong header) before anything is read."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as error:
        raise NotAMeterExport(f"cannot read: {error.strerror or error}") from None
    if not head.strip():
        raise NotAMeterExport("file is empty")
    if b"\x00" in head:
        raise NotAMeterExport("file is binary (contains NUL bytes)")
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as error:
        raise NotAMeterExport(f"file is not UTF-8 text ({error.reason} at byte {error.start})") from None
    first_line = text.splitlines()[0] if text.splitlines() else ""
    check_header(next(csv.reader([first_line]), []))


def parse_mapping(pairs: list[str]) -> list[HouseSource]:
    """``house-01=path.csv`` pairs into sources (each house at most once)."""
    sources = []
    for pair in pairs:
        house_id, sep, path = pair.partition("=")
        if not sep or not house_id.strip() or not path.strip():
            raise ValueError(f"--house must look like house-01=path/to/export.csv, got {pair!r}")
        sources.append(HouseSource(house_id.strip(), Path(path.strip())))
    _check_unique(sources)
    return sources


def load_manifest(path: Path) -> list[HouseSource]:
    """A manifest JSON ``{"houses": {"house-01": "house-01.csv", ...}}``; paths relative to the manifest."""
    try:
        data = json.loads(Path(path).read_text())
        houses = data["houses"]
        if not isinstance(houses, dict):
            raise TypeError("'houses' must be an object of house_id -> file")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"manifest {path}: {error}") from None
    base = Path(path).parent
    sources = [HouseSource(house_id, (base / file).resolve()) for house_id, file in houses.items()]
    _check_unique(sources)
    return sources


def _check_unique(sources: list[HouseSource]) -> None:
    seen: set[str] = set()
    for source in sources:
        if source.house_id in seen:
            raise ValueError(f"house {source.house_id!r} is mapped to more than one file")
        seen.add(source.house_id)


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    # Undecodable bytes after the sniffed head become replacement characters: such rows fail
    # validation and are dead-lettered instead of aborting the whole file.
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        next(reader, None)  # the header, checked by inspect_export
        for fields in reader:
            if fields:
                yield reader.line_num, fields


def row_fields(text: str) -> list[str]:
    """One CSV line split into fields as the replay's reader splits the lines of an export."""
    return next(csv.reader([text]), [])


def rows_before(source: HouseSource, line: int, *, corrections: Mapping[int, str]) -> Iterator[tuple[int, list[str]]]:
    """The export's rows before ``line`` as the replay reads them, each row already re-driven replaced by its correction."""
    for number, fields in _rows(source.path):
        if number >= line:
            return
        corrected = corrections.get(number)
        yield number, fields if corrected is None else row_fields(corrected)


def house_readings(
    source: HouseSource,
    *,
    zone: ZoneInfo | None,
    policy: ValidationPolicy,
    on_rejection: Callable[[Rejection], None],
    resume_after: int | None = None,
    on_duplicate: Callable[[], None] | None = None,
    contract_end: int | None = None,
) -> Iterator[Reading]:
    """Readings of one export in file order; rejections go to ``on_rejection``.

    ``zone`` None means the house is unknown: every row is rejected as unknown_house. A reading
    at or after ``contract_end`` (epoch s: the house's contract ended) is rejected as out_of_contract.
    Readings at or before ``resume_after`` (epoch s) were published by an earlier run and are skipped,
    as are rejections met before the first reading after it.
    """
    if zone is None:
        for line, fields in _rows(source.path):
            if resume_after is None:
                on_rejection(
                    unknown_house_rejection(
                        house_id=source.house_id, source_file=source.source_file, line=line, fields=fields
                    )
                )
        return
    parser = MeterFileParser(house_id=source.house_id, zone=zone, policy=policy, source_file=source.source_file)
    resumed = resume_after is None
    feed = parser.feed
    for line, fields in _rows(source.path):
        outcome = feed(line, fields)
        if outcome is None:
            if on_duplicate is not None:
                on_duplicate()
            continue
        if outcome.__class__ is Reading:
            if not resumed:
                if outcome.hour <= resume_after:
                    continue
                resumed = True
            if contract_end is not None and outcome.hour >= contract_end:
                on_rejection(out_of_contract_rejection(reading=outcome, fields=fields, ended=contract_end))
                continue
            yield outcome
        elif resumed or (outcome.hour is not None and outcome.hour > resume_after):
            on_rejection(outcome)
