"""Report charts drawn as inline SVG by `_charts.html`, each with its numbers in a table.

The macros are rendered straight from the pages' Jinja environment (no server, no browser):
the SVG is well-formed and labelled for assistive technology, the table carries every
label and value, user text comes out escaped, nothing the Content-Security-Policy forbids
is written, and the scales are right (proportional bars, gaps left as gaps, the reference
inside the axis, no division by zero when there is nothing to draw).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from importlib import resources

import pytest

from daycase.reports.model import BarChart, BoxChart, Chart, RunChart, Summary
from daycase.web.common import TEMPLATES

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
NONE_TEXT = "No cases in this period."

BAR = BarChart(
    "Cancellations by reason",
    "Number of cancelled cases for each reason.",
    "count",
    (("Patient unwell", 14.0), ("No bed", 7.0), ("Other", 0.0)),
)
RUN = RunChart(
    "Unplanned admissions: by month",
    "Rate per month, with the national rate as a dashed line.",
    "per 1,000 admissions",
    (("2024-01", 3.2), ("2024-02", 2.75), ("2024-03", None), ("2024-04", 4.0), ("2024-05", 5.5)),
    reference=9.0,
    reference_label="National",
)
BOX = BoxChart(
    "Procedure time by room",
    "Minutes from start to end of the procedure.",
    "min",
    (
        ("Room 1", Summary(42, 18.0, 31.0, 38.5, 47.0, 95.0)),
        ("Room 2", Summary(12, 25.0, 40.0, 52.0, 61.5, 120.0)),
    ),
)
CHARTS = [BAR, RUN, BOX]


def render(c: Chart, id_: str = "x") -> str:
    template = TEMPLATES.env.from_string(
        '{% import "_charts.html" as charts %}{{ charts.chart(c, id) }}'
    )
    return template.render(c=c, id=id_)


def svg_of(html: str) -> ET.Element:
    start, end = html.index("<svg"), html.index("</svg>") + len("</svg>")
    return ET.fromstring(html[start:end])


def table_of(html: str) -> str:
    return html[html.index("<table") : html.index("</table>")]


def cells(html: str) -> list[str]:
    return re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", table_of(html))


def drawn(svg: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in svg.iter(tag) if cls in e.get("class", "").split()]


@pytest.mark.parametrize("c", CHARTS, ids=lambda c: c.kind)
def test_each_chart_is_a_labelled_well_formed_svg_in_a_figure(c: Chart) -> None:
    html = render(c, "m1-chart")
    assert html.lstrip().startswith('<figure class="chart')
    assert f"<figcaption>{c.title}</figcaption>" in html
    svg = svg_of(html)
    assert svg.tag == "svg"
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "m1-chart-title m1-chart-desc"
    assert svg.get("width") == "100%"
    assert svg.get("preserveAspectRatio") == "xMinYMin meet"
    assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", svg.get("viewBox", ""))
    first, second = list(svg)[:2]
    assert (first.tag, first.get("id"), first.text) == ("title", "m1-chart-title", c.title)
    assert (second.tag, second.get("id"), second.text) == ("desc", "m1-chart-desc", c.description)
    assert f"<caption>{c.title}</caption>" in table_of(html)


@pytest.mark.parametrize("c", CHARTS, ids=lambda c: c.kind)
def test_no_inline_style_script_or_outside_resource(c: Chart) -> None:
    html = render(c)
    assert "style=" not in html
    assert "<style" not in html
    assert "<script" not in html
    assert "href" not in html
    assert "http" not in html


def test_the_template_source_carries_nothing_the_policy_forbids() -> None:
    text = resources.files("daycase.web").joinpath("templates/_charts.html").read_text("utf-8")
    for pattern in (r"<script", r"\sstyle\s*=", r"<style\b", r"\son[a-z]+\s*=", "javascript:"):
        assert not re.search(pattern, text, re.I), pattern
    assert "|safe" not in text.replace(" ", "")


def test_bar_table_has_every_label_and_value() -> None:
    found = cells(render(BAR))
    assert found[:2] == ["Group", "Value (count)"]
    assert found[2:] == ["Patient unwell", "14", "No bed", "7", "Other", "0"]


def test_run_table_has_every_period_value_and_the_reference() -> None:
    found = cells(render(RUN))
    assert found == [
        "Period",
        "Value (per 1,000 admissions)",
        "2024-01",
        "3.2",
        "2024-02",
        "2.8",
        "2024-03",
        "no cases",
        "2024-04",
        "4",
        "2024-05",
        "5.5",
        "National",
        "9",
    ]


def test_box_table_has_every_group_and_its_five_numbers() -> None:
    found = cells(render(BOX))
    heading = ["", "Duration (min)", "Group", "n", "Low", "Q1", "Median", "Q3", "High"]
    assert found[: len(heading)] == heading
    rows = [found[k : k + 7] for k in range(len(heading), len(found), 7)]
    assert rows == [
        ["Room 1", "42", "18", "31", "38.5", "47", "95"],
        ["Room 2", "12", "25", "40", "52", "61.5", "120"],
    ]


def test_numbers_have_at_most_one_decimal_but_small_rates_keep_two_figures() -> None:
    chart = BarChart(
        "t", "d", "%", (("a", 96.54), ("b", 100.0), ("c", 0.04), ("d", 12.96), ("e", 0.0))
    )
    html = render(chart)
    # 0.017 per 1,000 (a national burn rate) must not read as 0.
    assert cells(html)[2:] == ["a", "96.5", "b", "100", "c", "0.04", "d", "13", "e", "0"]
    values = [e.text for e in drawn(svg_of(html), "text", "chart-value")]
    assert values == ["96.5%", "100%", "0.04%", "13%", "0%"]


@pytest.mark.parametrize(
    "c",
    [
        BarChart("t", "d", "count", ((EVIL, 3.0), ("ok", 1.0))),
        RunChart("t", "d", "%", ((EVIL, 3.0), ("ok", 1.0)), 2.0, EVIL),
        BoxChart("t", "d", "min", ((EVIL, Summary(3, 1.0, 2.0, 3.0, 4.0, 5.0)),)),
        BarChart(EVIL, EVIL, EVIL, (("ok", 1.0),)),
    ],
    ids=["bar", "run", "box", "title"],
)
def test_user_text_is_escaped(c: Chart) -> None:
    html = render(c, EVIL)
    assert "<script" not in html
    assert ESCAPED in html
    svg = svg_of(html)
    assert any(EVIL in "".join(e.itertext()) for e in svg.iter())


def test_bar_widths_are_proportional_to_values() -> None:
    chart = BarChart("t", "d", "count", (("double", 8.0), ("single", 4.0), ("none", 0.0)))
    bars = drawn(svg_of(render(chart)), "rect", "bar")
    widths = [float(b.get("width", "nan")) for b in bars]
    assert len(widths) == 3
    assert widths[0] == pytest.approx(2 * widths[1], rel=1e-3)
    assert widths[1] > 0
    assert widths[2] == 0
    starts = {b.get("x") for b in bars}
    assert len(starts) == 1


def test_a_long_bar_label_is_shortened_in_the_drawing_and_whole_in_the_table() -> None:
    long = "Anticoagulation not stopped in time for the procedure"
    html = render(BarChart("t", "d", "count", ((long, 2.0),)))
    label = drawn(svg_of(html), "text", "chart-label")[0]
    assert label.text is not None
    assert label.text.endswith("…")
    assert len(label.text) <= 30
    assert long in cells(html)


def test_run_chart_draws_the_reference_as_a_dashed_line_inside_the_axis() -> None:
    svg = svg_of(render(RUN))
    (line,) = drawn(svg, "line", "reference")
    assert line.get("stroke-dasharray")
    assert line.get("y1") == line.get("y2")
    grid = drawn(svg, "line", "grid")
    top_y = min(float(g.get("y1", "nan")) for g in grid)
    bottom_y = max(float(g.get("y1", "nan")) for g in grid)
    assert top_y <= float(line.get("y1", "nan")) < bottom_y
    ticks = [e.text for e in drawn(svg, "text", "chart-tick")]
    assert ticks[0] == "0"
    assert float(ticks[len(grid) - 1] or "nan") >= 9
    assert 3 <= len(grid) <= 7
    assert any("National: 9" in "".join(e.itertext()) for e in drawn(svg, "text", "chart-legend"))


def test_run_chart_without_a_reference_draws_no_reference() -> None:
    chart = RunChart("t", "d", "%", (("2024-01", 1.0), ("2024-02", 2.0)))
    html = render(chart)
    assert drawn(svg_of(html), "line", "reference") == []
    assert "<tfoot" not in html


def test_a_gap_is_no_point_and_breaks_the_line() -> None:
    html = render(RUN)
    assert '<td class="num">no cases</td>' in html
    svg = svg_of(html)
    assert len(drawn(svg, "circle", "point")) == 4
    lines = [p.get("points", "").split() for p in drawn(svg, "polyline", "line")]
    assert [len(points) for points in lines] == [2, 2]
    # Both runs keep time order and the second starts right of where the first ended.
    ends = [float(points[-1].split(",")[0]) for points in lines]
    starts = [float(points[0].split(",")[0]) for points in lines]
    assert starts[1] > ends[0]


def test_a_lone_point_between_gaps_is_a_point_without_a_line() -> None:
    chart = RunChart("t", "d", "%", (("a", None), ("b", 2.0), ("c", None)))
    svg = svg_of(render(chart))
    assert len(drawn(svg, "circle", "point")) == 1
    assert drawn(svg, "polyline", "line") == []


def test_many_periods_show_at_most_thirteen_labels() -> None:
    months = [f"{2022 + i // 12}-{i % 12 + 1:02d}" for i in range(36)]
    chart = RunChart("t", "d", "%", tuple((m, float(i % 7)) for i, m in enumerate(months)))
    html = render(chart)
    shown = [e.text for e in drawn(svg_of(html), "text", "chart-tick") if e.text in months]
    assert 2 <= len(shown) <= 13
    assert shown[0] == "2022-01"
    assert all(m in cells(html) for m in months)


def test_few_periods_show_every_label() -> None:
    chart = RunChart("t", "d", "%", (("Jan", 1.0), ("Feb", 2.0), ("Mar", None)))
    shown = [e.text for e in drawn(svg_of(render(chart)), "text", "chart-tick")]
    assert {"Jan", "Feb", "Mar"} <= set(shown)


def test_a_year_of_months_shows_every_label_in_two_staggered_rows() -> None:
    months = [f"2024-{m:02d}" for m in range(1, 13)]
    chart = RunChart("t", "d", "%", tuple((m, 1.0) for m in months))
    ticks = [e for e in drawn(svg_of(render(chart)), "text", "chart-tick") if e.text in months]
    assert [e.text for e in ticks] == months
    rows = [e.get("y") for e in ticks]
    assert len(set(rows)) == 2
    assert rows[0::2] == [rows[0]] * 6
    assert rows[1::2] == [rows[1]] * 6


def test_box_plot_marks_whiskers_box_median_and_n() -> None:
    svg = svg_of(render(BOX))
    labels = [e.text for e in drawn(svg, "text", "chart-label")]
    assert labels == ["Room 1 (n=42)", "Room 2 (n=12)"]
    boxes = drawn(svg, "rect", "iqr")
    medians = drawn(svg, "line", "median")
    whiskers = drawn(svg, "line", "whisker")
    assert len(boxes) == len(medians) == len(whiskers) == 2
    # Room 1: low 18, Q1 31, median 38.5, Q3 47, high 95 on one linear scale from 0.
    (zero,) = [float(g.get("x1", "nan")) for g in drawn(svg, "line", "grid")][:1]
    scale = (float(whiskers[0].get("x2", "nan")) - zero) / 95
    assert float(whiskers[0].get("x1", "nan")) == pytest.approx(zero + 18 * scale, abs=0.02)
    assert float(boxes[0].get("x", "nan")) == pytest.approx(zero + 31 * scale, abs=0.02)
    assert float(boxes[0].get("width", "nan")) == pytest.approx(16 * scale, abs=0.02)
    assert float(medians[0].get("x1", "nan")) == pytest.approx(zero + 38.5 * scale, abs=0.02)


@pytest.mark.parametrize(
    "c",
    [
        BarChart("Empty bars", "d", "count", ()),
        BarChart("Zero bars", "d", "count", (("a", 0.0), ("b", 0.0))),
        RunChart("Empty run", "d", "%", ()),
        RunChart("Gaps only", "d", "%", (("2024-01", None), ("2024-02", None)), 2.0, "National"),
        RunChart("Zeros", "d", "%", (("2024-01", 0.0), ("2024-02", None))),
        BoxChart("Empty boxes", "d", "min", ()),
        BoxChart("Zero boxes", "d", "min", (("a", Summary(1, 0.0, 0.0, 0.0, 0.0, 0.0)),)),
    ],
    ids=lambda c: c.title,
)
def test_nothing_to_draw_says_so_without_an_svg(c: Chart) -> None:
    html = render(c)
    assert NONE_TEXT in html
    assert "<svg" not in html
    assert f"<figcaption>{c.title}</figcaption>" in html
    assert html.lstrip().startswith('<figure class="chart')


def test_zeros_with_a_reference_are_drawn() -> None:
    chart = RunChart("t", "d", "%", (("2024-01", 0.0), ("2024-02", 0.0)), 2.0, "National")
    html = render(chart)
    assert NONE_TEXT not in html
    svg = svg_of(html)
    assert len(drawn(svg, "circle", "point")) == 2
    assert len(drawn(svg, "line", "reference")) == 1


def test_two_charts_on_one_page_keep_their_own_ids() -> None:
    html = render(BAR, "a") + render(RUN, "b")
    for id_ in ("a-title", "a-desc", "b-title", "b-desc"):
        assert html.count(f'id="{id_}"') == 1
