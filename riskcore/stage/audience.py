"""The audience: phones that join through the Join page, and the presenter's live view of them."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd
import segno

from riskcore.data.ledger import Ledger

CHANNEL = "join"  # how the Join page's decisions are tagged in the decision log


@dataclass(frozen=True)
class Turnout:
    joined: int
    approved: int
    declined: int


def feed(ledger: Ledger, limit: int = 12) -> pd.DataFrame:
    """The audience's latest decisions, newest first: when, who (token prefixes), what, why."""
    log = ledger.decisions(limit, kind="onboarding", channel=CHANNEL)
    reasons = [(json.loads(detail).get("reasons") or [""])[0] for detail in log["detail"]]
    return pd.DataFrame({
        "at": pd.to_datetime(log["at"], utc=True).dt.strftime("%H:%M:%S"),
        "applicant": log["subject"], "decision": log["decision"], "reason": reasons,
    })


def turnout(ledger: Ledger) -> Turnout:
    """How many audience decisions, and how they went (a room rarely tops a few hundred)."""
    log = ledger.decisions(10_000, kind="onboarding", channel=CHANNEL)
    return Turnout(len(log), int((log["decision"] == "Approved").sum()), int((log["decision"] == "Declined").sum()))


def qr_svg(url: str) -> str:
    """The Join page's address as a QR code, big enough to scan from the back of a room."""
    return segno.make(url, error="m").svg_inline(scale=7, border=2, dark="#111111")
