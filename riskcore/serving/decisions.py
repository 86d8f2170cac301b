"""Decisions: onboarding of an applicant and the daily decision for a driver.

Each decision runs three separately timed stages (teaching point 1): retrieval (Feast online
read, including on-demand features), featurization (response -> numpy vector in the model's
order, plus the missing/stale policy) and inference (score, decision, reasons). Every decision
is appended to the ledger with tokens only.

A real signup is decided on the server's date by the served model, and committed to the ledger
in one transaction with its identity claim before the answer goes out (see
``riskcore.data.ledger``). Anything else (another model version, another date) is a what-if:
scored, shown and logged as such, never a driver.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from riskcore import pii, settings
from riskcore.clock import utc_now
from riskcore.data.errors import StoreNotWritable, disk_guard
from riskcore.data.ledger import Claim, DecisionEntry, Ledger, ShadowRow, now_iso
from riskcore.data.signups import SignupSync
from riskcore.data.store import DAILY_SERVICE, ONBOARDING_SERVICE, ROSTER_FEATURE, RiskStore
from riskcore.serving import features as F
from riskcore.serving.model import APPROVED, DEFAULT_VERSION, REVIEW, Model, Reason, get_model
from riskcore.serving.policy import review_reasons
from riskcore.serving.served import served_daily
from riskcore.validation import InvalidInput, OnboardingApplication, parse_driver_id

# The only onboarding model that may register a driver.
SERVED_VERSION = DEFAULT_VERSION


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
class Shadow:
    """The challenger's answer on the champion's very vector: logged, never acted on."""

    model: str
    version: str
    score: float
    decision: str

    def as_dict(self, served: str) -> dict[str, Any]:
        return {"model": self.model, "version": self.version, "score": round(self.score, 6),
                "decision": self.decision, "agrees": self.decision == served}


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
    # Scored and shown, never a driver: another model version or another date than today's.
    what_if: bool = False
    # A retry of an application that already became a driver: its original decision.
    replayed: bool = False
    # Decided, but the decision log could not be written (e.g. a full disk): why.
    log_problem: str | None = None
    # Why a hand-set model served a daily decision by default (no champion registered).
    fallback: str | None = None
    # The challenger's score on the same vector, when the registry has one.
    shadow: Shadow | None = None

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
            "served_by": self.model.label,
            "registry": self.model.registry.as_dict() if self.model.registry else None,
            "fallback": self.fallback,
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
            "what_if": self.what_if,
            "replayed": self.replayed,
            "logged": self.log_problem is None,
            "log_problem": self.log_problem,
            "shadow": self.shadow.as_dict(self.decision) if self.shadow else None,
        }


@dataclass(frozen=True)
class Identity:
    """An application's tokens: what the feature store and the ledger know it by."""

    ssn: str
    dl: str
    application: str

    @classmethod
    def of(cls, app: OnboardingApplication, key: bytes) -> Identity:
        return cls(ssn=pii.tokenize("ssn", app.ssn, key), dl=pii.tokenize("dl", app.licence, key),
                   application=pii.application_key(app.ssn, app.licence, app.date_of_birth.isoformat(),
                                                   app.state, key))

    def subject(self, state: str) -> str:
        """How screens and the log name the applicant: token prefixes, never a digit of PII."""
        return f"{pii.short(self.ssn)} / {pii.short(self.dl)} / {state}"


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


def _with_ledger_truth(result: Decision, claim: Claim) -> Decision:
    """The ledger's identity claims over the online store's: they differ only while a signup's
    copy is on its way (or was cut short by a crash), and then the ledger is right."""
    seen = {F.SEEN_SSN: claim.ssn_holder is not None, F.SEEN_DL: claim.dl_holder is not None}
    if all(bool(result.features[name]) >= flag for name, flag in seen.items()):
        return result
    values = {name: [max(int(bool(value)), int(seen.get(name, False)))] if name in seen else [value]
              for name, value in result.features.items()}
    return _decide(result.kind, result.subject, result.model, values, result.timings.retrieval_ms)


class Decisions:
    """The decision service over one store. Thread-safe; share one per process."""

    def __init__(self, store: RiskStore) -> None:
        self.store = store
        self.ledger = Ledger(store.paths.ledger_db)
        self.signups = SignupSync(store)
        self.served = served_daily(store.paths)
        self._daily_refs: list[str] | None = None

    # --- onboarding ---------------------------------------------------------------------

    def onboarding_values(self, app: OnboardingApplication, identity: Identity) -> tuple[dict[str, list[Any]], float]:
        """The onboarding features for one application, and the retrieval time in ms."""
        row = {
            "ssn": identity.ssn,
            "dl": identity.dl,
            "state": app.state,
            F.DATE_OF_BIRTH: app.date_of_birth.isoformat(),
            F.APPLICATION_DATE: app.application_date.isoformat(),
        }
        service = self.store.service(ONBOARDING_SERVICE)
        start = time.perf_counter_ns()
        values = self.store.online(service, [row])
        return values, _ms(start)

    def onboard(
        self, app: OnboardingApplication, version: str = DEFAULT_VERSION, record: bool = True,
        what_if: bool = False, channel: str | None = None,
    ) -> Decision:
        """Decide on an application. With ``record``, a real signup (served model, today) is
        committed to the ledger and an approval becomes a driver; anything else (or ``what_if``)
        is a what-if, logged as such. ``channel`` names the front end in the log (``join``)."""
        self.store.require_ready()
        model = get_model("onboarding", version)
        identity = Identity.of(app, settings.pii_key(self.store.paths.root).secret)
        values, retrieval_ms = self.onboarding_values(app, identity)
        result = _decide("onboarding", identity.subject(app.state), model, values, retrieval_ms)
        if not record:
            return result
        inputs = {"ssn": identity.ssn, "dl": identity.dl, "state": app.state,
                  **({"channel": channel} if channel else {})}
        if what_if or version != SERVED_VERSION or not app.server_dated:
            return self._log(replace(result, what_if=True), inputs)
        return self._signup(app, identity, result, inputs)

    def _signup(self, app: OnboardingApplication, identity: Identity, result: Decision,
                inputs: dict[str, Any]) -> Decision:
        """One transaction: the claim check, the decision and (if approved) the new driver."""
        copy: dict[str, object] | None = None
        with disk_guard(self.store.paths.root), self.ledger.signup_transaction() as tx:
            claim = tx.claim(identity.application, identity.ssn, identity.dl)
            if claim.driver_id is not None:
                result = self._original(tx.original_decision(claim.decision_id), claim.driver_id)
                if not claim.synced:
                    copy = {"driver_id": claim.driver_id, "ssn": identity.ssn, "dl": identity.dl,
                            "state": claim.state, "at": claim.at}
            else:
                result = _with_ledger_truth(result, claim)
                entry = _entry(result, inputs)
                if result.decision == APPROVED:
                    at = now_iso()
                    driver_id = tx.register(identity.application, identity.ssn, identity.dl, app.state, at, entry)
                    result = replace(result, driver_id=driver_id)
                    copy = {"driver_id": driver_id, "ssn": identity.ssn, "dl": identity.dl,
                            "state": app.state, "at": at}
                else:
                    tx.log(entry)
        if copy is not None:
            self.signups.commit(copy)
        return result

    def _original(self, logged: dict[str, Any], driver_id: int) -> Decision:
        """The decision an application got the first time, rebuilt from the log."""
        model = get_model("onboarding", logged["version"])
        values = {name: [value] for name, value in logged["features"].items()}
        timings = logged["timings_ms"]
        result = _decide("onboarding", logged["subject"], model, values, timings["retrieval"])
        return replace(result, driver_id=driver_id, replayed=True)

    # --- daily --------------------------------------------------------------------------

    def daily_refs(self) -> list[str]:
        """The daily service's features plus the roster check, in one online read."""
        if self._daily_refs is None:
            service = self.store.service(DAILY_SERVICE)
            refs = [f"{p.name_to_use()}:{f.name}" for p in service.feature_view_projections for f in p.features]
            self._daily_refs = [*refs, ROSTER_FEATURE]
        return self._daily_refs

    def daily(self, driver_id: Any, version: str | None = None, record: bool = True) -> Decision:
        """A driver's daily decision, by the registry's champion (or the hand-set v1 when there is
        none) unless ``version`` names a hand-set model. A recorded decision also scores the
        challenger, if any, in shadow on the same vector. A decision log that cannot be written
        does not stop the decision: it is returned with ``log_problem`` saying why."""
        self.store.require_ready()
        serving = self.served.current() if version is None else None
        model = serving.champion if serving else get_model("daily", version)
        driver = parse_driver_id(driver_id)
        refs = self.daily_refs()
        start = time.perf_counter_ns()
        values = self.store.online(refs, [{"driver_id": driver}], with_event_timestamps=True)
        retrieval_ms = _ms(start)
        if values["signup_state"][0] is None:
            raise UnknownDriver(driver)
        result = replace(_decide("daily", f"driver {driver}", model, values, retrieval_ms), driver_id=driver,
                         fallback=serving.fallback if serving else None)
        if not record:
            return result
        if serving is not None and serving.challenger is not None and not result.review:
            challenger = serving.challenger
            score = challenger.score(result.vector)
            result = replace(result, shadow=Shadow(challenger.registry.name, f"v{challenger.registry.version}",
                                                   score, challenger.decide(score)))
        return self._log(result, {"driver_id": driver})

    def _log(self, result: Decision, inputs: dict[str, Any]) -> Decision:
        """Append to the decision log; if the disk refuses, the decision stands and says so."""
        try:
            with disk_guard(self.store.paths.root):
                self.ledger.log_decision(_entry(result, inputs), result.driver_id, _shadow_row(result))
        except StoreNotWritable as exc:
            return replace(result, log_problem=str(exc))
        return result


def _shadow_row(result: Decision) -> ShadowRow | None:
    if result.shadow is None or result.score is None:
        return None
    s = result.shadow
    return ShadowRow(result.driver_id, f"{result.model.name} {result.model.version}", result.score, result.decision,
                     f"{s.model} {s.version}", s.score, s.decision)


def _entry(result: Decision, inputs: dict[str, Any]) -> DecisionEntry:
    return DecisionEntry(
        kind=result.kind, subject=result.subject, model=result.model.name, version=result.model.version,
        score=result.score, decision=result.decision, detail={**result.as_dict(), "inputs": inputs},
        what_if=result.what_if,
    )


__all__ = ["Decision", "Decisions", "InvalidInput", "Shadow", "Timings", "UnknownDriver"]
