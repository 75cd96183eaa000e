"""The equity page's charts: SVG documents drawn by pygal on the server, one per figure.

Each chart is served as an image of its own (`<img>`), never inlined into a page: pygal's SVG
carries a `<style>` block, which the pages' Content-Security-Policy refuses, and an image
document runs no script. The SVG is made self-contained here: no `<script>` (pygal's
tooltips need its JavaScript from a CDN; `js=[]` drops that, and an XML filter drops the
config script and comments with URLs), no external reference, a `<title>` and a `<desc>`
that say what the figure shows. The same sentence (`describe`) is the `<img>`'s alt text;
the page shows every figure's numbers in a table too.

Colours are dark on white (contrast of at least 4.5:1 for text and 3:1 for marks).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final
from xml.etree import ElementTree as ET

import pygal
from pygal.style import Style

from scheduler.equity import (
    Bin,
    Equity,
    KindFill,
    Rate,
    TransitLine,
    travel_histogram,
)

__all__ = ["CHARTS", "Chart", "chart_parts", "describe", "render"]

# pygal puts a legacy import hook on sys.meta_path (for its `pygal.maps` plugins, unused here):
# with only `find_module`, every import that falls through to it (an optional module that is
# not installed) raises Python 3.11's ImportWarning, an error under the tests' warning filter.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]

# Dark enough on white for text (>= 4.5:1): blue, orange-brown, green, purple, grey, red.
COLOURS: Final = ("#0a58ca", "#9a4300", "#1a7f37", "#6f42c1", "#57606a", "#cf222e")
ROUTE_GREY: Final = "#8c959f"

STYLE: Final = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2328",
    foreground_strong="#1f2328",
    foreground_subtle="#57606a",
    opacity="1",
    opacity_hover="1",
    transition="none",
    colors=COLOURS,
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    title_font_size=20,
    label_font_size=14,
    major_label_font_size=14,
    legend_font_size=15,
    value_font_size=13,
    value_label_font_size=13,
    tooltip_font_size=13,
    no_data_font_size=20,
)
MARKS: Final = ("#0a58ca", "#6f42c1", "#1a7f37", "#9a4300")


def _map_style(routes: bool) -> Style:
    """The map's colours: the routes' grey first when there are routes (a series takes the
    colour of its position)."""
    return Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground="#1f2328",
        foreground_strong="#1f2328",
        foreground_subtle="#57606a",
        opacity="1",
        opacity_hover="1",
        transition="none",
        colors=((ROUTE_GREY,) if routes else ()) + MARKS,
        font_family=STYLE.font_family,
        title_font_size=20,
        legend_font_size=15,
        no_data_font_size=20,
    )


WIDTH: Final = 800


@dataclass(frozen=True, slots=True, kw_only=True)
class Chart:
    """A figure of the page: its file name (`<name>.svg`), heading, and the equity parts
    it needs."""

    name: str
    title: str
    parts: frozenset[str]


CHARTS: Final = (
    Chart(name="groups", title="Placement rate by student group", parts=frozenset({"group"})),
    Chart(name="schools", title="Placement rate by school", parts=frozenset({"school"})),
    Chart(name="clusters", title="Placement rate by career cluster", parts=frozenset({"cluster"})),
    Chart(name="kinds", title="Seats filled by opportunity kind", parts=frozenset({"kind"})),
    Chart(name="ranks", title="Preference rank of placements", parts=frozenset({"rank"})),
    Chart(name="travel", title="Travel time of placements", parts=frozenset({"travel"})),
    Chart(name="map", title="Map of schools and placement sites", parts=frozenset({"map"})),
)
_BY_NAME: Final = {c.name: c for c in CHARTS}


def chart_parts(name: str) -> frozenset[str] | None:
    """The equity parts a chart needs; None for a name that is no chart."""
    chart = _BY_NAME.get(name)
    return None if chart is None else chart.parts


def _pct(x: float | None) -> str:
    return "no students" if x is None else f"{x * 100:.0f}%"


def _rate_sentence(what: str, rates: Sequence[Rate]) -> str:
    known = [r for r in rates if r.rate is not None]
    if not known:
        return f"No {what} to show."
    low = min(known, key=lambda r: (r.rate or 0.0, r.label))
    high = max(known, key=lambda r: (r.rate or 0.0, r.label))
    return (
        f"Share of students placed for {len(rates)} {what}: highest {high.label} at "
        f"{_pct(high.rate)} ({high.placed} of {high.students}), lowest {low.label} at "
        f"{_pct(low.rate)} ({low.placed} of {low.students})."
    )


def describe(name: str, equity: Equity) -> str:
    """A sentence that says what the chart shows: its title and alt text."""
    if equity.run_id is None:
        return "No finished run yet: nothing to show."
    if name == "groups":
        return _rate_sentence("student groups", equity.by_group)
    if name == "schools":
        return _rate_sentence("schools", equity.by_school)
    if name == "clusters":
        return _rate_sentence("career clusters", equity.by_cluster)
    if name == "kinds":
        if not equity.by_kind:
            return "No opportunities to show."
        parts = ", ".join(
            f"{k.label} {k.placed} of {k.seats} ({_pct(k.rate)})" for k in equity.by_kind
        )
        return f"Seats filled by opportunity kind: {parts}."
    if name == "ranks":
        total = sum(r.placed for r in equity.ranks)
        if not total:
            return "No placements to show."
        first = next((r.placed for r in equity.ranks if r.rank == 1), 0)
        outside = next((r.placed for r in equity.ranks if r.rank is None), 0)
        return (
            f"Placements by preference rank: {first} of {total} at the first choice "
            f"({_pct(first / total)}), {outside} outside the students' preferences."
        )
    if name == "travel":
        total = sum(n for _, n in equity.travel)
        if not total:
            return "No placements to show."
        mean = sum(m * n for m, n in equity.travel) / total
        longest = max(m for m, _ in equity.travel)
        return (
            f"Travel time of {total} placements in {len(travel_histogram(equity.travel))} "
            f"bins of minutes: mean {mean:.0f} min, longest {longest} min."
        )
    if name == "map":
        placed_sites = sum(1 for s in equity.sites if s.placed)
        with_placed = sum(1 for s in equity.schools if s.placed)
        backdrop = f" over {len(equity.lines)} transit route lines" if equity.lines else ""
        return (
            f"Map{backdrop}: {len(equity.schools)} schools ({with_placed} with placed "
            f"students) and {sum(s.opportunities for s in equity.sites)} opportunity sites "
            f"in {len(equity.sites)} areas of about 4 km ({placed_sites} with placements)."
        )
    raise KeyError(name)


def render(name: str, equity: Equity) -> str:
    """The chart `name` of `equity` as a self-contained SVG document."""
    title = _BY_NAME[name].title
    desc = describe(name, equity)
    draw: dict[str, Callable[[], Any]] = {
        "groups": lambda: _rates(title, equity.by_group),
        "schools": lambda: _rates(title, equity.by_school),
        "clusters": lambda: _rates(title, equity.by_cluster),
        "kinds": lambda: _kinds(title, equity.by_kind),
        "ranks": lambda: _ranks(title, equity),
        "travel": lambda: _travel(title, travel_histogram(equity.travel)),
        "map": lambda: _map(title, equity, equity.lines),
    }
    chart = draw[name]()
    # pygal names each drawing with a random id; the chart's name keeps the SVG the same for
    # the same figures, so an unchanged chart is answered "not modified" (its ETag).
    chart.uuid = f"equity-{name}"
    chart.add_xml_filter(_self_contained(title, desc))
    svg: str = chart.render(is_unicode=True)
    return svg


def _config(**extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "js": [],
        "disable_xml_declaration": True,
        "explicit_size": True,  # an <img> of it has a natural size
        "style": STYLE,
        "width": WIDTH,
        "show_legend": False,
        "print_values": False,  # dark digits on the bars would lack contrast: see the tables
        "truncate_label": 40,
        "no_data_text": "No data",
        "margin": 16,
    }
    config.update(extra)
    return config


def _rates(title: str, rates: Sequence[Rate]) -> Any:
    height = 110 + 34 * max(len(rates), 1)
    chart = pygal.HorizontalBar(
        **_config(
            title=title,
            height=height,
            range=(0, 100),
            x_title="Students placed (%)",
            value_formatter=lambda v: f"{v:.0f}%",
        )
    )
    # pygal stacks horizontal bars from the bottom: reversed, they read top-down as the table.
    rows = list(reversed(rates))
    chart.x_labels = [r.label for r in rows]
    chart.add("Placed (%)", [None if r.rate is None else r.rate * 100 for r in rows])
    return chart


def _kinds(title: str, kinds: Sequence[KindFill]) -> Any:
    chart = pygal.HorizontalBar(
        **_config(
            title=title,
            height=110 + 34 * max(len(kinds), 1),
            range=(0, 100),
            x_title="Seats filled (%)",
            value_formatter=lambda v: f"{v:.0f}%",
        )
    )
    rows = list(reversed(kinds))
    chart.x_labels = [k.label for k in rows]
    chart.add("Seats filled (%)", [None if k.rate is None else k.rate * 100 for k in rows])
    return chart


def _ranks(title: str, equity: Equity) -> Any:
    chart = pygal.Bar(
        **_config(title=title, height=420, x_title="Preference rank", y_title="Placements")
    )
    chart.x_labels = [str(r.rank) if r.rank is not None else "None" for r in equity.ranks]
    chart.add("Placements", [r.placed for r in equity.ranks])
    return chart


def _travel(title: str, bins: Sequence[Bin]) -> Any:
    chart = pygal.Bar(
        **_config(
            title=title,
            height=420,
            x_title="Travel time (minutes)",
            y_title="Placements",
            x_label_rotation=0 if len(bins) <= 8 else 40,
            spacing=2,
        )
    )
    chart.x_labels = [f"{b.low}+" if b.high is None else f"{b.low}-{b.high - 1}" for b in bins]
    chart.add("Placements", [b.placed for b in bins])
    return chart


def _map(title: str, equity: Equity, lines: Sequence[TransitLine]) -> Any:
    """An XY chart of longitude (scaled by the cosine of the latitude, so distances look
    right) against latitude; the transit lines (clipped to the round's area) underneath."""
    points = [(s.lat, s.lon) for s in equity.schools] + [(s.lat, s.lon) for s in equity.sites]
    if not points:
        return pygal.XY(**_config(title=title, height=400, show_legend=True))
    lat0 = sum(p[0] for p in points) / len(points)
    k = math.cos(math.radians(lat0))
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    pad_lat = max((max(lats) - min(lats)) * 0.05, 0.005)
    pad_lon = max((max(lons) - min(lons)) * 0.05, 0.005)
    south, north = min(lats) - pad_lat, max(lats) + pad_lat
    west, east = min(lons) - pad_lon, max(lons) + pad_lon
    aspect = (north - south) / max((east - west) * k, 1e-9)
    height = int(min(max(WIDTH * aspect, 380), 1100)) + 170
    chart = pygal.XY(
        **_config(
            title=title,
            style=_map_style(bool(lines)),
            height=height,
            show_legend=True,
            legend_at_bottom=True,
            legend_at_bottom_columns=2,
            margin_bottom=48,  # pygal's legend rows would be cut at the bottom
            print_values=False,
            show_x_labels=False,
            show_y_labels=False,
            show_x_guides=False,
            show_y_guides=False,
            allow_interruptions=True,
            xrange=(west * k, east * k),
            range=(south, north),
        )
    )

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (round(lon * k, 5), round(lat, 5))

    route: list[tuple[float, float] | None] = []
    for line in lines:
        for lat, lon in line.points:
            inside = south <= lat <= north and west <= lon <= east
            if inside:
                route.append(xy(lat, lon))
            elif route and route[-1] is not None:
                route.append(None)
        if route and route[-1] is not None:
            route.append(None)
    if lines:
        chart.add("Transit routes", route, stroke=True, show_dots=False, fill=False)
    schools_placed = [xy(s.lat, s.lon) for s in equity.schools if s.placed]
    schools_none = [xy(s.lat, s.lon) for s in equity.schools if not s.placed]
    chart.add("Schools with placed students", schools_placed, stroke=False, dots_size=7)
    chart.add("Schools with no student placed", schools_none, stroke=False, dots_size=7)
    sites_placed = [xy(s.lat, s.lon) for s in equity.sites if s.placed]
    sites_none = [xy(s.lat, s.lon) for s in equity.sites if not s.placed]
    chart.add("Sites with placements", sites_placed, stroke=False, dots_size=3.5)
    chart.add("Sites without placements", sites_none, stroke=False, dots_size=3.5)
    return chart


def _self_contained(title: str, desc: str) -> Callable[[ET.Element], ET.Element]:
    """An XML filter for pygal: no script, no comment, the title and a description."""

    def clean(root: ET.Element) -> ET.Element:
        for parent in list(root.iter()):
            for child in list(parent):
                # Comments and processing instructions have a function as their tag.
                if not isinstance(child.tag, str) or _local(child.tag) == "script":
                    parent.remove(child)
        titles = [c for c in root if isinstance(c.tag, str) and _local(c.tag) == "title"]
        for old in titles:
            root.remove(old)
        head = ET.Element("title")
        head.text = title
        about = ET.Element("desc")
        about.text = desc
        root.insert(0, about)
        root.insert(0, head)
        root.set("role", "img")
        return root

    return clean


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]
