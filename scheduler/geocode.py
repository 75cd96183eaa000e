"""Coordinates for addresses: the geocoders a program may configure, and the cache in front.

Tables may give a school, a site or a home as an address instead of a latitude and longitude
(`docs/imports.md`, "Addresses and geocoding"). Coordinates then come from, in this order:

1. the program's geocode cache (`models.GeocodeCache`): every answer a geocoder ever gave it,
   by the normalised one-line address (`Address.key`), kept forever;
2. the geocoder that `WBL_GEOCODER` configures (`configured`):

   - `census:PATH` (or `census-file:PATH`): a result file of the US Census Bureau's batch
     geocoder (`read_census_results`): headerless CSV rows `id, input address,
     Match|No_Match|Tie, Exact|Non_Exact, matched address, "lon,lat", TIGER line id, side`;
   - `file:PATH`: a CSV with a header `address,lat,lon` (any geocoder's results, one row an
     address);
   - `nominatim:URL`: a Nominatim-compatible server (`URL/search?format=jsonv2&q=...`),
     asked one address a second with a User-Agent naming the project, as the public
     server's usage policy requires; its answers, misses included, are cached forever.

Without a geocoder, `write_census_batch` writes the addresses still without coordinates as
the Census batch geocoder's input (headerless CSV `Unique ID, Street address, City, State,
ZIP`, at most 10,000 rows a file), and `read_census_results` reads back what the Census site
returns; `store` puts the answers in the cache. `wbl round geocode` is the command line.

Functions take a `Session` and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models import GeocodeCache, utcnow

__all__ = [
    "CENSUS_BATCH_LIMIT",
    "ENV",
    "USER_AGENT",
    "Address",
    "CensusFileGeocoder",
    "FileGeocoder",
    "GeocodeError",
    "Geocoded",
    "Geocoder",
    "NominatimGeocoder",
    "configured",
    "geocode",
    "normalise",
    "read_census_results",
    "store",
    "write_census_batch",
]

ENV: Final = "WBL_GEOCODER"
# Nominatim's usage policy: an identifying User-Agent, at most one request a second.
USER_AGENT: Final = "wbl-scheduler/0.1 (work-based-learning placement scheduler; geocoding)"
NOMINATIM_INTERVAL: Final = 1.0
# The Census Bureau's batch geocoder takes at most 10,000 addresses a file.
CENSUS_BATCH_LIMIT: Final = 10_000
MATCH: Final = "match"
NO_MATCH: Final = "no_match"
TIE: Final = "tie"
_CHUNK: Final = 500  # keys per IN list: far below every backend's parameter limit

_NOT_WORD: Final = re.compile(r"[^\w]+")
# "504 Highland Ave, Kansas City, MO 64106" (ZIP optional, a comma before it allowed).
_ONE_LINE: Final = re.compile(
    r"^\s*(?P<street>[^,]+?)\s*,\s*(?P<city>[^,]+?)\s*,\s*(?P<state>[A-Za-z]{2})\.?"
    r"\s*,?\s*(?P<zip>[0-9]{5}(?:-[0-9]{4})?)?\s*$"
)


class GeocodeError(ValueError):
    """A geocoder that cannot be used (bad `WBL_GEOCODER`, unreadable file, server down);
    `issues` lists every problem, one line each."""

    def __init__(self, issues: Sequence[str]) -> None:
        self.issues = list(issues)
        super().__init__("; ".join(self.issues))


def normalise(text: str) -> str:
    """An address as the cache keys it: upper case, punctuation dropped, spaces collapsed, so
    that "504 Highland Ave., Kansas City, MO 64106" and the Census echo "504 HIGHLAND AVE,
    KANSAS CITY, MO, 64106" are one address."""
    return " ".join(_NOT_WORD.sub(" ", text.upper()).split())


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """A US-style address; `street` may hold the whole address on one line when the other
    parts are empty ("504 Highland Ave, Kansas City, MO 64106")."""

    street: str
    city: str = ""
    state: str = ""
    zip: str = ""

    @property
    def one_line(self) -> str:
        tail = " ".join(p for p in (self.state, self.zip) if p)
        return ", ".join(p for p in (self.street, self.city, tail) if p)

    @property
    def key(self) -> str:
        return normalise(self.one_line)

    def parts(self) -> tuple[str, str, str, str]:
        """(street, city, state, zip), split from a one-line street where the parts are empty:
        the Census batch input wants them in their own columns."""
        if not (self.city or self.state or self.zip):
            match = _ONE_LINE.match(self.street)
            if match:
                return (match["street"], match["city"], match["state"].upper(), match["zip"] or "")
        return (self.street, self.city, self.state, self.zip)


@dataclass(frozen=True, slots=True, kw_only=True)
class Geocoded:
    """A geocoder's answer for one address: `status` is `match` (with `lat`, `lon`), `no_match`
    or `tie` (several equally good candidates: none taken)."""

    address: str
    status: str
    lat: float | None = None
    lon: float | None = None
    matched: str | None = None
    source: str

    @property
    def key(self) -> str:
        return normalise(self.address)

    @property
    def located(self) -> bool:
        return self.status == MATCH


class Geocoder(Protocol):
    """Answers for many addresses at once (batch first: a file answers all in one read)."""

    @property
    def source(self) -> str:
        """Where answers come from, as the cache records it."""
        ...

    @property
    def remembers_misses(self) -> bool:
        """True when a cached miss of this source stands (asking again costs the server)."""
        ...

    def geocode(self, addresses: Sequence[Address]) -> dict[str, Geocoded]:
        """Answers by `Address.key`; an address the geocoder knows nothing about is absent."""
        ...


# --- Census Bureau batch files -----------------------------------------------------------------


_CENSUS_STATUS: Final = {"match": MATCH, "no_match": NO_MATCH, "tie": TIE}


def _coordinate(text: str, limit: int) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if -limit <= value <= limit else None


def read_census_results(path: Path, *, source: str = "census") -> list[Geocoded]:
    """The rows of a Census batch geocoder result file; `GeocodeError` lists every line that
    is not one (with its line number), nothing is returned then."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GeocodeError([f"{path}: cannot read: {exc}"]) from None
    out: list[Geocoded] = []
    issues: list[str] = []
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}: line {number}"
        if len(row) < 3:
            issues.append(f"{where}: not a Census result row (id, address, Match|No_Match|Tie)")
            continue
        status = _CENSUS_STATUS.get(row[2].strip().lower())
        if status is None:
            issues.append(f"{where}: {row[2]!r} is not Match, No_Match or Tie")
            continue
        address = row[1].strip()
        if status != MATCH:
            out.append(Geocoded(address=address, status=status, source=source))
            continue
        if len(row) < 6:
            issues.append(f'{where}: a Match row needs the matched address and "lon,lat"')
            continue
        # Longitude first: the Census writes the point as "x,y".
        lon_text, _, lat_text = row[5].partition(",")
        lat, lon = _coordinate(lat_text, 90), _coordinate(lon_text, 180)
        if lat is None or lon is None:
            issues.append(f'{where}: {row[5]!r} is not a "longitude,latitude" pair')
            continue
        out.append(
            Geocoded(
                address=address,
                status=MATCH,
                lat=lat,
                lon=lon,
                matched=row[4].strip() or None,
                source=source,
            )
        )
    if issues:
        raise GeocodeError(issues)
    return out


def write_census_batch(addresses: Iterable[Address], path: Path) -> list[Path]:
    """The addresses as Census batch geocoder input, one row each with its position as the
    Unique ID; more than `CENSUS_BATCH_LIMIT` go on to FILE-2.csv, FILE-3.csv, ... The files
    written, in order (one, even when there is no address)."""
    rows = [(str(i), *a.parts()) for i, a in enumerate(addresses, start=1)]
    written: list[Path] = []
    for part, start in enumerate(range(0, max(len(rows), 1), CENSUS_BATCH_LIMIT), start=1):
        target = path if part == 1 else path.with_name(f"{path.stem}-{part}{path.suffix}")
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows[start : start + CENSUS_BATCH_LIMIT])
        target.write_text(buffer.getvalue(), encoding="utf-8")
        written.append(target)
    return written


def _index(results: Iterable[Geocoded]) -> dict[str, Geocoded]:
    out: dict[str, Geocoded] = {}
    for r in results:
        # A later match wins over an earlier miss of the same address; the first match stays.
        if r.key not in out or (r.located and not out[r.key].located):
            out[r.key] = r
    return out


class CensusFileGeocoder:
    """Answers from a Census batch result file (`WBL_GEOCODER=census:PATH`)."""

    remembers_misses = False  # a file is free to read again, and may have been redone

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = "census"

    def geocode(self, addresses: Sequence[Address]) -> dict[str, Geocoded]:
        known = _index(read_census_results(self.path, source=self.source))
        return {a.key: known[a.key] for a in addresses if a.key in known}


class FileGeocoder:
    """Answers from a CSV with a header `address,lat,lon` (`WBL_GEOCODER=file:PATH`)."""

    remembers_misses = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.source = "file"

    def _read(self) -> list[Geocoded]:
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise GeocodeError([f"{self.path}: cannot read: {exc}"]) from None
        reader = csv.DictReader(io.StringIO(text))
        fields = [f.strip().lower() for f in reader.fieldnames or []]
        if not {"address", "lat", "lon"} <= set(fields):
            raise GeocodeError([f"{self.path}: the header must name address, lat and lon"])
        out: list[Geocoded] = []
        issues: list[str] = []
        for number, raw in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
            if not row["address"]:
                continue
            if not row["lat"] and not row["lon"]:
                out.append(Geocoded(address=row["address"], status=NO_MATCH, source=self.source))
                continue
            lat, lon = _coordinate(row["lat"], 90), _coordinate(row["lon"], 180)
            if lat is None or lon is None:
                issues.append(f"{self.path}: line {number}: lat and lon must be numbers in range")
                continue
            out.append(
                Geocoded(
                    address=row["address"],
                    status=MATCH,
                    lat=lat,
                    lon=lon,
                    matched=row.get("matched_address") or None,
                    source=self.source,
                )
            )
        if issues:
            raise GeocodeError(issues)
        return out

    def geocode(self, addresses: Sequence[Address]) -> dict[str, Geocoded]:
        known = _index(self._read())
        return {a.key: known[a.key] for a in addresses if a.key in known}


# --- Nominatim ---------------------------------------------------------------------------------


class NominatimGeocoder:
    """A Nominatim-compatible server (`WBL_GEOCODER=nominatim:URL`), asked one address at a
    time, `interval` seconds apart at least (the public server's policy: one a second)."""

    remembers_misses = True

    def __init__(
        self,
        url: str,
        *,
        interval: float = NOMINATIM_INTERVAL,
        timeout: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise GeocodeError([f"{url!r}: a Nominatim URL starts with http:// or https://"])
        self.url = url.rstrip("/")
        self.source = f"nominatim:{self.url}"
        self.interval = max(interval, NOMINATIM_INTERVAL)
        self.timeout = timeout
        self._sleep = sleep
        self._last = 0.0

    def _ask(self, address: Address) -> Geocoded:
        query = urllib.parse.urlencode({"format": "jsonv2", "limit": 1, "q": address.one_line})
        # The URL is http or https: `configured` and the constructor refuse anything else.
        request = urllib.request.Request(  # noqa: S310
            f"{self.url}/search?{query}", headers={"User-Agent": USER_AGENT}
        )
        wait = self._last + self.interval - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = json.loads(response.read().decode("utf-8"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # An outage is not a miss: nothing is cached, the import is refused whole.
            raise GeocodeError([f"{self.url}: no answer for {address.one_line!r}: {exc}"]) from None
        finally:
            self._last = time.monotonic()
        if not isinstance(body, list) or not body:
            return Geocoded(address=address.one_line, status=NO_MATCH, source=self.source)
        first = body[0]
        lat = _coordinate(str(first.get("lat", "")), 90)
        lon = _coordinate(str(first.get("lon", "")), 180)
        if lat is None or lon is None:
            raise GeocodeError(
                [f"{self.url}: an answer without lat and lon for {address.one_line!r}"]
            )
        return Geocoded(
            address=address.one_line,
            status=MATCH,
            lat=lat,
            lon=lon,
            matched=first.get("display_name"),
            source=self.source,
        )

    def geocode(self, addresses: Sequence[Address]) -> dict[str, Geocoded]:
        out: dict[str, Geocoded] = {}
        for address in addresses:
            if address.key not in out:
                out[address.key] = self._ask(address)
        return out


def configured(environ: Mapping[str, str] | None = None) -> Geocoder | None:
    """The geocoder `WBL_GEOCODER` names, or None when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not value:
        return None
    scheme, _, rest = value.partition(":")
    scheme = scheme.lower()
    if scheme in ("census", "census-file") and rest:
        return CensusFileGeocoder(Path(rest))
    if scheme == "file" and rest:
        return FileGeocoder(Path(rest))
    if scheme == "nominatim" and rest.startswith(("http://", "https://")):
        return NominatimGeocoder(rest)
    raise GeocodeError(
        [
            f"{ENV}={value!r}: expected census:PATH (a Census batch result file),"
            " file:PATH (a CSV address,lat,lon) or nominatim:URL (http or https)"
        ]
    )


# --- The cache ---------------------------------------------------------------------------------


def _cached(session: Session, program_id: int, keys: Sequence[str]) -> dict[str, Geocoded]:
    out: dict[str, Geocoded] = {}
    for start in range(0, len(keys), _CHUNK):
        rows = session.execute(
            select(
                GeocodeCache.key,
                GeocodeCache.address,
                GeocodeCache.status,
                GeocodeCache.lat,
                GeocodeCache.lon,
                GeocodeCache.matched_address,
                GeocodeCache.source,
            ).where(
                GeocodeCache.program_id == program_id,
                GeocodeCache.key.in_(keys[start : start + _CHUNK]),
            )
        )
        for key, address, status, lat, lon, matched, source in rows:
            out[key] = Geocoded(
                address=address, status=status, lat=lat, lon=lon, matched=matched, source=source
            )
    return out


def store(session: Session, program_id: int, results: Iterable[Geocoded]) -> int:
    """Put answers in the program's cache (one row per address: a newer answer replaces an
    older one, except that a miss never replaces a match). Returns how many rows it wrote."""
    by_key = _index(results)
    if not by_key:
        return 0
    keys = sorted(by_key)
    stored = _cached(session, program_id, keys)
    ids: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        for key, ident in session.execute(
            select(GeocodeCache.key, GeocodeCache.id).where(
                GeocodeCache.program_id == program_id,
                GeocodeCache.key.in_(keys[start : start + _CHUNK]),
            )
        ):
            ids[key] = ident
    now = utcnow()
    inserts, updates = [], []
    for key in keys:
        r = by_key[key]
        values = {
            "status": r.status,
            "lat": r.lat,
            "lon": r.lon,
            "matched_address": r.matched,
            "source": r.source,
            "geocoded_at": now,
        }
        old = stored.get(key)
        if old is None:
            inserts.append(
                GeocodeCache(program_id=program_id, key=key, address=r.address, **values)
            )
        elif r.located or not old.located:
            updates.append({"id": ids[key], **values})
    session.add_all(inserts)
    session.flush()
    if updates:
        session.execute(update(GeocodeCache), updates)
    return len(inserts) + len(updates)


def geocode(
    session: Session, program_id: int, addresses: Iterable[Address], geocoder: Geocoder | None
) -> dict[str, Geocoded]:
    """An answer for each address that has one, by `Address.key`: the program's cache's, else
    the geocoder's (asked once for all the addresses the cache cannot answer; its answers are
    cached). A cached miss stands when the geocoder is the source that gave it and remembers
    misses (a server); a file is read again, since it may have been redone."""
    wanted: dict[str, Address] = {}
    for a in addresses:
        if a.key:
            wanted.setdefault(a.key, a)  # the first spelling is the one asked and cached
    found = _cached(session, program_id, sorted(wanted))
    if geocoder is None:
        return found
    ask = [
        a
        for key, a in wanted.items()
        if key not in found
        or not (
            found[key].located
            or (geocoder.remembers_misses and found[key].source == geocoder.source)
        )
    ]
    if not ask:
        return found
    answers = geocoder.geocode(ask)
    # The cache keeps the address as it was given, not as the geocoder echoed it.
    fresh = [
        Geocoded(
            address=wanted[key].one_line,
            status=r.status,
            lat=r.lat,
            lon=r.lon,
            matched=r.matched,
            source=r.source,
        )
        for key, r in answers.items()
        if key in wanted
    ]
    store(session, program_id, fresh)
    for r in fresh:
        if r.located or r.key not in found:
            found[r.key] = r
    return found
