"""Chart builders: pure functions from numbers to Altair charts (testable without Streamlit),
sized for a projector."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

from riskcore.serving.model import Model

APPROVED_COLOUR = "#1a7f37"
DECLINED_COLOUR = "#cf222e"
REVIEW_COLOUR = "#9a6700"
COLOURS = {"Approved": APPROVED_COLOUR, "Declined": DECLINED_COLOUR, "Review": REVIEW_COLOUR}


def gauge(score: float | None, threshold: float) -> alt.LayerChart:
    """A horizontal 0–1 bar with the score and the decline threshold marked and labelled (the
    label sits inside the chart, so nothing is clipped at its edges)."""
    value = 0.0 if score is None else score
    colour = REVIEW_COLOUR if score is None else (APPROVED_COLOUR if value < threshold else DECLINED_COLOUR)
    x = alt.X("start:Q", scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(title=None, values=[0, 0.25, 0.5, 0.75, 1], format=".2f", labelFontSize=13))
    track = alt.Chart(pd.DataFrame({"start": [0.0], "end": [1.0]})).mark_bar(
        color="#e6e6e6", size=34, cornerRadius=6).encode(x=x, x2="end:Q")
    bar = alt.Chart(pd.DataFrame({"start": [0.0], "end": [value]})).mark_bar(
        color=colour, size=34, cornerRadius=6).encode(x=x, x2="end:Q")
    rule = alt.Chart(pd.DataFrame({"start": [threshold]})).mark_rule(
        color="black", strokeWidth=3, strokeDash=[6, 3]).encode(x=x)
    align = "right" if threshold > 0.5 else "left"
    label = alt.Chart(pd.DataFrame({"start": [threshold], "text": [f"decline at {threshold:g}"]})).mark_text(
        dy=-26, dx=-6 if align == "right" else 6, align=align, fontSize=14, fontWeight="bold").encode(
        x=x, text="text:N")
    return alt.layer(track, bar, rule, label).properties(height=95, padding={"top": 8})


def waterfall(model: Model, vector: np.ndarray) -> alt.Chart:
    """From the intercept, each feature's weight × value, to the weighted sum the decision is
    taken on: the (unclipped) score of a hand-set model, the log-odds of a logistic one. The
    dashed rule is the threshold on that sum."""
    steps = [("intercept", model.intercept)] + list(model.contributions(vector).items())
    rows, running = [], 0.0
    for name, delta in steps:
        rows.append({"step": name, "start": running, "end": running + delta, "delta": delta,
                     "kind": "base" if name == "intercept" else ("raises risk" if delta > 0 else "lowers risk")})
        running += delta
    rows.append({"step": model.units, "start": 0.0, "end": running, "delta": running, "kind": "score"})
    frame = pd.DataFrame(rows)
    order = list(frame["step"])
    colours = alt.Scale(domain=["base", "raises risk", "lowers risk", "score"],
                        range=["#8c959f", DECLINED_COLOUR, APPROVED_COLOUR, "#0969da"])
    bars = alt.Chart(frame).mark_bar(size=26).encode(
        y=alt.Y("step:N", sort=order, title=None, axis=alt.Axis(labelFontSize=13, labelLimit=400)),
        x=alt.X("start:Q", title=f"contribution to the {model.units}"), x2="end:Q",
        color=alt.Color("kind:N", scale=colours, legend=alt.Legend(
            orient="bottom", title=None, labelLimit=200, labelFontSize=13, columns=4)),
        tooltip=["step", alt.Tooltip("delta:Q", format="+.4f")],
    )
    rule = alt.Chart(pd.DataFrame({"x": [model.boundary]})).mark_rule(strokeDash=[6, 3]).encode(x="x:Q")
    return (bars + rule).properties(height=34 * len(frame))


def score_history(history: pd.DataFrame, threshold: float) -> alt.LayerChart:
    """Batch scores over time with the threshold; readable with one point as with many."""
    frame = history.assign(at=pd.to_datetime(history["at"]))
    y = alt.Y("score:Q", title="daily score", scale=alt.Scale(domain=[0, 1]),
              axis=alt.Axis(values=[0, 0.25, 0.5, 0.75, 1], format=".2f"))
    line = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=90)).encode(
        x=alt.X("at:T", title="scored at", axis=alt.Axis(format="%H:%M:%S", labelAngle=0, tickCount=6)),
        y=y, tooltip=["at:T", alt.Tooltip("score:Q", format=".3f"), "decision:N", "version:N"],
    )
    rule = alt.Chart(pd.DataFrame({"score": [threshold]})).mark_rule(
        color=DECLINED_COLOUR, strokeDash=[6, 3]).encode(y=y)
    return (line + rule).properties(height=260)


def approval_curve(curve: pd.DataFrame, threshold: float) -> alt.LayerChart:
    line = alt.Chart(curve).mark_line(strokeWidth=4).encode(
        x=alt.X("threshold:Q", title="decline threshold"),
        y=alt.Y("approval_rate:Q", title="share approved", axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("threshold:Q", format=".2f"), alt.Tooltip("approval_rate:Q", format=".1%")],
    )
    rule = alt.Chart(pd.DataFrame({"x": [threshold]})).mark_rule(color=DECLINED_COLOUR, strokeWidth=3).encode(x="x:Q")
    return (line + rule).properties(height=320)


def score_distribution(scores: pd.DataFrame) -> alt.Chart:
    return alt.Chart(scores.dropna(subset=["score"])).mark_bar().encode(
        x=alt.X("score:Q", bin=alt.Bin(step=0.05), title="daily score"),
        y=alt.Y("count():Q", title="drivers"),
        color=alt.Color("decision:N", scale=alt.Scale(domain=list(COLOURS), range=list(COLOURS.values()))),
    ).properties(height=260)


# --- learning: the leak, calibration, shadow --------------------------------------------------

MEASURED_ON = ["training rows", "its own holdout (offline)", "future holdout, as served"]


def leak(frame: pd.DataFrame) -> alt.LayerChart:
    """Each model's AUC where it was measured: the naive join's offline bars stand tall, its
    future bar falls below the point-in-time model's. The rule is chance (0.5)."""
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("measured on:N", sort=MEASURED_ON, title=None, axis=alt.Axis(labelAngle=0, labelFontSize=13,
                                                                             labelLimit=200)),
        xOffset=alt.XOffset("model:N"),
        y=alt.Y("AUC:Q", scale=alt.Scale(domain=[0, 1]), title="AUC (0.5 = chance)"),
        color=alt.Color("model:N", legend=alt.Legend(orient="bottom", title=None, labelFontSize=13, labelLimit=300)),
        tooltip=["model:N", "measured on:N", alt.Tooltip("AUC:Q", format=".3f")],
    )
    chance = alt.Chart(pd.DataFrame({"y": [0.5]})).mark_rule(strokeDash=[6, 3], color="black").encode(y="y:Q")
    return (bars + chance).properties(height=340)


def reliability(frame: pd.DataFrame) -> alt.LayerChart:
    """Calibration on the future holdout: observed incident rate against the predicted one, per
    bin; a calibrated model sits on the diagonal."""
    top = float(max(frame["predicted"].max(), frame["observed"].max(), 0.05)) if len(frame) else 1.0
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, top], "y": [0.0, top]})).mark_line(
        color="#8c959f", strokeDash=[6, 3]).encode(x="x:Q", y="y:Q")
    lines = alt.Chart(frame).mark_line(point=alt.OverlayMarkDef(size=80), strokeWidth=3).encode(
        x=alt.X("predicted:Q", title="predicted incident rate", scale=alt.Scale(domain=[0, top])),
        y=alt.Y("observed:Q", title="observed incident rate", scale=alt.Scale(domain=[0, top])),
        color=alt.Color("model:N", legend=alt.Legend(orient="right", title=None, labelLimit=300, labelFontSize=13)),
        tooltip=["model:N", alt.Tooltip("predicted:Q", format=".3f"), alt.Tooltip("observed:Q", format=".3f")],
    )
    return (diagonal + lines).properties(height=320)


def join_gap(frame: pd.DataFrame) -> alt.Chart:
    """How far apart the two label groups look per feature, in each join: the naive join sees
    the incident's consequences (trips and acceptance collapse), the point-in-time join cannot."""
    data = frame.assign(gap=frame["incident followed"] - frame["no incident"])
    return alt.Chart(data).mark_bar().encode(
        y=alt.Y("feature:N", title=None, axis=alt.Axis(labelLimit=320, labelFontSize=13)),
        yOffset=alt.YOffset("join:N"),
        x=alt.X("gap:Q", title="mean with an incident following − mean without (feature units)"),
        color=alt.Color("join:N", legend=alt.Legend(orient="bottom", title=None, labelLimit=300)),
        tooltip=["join:N", "feature:N", alt.Tooltip("no incident:Q", format=".3f"),
                 alt.Tooltip("incident followed:Q", format=".3f")],
    ).properties(height=360)


def shadow(frame: pd.DataFrame, threshold: float) -> alt.LayerChart:
    """Champion's score against the challenger's on the same vectors; colour says whether they
    decided alike. The rule is the champion's threshold."""
    data = frame.assign(agree=np.where(frame["champion_decision"] == frame["challenger_decision"],
                                       "same decision", "different decision"))
    # Learned scores are probabilities of a rare event: zoom to where they are, threshold included.
    top = min(1.0, 1.15 * max(threshold, float(frame["champion_score"].max()), float(frame["challenger_score"].max())))
    points = alt.Chart(data).mark_circle(size=90, opacity=0.75).encode(
        x=alt.X("champion_score:Q", title="champion score", scale=alt.Scale(domain=[0, top])),
        y=alt.Y("challenger_score:Q", title="challenger score (shadow)", scale=alt.Scale(domain=[0, top])),
        color=alt.Color("agree:N", scale=alt.Scale(domain=["same decision", "different decision"],
                                                   range=[APPROVED_COLOUR, DECLINED_COLOUR]),
                        legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["driver_id:Q", "champion:N", alt.Tooltip("champion_score:Q", format=".3f"), "challenger:N",
                 alt.Tooltip("challenger_score:Q", format=".3f"), "at:N"],
    )
    rule = alt.Chart(pd.DataFrame({"x": [threshold]})).mark_rule(strokeDash=[6, 3]).encode(x="x:Q")
    return (points + rule).properties(height=340)
