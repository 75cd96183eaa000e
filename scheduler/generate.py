"""Synthetic `wbl-problem/1` rounds: a fictional metro area whose placement round looks real.

Benchmarks, demos and tests need rounds of any size that behave like the ones coordinators
face: more students than seats in the popular clusters, a school bell that ends the day at a
fixed time, students who have no car, late shifts that 14- and 15-year-olds may not work,
apprenticeships that need a workplace mentor. `generate_round` builds such a document from a
seed alone (Python's `random`; travel times by `solver.travel`, as the solver computes them), so
that the same arguments always give the same document. Where the generator needs a hard rule
(which postings a student can see are closed, which pins can hold), it asks `solver.rules`.

The metro grows with the round: its radius, the number of schools, employers and community
mentors all follow the number of students. Positions are drawn on a flat map in kilometres
around the metro's centre and only converted to latitude/longitude for the document.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Final

from solver.problem import (
    Location,
    Opportunity,
    School,
    Student,
    age_on,
    format_time,
    opportunity_from_dict,
    parse_time,
    school_from_dict,
    student_from_dict,
)
from solver.rules import (
    grade_ok,
    has_credentials,
    old_enough,
    opportunity_capacity,
    opportunity_refusals,
    slot_capacity,
    slot_refusals,
)
from solver.travel import estimate_minutes, haversine_km, origin, trip

__all__ = ["CLUSTERS", "generate_round"]

FORMAT = "wbl-problem/1"
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS: tuple[str, ...] = DAYS[:5]


CLUSTERS: tuple[str, ...] = (
    "health",
    "it",
    "manufacturing",
    "construction",
    "hospitality",
    "agriculture",
    "finance",
    "education",
    "arts_av",
    "transportation",
    "law_public_safety",
    "business",
    "marketing",
    "stem",
    "human_services",
    "energy",
)

# Student interest and employer supply deliberately disagree: health, IT, arts/AV and STEM are
# oversubscribed while the trades and hospitality go begging, as in most CTE programs.
DEMAND: dict[str, float] = {
    "health": 17,
    "it": 14,
    "manufacturing": 4,
    "construction": 4,
    "hospitality": 5,
    "agriculture": 2,
    "finance": 4,
    "education": 6,
    "arts_av": 9,
    "transportation": 3,
    "law_public_safety": 6,
    "business": 8,
    "marketing": 4,
    "stem": 7,
    "human_services": 5,
    "energy": 2,
}
SUPPLY: dict[str, float] = {
    "health": 11,
    "it": 6,
    "manufacturing": 10,
    "construction": 9,
    "hospitality": 12,
    "agriculture": 3,
    "finance": 5,
    "education": 7,
    "arts_av": 3,
    "transportation": 6,
    "law_public_safety": 4,
    "business": 8,
    "marketing": 4,
    "stem": 3,
    "human_services": 6,
    "energy": 3,
}
TRADES = frozenset({"manufacturing", "construction", "energy", "transportation", "agriculture"})

EMPLOYER_SUFFIXES: dict[str, tuple[str, ...]] = {
    "health": ("Medical Center", "Family Clinic", "Dental Group", "Senior Living", "Pharmacy"),
    "it": ("Software", "IT Services", "Data Systems", "Networks", "Cybersecurity"),
    "manufacturing": ("Precision Machining", "Plastics", "Metal Works", "Assembly", "Fabrication"),
    "construction": ("Builders", "Electric", "Plumbing & Heating", "Construction", "Roofing"),
    "hospitality": ("Grill", "Hotel", "Bakery", "Catering", "Event Center"),
    "agriculture": ("Farms", "Greenhouses", "Grain Co-op", "Nursery & Landscaping", "Dairy"),
    "finance": ("Credit Union", "Bank", "Accounting", "Insurance", "Tax Services"),
    "education": ("Elementary", "Early Learning Center", "Public Library", "Tutoring Center"),
    "arts_av": ("Media", "Theater", "Design Studio", "Radio", "Print Shop"),
    "transportation": ("Logistics", "Auto Repair", "Transit Authority", "Freight", "Aviation"),
    "law_public_safety": ("Fire Department", "Police Department", "Law Office", "Dispatch Center"),
    "business": ("Consulting", "Chamber of Commerce", "Property Management", "Office Services"),
    "marketing": ("Marketing", "Advertising", "Retail", "Communications", "Brand Studio"),
    "stem": ("Labs", "Engineering", "Research Institute", "Environmental Services", "Robotics"),
    "human_services": ("Community Center", "Youth Services", "Food Bank", "Salon & Spa"),
    "energy": ("Power & Light", "Solar", "Utilities", "Wind Energy", "Water Treatment"),
}
ROLES: dict[str, tuple[str, ...]] = {
    "health": ("Patient Care", "Pharmacy Technician", "Medical Office", "Dental Assistant"),
    "it": ("Help Desk", "Web Development", "Network Support", "Data Analytics", "Cybersecurity"),
    "manufacturing": ("Machinist", "Welding", "CNC Operator", "Quality Control", "Maintenance"),
    "construction": ("Electrician", "Carpentry", "Plumbing", "HVAC", "Construction Management"),
    "hospitality": ("Line Cook", "Front Desk", "Pastry", "Event Planning", "Food Service"),
    "agriculture": ("Farm Operations", "Greenhouse", "Animal Care", "Agronomy", "Landscaping"),
    "finance": ("Bank Teller", "Accounting Clerk", "Insurance", "Tax Preparation"),
    "education": ("Teacher Assistant", "Early Childhood", "Library Aide", "Tutoring"),
    "arts_av": ("Video Production", "Graphic Design", "Stage Crew", "Audio Engineering"),
    "transportation": ("Auto Technician", "Warehouse", "Diesel Technician", "Dispatch"),
    "law_public_safety": ("Firefighter", "Police Explorer", "Paralegal", "Emergency Dispatch"),
    "business": ("Office Administration", "Human Resources", "Customer Service", "Operations"),
    "marketing": ("Social Media", "Market Research", "Retail Sales", "Public Relations"),
    "stem": ("Engineering", "Lab Research", "Environmental Science", "Robotics", "CAD Drafting"),
    "human_services": ("Youth Worker", "Cosmetology", "Community Outreach", "Senior Services"),
    "energy": ("Solar Installer", "Lineworker", "Power Plant", "Water Treatment", "Energy Audit"),
}
# Credentials that gate a cluster's placements and that its students tend to have earned.
CLUSTER_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "health": ("cpr",),
    "it": ("comptia_a",),
    "manufacturing": ("osha10", "forklift"),
    "construction": ("osha10",),
    "hospitality": ("servsafe", "food_handler"),
    "agriculture": ("osha10",),
    "finance": ("microsoft_office",),
    "education": ("cpr",),
    "arts_av": ("adobe",),
    "transportation": ("drivers_license", "forklift"),
    "law_public_safety": ("cpr",),
    "business": ("microsoft_office",),
    "marketing": ("microsoft_office",),
    "stem": ("autocad",),
    "human_services": ("cpr",),
    "energy": ("osha10",),
}
KIND_TITLES: dict[str, str] = {
    "internship": "Internship",
    "apprenticeship": "Youth Apprenticeship",
    "pre_apprenticeship": "Pre-Apprenticeship",
    "job_shadow": "Job Shadow",
    "co_op": "Co-op",
}
# Registered youth apprenticeships live mostly in the trades.
TRADE_KINDS: dict[str, float] = {
    "internship": 35,
    "apprenticeship": 25,
    "pre_apprenticeship": 15,
    "co_op": 12,
    "job_shadow": 13,
}
OTHER_KINDS: dict[str, float] = {
    "internship": 60,
    "apprenticeship": 5,
    "pre_apprenticeship": 5,
    "co_op": 10,
    "job_shadow": 20,
}


def _names(text: str) -> tuple[str, ...]:
    """Comma-separated names spread over lines, so long lists stay compact and readable."""
    return tuple(" ".join(name.split()) for name in text.split(","))


FIRST_NAMES: tuple[str, ...] = _names(
    """Aaliyah, Aarav, Abigail, Adrian, Aiden, Alejandro, Amara, Amir, Ana, Andre, Angel, Anh,
    Ava, Ayesha, Benjamin, Bianca, Brandon, Camila, Carlos, Chloe, Daniel, Darius, Destiny,
    Diego, Elena, Elijah, Emily, Emmanuel, Esperanza, Ethan, Fatima, Gabriel, Grace, Hannah,
    Hector, Hiroshi, Imani, Isaac, Isabella, Jada, Jamal, Jasmine, Javier, Jayden, Jin, Jordan,
    Jose, Kai, Keisha, Kevin, Layla, Leah, Liam, Lucas, Luis, Malik, Maria, Mateo, Maya, Mei,
    Mohamed, Nadia, Naomi, Nathan, Noah, Olivia, Omar, Priya, Rafael, Rosa, Samuel, Santiago,
    Sara, Sofia, Tariq, Tyler, Valentina, Wei, Xavier, Yusuf, Zoe"""
)
LAST_NAMES: tuple[str, ...] = _names(
    """Abdi, Adams, Ali, Anderson, Brown, Chen, Clark, Cruz, Davis, Diaz, Edwards, Flores, Garcia,
    Gomez, Gonzalez, Green, Hall, Harris, Hernandez, Hill, Huang, Ibrahim, Jackson, Johnson,
    Jones, Kim, King, Lee, Lewis, Lopez, Martin, Martinez, Mohamed, Moore, Morales, Murphy,
    Nguyen, Nelson, Okafor, Ortiz, Patel, Perez, Phillips, Ramirez, Reyes, Rivera, Roberts,
    Robinson, Rodriguez, Sanchez, Scott, Singh, Smith, Taylor, Thomas, Thompson, Tran, Vargas,
    Walker, White, Williams, Wilson, Wright, Yang, Young"""
)
PLACES: tuple[str, ...] = _names(
    """Riverside, Oak Hill, Maple Grove, Cedar Park, Lakeview, Fairview, Brookside, Highland,
    Westfield, Eastgate, Northwood, Southport, Pine Ridge, Willow Creek, Stonebridge, Ashford,
    Bellmont, Clearwater, Elmwood, Forest Glen, Glenwood, Harbor, Ironton, Juniper, Kingsley,
    Linden, Meadowbrook, Newport, Orchard, Parkside, Quarry Hill, Redwood, Summit, Tamarack,
    Union, Valley View, Woodlawn, Aspen, Birchwood, Canyon, Driftwood, Evergreen, Foxborough,
    Granite, Hawthorne, Iris Creek, Jefferson, Kenwood, Lincoln, Madison, Norwood, Oakdale,
    Prairie, Rosedale, Sherwood, Twin Oaks, University, Vista, Wheatland, Westbrook"""
)
STREETS: tuple[str, ...] = _names(
    """Main St, Oak Ave, Elm St, Park Blvd, Lake Rd, Industrial Pkwy, Market St, Commerce Dr,
    River Rd, Washington Ave, Center St, Mill Rd, College Ave, Airport Rd, Highland Ave,
    Station St"""
)
# Repeats weight the choice: most schools are comprehensive high schools.
SCHOOL_KINDS: tuple[str, ...] = _names(
    """High School, High School, High School, Career Academy, Early College,
    Technical High School"""
)
# Fictional metros on real Central-time coordinates, so the timezone is believable.
METROS: tuple[tuple[str, float, float], ...] = (
    ("Prairie City", 41.60, -93.61),
    ("Riverton", 38.63, -90.20),
    ("Lakeport", 43.04, -87.91),
    ("Red Mesa", 35.47, -97.52),
    ("Bluff City", 35.15, -90.05),
    ("North Fork", 44.98, -93.27),
    ("Gulfside", 29.95, -90.07),
    ("Twin Rivers", 39.10, -94.58),
)
# (start, end) of the school day; the bell is the transportation barrier the brief is about.
BELLS: tuple[tuple[str, str], ...] = (
    ("07:20", "14:20"),
    ("07:30", "14:30"),
    ("07:45", "14:45"),
    ("08:00", "15:00"),
    ("08:15", "15:15"),
    ("08:30", "15:30"),
    ("08:45", "15:45"),
)

FALL = ("2026-09-08", "2026-12-18", ("2026-11-26", "2026-11-27"))
SUMMER = ("2027-06-21", "2027-08-13", ("2027-07-05",))

# Weekly shift shapes: (days, start, end, weight). After school in term time, daytime in summer.
# Shifts ending after 19:00 (21:00 in summer) or over 3 h (8 h) a weekday shut out under-16s.
TERM_WEEKDAY_DAYS: tuple[tuple[tuple[str, ...], float], ...] = (
    (("mon", "wed"), 3),
    (("tue", "thu"), 3),
    (("mon", "wed", "fri"), 2),
    (("tue", "wed", "thu"), 1),
    (("mon",), 1),
    (("thu",), 1),
    (WEEKDAYS, 0.7),
)
TERM_WEEKDAY_TIMES: tuple[tuple[str, str, float], ...] = (
    ("15:30", "18:30", 4),
    ("16:00", "19:00", 3),
    ("15:45", "17:45", 2),
    ("16:00", "18:00", 3),
    ("15:00", "17:00", 2),
    ("16:30", "20:00", 1.5),
    ("17:00", "21:00", 1),
    ("15:30", "19:30", 1),
)
WEEKEND: tuple[tuple[tuple[str, ...], str, str, float], ...] = (
    (("sat",), "09:00", "13:00", 4),
    (("sat",), "08:00", "12:00", 2),
    (("sat",), "10:00", "15:00", 2),
    (("sat",), "08:00", "16:30", 1),
    (("sat", "sun"), "10:00", "14:00", 1),
    (("sun",), "12:00", "17:00", 1),
)
SUMMER_DAYS: tuple[tuple[tuple[str, ...], float], ...] = (
    (WEEKDAYS, 3),
    (("mon", "tue", "wed", "thu"), 3),
    (("mon", "wed", "fri"), 2),
    (("tue", "thu"), 2),
)
SUMMER_TIMES: tuple[tuple[str, str, float], ...] = (
    ("08:00", "12:00", 3),
    ("09:00", "15:00", 3),
    ("13:00", "17:00", 3),
    ("08:00", "16:30", 2),
    ("07:00", "15:00", 1),
    ("17:00", "21:00", 1),
    ("18:00", "22:00", 0.7),
)
SHADOW_TIMES: tuple[tuple[str, str], ...] = (
    ("09:00", "12:00"),
    ("08:30", "14:30"),
    ("13:00", "15:30"),
    ("10:00", "14:00"),
)

TRAVEL_MODES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("transit",), 28),
    (("walk", "transit"), 22),
    (("walk",), 4),
    (("bike", "transit"), 6),
    (("walk", "bike", "transit"), 5),
    (("bike",), 2),
    (("car",), 12),
    (("transit", "car"), 8),
    (("walk", "transit", "car"), 6),
    (("walk", "car"), 3),
    ((), 0.5),
)
RURAL_MODES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("car",), 45),
    (("transit", "car"), 15),
    (("walk", "car"), 5),
    (("transit",), 20),
    (("bike",), 5),
    (("walk", "transit"), 10),
)


class _Picker:
    """Weighted choice over fixed options, with the cumulative weights computed once."""

    __slots__ = ("cum", "options")

    def __init__(self, weighted: Sequence[tuple[Any, float]]) -> None:
        self.options = [option for option, _ in weighted]
        self.cum = list(accumulate(weight for _, weight in weighted))

    def __call__(self, rng: random.Random) -> Any:
        return rng.choices(self.options, cum_weights=self.cum)[0]


def _picker(weights: dict[Any, float]) -> _Picker:
    return _Picker(list(weights.items()))


def _weekly(days: Sequence[str], start: str, end: str) -> list[dict[str, Any]]:
    return [{"day": day, "start": start, "end": end} for day in days]


def _years_before(day: dt.date, years: int) -> dt.date:
    """The same calendar day `years` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _width(count: int, least: int) -> int:
    return max(least, len(str(count)))


@dataclass(slots=True)
class _Site:
    """Where an opportunity is, on the flat map (km) and in the document (degrees)."""

    x: float
    y: float
    lat: float
    lon: float
    transit: bool


# Seats an employer offers on average (measured over generated rounds: 748 seats of 150
# employers at 1,500 students, seed 2026), to turn seats per student into employers.
_SEATS_PER_EMPLOYER: Final = 5.0


@dataclass(slots=True)
class _Generator:
    """One round being built; methods run in a fixed order so the random stream is stable."""

    n: int
    summer: bool
    rng: random.Random
    # Seats offered per student (None: the generator's own market, about one seat for two
    # students): employers are added or removed to reach it, everything else drawn the same way.
    seats_per_student: float | None = None
    lat0: float = 0.0
    lon0: float = 0.0
    km_per_lat: float = 110.574
    km_per_lon: float = 111.320
    radius: float = 0.0
    start: dt.date = dt.date(2026, 9, 8)
    end: dt.date = dt.date(2026, 12, 18)
    holidays: tuple[str, ...] = ()
    school_days: list[str] = field(default_factory=list)
    school_xy: list[tuple[float, float]] = field(default_factory=list)
    catchment: float = 0.0
    schools: list[dict[str, Any]] = field(default_factory=list)
    bells: list[list[dict[str, Any]]] = field(default_factory=list)
    employers: list[dict[str, Any]] = field(default_factory=list)
    opportunities: list[dict[str, Any]] = field(default_factory=list)
    sites: list[_Site] = field(default_factory=list)
    popularity: list[float] = field(default_factory=list)
    by_cluster: dict[str, list[int]] = field(default_factory=dict)
    students: list[dict[str, Any]] = field(default_factory=list)
    # The opportunities as the solver reads them, for the students' view of the postings
    # (built before `accepts` is set: the postings do not print it).
    postings: list[Opportunity] = field(default_factory=list)
    typed_schools: dict[str, School] = field(default_factory=dict)
    mentors: list[dict[str, Any]] = field(default_factory=list)
    _candidates: dict[tuple[int, str], tuple[list[int], list[float]]] = field(default_factory=dict)

    # --- geography -------------------------------------------------------------------------

    def _point(self, x: float, y: float) -> dict[str, float]:
        return {
            "lat": round(self.lat0 + y / self.km_per_lat, 6),
            "lon": round(self.lon0 + x / self.km_per_lon, 6),
        }

    def _in_disc(self, radius: float) -> tuple[float, float]:
        # sqrt makes the density uniform over the disc instead of piling up at the centre.
        r = radius * math.sqrt(self.rng.random())
        a = self.rng.uniform(0, 2 * math.pi)
        return r * math.cos(a), r * math.sin(a)

    def _near(self, x: float, y: float, sigma: float) -> tuple[float, float]:
        limit = 1.15 * self.radius
        px, py = x + self.rng.gauss(0, sigma), y + self.rng.gauss(0, sigma)
        d = math.hypot(px, py)
        # Keep everything inside the metro: nobody lives or works in the next state over.
        if d > limit:
            px, py = px * limit / d, py * limit / d
        return px, py

    def _address(self) -> str:
        return f"{self.rng.randint(100, 9899)} {self.rng.choice(STREETS)}"

    def _name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    # --- the round ---------------------------------------------------------------------------

    def build_round(self) -> dict[str, Any]:
        metro, lat, lon = self.rng.choice(METROS)
        self.lat0 = lat + self.rng.uniform(-0.05, 0.05)
        self.lon0 = lon + self.rng.uniform(-0.05, 0.05)
        self.km_per_lon = 111.320 * math.cos(math.radians(self.lat0))
        # ~8 km for 500 students, ~40 km for 100,000: a metro grows slower than its population.
        self.radius = max(3.0, 8.0 * (max(self.n, 1) / 500) ** 0.3037)
        start, end, holidays = SUMMER if self.summer else FALL
        self.start = dt.date.fromisoformat(start)
        self.end = dt.date.fromisoformat(end)
        self.holidays = holidays
        # Weekdays of the round that are not holidays: the only dates a job shadow may use.
        day = self.start
        while day <= self.end:
            if day.weekday() < 5 and day.isoformat() not in holidays:
                self.school_days.append(day.isoformat())
            day += dt.timedelta(days=1)
        term = "Summer 2027" if self.summer else "Fall 2026"
        season = term.lower().replace(" ", "-")
        return {
            "id": f"{season}-{metro.lower().replace(' ', '-')}",
            "name": f"{term} work-based learning, {metro} metro",
            "start_date": start,
            "end_date": end,
            "timezone": "America/Chicago",
            "holidays": list(holidays),
            "summer": self.summer,
            "mentor_meeting_minutes": self.rng.choice((30, 45)),
        }

    def build_schools(self) -> None:
        count = max(2, round(self.n / self.rng.uniform(600, 1000)))
        width = _width(count, 2)
        self.catchment = 0.6 * self.radius / math.sqrt(count)
        for i in range(count):
            x, y = self._in_disc(0.8 * self.radius)
            self.school_xy.append((x, y))
            if i < len(PLACES):
                place = PLACES[i]
            else:
                place = f"{('North', 'South', 'East', 'West')[i % 4]} {PLACES[i % len(PLACES)]}"
            kind = self.rng.choice(SCHOOL_KINDS)
            self.schools.append(
                {
                    "id": f"sc-{i + 1:0{width}d}",
                    "name": f"{place} {kind}",
                    "location": self._point(x, y),
                    "address": self._address(),
                }
            )
            bell_start, bell_end = self.rng.choice(BELLS)
            day = _weekly(WEEKDAYS, bell_start, bell_end)
            if self.rng.random() < 0.25:
                # Early-release Wednesday for teacher collaboration: 90 minutes earlier.
                day[2]["end"] = format_time(parse_time(bell_end) - 90)
            self.bells.append(day)

    # --- employers and opportunities -----------------------------------------------------------

    def _site(self, cluster: str) -> _Site:
        rng = self.rng
        r = rng.random()
        outskirts = cluster in {"agriculture", "energy"} and rng.random() < 0.6
        if not outskirts and r < 0.5:
            # Most hosts are neighbourhood businesses near some school.
            sx, sy = rng.choice(self.school_xy)
            x, y = self._near(sx, sy, 1.2 * self.catchment)
            transit = rng.random() > 0.05
        elif not outskirts and r < 0.8:
            # Downtown and a few suburban office parks.
            hub = rng.randrange(4)
            if hub == 0:
                hx, hy = 0.0, 0.0
            else:
                a = hub * 2 * math.pi / 3
                hx, hy = 0.5 * self.radius * math.cos(a), 0.5 * self.radius * math.sin(a)
            x, y = self._near(hx, hy, 0.12 * self.radius)
            transit = rng.random() > 0.05
        else:
            # Industrial parks, farms and plants at the edge: often off the bus network.
            x, y = self._in_disc(1.1 * self.radius)
            transit = rng.random() > 0.4
        loc = self._point(x, y)
        return _Site(x=x, y=y, lat=loc["lat"], lon=loc["lon"], transit=transit)

    def build_employers(self) -> None:
        rng = self.rng
        if self.seats_per_student is None:
            count = max(3, round(self.n / 10))
        else:
            # An employer offers about five seats on average (its one to three opportunities,
            # their slots and caps): that is the base market's one seat for two students.
            count = max(3, round(self.n * self.seats_per_student / _SEATS_PER_EMPLOYER))
        width = _width(count, 4)
        supply = _picker(SUPPLY)
        n_opps = _Picker([(1, 55), (2, 30), (3, 15)])
        for i in range(count):
            cluster: str = supply(rng)
            place = rng.choice(PLACES) if rng.random() < 0.5 else rng.choice(LAST_NAMES)
            name = f"{place} {rng.choice(EMPLOYER_SUFFIXES[cluster])}"
            eid = f"em-{i + 1:0{width}d}"
            employer: dict[str, Any] = {"id": eid, "name": name}
            if rng.random() < 0.8:
                slug = "".join(ch for ch in name.lower() if ch.isalnum())[:24]
                employer["contact_email"] = f"wbl@{slug}.example.com"
            self.employers.append(employer)
            site = self._site(cluster)
            address = self._address()
            for j in range(n_opps(rng)):
                # A hospital may host an IT intern: a few opportunities leave the home cluster.
                opp_cluster = cluster if j == 0 or rng.random() < 0.85 else supply(rng)
                self._opportunity(f"{i + 1:0{width}d}-{j + 1}", eid, opp_cluster, site, address)

    def _opportunity(
        self, key: str, employer: str, cluster: str, site: _Site, address: str
    ) -> None:
        rng = self.rng
        trade = cluster in TRADES
        kind: str = (_TRADE_KIND if trade else _OTHER_KIND)(rng)
        opp: dict[str, Any] = {
            "id": f"op-{key}",
            "employer": employer,
            "title": f"{rng.choice(ROLES[cluster])} {KIND_TITLES[kind]}",
            "kind": kind,
            "cluster": cluster,
            "location": {"lat": site.lat, "lon": site.lon},
            "address": address,
            "transit_accessible": site.transit,
        }
        hazardous = False
        requires_mentor = False
        min_age: int | None = None
        min_grade: int | None = None
        required: list[str] = []
        creds = [c for c in CLUSTER_CREDENTIALS[cluster] if c != "drivers_license"]
        if kind == "apprenticeship":
            # Registered youth apprenticeships: a journeyworker mentor, 16+, often hazardous
            # work allowed under the student-learner exemption.
            requires_mentor = True
            min_age = 16
            hazardous = trade and rng.random() < 0.7
            if rng.random() < 0.5:
                min_grade = 11
            if creds and rng.random() < 0.6:
                required.append(creds[0])
        elif kind == "co_op":
            min_age = 16
            hazardous = trade and rng.random() < 0.3
            requires_mentor = rng.random() < 0.25
            if rng.random() < 0.6:
                min_grade = rng.choice((11, 12))
        elif kind == "pre_apprenticeship":
            requires_mentor = rng.random() < 0.3
            if rng.random() < 0.5:
                min_age = 16
            if rng.random() < 0.2:
                min_grade = 10
            if creds and trade and rng.random() < 0.4:
                required.append(creds[0])
        elif kind == "internship":
            requires_mentor = rng.random() < 0.08
            # A shop-floor internship is hazardous: only 18-year-olds may take it.
            hazardous = trade and rng.random() < 0.04
            r = rng.random()
            if r < 0.02:
                min_age = 18
            elif r < 0.14:
                min_age = 16
            if rng.random() < 0.15:
                min_grade = rng.choice((10, 11))
            if creds and rng.random() < 0.15:
                required.append(rng.choice(creds))
            if cluster == "transportation" and rng.random() < 0.3:
                required.append("drivers_license")
                min_age = max(min_age or 0, 16)
        if min_age is not None:
            opp["min_age"] = min_age
        if min_grade is not None:
            opp["min_grade"] = min_grade
        opp["required_credentials"] = required
        opp["hazardous"] = hazardous
        opp["requires_mentor"] = requires_mentor
        slots = self._slots(key, kind)
        opp["slots"] = slots
        total = sum(s["capacity"] for s in slots)
        if len(slots) > 1 and total > 1 and rng.random() < 0.25:
            # The host can supervise fewer students at once than its shifts could hold.
            opp["capacity"] = rng.randint(1, total - 1)
        self.opportunities.append(opp)
        self.sites.append(site)
        self.by_cluster.setdefault(cluster, []).append(len(self.opportunities) - 1)
        # Uneven appeal: well-known hosts (and paid placements) draw far more first choices.
        appeal = rng.lognormvariate(0.0, 0.8) * (
            1.5 if kind in ("apprenticeship", "co_op") else 1.0
        )
        self.popularity.append(appeal)

    def _slots(self, key: str, kind: str) -> list[dict[str, Any]]:
        rng = self.rng
        count = rng.choices((1, 2), (60, 40))[0] if kind == "job_shadow" else _N_SLOTS(rng)
        slots = []
        for k in range(count):
            if kind == "job_shadow":
                blocks = self._shadow_blocks()
            elif self.summer:
                blocks = self._summer_blocks(kind)
            else:
                blocks = self._term_blocks(kind)
            slots.append(
                {"id": f"sl-{key}-{k + 1}", "capacity": _SLOT_CAPACITY(rng), "blocks": blocks}
            )
        return slots

    def _term_blocks(self, kind: str) -> list[dict[str, Any]]:
        rng = self.rng
        if kind == "co_op" and rng.random() < 0.5:
            # Co-op students leave school at midday (early release) to work afternoons.
            days = rng.choice((WEEKDAYS, ("mon", "wed", "fri"), ("tue", "thu")))
            return _weekly(days, rng.choice(("12:30", "13:00")), rng.choice(("15:30", "16:00")))
        r = rng.random()
        blocks: list[dict[str, Any]] = []
        if r < 0.8:
            days = _TERM_DAYS(rng)
            start, end = _TERM_TIMES(rng)
            blocks += _weekly(days, start, end)
        if r >= 0.6 or (kind == "apprenticeship" and rng.random() < 0.5):
            days, start, end = _WEEKEND(rng)
            if kind == "apprenticeship" and rng.random() < 0.5:
                # A full Saturday on the job site: long weeks that under-16s may not work.
                days, start, end = ("sat",), "07:30", "15:30"
            blocks += _weekly(days, start, end)
        return blocks

    def _summer_blocks(self, kind: str) -> list[dict[str, Any]]:
        rng = self.rng
        days = _SUMMER_DAYS(rng)
        start, end = _SUMMER_TIMES(rng)
        if kind in ("apprenticeship", "co_op") and rng.random() < 0.5:
            start, end = "07:00", "15:30"
        blocks = _weekly(days, start, end)
        if rng.random() < 0.1:
            blocks += _weekly(("sat",), "09:00", "13:00")
        return blocks

    def _shadow_blocks(self) -> list[dict[str, Any]]:
        rng = self.rng
        dates = self.school_days
        # One to three visits within a few weeks of each other.
        visits = {rng.randrange(len(dates))}
        for _ in range(rng.randint(0, 2)):
            visits.add(min(len(dates) - 1, min(visits) + rng.randint(1, 12)))
        start, end = rng.choice(SHADOW_TIMES)
        return [{"date": dates[i], "start": start, "end": end} for i in sorted(visits)]

    # --- students --------------------------------------------------------------------------

    def build_students(self) -> None:
        rng = self.rng
        self.postings = [opportunity_from_dict(opp) for opp in self.opportunities]
        width = _width(self.n, 6)
        school_cum = list(accumulate(rng.uniform(0.6, 1.4) for _ in self.schools))
        school_idx = list(range(len(self.schools)))
        demand = _picker(DEMAND)
        grade_pick = _Picker([(9, 27), (10, 26), (11, 24), (12, 23)])
        modes_pick = _Picker(TRAVEL_MODES)
        rural_modes = _Picker(RURAL_MODES)
        commute = _Picker([(20, 3), (30, 25), (40, 15), (45, 25), (60, 27), (75, 3), (90, 2)])
        hours_pick = _Picker(
            [(15, 1), (20, 2), (25, 2), (30, 1)]
            if self.summer
            else [(6, 1), (8, 2), (10, 2), (12, 2), (15, 1)]
        )
        n_prefs = _Picker([(0, 15), (1, 8), (2, 12), (3, 20), (4, 15), (5, 30)])
        # Birth dates: the earliest and latest birthday giving each age on the round's start.
        born: dict[int, tuple[int, int]] = {}
        for age in range(12, 20):
            latest = _years_before(self.start, age)
            earliest = _years_before(self.start, age + 1) + dt.timedelta(days=1)
            born[age] = (earliest.toordinal(), latest.toordinal())
        for i in range(self.n):
            sc = rng.choices(school_idx, cum_weights=school_cum)[0]
            homeschooled = rng.random() < 0.004
            grade: int = grade_pick(rng)
            age = self._age(grade)
            lo, hi = born[age]
            birth = dt.date.fromordinal(rng.randint(lo, hi))
            rural = rng.random() < 0.08
            sx, sy = self.school_xy[sc]
            if rural:
                a = rng.uniform(0, 2 * math.pi)
                d = rng.uniform(8, 20)
                hx, hy = self._near(sx + d * math.cos(a), sy + d * math.sin(a), 0.5)
            else:
                hx, hy = self._near(sx, sy, self.catchment / 1.5)
            modes: tuple[str, ...] = rural_modes(rng) if rural else modes_pick(rng)
            if age < 16 and "car" in modes and rng.random() < 0.4:
                # Fewer rides for the youngest; they cannot drive themselves.
                modes = tuple(m for m in modes if m != "car") or ("transit",)
            clusters = self._student_clusters(demand)
            groups: list[str] = []
            if rng.random() < 0.4:
                groups.append("econ_disadvantaged")
            if rng.random() < 0.12:
                groups.append("english_learner")
            if rng.random() < 0.14:
                groups.append("iep")
            if rural:
                groups.append("rural")
            if rng.random() < 0.01:
                groups.append("foster_youth")
            # Programs reserve seats for the students their grant or state plan singles out.
            priority = 0
            if "foster_youth" in groups or ("iep" in groups and "econ_disadvantaged" in groups):
                priority = 2
            elif "iep" in groups or ("econ_disadvantaged" in groups and rng.random() < 0.4):
                priority = 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            student: dict[str, Any] = {
                "id": f"st-{i + 1:0{width}d}",
                "name": f"{first} {last}",
            }
            if not homeschooled:
                student["school"] = self.schools[sc]["id"]
            student["grade"] = grade
            student["birth_date"] = birth.isoformat()
            # A few addresses are missing from the student information system.
            if homeschooled or rng.random() > 0.01:
                student["location"] = self._point(hx, hy)
            student["travel_modes"] = list(modes)
            # Rural families are used to longer trips and say so on the form.
            student["max_commute_minutes"] = commute(rng) + (15 if rural else 0)
            student["clusters"] = clusters
            credentials = self._credentials(clusters, age, modes)
            student["credentials"] = credentials
            student["busy"] = self._busy(sc, grade, homeschooled)
            applicant = Student(
                id=student["id"],
                name=student["name"],
                birth_date=birth,
                grade=grade,
                credentials=tuple(credentials),
            )
            student["preferences"] = self._preferences(
                sc, clusters, n_prefs(rng), demand, (applicant, age)
            )
            student["priority"] = priority
            student["groups"] = groups
            if rng.random() < 0.2:
                student["max_weekly_hours"] = hours_pick(rng)
            student["wants_mentor"] = rng.random() < 0.3
            if rng.random() < 0.6:
                domain = "students.example.org"
                student["email"] = f"{first.lower()}.{last.lower()}{i + 1}@{domain}"
            self.students.append(student)

    def _age(self, grade: int) -> int:
        """Age on the start date: grade + 5 in the fall (+1 by June), a few older or younger."""
        rng = self.rng
        nominal = grade + (6 if self.summer and rng.random() < 0.78 else 5)
        r = rng.random()
        if grade == 9 and not self.summer and r < 0.03:
            # Young ninth graders: too young for anything but job shadowing.
            return 13
        if r > 0.88:
            nominal += 1  # held back a year or a late birthday
        return min(18, nominal)

    def _student_clusters(self, demand: _Picker) -> list[str]:
        rng = self.rng
        if rng.random() < 0.04:
            return []  # undecided: open to every cluster
        first: str = demand(rng)
        if rng.random() < 0.45:
            second: str = demand(rng)
            if second != first:
                return [first, second]
        return [first]

    def _credentials(self, clusters: list[str], age: int, modes: tuple[str, ...]) -> list[str]:
        rng = self.rng
        held: list[str] = []
        for cluster in clusters:
            for cred in CLUSTER_CREDENTIALS[cluster]:
                if cred != "drivers_license" and cred not in held and rng.random() < 0.25:
                    held.append(cred)
        if "cpr" not in held and rng.random() < 0.08:
            held.append("cpr")
        if age >= 16 and rng.random() < (0.7 if "car" in modes else 0.15):
            held.append("drivers_license")
        return held

    def _busy(self, sc: int, grade: int, homeschooled: bool) -> list[dict[str, Any]]:
        rng = self.rng
        busy: list[dict[str, Any]] = []
        if self.summer:
            r = rng.random()
            if r < 0.2:
                # A summer job at the pool or the grocery store.
                days = rng.choice(
                    (WEEKDAYS, ("tue", "wed", "thu", "fri", "sat"), ("mon", "wed", "fri"))
                )
                busy += _weekly(
                    days, *rng.choice((("10:00", "16:00"), ("12:00", "20:00"), ("07:00", "13:00")))
                )
            elif r < 0.32:
                # Watching younger siblings while parents work.
                busy += _weekly(WEEKDAYS, "07:30", rng.choice(("12:00", "13:00", "17:30")))
            elif r < 0.4:
                busy += _weekly(("mon", "tue", "wed", "thu"), "08:00", "12:00")  # summer school
            if rng.random() < 0.08:
                busy += _weekly(("mon", "tue", "wed", "thu"), "06:30", "09:00")  # sports camp
            return busy
        if not homeschooled:
            day = [dict(block) for block in self.bells[sc]]
            if grade >= 11 and rng.random() < 0.08:
                # Early release for co-op or dual enrolment: classes end before noon.
                release = rng.choice(("11:30", "11:45", "12:00"))
                for block in day:
                    block["end"] = release
            busy += day
        r = rng.random()
        if r < 0.12:
            # An after-school job that already takes some evenings or the weekend.
            if rng.random() < 0.6:
                busy += _weekly(
                    rng.choice((("tue", "thu"), ("mon", "wed", "fri"), ("fri",))), "16:00", "20:00"
                )
            else:
                busy += _weekly(("sat",), "09:00", "15:00")
        elif r < 0.22:
            # Picking up siblings after school on some days.
            days = rng.choice((WEEKDAYS, ("mon", "tue", "wed"), ("tue", "thu")))
            busy += _weekly(days, "15:00", rng.choice(("17:00", "18:00")))
        elif r < 0.40:
            # Practice for a season sport, and a Saturday game for some.
            days = rng.choice((("mon", "tue", "wed", "thu"), WEEKDAYS, ("mon", "wed", "fri")))
            busy += _weekly(days, "15:30", rng.choice(("17:30", "18:00")))
            if rng.random() < 0.4:
                busy += _weekly(("sat",), "08:00", "12:00")
        elif r < 0.46:
            busy += _weekly((rng.choice(WEEKDAYS),), "15:00", "16:30")  # a club or tutoring
        return busy

    # --- preferences -------------------------------------------------------------------------

    def _cands(self, sc: int, cluster: str) -> tuple[list[int], list[float]]:
        """A school's nearest opportunities of a cluster, weighted by appeal and distance."""
        key = (sc, cluster)
        found = self._candidates.get(key)
        if found is None:
            sx, sy = self.school_xy[sc]
            sites = self.sites
            members = self.by_cluster.get(cluster, [])
            dist = {o: math.hypot(sites[o].x - sx, sites[o].y - sy) for o in members}
            nearest = heapq.nsmallest(25, members, key=dist.__getitem__)
            # Students rank hosts they can picture reaching: appeal decays over ~3 km.
            weights = [self.popularity[o] / (1 + (dist[o] / 3.0) ** 2) for o in nearest]
            found = (nearest, list(accumulate(weights)))
            self._candidates[key] = found
        return found

    def _visibly_closed(self, o: int, applicant: Student, age: int) -> bool:
        """The posting's printed requirements rule the student out (H3: age, grade,
        credentials)."""
        posting = self.postings[o]
        return not (
            old_enough(age, posting)
            and grade_ok(applicant, posting)
            and has_credentials(applicant, posting)
        )

    def _preferences(
        self,
        sc: int,
        clusters: list[str],
        count: int,
        demand: _Picker,
        applicant: tuple[Student, int],
    ) -> list[str]:
        rng = self.rng
        chosen: list[int] = []
        for _ in range(4 * count):
            if len(chosen) >= count:
                break
            if not clusters or rng.random() < 0.08:
                # Undecided students, and a few others curious beyond their own cluster.
                cluster: str = demand(rng)
            elif len(clusters) == 1 or rng.random() < 0.65:
                cluster = clusters[0]
            else:
                cluster = clusters[1]
            nearest, cum = self._cands(sc, cluster)
            if not nearest:
                continue
            pick = rng.choices(nearest, cum_weights=cum)[0]
            if pick in chosen:
                continue
            # Most students read the posting's requirements; some apply anyway.
            if self._visibly_closed(pick, *applicant) and rng.random() < 0.75:
                continue
            chosen.append(pick)
        return [self.opportunities[o]["id"] for o in chosen]

    # --- accepts, mentors ----------------------------------------------------------------------

    def restrict_accepts(self) -> None:
        """A few hosts take only named students (a partner school's cohort, a returning intern)."""
        rng = self.rng
        if not self.students or len(self.opportunities) < 10:
            return
        picks = rng.sample(range(len(self.opportunities)), max(1, len(self.opportunities) // 150))
        wanted = {self.opportunities[o]["id"]: o for o in picks}
        ranked: dict[str, list[str]] = {oid: [] for oid in wanted}
        for student in self.students:
            for oid in student["preferences"]:
                if oid in ranked:
                    ranked[oid].append(student["id"])
        for oid, o in wanted.items():
            accepted = ranked[oid][: rng.randint(1, 4)]
            for _ in range(rng.randint(1, 2)):
                sid = rng.choice(self.students)["id"]
                if sid not in accepted:
                    accepted.append(sid)
            self.opportunities[o]["accepts"] = sorted(accepted)

    def build_mentors(self) -> None:
        rng = self.rng
        needs: dict[str, list[str]] = {}
        for opp in self.opportunities:
            if opp["requires_mentor"]:
                covered = needs.setdefault(opp["employer"], [])
                if opp["cluster"] not in covered:
                    covered.append(opp["cluster"])
        community = max(1, round(self.n / 60))
        width = _width(community + 3 * len(needs), 4)
        number = 0
        # Workplace mentors (journeyworkers); sometimes fewer than the seats they must cover.
        for employer in self.employers:
            if employer["id"] not in needs:
                continue
            clusters = needs[employer["id"]]
            for _ in range(rng.choices((1, 2, 3), (60, 35, 5))[0]):
                number += 1
                self.mentors.append(
                    {
                        "id": f"me-{number:0{width}d}",
                        "name": self._name(),
                        "employer": employer["id"],
                        "clusters": [] if rng.random() < 0.1 else list(clusters),
                        "capacity": rng.choices((1, 2, 3), (45, 40, 15))[0],
                        "virtual": False,
                    }
                )
        demand = _picker(DEMAND)
        for _ in range(community):
            number += 1
            clusters = [] if rng.random() < 0.1 else self._student_clusters(demand) or [demand(rng)]
            self.mentors.append(
                {
                    "id": f"me-{number:0{width}d}",
                    "name": self._name(),
                    "employer": None,
                    "clusters": clusters,
                    "capacity": rng.choices((1, 2, 3, 4), (30, 35, 20, 15))[0],
                    "available": self._availability(),
                    "virtual": rng.random() < 0.4,
                }
            )

    def _availability(self) -> list[dict[str, Any]]:
        rng = self.rng
        options: list[tuple[str, str, str]] = [
            (day, start, end)
            for day in WEEKDAYS
            for start, end in (("17:30", "19:30"), ("18:00", "20:00"), ("19:00", "21:00"))
        ]
        options += [("sat", "09:00", "12:00"), ("sun", "13:00", "16:00")]
        if self.summer:
            options += [(day, "10:00", "12:00") for day in WEEKDAYS]
            options += [(day, "13:00", "15:00") for day in WEEKDAYS]
        blocks: list[dict[str, Any]] = []
        used: list[str] = []
        for day, start, end in rng.sample(options, rng.randint(1, 3)):
            if day not in used:  # one window a day keeps the blocks from overlapping
                used.append(day)
                blocks.append({"day": day, "start": start, "end": end})
        return blocks

    # --- pins, travel overrides, forbidden pairs ---------------------------------------------

    def _origin(self, student: Student) -> Location:
        """Where the student's trips start, by the solver's rule (`solver.travel.origin`)."""
        if len(self.typed_schools) != len(self.schools):
            self.typed_schools = {sc["id"]: school_from_dict(sc) for sc in self.schools}
        return origin(student, self.typed_schools, self.summer)

    def _can_take(self, student: Student, opp: Opportunity, k: int) -> bool:
        """H3-H7 for one student and slot `k` of `opp`, by the solver's rules, as the pins need
        them. Two generator policies narrow them: a slot with dated blocks is skipped (its
        weekly hours need a calendar), and travel overrides are ignored (pins are made before
        them, and travel entries are drawn for unpinned students only)."""
        slot = opp.slots[k]
        if any(b.date is not None for b in slot.blocks):
            return False
        age = age_on(student.birth_date, self.start)
        best = trip(student, opp, self._origin(student))
        if best is None or opportunity_refusals(student, opp, age=age, trip=best):
            return False
        return not slot_refusals(student, opp, slot, age=age, minutes=best[1], summer=self.summer)

    def build_pins(self) -> list[dict[str, Any]]:
        """A couple of confirmed placements that must stay put, each checked against H3-H7."""
        rng = self.rng
        want = 0 if self.n < 20 else min(5, 2 + self.n // 20000)
        index = {opp["id"]: o for o, opp in enumerate(self.opportunities)}
        pinned: list[dict[str, Any]] = []
        seats: dict[str, int] = {}
        taken: dict[str, int] = {}
        students: list[int] = []
        for _ in range(50 * want):
            if len(pinned) >= want:
                break
            s = rng.randrange(self.n)
            if s in students or not self.students[s]["preferences"]:
                continue
            # Requires-mentor and accepts hosts are left out: their pins hinge on more rules.
            opp = opportunity_from_dict(
                self.opportunities[index[self.students[s]["preferences"][0]]]
            )
            if opp.requires_mentor or opp.accepts is not None:
                continue
            if taken.get(opp.id, 0) >= opportunity_capacity(opp):
                continue
            student = student_from_dict(self.students[s])
            for k, slot in enumerate(opp.slots):
                if seats.get(slot.id, 0) >= slot_capacity(slot):
                    continue
                if not self._can_take(student, opp, k):
                    continue
                seats[slot.id] = seats.get(slot.id, 0) + 1
                taken[opp.id] = taken.get(opp.id, 0) + 1
                students.append(s)
                pin = {"student": student.id, "opportunity": opp.id}
                if rng.random() < 0.5:
                    pin["slot"] = slot.id
                pinned.append(pin)
                break
        return pinned

    def build_travel(self, pinned: set[str]) -> list[dict[str, Any]]:
        """Measured trip times from the transit agency for a few routes, one with no service."""
        rng = self.rng
        if self.n < 10 or not self.opportunities:
            return []
        index = {opp["id"]: o for o, opp in enumerate(self.opportunities)}
        entries: dict[tuple[str, str, str], dict[str, Any]] = {}
        want = max(3, self.n // 400)
        for _ in range(20 * want):
            if len(entries) >= want:
                break
            s = rng.randrange(self.n)
            student = self.students[s]
            if student["id"] in pinned or not student["preferences"] or not student["travel_modes"]:
                continue
            oid = rng.choice(student["preferences"])
            modes = student["travel_modes"]
            mode = "transit" if "transit" in modes else rng.choice(modes)
            key = (student["id"], oid, mode)
            if key in entries:
                continue
            minutes: int | None = None
            if entries:  # the first one records a route with no service at all
                # Around the spec's estimate from the student's origin.
                site = self.sites[index[oid]]
                distance = haversine_km(
                    self._origin(student_from_dict(student)), Location(lat=site.lat, lon=site.lon)
                )
                estimate = estimate_minutes(distance, mode)
                minutes = max(1, round(estimate * rng.uniform(0.8, 1.5)))
            entries[key] = {
                "student": student["id"],
                "opportunity": oid,
                "mode": mode,
                "minutes": minutes,
            }
        return list(entries.values())

    def build_forbidden(self, pinned: set[str]) -> list[dict[str, Any]]:
        """Pairs the coordinator ruled out (a past dismissal, a relative on staff)."""
        rng = self.rng
        if self.n < 10:
            return []
        pairs: dict[tuple[str, str], dict[str, Any]] = {}
        want = max(2, self.n // 1000)
        for _ in range(20 * want):
            if len(pairs) >= want:
                break
            student = self.students[rng.randrange(self.n)]
            if student["id"] in pinned or not student["preferences"]:
                continue
            oid = rng.choice(student["preferences"])
            pairs[(student["id"], oid)] = {"student": student["id"], "opportunity": oid}
        return list(pairs.values())


_TRADE_KIND = _picker(TRADE_KINDS)
_OTHER_KIND = _picker(OTHER_KINDS)
_N_SLOTS = _Picker([(1, 50), (2, 35), (3, 15)])
_SLOT_CAPACITY = _Picker([(0, 2), (1, 40), (2, 30), (3, 18), (4, 10)])
_TERM_DAYS = _Picker(TERM_WEEKDAY_DAYS)
_TERM_TIMES = _Picker([((start, end), w) for start, end, w in TERM_WEEKDAY_TIMES])
_WEEKEND = _Picker([((days, start, end), w) for days, start, end, w in WEEKEND])
_SUMMER_DAYS = _Picker(SUMMER_DAYS)
_SUMMER_TIMES = _Picker([((start, end), w) for start, end, w in SUMMER_TIMES])


def generate_round(
    students: int,
    *,
    seed: int = 0,
    summer: bool = False,
    seats_per_student: float | None = None,
) -> dict[str, Any]:
    """A realistic synthetic `wbl-problem/1` document with `students` students.

    `seats_per_student` sets how tight the market is: 1.0 offers about a seat per student (a
    program that recruited its employers for its applicants), the default (None) about one
    for two students, a hard market whose rounds are kept as they are (tests pin them)."""
    if isinstance(students, bool) or not isinstance(students, int) or students < 0:
        raise ValueError(f"students must be a non-negative integer, not {students!r}")
    if seats_per_student is not None and not 0 < seats_per_student <= 10:
        raise ValueError(f"seats_per_student must be in (0, 10], not {seats_per_student!r}")
    # The seed is mixed with the size and season so that a 500- and a 5,000-student round of
    # the same seed are different metros rather than one a prefix of the other.
    gen = _Generator(
        n=students,
        summer=summer,
        rng=random.Random(f"{seed}/{students}/{summer}"),
        seats_per_student=seats_per_student,
    )
    round_ = gen.build_round()
    gen.build_schools()
    gen.build_employers()
    gen.build_students()
    gen.restrict_accepts()
    gen.build_mentors()
    pins = gen.build_pins()
    pinned = {pin["student"] for pin in pins}
    travel = gen.build_travel(pinned)
    forbidden = gen.build_forbidden(pinned)
    return {
        "format": FORMAT,
        "round": round_,
        "schools": gen.schools,
        "students": gen.students,
        "employers": gen.employers,
        "opportunities": gen.opportunities,
        "mentors": gen.mentors,
        "travel": travel,
        "pins": pins,
        "forbidden": forbidden,
    }
