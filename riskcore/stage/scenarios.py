"""Scripted demo scenarios that always land, whatever was clicked before.

Each preset returns form values for the Onboard page. Fresh identities are random but valid, so
"happy path" is approved every time; "repeat SSN" first makes sure its SSN is on file. The
talk track's scenarios run end to end (``happy_path``, ``original_vs_served``,
``bad_day_driver``, ``decline_for_unlaunched_state``) and return what their page shows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date

from riskcore.clock import today as server_today
from riskcore.data.jobs import is_launched, launched_states
from riskcore.serving.decisions import Decision, Decisions
from riskcore.serving.features import SEEN_SSN
from riskcore.serving.model import APPROVED, versions
from riskcore.validation import USPS_STATES, OnboardingApplication

ADULT_BIRTH = date(1990, 4, 12)
# The bug the talk injects to show the checks at work (riskcore.quality.bugs).
STAGE_BUG = "rate_as_percentage"
# The SSN the "repeat SSN" scenario reuses: a fake, valid number kept on file by the scenario.
REPEAT_SSN = "555-12-3456"


PRESETS = {
    "happy": "Happy path",
    "under_18": "Under 18",
    "repeat_ssn": "Repeat SSN",
    "state_not_launched": "Not launched",
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
    """``prefer`` if it is launched now (one online lookup), else another launched state."""
    if is_launched(decisions.store, prefer):
        return prefer
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


def preset(key: str, decisions: Decisions, today: date | None = None) -> Preset:
    today = today or server_today()
    if key == "happy":
        return Preset(key, PRESETS[key], "Approved", ADULT_BIRTH, fresh_ssn(), fresh_licence(),
                      launched_state(decisions, "CA"))
    if key == "under_18":
        return Preset(key, PRESETS[key], "Declined: under 18", sixteen_year_old(today), fresh_ssn(),
                      fresh_licence(), launched_state(decisions, "TX"))
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




def sixteen_year_old(today: date) -> date:
    return today.replace(year=today.year - 16, day=min(today.day, 28))


def application(chosen: Preset) -> OnboardingApplication:
    return OnboardingApplication.parse(date_of_birth=chosen.date_of_birth, ssn=chosen.ssn,
                                       licence=chosen.licence, state=chosen.state)


def fake_identity(decisions: Decisions, today: date | None = None) -> Preset:
    """For the audience's phones: an invented adult in a launched state, so nobody types a real
    SSN into a conference demo."""
    year = (today or server_today()).year - 20 - secrets.randbelow(40)
    born = date(year, 1 + secrets.randbelow(12), 1 + secrets.randbelow(28))
    return Preset("fake", "A fake identity", "Approved", born, fresh_ssn(), fresh_licence(),
                  launched_state(decisions, "CA"))


def happy_path(decisions: Decisions) -> tuple[Preset, Decision]:
    """Point 1: a fresh applicant decided for real (served model, today): Approved."""
    chosen = preset("happy", decisions)
    return chosen, decisions.onboard(application(chosen))


def original_vs_served(decisions: Decisions) -> tuple[Preset, list[Decision]]:
    """Point 4: one 16-year-old scored by every onboarding model, as what-ifs (nobody is
    registered). In a state not launched, as in the original demo, v0 approves at 0.03."""
    today = server_today()
    state = not_launched_state(decisions) if len(launched_states(decisions.store)) < len(USPS_STATES) \
        else launched_state(decisions, "TX")
    chosen = Preset("under_18", PRESETS["under_18"], "v0 Approved, v1 Declined: under 18", sixteen_year_old(today),
                    fresh_ssn(), fresh_licence(), state)
    app = application(chosen)
    return chosen, [decisions.onboard(app, version=v, what_if=True) for v in versions("onboarding")]


def bad_day_driver(decisions: Decisions) -> tuple[int, Decision]:
    """Point 2: a driver approved today (so the bad day visibly flips them), with that decision."""
    roster = decisions.store.roster()["driver_id"].tolist()
    if not roster:
        raise ScenarioUnavailable("there are no drivers: reset the demo on the Home page")
    first = None
    for driver in roster[:50]:
        now = decisions.daily(driver, record=False)
        first = first or (driver, now)
        if now.decision == APPROVED:
            return driver, now
    assert first is not None
    return first


def decline_for_unlaunched_state(decisions: Decisions) -> tuple[Preset, Decision]:
    """Point 3: an applicant from a state that is not launched, decided for real (declined), so
    the what-if has an application to count and the same applicant can be decided again."""
    chosen = preset("state_not_launched", decisions)
    return chosen, decisions.onboard(application(chosen))
