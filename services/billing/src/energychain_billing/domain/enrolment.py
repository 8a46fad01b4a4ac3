"""Bulk enrolment: residents and their contracts from a CSV file, every row checked before any is taken.

The columns are the registry's (`energychain_shared.registry.Resident` and its `Contract`):
``house_id, username, name, address, municipality_id, rate_usd_per_kwh, escalator_percent,
battery_wh, reserve_wh, start_date, billing_basis``; the last two of the contract may be empty
(the registry's defaults: escalator 2 %, basis ``delivered``).
"""

from __future__ import annotations

import csv
import io

from pydantic import ValidationError

from energychain_shared.registry import Resident, RegistryRefusal

RESIDENT_FIELDS = ("house_id", "username", "name", "address", "municipality_id")
CONTRACT_FIELDS = ("rate_usd_per_kwh", "escalator_percent", "battery_wh", "reserve_wh", "start_date", "billing_basis")
COLUMNS = RESIDENT_FIELDS + CONTRACT_FIELDS
REQUIRED = set(COLUMNS) - {"escalator_percent", "billing_basis"}
MAX_ROWS = 50_000


def _first_error(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"] if p != "contract") or "row"
    return where, first["msg"]


def resident_of_row(row: dict[str, str]) -> Resident:
    """One row as a resident with its contract (a `RegistryRefusal` naming the column otherwise)."""
    contract = {k: row[k] for k in CONTRACT_FIELDS if (row.get(k) or "").strip()}
    try:
        return Resident.model_validate({**{k: row.get(k) for k in RESIDENT_FIELDS}, "contract": contract})
    except ValidationError as error:
        raise RegistryRefusal(*_first_error(error)) from None


def residents_of_csv(text: str) -> list[Resident]:
    """Every row of a bulk enrolment file; the first bad row is refused as ``line N: column``."""
    try:
        return _residents(csv.DictReader(io.StringIO(text)))
    except csv.Error as error:
        raise RegistryRefusal("file", f"not a CSV file: {error}") from None


def _residents(reader: csv.DictReader) -> list[Resident]:
    header = reader.fieldnames or []
    missing = sorted(REQUIRED - set(header))
    unknown = sorted(set(header) - set(COLUMNS))
    if missing or unknown:
        raise RegistryRefusal("header", f"missing columns {missing}, unknown columns {unknown}; the columns are "
                              + ", ".join(COLUMNS))
    residents = []
    for row in reader:
        if len(residents) >= MAX_ROWS:
            raise RegistryRefusal("file", f"more than {MAX_ROWS:,} rows: split the file")
        if None in row:
            raise RegistryRefusal(f"line {reader.line_num}", f"more fields than the header's {len(header)}")
        try:
            residents.append(resident_of_row(row))
        except RegistryRefusal as error:
            raise RegistryRefusal(f"line {reader.line_num}: {error.field}", error.message) from None
    if not residents:
        raise RegistryRefusal("file", "no rows after the header")
    return residents
