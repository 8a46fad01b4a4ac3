"""Synthetic meter data: solar by season, latitude and weather; household load; a battery that obeys its limits.

Every generated hour balances exactly: solar + discharge + import = home + charge + export.
Output is deterministic from the seed. Floats shape the curves; energies are integer Wh.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from energychain_meter_ingest.domain.localtime import UTC

FLEET_ZONES = ("America/Los_Angeles", "America/Denver", "America/Phoenix", "America/Chicago", "America/New_York")


@dataclass(frozen=True, slots=True)
class SiteClimate:
    """Where a municipality is: what its sun and weather depend on."""

    municipality_id: str
    latitude: float
    zone: ZoneInfo


@dataclass(frozen=True, slots=True)
class HouseSpec:
    """One house's equipment and habits."""

    house_id: str
    municipality_id: str
    pv_peak_w: int
    battery_wh: int
    reserve_wh: int
    charge_limit_w: int
    discharge_limit_w: int
    base_load_w: int
    cooling_w: int
    initial_soc_wh: int


@dataclass(frozen=True, slots=True)
class GeneratedHour:
    """One balanced hour of a generated export, in Wh, with its local wall-clock text."""

    local_text: str
    battery_discharged_wh: int
    battery_charged_wh: int
    solar_wh: int
    home_wh: int
    grid_export_wh: int
    grid_import_wh: int
    battery_level_pct: int


def utc_range(start: date, end: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """UTC bounds of local days [start, end) in ``zone``."""
    return (
        datetime.combine(start, time(), zone).astimezone(UTC),
        datetime.combine(end, time(), zone).astimezone(UTC),
    )


def _standard_offset_hours(zone: ZoneInfo, year: int) -> float:
    january = datetime(year, 1, 15, tzinfo=zone).utcoffset()
    july = datetime(year, 7, 15, tzinfo=zone).utcoffset()
    return min(january, july).total_seconds() / 3600


def sun_elevation_sine(*, latitude: float, day_of_year: int, solar_hour: float) -> float:
    """Sine of the sun's elevation at local solar time (simple declination model)."""
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day_of_year) / 365)
    hour_angle = math.radians(15 * (solar_hour - 12))
    lat = math.radians(latitude)
    return math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(declination) * math.cos(hour_angle)


def _winterness(day_of_year: int) -> float:
    return (1 + math.cos(2 * math.pi * (day_of_year - 15) / 365)) / 2


def daily_clearness(site: SiteClimate, start: date, end: date, seed: int) -> dict[date, float]:
    """Clear-sky fraction per local day: a weather Markov chain, cloudier in winter."""
    rng = random.Random(f"weather|{seed}|{site.municipality_id}")
    clearness: dict[date, float] = {}
    state = "sunny"
    day = start
    while day < end:
        winter = _winterness(day.timetuple().tm_yday)
        stay = 0.55 if state != "sunny" else 0.85
        if rng.random() > stay:
            p_cloudy = 0.05 + 0.3 * winter
            draw = rng.random()
            state = "cloudy" if draw < p_cloudy else "partly" if draw < p_cloudy + 0.2 else "sunny"
        low, high = {"sunny": (0.85, 1.0), "partly": (0.5, 0.85), "cloudy": (0.12, 0.5)}[state]
        clearness[day] = rng.uniform(low, high)
        day += timedelta(days=1)
    return clearness


@dataclass(frozen=True, slots=True)
class SiteHour:
    """What every house of a site shares in one hour: clock text, sun, weather and load shape."""

    utc: datetime
    local_text: str
    solar_fraction: float
    load_shape: float
    cooling_fraction: float


def site_hours(site: SiteClimate, *, start: date, end: date, seed: int) -> list[SiteHour]:
    """Shared per-hour factors of a site for local days [start, end)."""
    weather = daily_clearness(site, start, end + timedelta(days=1), seed)
    start_utc, end_utc = utc_range(start, end, site.zone)
    hours: list[SiteHour] = []
    current = start_utc
    offsets: dict[int, float] = {}
    while current < end_utc:
        local = current.astimezone(site.zone)
        year = local.year
        if year not in offsets:
            offsets[year] = _standard_offset_hours(site.zone, year)
        solar_time = (current.hour + current.minute / 60 + 0.5 + offsets[year]) % 24
        doy = local.timetuple().tm_yday
        sine = sun_elevation_sine(latitude=site.latitude, day_of_year=doy, solar_hour=solar_time)
        clear = weather[local.date()]
        # Low sun passes through more air: steeper than linear in the sine of elevation.
        solar = max(0.0, sine) ** 1.25 * clear
        h = local.hour
        shape = 0.55 + 0.45 * math.exp(-((h - 7.5) ** 2) / 2.0) + 1.0 * math.exp(-((h - 19.0) ** 2) / 6.0)
        summer = 1 - _winterness(doy)
        cooling = summer * clear * max(0.0, math.sin(math.pi * (h - 12) / 10)) if 12 <= h <= 22 else 0.0
        shape += 0.25 * _winterness(doy) * (1 if h >= 17 or h <= 7 else 0)
        hours.append(SiteHour(current, local.replace(tzinfo=None).isoformat(), solar, shape, cooling))
        current += timedelta(hours=1)
    return hours


def house_spec(*, house_id: str, municipality_id: str, seed: int, battery_wh: int | None = None,
               reserve_wh: int | None = None) -> HouseSpec:
    """A house's equipment drawn from the seed (battery and reserve given by its contract when known)."""
    rng = random.Random(f"house|{seed}|{house_id}")
    battery = battery_wh if battery_wh is not None else rng.choice((10_000, 13_500, 15_000))
    reserve = reserve_wh if reserve_wh is not None else battery // 5
    return HouseSpec(
        house_id=house_id,
        municipality_id=municipality_id,
        pv_peak_w=rng.randrange(3_500, 9_001, 100),
        battery_wh=battery,
        reserve_wh=reserve,
        charge_limit_w=rng.choice((3_300, 5_000)),
        discharge_limit_w=rng.choice((3_300, 5_000)),
        base_load_w=rng.randrange(600, 1_400, 10),
        cooling_w=rng.randrange(1_500, 4_500, 50),
        initial_soc_wh=reserve + (battery - reserve) // 2,
    )


def simulate_house(spec: HouseSpec, hours: list[SiteHour], *, seed: int) -> Iterator[GeneratedHour]:
    """Hour by hour: self-consumption first, surplus charges then exports, deficit discharges then imports."""
    rng = random.Random(f"load|{seed}|{spec.house_id}")
    soc = spec.initial_soc_wh
    # Round-trip losses change the state of charge, never the metered (balanced) flows.
    charge_efficiency_pct, discharge_efficiency_pct = 95, 95
    for site_hour in hours:
        solar = 0
        if site_hour.solar_fraction > 0:
            solar = int(spec.pv_peak_w * 0.82 * site_hour.solar_fraction * (1 - 0.08 * rng.random()))
        load_w = spec.base_load_w * site_hour.load_shape + spec.cooling_w * site_hour.cooling_fraction
        home = int(load_w * rng.lognormvariate(0, 0.22))
        charged = discharged = exported = imported = 0
        if solar >= home:
            surplus = solar - home
            room = (spec.battery_wh - soc) * 100 // charge_efficiency_pct
            charged = max(0, min(surplus, spec.charge_limit_w, room))
            exported = surplus - charged
            soc += charged * charge_efficiency_pct // 100
        else:
            deficit = home - solar
            available = (soc - spec.reserve_wh) * discharge_efficiency_pct // 100
            discharged = max(0, min(deficit, spec.discharge_limit_w, available))
            imported = deficit - discharged
            soc -= discharged * 100 // discharge_efficiency_pct
        soc = min(spec.battery_wh, max(0, soc))
        yield GeneratedHour(
            local_text=site_hour.local_text,
            battery_discharged_wh=discharged,
            battery_charged_wh=charged,
            solar_wh=solar,
            home_wh=home,
            grid_export_wh=exported,
            grid_import_wh=imported,
            battery_level_pct=(soc * 100 + spec.battery_wh // 2) // spec.battery_wh,
        )


def fleet_municipalities(count: int) -> list[dict]:
    """M municipalities spread over US time zones and latitudes (registry entries)."""
    return [
        {
            "municipality_id": f"muni-{i + 1:02d}",
            "name": f"Municipality {i + 1:02d}",
            "timezone": FLEET_ZONES[i % len(FLEET_ZONES)],
            "latitude": f"{32 + (i * 3.7) % 12:.2f}",
            "escrow": {"endowment_cents": 100000, "share_percent": "5", "cap_cents": 250000},
        }
        for i in range(count)
    ]


def fleet_resident(index: int, municipality_id: str, spec: HouseSpec, start: date) -> dict:
    """A registry resident entry for generated house number ``index``."""
    return {
        "house_id": spec.house_id,
        "username": f"resident{index:05d}",
        "name": f"Resident {index:05d}",
        "address": f"{100 + index} Generated St",
        "municipality_id": municipality_id,
        "contract": {
            "rate_usd_per_kwh": "0.23",
            "escalator_percent": "2",
            "battery_wh": spec.battery_wh,
            "reserve_wh": spec.reserve_wh,
            "start_date": start.isoformat(),
            "billing_basis": "delivered",
        },
    }
