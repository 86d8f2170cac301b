"""HTTP API with OpenAPI docs (``/docs``): the original demo's endpoints, served from riskcore.

Bad input is a 422 naming the field, an unknown driver a 404, a store that is not set up a 503
saying what to run; user input never causes a 500. Raw SSNs and licences are tokenized before
anything is stored and never echoed back.
"""

from __future__ import annotations

import shlex
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from riskcore.data.store import RiskStore, StoreNotReady
from riskcore.serving.decisions import Decision, Decisions, UnknownDriver
from riskcore.serving.model import DEFAULT_VERSION
from riskcore.validation import InvalidInput, OnboardingApplication

Version = Literal["v0", "v1"]


class OnboardingRequest(BaseModel):
    """A signup as entered. Values are checked by riskcore's rules (field-named 422s)."""

    date_of_birth: str = Field(examples=["1990-01-01"], description="YYYY-MM-DD")
    ssn: str = Field(examples=["123-45-6789"], description="9 digits, dashes optional")
    licence: str = Field(examples=["D1234567"], description="1-20 letters, digits or dashes")
    state: str = Field(examples=["CA"], description="two-letter USPS code, any case")
    application_date: str | None = Field(default=None, description="YYYY-MM-DD, default today")
    version: Version = DEFAULT_VERSION


class Timings(BaseModel):
    retrieval: float
    featurization: float
    inference: float


class FeaturesResponse(BaseModel):
    subject: str
    features: dict[str, Any]
    timings_ms: Timings


class ScoreResponse(FeaturesResponse):
    model: str
    version: str
    vector: list[float]
    score: float | None
    contributions: dict[str, float]


class DecisionResponse(ScoreResponse):
    decision: Literal["Approved", "Declined", "Review"]
    reasons: list[str]
    driver_id: int | None


class Health(BaseModel):
    ready: bool
    data_dir: str
    problems: list[str]


def _respond(model: type[BaseModel], decision: Decision) -> JSONResponse:
    """The decision as ``model``'s fields. Returned as a ready response: the dataclass behind it
    is already typed, and FastAPI's re-validation of it cost more than the decision's own code
    (the schema in /docs still comes from ``response_model``)."""
    payload = decision.as_dict()
    return JSONResponse({name: payload[name] for name in model.model_fields})


def _problem(status: int, field: str | None, message: str) -> JSONResponse:
    if field is None:
        return JSONResponse(status_code=status, content={"detail": message})
    detail = [{"loc": ["body" if field != "driver_id" else "path", field], "msg": message,
               "type": "value_error"}]
    return JSONResponse(status_code=status, content={"detail": detail})


def create_app(store: RiskStore | None = None) -> FastAPI:
    store = store or RiskStore()
    decisions = Decisions(store)
    app = FastAPI(
        title="Driver Risk Studio API",
        version="1.0",
        description="Onboarding and daily risk decisions over a Feast feature store. "
        "Features, score and decision for an application or a driver; decisions carry the "
        "model name and version, reasons and per-stage timings.",
    )

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default 422 echoes the submitted values: they may be an SSN or a licence.
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(InvalidInput)
    async def invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return _problem(422, exc.field, exc.message)

    @app.exception_handler(UnknownDriver)
    async def unknown(_: Request, exc: UnknownDriver) -> JSONResponse:
        return _problem(404, None, str(exc))

    @app.exception_handler(StoreNotReady)
    async def not_ready(_: Request, exc: StoreNotReady) -> JSONResponse:
        return _problem(503, None, str(exc))

    def onboarding(body: OnboardingRequest, record: bool) -> Decision:
        store.require_ready()
        application = OnboardingApplication.parse(
            date_of_birth=body.date_of_birth, ssn=body.ssn, licence=body.licence,
            state=body.state, application_date=body.application_date,
        )
        return decisions.onboard(application, version=body.version, record=record)

    def daily(driver_id: str, version: str, record: bool) -> Decision:
        store.require_ready()
        return decisions.daily(driver_id, version=version, record=record)

    @app.get("/health", response_model=Health, tags=["service"],
             responses={503: {"description": "store not ready"}})
    def health() -> Any:
        """Store readiness: registry applied, sources present, online store there."""
        status = store.status()
        body = Health(ready=status.ready, data_dir=str(status.data_dir), problems=list(status.problems))
        return body if status.ready else JSONResponse(status_code=503, content=body.model_dump())

    # The three onboarding endpoints are plain functions (not async): Feast reads are blocking,
    # so FastAPI runs them in its thread pool.
    @app.post("/onboarding/features", response_model=FeaturesResponse, tags=["onboarding"])
    def onboarding_features(body: OnboardingRequest) -> Any:
        """The onboarding features for an application (nothing is stored)."""
        return _respond(FeaturesResponse, onboarding(body, record=False))

    @app.post("/onboarding/score", response_model=ScoreResponse, tags=["onboarding"])
    def onboarding_score(body: OnboardingRequest) -> Any:
        """Features, vector and score for an application (nothing is stored)."""
        return _respond(ScoreResponse, onboarding(body, record=False))

    @app.post("/onboarding/decision", response_model=DecisionResponse, tags=["onboarding"])
    def onboarding_decision(body: OnboardingRequest) -> Any:
        """The decision. An approval becomes a driver (pushed to the feature store) and every
        decision is logged, with tokens only."""
        return _respond(DecisionResponse, onboarding(body, record=True))

    @app.get("/daily/{driver_id}/features", response_model=FeaturesResponse, tags=["daily"])
    def daily_features(driver_id: str, version: Version = DEFAULT_VERSION) -> Any:
        """A driver's daily-model features from the online store."""
        return _respond(FeaturesResponse, daily(driver_id, version, record=False))

    @app.get("/daily/{driver_id}/score", response_model=ScoreResponse, tags=["daily"])
    def daily_score(driver_id: str, version: Version = DEFAULT_VERSION) -> Any:
        """A driver's daily score (not logged)."""
        return _respond(ScoreResponse, daily(driver_id, version, record=False))

    @app.get("/daily/{driver_id}/decision", response_model=DecisionResponse, tags=["daily"])
    def daily_decision(driver_id: str, version: Version = DEFAULT_VERSION) -> Any:
        """A driver's daily decision (logged)."""
        return _respond(DecisionResponse, daily(driver_id, version, record=True))

    return app


def curl_example(application: OnboardingApplication, version: str, base_url: str = "http://127.0.0.1:8000") -> str:
    """The equivalent HTTP call for an onboarding request, with the SSN and licence left in
    shell variables so they never appear on screen."""
    body = (
        f'{{"date_of_birth": "{application.date_of_birth.isoformat()}", '
        f'"ssn": "\'"$SSN"\'", "licence": "\'"$LICENCE"\'", '
        f'"state": "{application.state}", "version": "{version}"}}'
    )
    return (
        "# export SSN=… LICENCE=…  (kept off the screen)\n"
        f"curl -s -X POST {shlex.quote(base_url + '/onboarding/decision')} \\\n"
        "  -H 'content-type: application/json' \\\n"
        f"  -d '{body}'"
    )
