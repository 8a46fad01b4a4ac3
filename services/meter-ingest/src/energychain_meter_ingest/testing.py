"""A small export with bad rows, for the tests of dead letters (the meter-ingest integration test and the
system test): house-01 (Parlier, America/Los_Angeles) on the night clocks fell back, when 01:00 comes twice."""

from __future__ import annotations

from energychain_meter_ingest.domain.readings import HEADER

# line: row. Line 1 is the header.
GOOD = {
    2: "2021-11-07T00:00:00,0,0,0,0.50,0,0.50,40",
    3: "2021-11-07T01:00:00,0,0,0,0.50,0,0.50,40",
    10: "2021-11-07T07:00:00,0,0,0,0.50,0,0.50,40",
}
BAD = {  # line: (row as exported, reason, the row corrected)
    4: ("2021-11-07T01:00:00,0,0,0,-0.60,0,0.60,40", "negative_value", "2021-11-07T01:00:00,0,0,0,0.60,0,0.60,40"),
    5: ("2021-11-07T02:00:00,0,0,0,zero,0,0.50,40", "unparsable_number", "2021-11-07T02:00:00,0,0,0,0.50,0,0.50,40"),
    6: ("2021-11-07T03:00:00,0,0,0,0.50", "missing_fields", "2021-11-07T03:00:00,0,0,0,0.50,0,0.50,40"),
    7: ("2021-11-07T04:00:00,0,0,0,0.50,0,0.50,140", "battery_level_out_of_range",
        "2021-11-07T04:00:00,0,0,0,0.50,0,0.50,100"),
    8: ("2021-11-07T05:00:00,0,0,0,0.50,0,0.50,40,9", "extra_fields", "2021-11-07T05:00:00,0,0,0,0.50,0,0.50,40"),
    9: ("2021-11-07T25:00:00,0,0,0,0.50,0,0.50,40", "unparsable_time", "2021-11-07T06:00:00,0,0,0,0.50,0,0.50,40"),
}
# The UTC hour each line's reading starts: line 4 is the second 01:00, standard time (09:00 UTC).
HOUR_OF_LINE = {2: 7, 3: 8, 4: 9, 5: 10, 6: 11, 7: 12, 8: 13, 9: 14, 10: 15}


def export(rows: dict[int, str]) -> str:
    """The CSV text of ``rows`` (line: row) under the export's header, in line order."""
    return "\n".join([",".join(HEADER), *(rows[line] for line in sorted(rows))]) + "\n"
