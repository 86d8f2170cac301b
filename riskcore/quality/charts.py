"""The Monitoring page's charts: pure functions from stored quality data to Altair charts,
testable without Streamlit, sized for a projector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd

from riskcore.quality import checks, drift

PASS_COLOUR = "#1a7f37"
FAIL_COLOUR = "#cf222e"
WATCH_COLOUR = "#9a6700"
NEUTRAL_COLOUR = "#0969da"
VERDICT_COLOURS = alt.Scale(domain=["stable", "watch", "alert", "no baseline"],
                            range=[PASS_COLOUR, WATCH_COLOUR, FAIL_COLOUR, "#8c959f"])
OUTPUT_COLOURS = alt.Scale(domain=["published", "blocked"], range=[NEUTRAL_COLOUR, FAIL_COLOUR])


def _outputs(profiles: pd.DataFrame) -> pd.DataFrame:
    """Profiles with what a chart needs: published or blocked, a short feature name, and the
    batch's time as a label (runs can be seconds apart: a time axis would squash them)."""
    times = pd.to_datetime(profiles["event_time"], utc=True)
    return profiles.assign(output=profiles["blocked"].map({True: "blocked", False: "published"}),
                           short=profiles["feature"].str.removeprefix("yesterdays_"),
                           batch_at=_labels(times), event_time=times)


def _labels(times: pd.Series) -> pd.Series:
    """Times as short labels: the time of day, with the date once they span more than a day."""
    span = times.max() - times.min() if len(times) else pd.Timedelta(0)
    return times.dt.strftime("%d %b %H:%M" if span > pd.Timedelta(days=1) else "%H:%M:%S")


def _batch_axis(frame: pd.DataFrame) -> alt.X:
    """Batch outputs in time order, evenly spaced, labelled with their time."""
    order = list(dict.fromkeys(frame.sort_values("event_time")["batch_at"]))
    return alt.X("batch_at:O", sort=order, title="batch output (event time, UTC)",
                 axis=alt.Axis(labelAngle=0, labelOverlap=True))


def check_grid(history: pd.DataFrame) -> alt.Chart:
    """Batch runs (columns) by checks (rows): green passed, red failed, the detail on hover."""
    frame = history.assign(run=history["job_id"].map(lambda j: f"#{j}"),
                           result=history["passed"].map({1: "passed", 0: "failed"}))
    order = [f"#{j}" for j in sorted(history["job_id"].unique())]
    return alt.Chart(frame).mark_rect(stroke="white", strokeWidth=2).encode(
        x=alt.X("run:N", sort=order, title="batch job", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("name:N", sort=None, title=None, axis=alt.Axis(labelLimit=360, labelOverlap=False)),
        color=alt.Color("result:N", scale=alt.Scale(domain=["passed", "failed"], range=[PASS_COLOUR, FAIL_COLOUR]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["run:N", "name:N", "result:N", "detail:N", "expected:N"],
    ).properties(height=alt.Step(30))


def drift_bars(overview: pd.DataFrame) -> alt.LayerChart:
    """PSI of each feature's newest batch output against the baseline, on a log-like scale, with
    the alert threshold; the colour is the verdict (which also weighs chance)."""
    frame = overview.assign(psi=overview["PSI"].fillna(0.0))
    bars = alt.Chart(frame).mark_bar(size=20).encode(
        y=alt.Y("feature:N", sort=None, title=None, axis=alt.Axis(labelLimit=420)),
        x=alt.X("psi:Q", title="PSI against the baseline", scale=alt.Scale(type="symlog", constant=0.1)),
        color=alt.Color("drift:N", scale=VERDICT_COLOURS, legend=alt.Legend(orient="top", title=None)),
        tooltip=["view:N", "feature:N", alt.Tooltip("PSI:Q", format=".3f"),
                 alt.Tooltip("PSI by chance:Q", format=".3f"), "drift:N"],
    )
    rule = alt.Chart(pd.DataFrame({"x": [drift.PSI_ALERT]})).mark_rule(
        color=FAIL_COLOUR, strokeDash=[6, 3], strokeWidth=2).encode(x="x:Q")
    return (bars + rule).properties(height=alt.Step(28))


def distribution_over_time(profiles: pd.DataFrame, view: str, feature: str,
                           baseline_mean: float | None) -> alt.LayerChart:
    """One feature across batch outputs: the min–max band, p50 to p90, the mean, each output a
    point (red when the checks blocked it), the baseline's mean dashed."""
    frame = _outputs(profiles[(profiles["view"] == view) & (profiles["feature"] == feature)])
    x = _batch_axis(frame)
    span = alt.Chart(frame).mark_area(opacity=0.15, color=NEUTRAL_COLOUR).encode(
        x=x, y=alt.Y("min_val:Q", title=feature), y2="max_val:Q")
    middle = alt.Chart(frame).mark_area(opacity=0.3, color=NEUTRAL_COLOUR).encode(x=x, y="p50:Q", y2="p90:Q")
    mean = alt.Chart(frame).mark_line(color=NEUTRAL_COLOUR, strokeWidth=3).encode(x=x, y="mean:Q")
    points = alt.Chart(frame).mark_point(size=140, filled=True).encode(
        x=x, y="mean:Q", color=alt.Color("output:N", scale=OUTPUT_COLOURS, legend=alt.Legend(orient="top", title=None)),
        tooltip=["batch_at:O", "output:N", "row_count:Q",
                 alt.Tooltip("min_val:Q", format=".4g"), alt.Tooltip("mean:Q", format=".4g"),
                 alt.Tooltip("max_val:Q", format=".4g"), alt.Tooltip("null_rate:Q", format=".1%"),
                 alt.Tooltip("psi:Q", format=".3f")])
    layers = [span, middle, mean, points]
    if baseline_mean is not None:
        layers.append(alt.Chart(pd.DataFrame({"y": [baseline_mean]})).mark_rule(
            strokeDash=[6, 3], color="black").encode(y="y:Q"))
    return alt.layer(*layers).properties(height=340)


def histogram_vs_baseline(current: Mapping[str, Any] | None, baseline: Mapping[str, Any] | None) -> alt.Chart:
    """Feast's histogram of the newest output beside the baseline's, as shares of their rows."""
    rows = []
    for series, histogram in (("baseline", baseline), ("newest output", current)):
        if not histogram:
            continue
        edges, counts = list(histogram["bins"]), list(histogram["counts"])
        total = sum(counts) or 1
        if len(edges) == 2 and edges[0] == edges[1]:
            width = max(abs(edges[0]), 1.0) * 0.02
            edges = [edges[0] - width, edges[0] + width]
        rows += [{"series": series, "start": low, "end": high, "share": count / total}
                 for low, high, count in zip(edges[:-1], edges[1:], counts)]
    frame = pd.DataFrame(rows, columns=["series", "start", "end", "share"])
    return alt.Chart(frame).mark_bar(opacity=0.55, binSpacing=0).encode(
        x=alt.X("start:Q", title="value"), x2="end:Q",
        y=alt.Y("share:Q", title="share of rows", axis=alt.Axis(format="%"), stack=None),
        color=alt.Color("series:N", scale=alt.Scale(domain=["baseline", "newest output"],
                                                    range=["#8c959f", NEUTRAL_COLOUR]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["series:N", alt.Tooltip("start:Q", format=".4g"), alt.Tooltip("end:Q", format=".4g"),
                 alt.Tooltip("share:Q", format=".1%")],
    ).properties(height=260)


def rows_over_time(profiles: pd.DataFrame, view: str) -> alt.Chart:
    """Rows in each of a view's batch outputs: a dip is data that went missing on the way."""
    frame = _outputs(profiles[profiles["view"] == view].drop_duplicates("batch"))
    return alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=90, filled=True), color=NEUTRAL_COLOUR).encode(
        x=_batch_axis(frame),
        y=alt.Y("row_count:Q", title="rows", scale=alt.Scale(zero=False), axis=alt.Axis(format=",d", tickMinStep=1)),
        tooltip=["batch_at:O", "output:N", alt.Tooltip("row_count:Q", format=",")],
    ).properties(height=260, title=view)


NULL_LEVELS = alt.Scale(domain=["none", "within the limit", "over the limit"],
                        range=["#eaeef2", WATCH_COLOUR, FAIL_COLOUR])


def null_rates(profiles: pd.DataFrame) -> alt.Chart:
    """Nulls per feature (rows) and batch output (columns): grey none, red over the checks' limit."""
    frame = _outputs(profiles)
    frame = frame.assign(level=frame["null_rate"].map(
        lambda r: "none" if not r else "within the limit" if r <= checks.MAX_NULL_RATE else "over the limit"))
    return alt.Chart(frame).mark_rect(stroke="white", strokeWidth=2).encode(
        x=_batch_axis(frame),
        y=alt.Y("feature:N", title=None, axis=alt.Axis(labelLimit=360, labelOverlap=False)),
        color=alt.Color("level:N", scale=NULL_LEVELS, legend=alt.Legend(orient="top", title=None)),
        tooltip=["batch_at:O", "feature:N", alt.Tooltip("null_rate:Q", format=".1%")],
    ).properties(height=alt.Step(28))


def flag_rates(profiles: pd.DataFrame, flags: tuple[str, ...]) -> alt.LayerChart:
    """Share of drivers each red flag fires for, per batch output (a 0/1 feature's mean), with
    the checks' "fires for everyone" limit: a flat line at zero is a flag that never fires."""
    frame = _outputs(profiles[profiles["feature"].isin(flags)])
    lines = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=80, filled=True)).encode(
        x=_batch_axis(frame),
        y=alt.Y("mean:Q", title="drivers flagged", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("short:N", legend=alt.Legend(orient="top", title=None, labelLimit=400)),
        tooltip=["batch_at:O", "feature:N", "output:N", alt.Tooltip("mean:Q", format=".1%", title="flagged")],
    )
    rule = alt.Chart(pd.DataFrame({"y": [checks.MAX_FLAG_RATE]})).mark_rule(
        color=FAIL_COLOUR, strokeDash=[6, 3]).encode(y="y:Q")
    return (lines + rule).properties(height=340)


def skew_over_time(history: pd.DataFrame) -> alt.Chart:
    """Values that differ between online and point-in-time offline, per monitoring pass."""
    times = pd.to_datetime(history["measured_at"], utc=True)
    frame = history.assign(measured_at=times, at=_labels(times),
                           state=history["mismatches"].map(lambda n: "skew" if n else "none"))
    return alt.Chart(frame).mark_bar(size=14).encode(
        x=alt.X("at:O", sort=list(frame.sort_values("measured_at")["at"]), title="monitoring pass (UTC)",
                axis=alt.Axis(labelAngle=0, labelOverlap=True)),
        y=alt.Y("mismatches:Q", title="values that differ", axis=alt.Axis(format="d", tickMinStep=1),
                scale=alt.Scale(domainMin=0, domainMax=max(1, int(frame["mismatches"].max() or 0)))),
        color=alt.Color("state:N", scale=alt.Scale(domain=["none", "skew"], range=[PASS_COLOUR, FAIL_COLOUR]),
                        legend=None),
        tooltip=["at:O", "mismatches:Q", "compared:Q"],
    ).properties(height=240)
