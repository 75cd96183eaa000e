"""Travel time as the spec defines it: haversine distance, a detour factor, a speed and an overhead
per mode, with `travel` overrides (measured facts) winning over the estimate.

Both a scalar form (one trip) and a vectorised form (a block of students by a block of
opportunities) are here; they compute the same formula and a test keeps them in agreement.
Where a travel group's entry measures trips by block (`trips`: by day type, the trip there
arriving by a block's start and the trip back leaving at its end), `slot_trip` judges one slot
by them: the mode that makes every block's trips both ways, fastest over the slot's longest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from solver.problem import MODES, Location, Opportunity, School, Slot, Student, Trips, day_type

EARTH_RADIUS_KM = 6371.0088
DETOUR = 1.3
SPEED_KMH: dict[str, float] = {"walk": 4.8, "bike": 14.0, "transit": 18.0, "car": 35.0}
OVERHEAD_MIN: dict[str, float] = {"walk": 0.0, "bike": 0.0, "transit": 10.0, "car": 5.0}
# A trip the mode cannot make, in the integer arrays.
UNREACHABLE = np.iinfo(np.int32).max


def haversine_km(a: Location, b: Location) -> float:
    """Great-circle distance in km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))


def estimate_minutes(distance_km: float, mode: str) -> int:
    """`ceil(round(overhead + 60 * 1.3 * d / speed, 6))`: the inner round keeps float noise out."""
    return math.ceil(round(OVERHEAD_MIN[mode] + 60 * DETOUR * distance_km / SPEED_KMH[mode], 6))


def origin(student: Student, schools: dict[str, School], summer: bool) -> Location:
    """School in term time when the student has one; otherwise home, else the school."""
    school = schools.get(student.school) if student.school is not None else None
    if school is not None and not summer:
        return school.location
    if student.location is not None:
        return student.location
    assert school is not None, f"student {student.id} has neither a school nor a location"
    return school.location


def trip(
    student: Student,
    opp: Opportunity,
    origin_at: Location,
    overrides: dict[str, int | None] | None = None,
) -> tuple[str, int] | None:
    """The fastest usable mode and its minutes (ties: walk, bike, transit, car), or None."""
    overrides = overrides or {}
    best: tuple[str, int] | None = None
    for mode in MODES:
        if mode not in student.travel_modes:
            continue
        minutes = mode_minutes(opp, origin_at, overrides, mode)
        if minutes is not None and (best is None or minutes < best[1]):
            best = (mode, minutes)
    return best


def mode_minutes(
    opp: Opportunity, origin_at: Location, overrides: dict[str, int | None], mode: str
) -> int | None:
    """t(s, o, mode): the measured entry when there is one, else the estimate from the
    origin (transit only to a transit-accessible site); None: the mode cannot make the trip."""
    if mode in overrides:
        return overrides[mode]
    if mode == "transit" and not opp.transit_accessible:
        return None
    return estimate_minutes(haversine_km(origin_at, opp.location), mode)


@dataclass(frozen=True, slots=True, kw_only=True)
class SlotTrip:
    """How a student gets to one slot and back: the mode, the slot's time by it (the longest
    trip there or back over the slot's blocks, which H4 holds to the limit) and, per block of
    the slot in its order, the minutes there and back (H5 keeps the student free for them)."""

    mode: str
    minutes: int
    legs: tuple[tuple[int, int], ...]


def block_legs(
    minutes: int | None, trips: Trips | None, slot: Slot
) -> tuple[tuple[int, int], ...] | None:
    """(there, back) minutes of each block of the slot by one mode whose entry takes `minutes`
    and, when measured by day type and time, `trips` (a block's time not listed takes
    `minutes`); None when some block has no trip one way."""
    legs = []
    for b in slot.blocks:
        kind = day_type(b.weekday)
        there = minutes if trips is None else trips.there.get((kind, b.start), minutes)
        back = minutes if trips is None else trips.back.get((kind, b.end), minutes)
        if there is None or back is None:
            return None
        legs.append((there, back))
    return tuple(legs)


def slot_trip(
    student: Student,
    opp: Opportunity,
    slot: Slot,
    origin_at: Location,
    overrides: dict[str, int | None] | None = None,
    trips: dict[str, Trips] | None = None,
) -> SlotTrip | None:
    """The fastest usable mode for the slot (ties: walk, bike, transit, car), or None.

    A mode takes `trip`'s minutes for every block, unless `trips` measures it by day type and
    time (the entry whose `minutes` is `overrides[mode]`): then each block takes its own trips
    there and back, the slot the longest of them, and a block with no trip one way rules the
    mode out for the slot."""
    overrides = overrides or {}
    best: SlotTrip | None = None
    for mode in MODES:
        if mode not in student.travel_modes:
            continue
        measured = (trips or {}).get(mode)
        if measured is not None:
            minutes = overrides.get(mode)
        else:
            minutes = mode_minutes(opp, origin_at, overrides, mode)
            if minutes is None:
                continue
        legs = block_legs(minutes, measured, slot)
        if legs is None or (not legs and minutes is None):
            continue
        longest = max((max(leg) for leg in legs), default=minutes or 0)
        if best is None or longest < best.minutes:
            best = SlotTrip(mode=mode, minutes=longest, legs=legs)
    return best


FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def haversine_pairs(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """Distances in km between points (lat1[i], lon1[i]) and (lat2[i], lon2[i]), element-wise."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlon = np.radians(lon2) - np.radians(lon1)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    result: FloatArray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.minimum(1.0, h)))
    return result


def estimate_matrix(distance_km: FloatArray, mode: str) -> IntArray:
    """The estimate for a whole array of distances; exact ties of the 6-decimal round are redone
    in Python so the result equals `estimate_minutes` bit for bit."""
    raw = OVERHEAD_MIN[mode] + 60 * DETOUR * distance_km / SPEED_KMH[mode]
    minutes = np.ceil(np.round(raw, 6)).astype(np.int64)
    # np.round and Python's round can disagree only next to a half-way point of the 6th decimal.
    scaled = raw * 1e6
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-3
    if near_half.any():
        for idx in zip(*np.nonzero(near_half), strict=True):
            minutes[idx] = estimate_minutes(float(distance_km[idx]), mode)
    return minutes
