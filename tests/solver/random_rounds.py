"""Small random rounds for property tests: few students and seats, so every rule bites often."""

from __future__ import annotations

import copy
import random
from typing import Any

CLUSTERS = ("health", "it", "construction")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _block(rng: random.Random, *, early: int = 7 * 60, late: int = 21 * 60) -> dict[str, Any]:
    start = rng.randrange(early, late - 60, 15)
    end = min(late, start + rng.choice((60, 90, 120, 180, 240)))
    return {"day": rng.choice(DAYS), "start": _hhmm(start), "end": _hhmm(end)}


def random_round(
    seed: int, *, community_mentors: bool = True, pins: bool = False
) -> dict[str, Any]:
    """A valid wbl-problem/1 document with 1-7 students and 1-4 opportunities."""
    rng = random.Random(seed)
    base_lat, base_lon = 41.88, -87.63

    def near(km: float) -> dict[str, float]:
        return {
            "lat": round(base_lat + rng.uniform(-km, km) / 111, 5),
            "lon": round(base_lon + rng.uniform(-km, km) / 83, 5),
        }

    schools = [{"id": "sc1", "name": "School", "location": near(1)}]
    employers = [{"id": f"e{i}", "name": f"Employer {i}"} for i in range(2)]
    opportunities = []
    for i in range(rng.randint(1, 4)):
        kind = rng.choice(
            ("internship", "apprenticeship", "job_shadow", "co_op", "pre_apprenticeship")
        )
        slots = []
        for j in range(rng.randint(1, 2)):
            blocks = [_block(rng) for _ in range(rng.randint(1, 2))]
            if kind == "job_shadow" and rng.random() < 0.5:
                blocks = [
                    {"date": "2026-10-0" + str(rng.randint(5, 9)), "start": "09:00", "end": "12:00"}
                ]
            slots.append({"id": f"o{i}s{j}", "capacity": rng.randint(0, 2), "blocks": blocks})
        opp: dict[str, Any] = {
            "id": f"o{i}",
            "employer": rng.choice(employers)["id"],
            "title": f"Opportunity {i}",
            "kind": kind,
            "cluster": rng.choice(CLUSTERS),
            "location": near(8),
            "transit_accessible": rng.random() < 0.8,
            "slots": slots,
            "requires_mentor": kind == "apprenticeship" and rng.random() < 0.7,
            "hazardous": rng.random() < 0.2,
        }
        if rng.random() < 0.3:
            opp["capacity"] = rng.randint(0, 3)
        if rng.random() < 0.2:
            opp["min_age"] = rng.choice((15, 16, 18))
        if rng.random() < 0.15:
            opp["min_grade"] = rng.choice((10, 11))
        if rng.random() < 0.15:
            opp["required_credentials"] = ["osha10"]
        opportunities.append(opp)
    students = []
    n = rng.randint(1, 7)
    for i in range(n):
        age = rng.randint(13, 18)
        student: dict[str, Any] = {
            "id": f"st{i}",
            "name": f"Student {i}",
            "school": "sc1",
            "grade": min(12, max(9, age - 5)),
            "birth_date": f"{2026 - age - 1}-{rng.randint(10, 12)}-{rng.randint(10, 28)}",
            "location": near(5),
            "travel_modes": rng.sample(("walk", "bike", "transit", "car"), rng.randint(1, 3)),
            "max_commute_minutes": rng.choice((20, 30, 45, 60)),
            "clusters": rng.sample(CLUSTERS, rng.randint(0, 2)),
            "credentials": ["osha10"] if rng.random() < 0.4 else [],
            "busy": [_block(rng, late=17 * 60) for _ in range(rng.randint(0, 3))],
            "preferences": rng.sample(
                [o["id"] for o in opportunities], rng.randint(0, len(opportunities))
            ),
            "priority": rng.choice((0, 0, 0, 1, 2)),
            "groups": rng.sample(("iep", "ell", "rural"), rng.randint(0, 2)),
            "wants_mentor": rng.random() < 0.5,
        }
        if rng.random() < 0.2:
            student["max_weekly_hours"] = rng.choice((2, 4, 6))
        students.append(student)
    mentors = []
    for e in employers:
        for k in range(rng.randint(0, 2)):
            mentors.append(
                {
                    "id": f"m-{e['id']}-{k}",
                    "name": "Workplace mentor",
                    "employer": e["id"],
                    "clusters": rng.sample(CLUSTERS, rng.randint(0, 2)),
                    "capacity": rng.randint(0, 2),
                }
            )
    if community_mentors:
        for k in range(rng.randint(0, 2)):
            mentors.append(
                {
                    "id": f"cm{k}",
                    "name": "Community mentor",
                    "employer": None,
                    "clusters": rng.sample(CLUSTERS, rng.randint(0, 2)),
                    "capacity": rng.randint(0, 3),
                    "available": [_block(rng, early=15 * 60) for _ in range(rng.randint(1, 2))],
                }
            )
    doc: dict[str, Any] = {
        "format": "wbl-problem/1",
        "round": {
            "id": "r",
            "name": "Random round",
            "start_date": "2026-09-08",
            "end_date": "2026-12-18",
            "timezone": "America/Chicago",
            "holidays": ["2026-10-05"] if rng.random() < 0.3 else [],
            "summer": rng.random() < 0.2,
            "mentor_meeting_minutes": rng.choice((30, 45, 60)),
        },
        "schools": schools,
        "students": students,
        "employers": employers,
        "opportunities": opportunities,
        "mentors": mentors,
        "forbidden": [],
        "travel": [],
        "pins": [],
    }
    if doc["round"]["holidays"]:
        # Job-shadow dates must avoid holidays.
        for o in opportunities:
            for sl in o["slots"]:
                sl["blocks"] = [b for b in sl["blocks"] if b.get("date") != "2026-10-05"] or [
                    {"day": "sat", "start": "09:00", "end": "11:00"}
                ]
    if rng.random() < 0.3:
        doc["forbidden"].append(
            {"student": students[0]["id"], "opportunity": opportunities[0]["id"]}
        )
    if rng.random() < 0.3:
        doc["travel"].append(
            {
                "student": students[-1]["id"],
                "opportunity": opportunities[-1]["id"],
                "mode": rng.choice(("walk", "transit", "car", "bike")),
                "minutes": rng.choice((None, 5, 25, 90)),
            }
        )
    if pins and rng.random() < 0.5:
        s, o = rng.choice(students), rng.choice(opportunities)
        doc["pins"].append({"student": s["id"], "opportunity": o["id"]})
    return doc


MODES = ("walk", "bike", "transit", "car")


def with_travel_groups(
    doc: dict[str, Any], seed: int, *, entries_per_group: int = 6
) -> dict[str, Any]:
    """Random groups over some of the students, with random entries (null ones too) and some
    members holding their own entry for the same opportunity and mode."""
    rng = random.Random(seed)
    doc = copy.deepcopy(doc)
    students = [s["id"] for s in doc["students"]]
    opps = [o["id"] for o in doc["opportunities"]]
    rng.shuffle(students)
    members = students[: rng.randint(1, len(students))]
    cut = sorted(rng.sample(range(1, len(members) + 1), min(2, len(members))))
    parts = [members[a:b] for a, b in zip([0, *cut], cut, strict=False)]
    groups = []
    for g, part in enumerate(p for p in parts if p):
        seen: set[tuple[str, str]] = set()
        travel = []
        for _ in range(entries_per_group):
            key = (rng.choice(opps), rng.choice(MODES))
            if key in seen:
                continue
            seen.add(key)
            minutes = rng.choice((None, 0, 5, 15, 30, 45, 70))
            travel.append({"opportunity": key[0], "mode": key[1], "minutes": minutes})
        groups.append({"id": f"g{g}", "students": part, "travel": travel})
    doc["travel_groups"] = groups
    own = {(t["student"], t["opportunity"], t["mode"]) for t in doc["travel"]}
    for group in groups:
        for t in group["travel"]:
            sid = rng.choice(group["students"])
            if rng.random() < 0.3 and (sid, t["opportunity"], t["mode"]) not in own:
                own.add((sid, t["opportunity"], t["mode"]))
                doc["travel"].append(
                    {
                        "student": sid,
                        "opportunity": t["opportunity"],
                        "mode": t["mode"],
                        "minutes": rng.choice((None, 10, 50)),
                    }
                )
    return doc


def school_transit_groups(doc: dict[str, Any], seed: int) -> dict[str, Any]:
    """Transit times per school, as a timetable would give them: every transit rider of a school
    in its school's group, one entry per opportunity, some of them unreachable."""
    rng = random.Random(seed)
    doc = copy.deepcopy(doc)
    doc["pins"] = []  # the generator's pins were checked against its own travel times
    riders: dict[str, list[str]] = {}
    for s in doc["students"]:
        if "transit" in s["travel_modes"] and s.get("school"):
            riders.setdefault(s["school"], []).append(s["id"])
    doc["travel_groups"] = [
        {
            "id": f"transit-{school}",
            "students": ids,
            "travel": [
                {
                    "opportunity": o["id"],
                    "mode": "transit",
                    "minutes": None if rng.random() < 0.2 else rng.randint(8, 75),
                }
                for o in doc["opportunities"]
            ],
        }
        for school, ids in sorted(riders.items())
    ]
    return doc
