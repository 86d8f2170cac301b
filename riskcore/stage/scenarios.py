"""Scripted demo scenarios that always land, whatever was clicked before.

Each preset returns form values for the Onboard page. Fresh identities are random but valid, so
"happy path" is approved every time; "repeat SSN" first makes sure its SSN is on file.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from riskcore.data.jobs import launched_states
from riskcore.data.store import RiskStore
from riskcore.serving.decisions import Decisions
from riskcore.serving.features import SEEN_SSN
from riskcore.validation import USPS_STATES, OnboardingApplication

ADULT_BIRTH = date(1990, 4, 12)
# The SSN the "repeat SSN" scenario reuses: a fake, valid number kept on file by the scenario.
REPEAT_SSN = "555-12-3456"


PRESETS = {
    "happy": "Happy path",
    "under_18": "Under 18",
    "repeat_ssn": "Repeat SSN",
    "state_not_launched": "State not launched",
}


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    expect: str
    date_of_birth: date
    ssn: str
    licence: str
    state: str


def fresh_ssn() -> str:
    area = 100 + secrets.randbelow(565)  # 100..664: never 000, 666 or 9xx
    return f"{area:03d}-{10 + secrets.randbelow(90):02d}-{1000 + secrets.randbelow(9000):04d}"


def fresh_licence() -> str:
    return f"D{secrets.randbelow(10**7):07d}"


class ScenarioUnavailable(ValueError):
    """The world has changed so that a scenario cannot land; the message says what to do."""


def launched_state(decisions: Decisions, prefer: str) -> str:
    """``prefer`` if it is launched now, else another launched state."""
    launched = launched_states(decisions.store)
    if not launched:
        raise ScenarioUnavailable("no state is launched: launch one on the Model page first")
    return prefer if prefer in launched else launched[0]


def not_launched_state(decisions: Decisions) -> str:
    """NJ, the original demo's default, unless it has been launched since."""
    unlaunched = sorted(USPS_STATES - set(launched_states(decisions.store)))
    if not unlaunched:
        raise ScenarioUnavailable("every state is launched: retire one on the Model page first")
    return "NJ" if "NJ" in unlaunched else unlaunched[0]


def demo_driver(store: RiskStore) -> int:
    """The driver the talk's bad-day scenario uses: the first on the roster."""
    roster = store.roster()
    if roster.empty:
        raise ScenarioUnavailable("there are no drivers: reset the demo on the Home page")
    return int(roster["driver_id"].iloc[0])


def preset(key: str, decisions: Decisions, today: date | None = None) -> Preset:
    today = today or date.today()
    if key == "happy":
        return Preset(key, PRESETS[key], "Approved", ADULT_BIRTH, fresh_ssn(), fresh_licence(),
                      launched_state(decisions, "CA"))
    if key == "under_18":
        birth = today.replace(year=today.year - 16, day=min(today.day, 28))
        return Preset(key, PRESETS[key], "Declined: under 18", birth, fresh_ssn(), fresh_licence(),
                      launched_state(decisions, "TX"))
    if key == "state_not_launched":
        return Preset(key, PRESETS[key], "Declined: state not launched", ADULT_BIRTH,
                      fresh_ssn(), fresh_licence(), not_launched_state(decisions))
    if key == "repeat_ssn":
        state = launched_state(decisions, "CA")
        on_file = OnboardingApplication.parse(date_of_birth=ADULT_BIRTH, ssn=REPEAT_SSN,
                                              licence="D5550001", state=state)
        if not decisions.onboard(on_file, record=False).features[SEEN_SSN]:
            decisions.onboard(on_file)
        return Preset(key, PRESETS[key], "Declined: previously seen SSN", ADULT_BIRTH,
                      REPEAT_SSN, fresh_licence(), state)
    raise ValueError(f"unknown scenario {key!r}")




def decline_for_unlaunched_state(decisions: Decisions) -> str:
    """Record an application from a state that is not launched (for the what-if); its state."""
    chosen = preset("state_not_launched", decisions)
    decisions.onboard(OnboardingApplication.parse(
        date_of_birth=chosen.date_of_birth, ssn=chosen.ssn, licence=chosen.licence, state=chosen.state))
    return chosen.state
