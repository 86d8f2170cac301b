"""Decisions: onboarding of an applicant and the daily decision for a driver.

Each decision runs three separately timed stages (teaching point 1): retrieval (Feast online
read, including on-demand features), featurization (response -> numpy vector in the model's
order, plus the missing/stale policy) and inference (score, decision, reasons). Every decision
is appended to the ledger with tokens only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from riskcore import pii
from riskcore.data.ledger import Ledger
from riskcore.data.store import (
    DAILY_SERVICE,
    ONBOARDING_SERVICE,
    ROSTER_FEATURE,
    SIGNUPS_PUSH,
    SIGNUPS_SCHEMA,
    RiskStore,
    utc_now,
)
from riskcore.serving import features as F
from riskcore.serving.model import (
    APPROVED,
    DEFAULT_VERSION,
    REVIEW,
    Model,
    Reason,
    get_model,
)
from riskcore.serving.policy import review_reasons
from riskcore.validation import InvalidInput, OnboardingApplication, parse_driver_id


class UnknownDriver(LookupError):
    """No approved driver has this id."""

    def __init__(self, driver_id: int) -> None:
        super().__init__(f"driver_id: no driver {driver_id} (see `riskcore status` for the roster)")
        self.driver_id = driver_id


@dataclass(frozen=True)
class Timings:
    retrieval_ms: float
    featurization_ms: float
    inference_ms: float


@dataclass(frozen=True)
class Decision:
    kind: str
    subject: str
    model: Model
    features: dict[str, Any]
    vector: np.ndarray
    score: float | None
    decision: str
    reasons: tuple[Reason, ...]
    contributions: dict[str, float]
    timings: Timings
    review: tuple[str, ...] = ()
    driver_id: int | None = None

    @property
    def top_reason(self) -> str | None:
        if self.review:
            return self.review[0]
        return self.reasons[0].text if self.reasons else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (CLI ``--json``, decision log, HTTP)."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "model": self.model.name,
            "version": self.model.version,
            "features": self.features,
            "vector": self.vector.tolist(),
            "score": None if self.score is None else round(self.score, 6),
            "decision": self.decision,
            "reasons": [r.text for r in self.reasons] if not self.review else list(self.review),
            "contributions": {k: round(v, 6) for k, v in self.contributions.items()},
            "timings_ms": {
                "retrieval": round(self.timings.retrieval_ms, 3),
                "featurization": round(self.timings.featurization_ms, 3),
                "inference": round(self.timings.inference_ms, 3),
            },
            "driver_id": self.driver_id,
        }


def _ms(start: int) -> float:
    return (time.perf_counter_ns() - start) / 1e6


def _decide(
    kind: str, subject: str, model: Model, values: dict[str, list[Any]], retrieval_ms: float,
) -> Decision:
    start = time.perf_counter_ns()
    review = tuple(review_reasons(values, model.features, utc_now())[0])
    row = {f: values[f][0] for f in model.features}
    vector = model.vector({f: 0.0 if v is None else v for f, v in row.items()})
    featurization_ms = _ms(start)

    start = time.perf_counter_ns()
    score = model.score(vector)
    decision = REVIEW if review else model.decide(score)
    reasons = tuple(model.reasons(vector))
    contributions = model.contributions(vector)
    inference_ms = _ms(start)
    return Decision(
        kind=kind, subject=subject, model=model, features=row, vector=vector,
        score=None if review else score, decision=decision, reasons=reasons,
        contributions=contributions, timings=Timings(retrieval_ms, featurization_ms, inference_ms),
        review=review,
    )


class Decisions:
    """The decision service over one store. Thread-safe; share one per process."""

    def __init__(self, store: RiskStore) -> None:
        self.store = store
        self.ledger = Ledger(store.paths.ledger_db)
        self._daily_refs: list[str] | None = None

    # --- onboarding ---------------------------------------------------------------------

    def onboarding_values(self, app: OnboardingApplication) -> tuple[dict[str, list[Any]], float]:
        """The onboarding features for one application, and the retrieval time in ms."""
        row = {
            "ssn": pii.tokenize("ssn", app.ssn),
            "dl": pii.tokenize("dl", app.licence),
            "state": app.state,
            F.DATE_OF_BIRTH: app.date_of_birth.isoformat(),
            F.APPLICATION_DATE: app.application_date.isoformat(),
        }
        service = self.store.service(ONBOARDING_SERVICE)
        start = time.perf_counter_ns()
        values = self.store.online(service, [row])
        return values, _ms(start)

    def onboard(
        self, app: OnboardingApplication, version: str = DEFAULT_VERSION, record: bool = True
    ) -> Decision:
        """Decide on an application; an approval becomes a driver (the closed loop)."""
        model = get_model("onboarding", version)
        subject = f"{pii.mask_ssn(app.ssn)} / {pii.mask_licence(app.licence)} / {app.state}"
        values, retrieval_ms = self.onboarding_values(app)
        result = _decide("onboarding", subject, model, values, retrieval_ms)
        if result.decision == APPROVED and record:
            with self.store.writing():
                # Re-check under the writer lock: a concurrent signup may have just claimed
                # this SSN or licence.
                values, retrieval_ms = self.onboarding_values(app)
                result = _decide("onboarding", subject, model, values, retrieval_ms)
                if result.decision == APPROVED:
                    result = _with_driver(result, self._register(app))
        if record:
            self._log(result, {"ssn": pii.tokenize("ssn", app.ssn), "dl": pii.tokenize("dl", app.licence),
                               "state": app.state})
        return result

    def _register(self, app: OnboardingApplication) -> int:
        """Allocate a driver id and push the signup offline and online. Holds the lock."""
        driver_id = self.ledger.next_driver_id(floor=lambda: int(self.store.roster()["driver_id"].max()))
        now = pd.Timestamp(utc_now())
        row = pd.DataFrame({
            "driver_id": [driver_id], "ssn": [pii.tokenize("ssn", app.ssn)],
            "dl": [pii.tokenize("dl", app.licence)], "signup_state": [app.state],
            F.SSN_DRIVER_ID: [driver_id], F.DL_DRIVER_ID: [driver_id],
            "event_timestamp": [now], "created": [now],
        })
        self.store.push(SIGNUPS_PUSH, self.store.paths.signups_dir, row, SIGNUPS_SCHEMA)
        return driver_id

    # --- daily --------------------------------------------------------------------------

    def daily_refs(self) -> list[str]:
        """The daily service's features plus the roster check, in one online read."""
        if self._daily_refs is None:
            service = self.store.service(DAILY_SERVICE)
            refs = [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]
            self._daily_refs = [*refs, ROSTER_FEATURE]
        return self._daily_refs

    def daily(self, driver_id: Any, version: str = DEFAULT_VERSION, record: bool = True) -> Decision:
        model = get_model("daily", version)
        driver = parse_driver_id(driver_id)
        refs = self.daily_refs()
        start = time.perf_counter_ns()
        values = self.store.online(refs, [{"driver_id": driver}], with_event_timestamps=True)
        retrieval_ms = _ms(start)
        if values["signup_state"][0] is None:
            raise UnknownDriver(driver)
        result = _with_driver(_decide("daily", f"driver {driver}", model, values, retrieval_ms), driver)
        if record:
            self._log(result, {"driver_id": driver})
        return result

    def _log(self, result: Decision, inputs: dict[str, Any]) -> None:
        self.ledger.log_decision(
            kind=result.kind, subject=result.subject, model=result.model.name,
            version=result.model.version, score=result.score, decision=result.decision,
            driver_id=result.driver_id, detail={**result.as_dict(), "inputs": inputs},
        )


def _with_driver(result: Decision, driver_id: int) -> Decision:
    return replace(result, driver_id=driver_id)


__all__ = ["Decision", "Decisions", "InvalidInput", "Timings", "UnknownDriver"]
