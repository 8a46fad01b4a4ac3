"""Exact conversion of the export's kWh text to integer watt-hours."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


class EnergyValueError(ValueError):
    """A kWh value that cannot be turned into whole watt-hours; ``reason`` is the rejection code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


_PARSED: dict[str, int] = {}


def cached_kwh_text_to_wh(text: str) -> int:
    """``kwh_text_to_wh`` memoised: exports repeat a few thousand distinct value strings millions of times."""
    wh = _PARSED.get(text)
    if wh is None:
        wh = kwh_text_to_wh(text)
        if len(_PARSED) > 100_000:
            _PARSED.clear()
        _PARSED[text] = wh
    return wh


def kwh_text_to_wh(text: str) -> int:
    """Parse a kWh value exactly into integer Wh; more precision than 1 Wh is rejected.

    Plain ``123.456`` forms take an integer fast path that gives exactly what the
    Decimal path gives; anything else (signs, exponents, extra zeros) goes through Decimal.
    """
    whole, dot, frac = text.partition(".")
    if (
        whole.isascii()
        and whole.isdigit()
        and (not dot or (frac.isascii() and frac.isdigit() and len(frac) <= 3))
    ):
        if not dot:
            return int(whole) * 1000
        return int(whole) * 1000 + int(frac) * (10 ** (3 - len(frac)))
    return _decimal_kwh_to_wh(text)


def _decimal_kwh_to_wh(text: str) -> int:
    stripped = text.strip()
    if not stripped:
        raise EnergyValueError("missing_value", "empty value")
    try:
        value = Decimal(stripped)
    except InvalidOperation:
        raise EnergyValueError("unparsable_number", f"not a number: {text!r}") from None
    if not value.is_finite():
        raise EnergyValueError("unparsable_number", f"not a finite number: {text!r}")
    wh = value.scaleb(3)
    if wh != wh.to_integral_value():
        raise EnergyValueError("too_precise", f"{text!r} kWh is finer than 1 Wh")
    return int(wh)


def wh_to_kwh_text(wh: int) -> str:
    """Shortest exact kWh text for ``wh`` (the inverse of ``kwh_text_to_wh``)."""
    sign = "-" if wh < 0 else ""
    whole, frac = divmod(abs(wh), 1000)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:03d}".rstrip("0")
