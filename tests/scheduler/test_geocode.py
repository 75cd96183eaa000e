"""Addresses instead of coordinates: the Census batch formats, the geocoders behind
`WBL_GEOCODER`, the program's geocode cache, imports that geocode, `wbl round geocode`."""

from __future__ import annotations

import csv
import http.server
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from models import GeocodeCache, Opportunity, Program, Round, School, Student, make_session_factory
from scheduler.cli import main
from scheduler.geocode import (
    USER_AGENT,
    Address,
    CensusFileGeocoder,
    FileGeocoder,
    GeocodeError,
    NominatimGeocoder,
    configured,
    geocode,
    normalise,
    read_census_results,
    write_census_batch,
)
from scheduler.tables import TablesError, create_round, import_tables

RESULTS = Path(__file__).resolve().parents[1] / "data" / "geocode" / "census_results.csv"

SCHOOLS = """school_id,name,lat,lon,address,city,state,zip
sc-1,Central High,,,504 Highland Ave,Kansas City,MO,64106
sc-2,West High,39.05,-94.61,,,,
"""
EMPLOYERS = """employer_id,name
em-1,Clinic
"""
OPPORTUNITIES = """opportunity_id,employer_id,title,kind,cluster,lat,lon,address
op-1,em-1,Clinic intern,internship,health,,,"2871 Main St, Kansas City, MO 64108"
"""
STUDENTS = """student_id,name,school_id,birth_date,travel_modes,home_address,home_city,\
home_state,home_zip
st-1,Ada Lovelace,sc-1,2009-03-02,bike,118 W 31st St,Kansas City,MO,64108
st-2,Ben Okafor,sc-2,2008-07-15,car,,,,
"""


@pytest.fixture
def rnd(session: Session, program: Program) -> Round:
    """An empty round to import into."""
    return create_round(
        session,
        program,
        "fall",
        name="Fall 2026",
        start_date="2026-09-08",
        end_date="2026-12-18",
        timezone="America/Chicago",
    )


@pytest.fixture(autouse=True)
def _no_geocoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the WBL_GEOCODER of the machine it runs on."""
    monkeypatch.delenv("WBL_GEOCODER", raising=False)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _files(tmp_path: Path, **texts: str) -> dict[str, Path]:
    base = {
        "schools": SCHOOLS,
        "employers": EMPLOYERS,
        "students": STUDENTS,
        "opportunities": OPPORTUNITIES,
    }
    return {kind: _write(tmp_path, f"{kind}.csv", text) for kind, text in (base | texts).items()}


# --- Formats -----------------------------------------------------------------------------------


def test_census_results_read_longitude_first() -> None:
    """A Census result's point is "lon,lat"; No_Match and Tie rows have no coordinates."""
    results = {r.key: r for r in read_census_results(RESULTS)}
    central = results[normalise("504 Highland Ave, Kansas City, MO 64106")]
    assert (central.status, central.lat, central.lon) == ("match", 39.1012, -94.5654)
    assert central.matched == "504 HIGHLAND AVE, KANSAS CITY, MO, 64106"
    assert results[normalise("1 Nowhere Rd, Kansas City, MO, 64199")].status == "no_match"
    tie = results[normalise("100 Main St, Kansas City, MO, 64105")]
    assert (tie.status, tie.lat, tie.lon) == ("tie", None, None)


def test_census_results_refuse_bad_lines(tmp_path: Path) -> None:
    """Every line that is not a Census result row is listed with its number; none is kept."""
    path = _write(
        tmp_path,
        "bad.csv",
        '"1","1 A St, X, MO, 64106","Match","Exact","1 A ST","39.1,-94.5","1","L"\n'
        '"2","2 B St, X, MO, 64106","Maybe"\n'
        '"3","3 C St, X, MO, 64106","Match","Exact","3 C ST","-94.5,39.1","1","L"\n',
    )
    with pytest.raises(GeocodeError) as info:
        read_census_results(path)
    assert info.value.issues == [
        f"{path}: line 1: '39.1,-94.5' is not a \"longitude,latitude\" pair",
        f"{path}: line 2: 'Maybe' is not Match, No_Match or Tie",
    ]


def test_census_batch_input_is_headerless_id_street_city_state_zip(tmp_path: Path) -> None:
    """The export is the Census batch input: no header; id, street, city, state, ZIP."""
    addresses = [
        Address(street="504 Highland Ave", city="Kansas City", state="MO", zip="64106"),
        Address(street="2871 Main St, Kansas City, MO 64108"),
    ]
    (path,) = write_census_batch(addresses, tmp_path / "in.csv")
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    assert rows == [
        ["1", "504 Highland Ave", "Kansas City", "MO", "64106"],
        ["2", "2871 Main St", "Kansas City", "MO", "64108"],
    ]


def test_census_batch_input_splits_at_ten_thousand(tmp_path: Path) -> None:
    """The Census batch geocoder takes 10,000 addresses a file: more go on to FILE-2."""
    addresses = [Address(street=f"{i} Main St", city="X", state="MO") for i in range(10_001)]
    paths = write_census_batch(addresses, tmp_path / "in.csv")
    assert [p.name for p in paths] == ["in.csv", "in-2.csv"]
    assert paths[1].read_text(encoding="utf-8") == "10001,10000 Main St,X,MO,\n"


def test_configured_reads_wbl_geocoder(tmp_path: Path) -> None:
    """WBL_GEOCODER names census:PATH, file:PATH or nominatim:URL; anything else is refused."""
    assert configured({}) is None
    assert isinstance(configured({"WBL_GEOCODER": f"census:{RESULTS}"}), CensusFileGeocoder)
    assert isinstance(configured({"WBL_GEOCODER": f"census-file:{RESULTS}"}), CensusFileGeocoder)
    assert isinstance(configured({"WBL_GEOCODER": "file:r.csv"}), FileGeocoder)
    nominatim = configured({"WBL_GEOCODER": "nominatim:http://127.0.0.1:9/"})
    assert isinstance(nominatim, NominatimGeocoder)
    assert nominatim.source == "nominatim:http://127.0.0.1:9"
    for bad in ("google:key", "nominatim:ftp://x", "census:"):
        with pytest.raises(GeocodeError, match="expected census:PATH"):
            configured({"WBL_GEOCODER": bad})


# --- Imports that geocode ----------------------------------------------------------------------


def test_import_geocodes_addresses_from_a_census_result_file(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """Schools, sites and homes given by address get the result file's coordinates."""
    report = import_tables(session, rnd, _files(tmp_path), geocoder=CensusFileGeocoder(RESULTS))
    assert [f.inserted for f in report.files] == [2, 1, 2, 1]
    school = session.scalars(select(School).where(School.external_id == "sc-1")).one()
    assert (school.lat, school.lon) == (39.1012, -94.5654)
    assert school.address == "504 Highland Ave, Kansas City, MO 64106"
    site = session.scalars(select(Opportunity)).one()
    assert (site.lat, site.lon) == (39.0722, -94.5842)
    homes = dict(session.execute(select(Student.external_id, Student.lat)).all())
    assert homes == {"st-1": 39.0686, "st-2": None}
    cached = session.scalar(select(func.count()).select_from(GeocodeCache))
    assert cached == 3


def test_second_import_takes_coordinates_from_the_cache(
    session: Session, rnd: Round, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once cached, an address is never asked again: the geocoder's file may be gone."""
    results = tmp_path / "results.csv"
    results.write_bytes(RESULTS.read_bytes())
    monkeypatch.setenv("WBL_GEOCODER", f"census:{results}")
    import_tables(session, rnd, _files(tmp_path))  # the geocoder from WBL_GEOCODER
    results.unlink()
    moved = SCHOOLS.replace("West High", "West High School")
    report = import_tables(session, rnd, _files(tmp_path, schools=moved))
    assert report.files[0].updated == 2
    with pytest.raises(GeocodeError):
        CensusFileGeocoder(results).geocode([Address(street="504 Highland Ave")])


def test_unmatched_addresses_refuse_the_import_each_listed(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """An address without coordinates (no match, a tie, unknown) refuses the import whole,
    naming file, row and column, with the hint to geocode by hand."""
    schools = SCHOOLS + (
        "sc-3,East High,,,1 Nowhere Rd,Kansas City,MO,64199\n"
        "sc-4,South High,,,100 Main St,Kansas City,MO,64105\n"
        "sc-5,North High,,,9 Elm St,Kansas City,MO,64116\n"
    )
    # A row with no place at all is refused before anything is geocoded.
    with pytest.raises(TablesError) as info:
        import_tables(
            session,
            rnd,
            _files(tmp_path, schools=schools + "sc-6,Lone High,,,,,,\n"),
            geocoder=CensusFileGeocoder(RESULTS),
        )
    assert [str(i) for i in info.value.issues] == [
        "schools.csv row 7, column lat: required, but empty (give lat and lon, or an address"
        " to geocode)",
    ]
    with pytest.raises(TablesError) as info:
        import_tables(
            session, rnd, _files(tmp_path, schools=schools), geocoder=CensusFileGeocoder(RESULTS)
        )
    assert [str(i) for i in info.value.issues] == [
        'schools.csv row 4, column address: no coordinates for "1 Nowhere Rd, Kansas City,'
        ' MO 64199": census found no match',
        'schools.csv row 5, column address: no coordinates for "100 Main St, Kansas City,'
        ' MO 64105": census found several equally good matches (a tie)',
        'schools.csv row 6, column address: no coordinates for "9 Elm St, Kansas City,'
        ' MO 64116": the geocoder (census) has no answer for it',
    ]
    assert "wbl round geocode fall --program program-1 --export addresses.csv" in (
        info.value.hint or ""
    )
    assert session.scalar(select(func.count()).select_from(School)) == 0


def test_without_a_geocoder_an_address_outside_the_cache_is_refused(
    session: Session, rnd: Round, tmp_path: Path
) -> None:
    """No WBL_GEOCODER and no cached answer: the row is refused and the reason says so."""
    with pytest.raises(TablesError) as info:
        import_tables(session, rnd, {"schools": _write(tmp_path, "s.csv", SCHOOLS)})
    assert [str(i) for i in info.value.issues] == [
        's.csv row 2, column address: no coordinates for "504 Highland Ave, Kansas City,'
        ' MO 64106": not in the geocode cache, and no geocoder is configured (WBL_GEOCODER)'
    ]


def test_cache_belongs_to_the_program(
    session: Session, rnd: Round, tmp_path: Path, make_program: Any
) -> None:
    """Another program's cached answers are not this program's: its import is refused."""
    import_tables(session, rnd, _files(tmp_path), geocoder=CensusFileGeocoder(RESULTS))
    other = create_round(
        session,
        make_program(),
        "fall",
        name="Fall",
        start_date="2026-09-08",
        end_date="2026-12-18",
        timezone="America/Chicago",
    )
    with pytest.raises(TablesError, match="not in the geocode cache"):
        import_tables(session, other, {"schools": _write(tmp_path, "s.csv", SCHOOLS)})


def test_results_csv_geocoder(session: Session, rnd: Round, tmp_path: Path) -> None:
    """file:PATH reads a CSV address,lat,lon (any geocoder's results)."""
    results = _write(
        tmp_path,
        "r.csv",
        'address,lat,lon\n"504 HIGHLAND AVE., KANSAS CITY, MO 64106",39.5,-94.25\n',
    )
    import_tables(
        session,
        rnd,
        {"schools": _write(tmp_path, "s.csv", SCHOOLS)},
        geocoder=FileGeocoder(results),
    )
    school = session.scalars(select(School).where(School.external_id == "sc-1")).one()
    assert (school.lat, school.lon) == (39.5, -94.25)


# --- Nominatim, against a server on this machine -----------------------------------------------


class _Nominatim(http.server.BaseHTTPRequestHandler):
    """A Nominatim /search that knows one address and records every request."""

    requests: ClassVar[list[tuple[float, str, str]]] = []

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        self.requests.append((time.monotonic(), self.headers["User-Agent"], query["q"][0]))
        body: list[dict[str, str]] = []
        known = query["q"][0].startswith("504 Highland Ave")
        if url.path == "/search" and query["format"] == ["jsonv2"] and known:
            body = [{"lat": "39.1012", "lon": "-94.5654", "display_name": "504, Highland"}]
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def nominatim() -> Iterator[tuple[str, list[tuple[float, str, str]]]]:
    """A local Nominatim stand-in on 127.0.0.1 (a free port), stopped after the test."""
    _Nominatim.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Nominatim)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Nominatim.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_nominatim_one_request_a_second_named_and_cached_forever(
    session: Session, program: Program, nominatim: tuple[str, list[tuple[float, str, str]]]
) -> None:
    """Nominatim is asked once per address, a second apart, with the project's User-Agent;
    its answers, misses included, are cached and never asked again."""
    url, requests = nominatim
    addresses = [
        Address(street="504 Highland Ave", city="Kansas City", state="MO", zip="64106"),
        Address(street="1 Nowhere Rd", city="Kansas City", state="MO", zip="64199"),
        Address(street="504 Highland Ave.", city="Kansas City", state="MO", zip="64106"),
    ]
    found = geocode(session, program.id, addresses, NominatimGeocoder(url))
    assert [r[2] for r in requests] == [
        "504 Highland Ave, Kansas City, MO 64106",
        "1 Nowhere Rd, Kansas City, MO 64199",
    ]
    assert all(agent == USER_AGENT for _, agent, _ in requests)
    assert requests[1][0] - requests[0][0] >= 0.99
    hit = found[addresses[0].key]
    assert (hit.lat, hit.lon, hit.source) == (39.1012, -94.5654, f"nominatim:{url}")
    assert found[addresses[1].key].status == "no_match"
    again = geocode(session, program.id, addresses, NominatimGeocoder(url))
    assert len(requests) == 2  # the cache answered both, the miss too
    assert again[addresses[0].key].lat == 39.1012


def test_nominatim_outage_is_an_error_not_a_miss(session: Session, program: Program) -> None:
    """A server that does not answer raises GeocodeError and caches nothing."""
    geocoder = NominatimGeocoder("http://127.0.0.1:9", timeout=2)
    with pytest.raises(GeocodeError, match="no answer for"):
        geocode(session, program.id, [Address(street="1 A St, X, MO 64106")], geocoder)
    assert session.scalar(select(func.count()).select_from(GeocodeCache)) == 0


# --- wbl round geocode -------------------------------------------------------------------------


def _census_answers(export: Path, unmatched: str) -> str:
    """What the Census batch geocoder returns for an export: each row matched at made-up
    coordinates, except the one whose street is `unmatched`."""
    out = []
    for number, (ident, street, city, state, zip_) in enumerate(
        csv.reader(export.read_text(encoding="utf-8").splitlines())
    ):
        echo = f"{street}, {city}, {state}, {zip_}"
        if street == unmatched:
            out.append(f'"{ident}","{echo}","No_Match"')
        else:
            point = f"{-94.5 - number / 100},{39.0 + number / 100}"
            out.append(f'"{ident}","{echo}","Match","Exact","{echo.upper()}","{point}","1","L"')
    return "\n".join(out) + "\n"


def test_cli_export_then_import_round_trip(engine: Engine, tmp_path: Path) -> None:
    """--export writes the Census input of the addresses the cache lacks; --import reads the
    results, lists the unmatched (exit 1); the tables then import from the cache."""
    runner, obj = CliRunner(), {"session_factory": make_session_factory(engine)}
    factory = obj["session_factory"]
    with factory() as session, session.begin():
        rnd = create_round(
            session,
            Program(slug="north", name="North"),
            "fall",
            name="Fall",
            start_date="2026-09-08",
            end_date="2026-12-18",
            timezone="America/Chicago",
        )
    files = _files(
        tmp_path,
        schools=SCHOOLS + "sc-3,East High,,,1 Nowhere Rd,Kansas City,MO,64199\n",
    )
    tables = [str(x) for kind, path in files.items() for x in (kind, path)]
    base = ["round", "geocode", "fall", "--program", "north"]
    export = tmp_path / "addresses.csv"
    result = runner.invoke(main, [*base, "--export", str(export), *tables], obj=obj)
    assert result.exit_code == 0, result.output
    assert "addresses.csv: 4 addresses to geocode" in result.output
    rows = list(csv.reader(export.read_text(encoding="utf-8").splitlines()))
    assert rows == [
        ["1", "504 Highland Ave", "Kansas City", "MO", "64106"],
        ["2", "1 Nowhere Rd", "Kansas City", "MO", "64199"],
        ["3", "118 W 31st St", "Kansas City", "MO", "64108"],
        ["4", "2871 Main St", "Kansas City", "MO", "64108"],
    ]
    answers = _write(tmp_path, "results.csv", _census_answers(export, "1 Nowhere Rd"))
    result = runner.invoke(main, [*base, "--import", str(answers), *tables], obj=obj)
    assert result.exit_code == 1, result.output
    assert "3 matched, 1 without coordinates; 4 cached" in result.output
    assert "'1 Nowhere Rd, Kansas City, MO, 64199': no match" in result.stderr
    assert (
        "schools.csv row 4, column address: no coordinates for"
        " '1 Nowhere Rd, Kansas City, MO 64199'" in result.stderr
    )
    # The next export holds only what is still missing.
    result = runner.invoke(main, [*base, "--export", str(export), *tables], obj=obj)
    assert "1 address to geocode" in result.output
    assert export.read_text(encoding="utf-8") == "1,1 Nowhere Rd,Kansas City,MO,64199\n"
    with factory() as session, session.begin():
        rnd = session.merge(rnd)
        import_tables(session, rnd, _files(tmp_path))  # the matched ones, from the cache
        school = session.scalars(select(School).where(School.external_id == "sc-1")).one()
        assert (school.lat, school.lon) == (39.0, -94.5)


def test_cli_geocode_through_wbl_geocoder(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --export/--import the tables are geocoded through WBL_GEOCODER and cached."""
    runner, obj = CliRunner(), {"session_factory": make_session_factory(engine)}
    with obj["session_factory"]() as session, session.begin():
        create_round(
            session,
            Program(slug="north", name="North"),
            "fall",
            name="Fall",
            start_date="2026-09-08",
            end_date="2026-12-18",
            timezone="America/Chicago",
        )
    files = _files(tmp_path)
    tables = [str(x) for kind, path in files.items() for x in (kind, path)]
    base = ["round", "geocode", "fall", "--program", "north", *tables]
    result = runner.invoke(main, base, obj=obj)
    assert result.exit_code == 2
    assert "no geocoder: set WBL_GEOCODER" in result.stderr
    monkeypatch.setenv("WBL_GEOCODER", f"census:{RESULTS}")
    result = runner.invoke(main, base, obj=obj)
    assert result.exit_code == 0, result.output
    assert "3 of 3 table rows with an address located" in result.output
    with obj["session_factory"]() as session:
        assert session.scalar(select(func.count()).select_from(GeocodeCache)) == 3
