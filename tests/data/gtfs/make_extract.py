"""Rebuild `cairns_extract.zip` from the full Cairns feed (see README.md beside this file).

    python tests/data/gtfs/make_extract.py ../shared/data/cairns_gtfs.zip

Keeps the routes in ROUTES (every trip and service day of theirs), the stops those trips
serve, and the feed's agency, routes, calendar and calendar_dates tables as they are; shapes
are dropped (the router does not read them). The rows keep the feed's order and text, so a
trip traced in the full feed's stop_times.txt reads the same in the extract.
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from pathlib import Path

# 111 (City - Smithfield via JCU), 121-123 (City - Redlynch, Lake Placid), 131/131N (City -
# Edge Hill via McManus and Woodward Streets): a few routes around the city centre, with the
# transfers at Redlynch that the hand-traced tests follow.
ROUTES = ("111-423", "121-423", "122-423", "123-423", "131-423", "131N-423")
OUT = Path(__file__).resolve().parent / "cairns_extract.zip"


def _rows(zf: zipfile.ZipFile, name: str) -> tuple[list[str], list[list[str]]]:
    text = zf.read(name).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [r for r in rows[1:] if r]


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def main(feed: str) -> None:
    with zipfile.ZipFile(feed) as zf:
        tables = {name: _rows(zf, name) for name in zf.namelist() if name != "shapes.txt"}
    header, trips = tables["trips.txt"]
    trips = [t for t in trips if t[header.index("route_id")] in ROUTES]
    kept = {t[header.index("trip_id")] for t in trips}
    tables["trips.txt"] = (header, trips)
    header, times = tables["stop_times.txt"]
    times = [r for r in times if r[header.index("trip_id")] in kept]
    tables["stop_times.txt"] = (header, times)
    served = {r[header.index("stop_id")] for r in times}
    header, stops = tables["stops.txt"]
    tables["stops.txt"] = (header, [s for s in stops if s[header.index("stop_id")] in served])
    header, routes = tables["routes.txt"]
    tables["routes.txt"] = (header, [r for r in routes if r[header.index("route_id")] in ROUTES])
    with zipfile.ZipFile(OUT, "w", zipfile.ZIP_DEFLATED) as out:
        for name in sorted(tables):
            # A fixed date in each member: the same feed gives the same bytes.
            info = zipfile.ZipInfo(name, date_time=(2014, 5, 30, 0, 0, 0))
            out.writestr(info, _csv(*tables[name]), zipfile.ZIP_DEFLATED)


if __name__ == "__main__":
    main(sys.argv[1])
