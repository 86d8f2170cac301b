"""HTTP API with OpenAPI docs (``/docs``): the original demo's endpoints, served from riskcore.

Bad input is a 422 naming the field, an unknown driver a 404, a store that is not set up or a
disk that will not take writes a 503 saying what to do; user input never causes a 500. Raw SSNs
and licences are tokenized before anything is stored and never echoed back.

The server is the authority: a real signup is dated today by the server's clock (a client date
is accepted only by the what-if endpoints, which write nothing) and only the served model may
register a driver. Bodies are capped, and only requests naming an allowed host are served.
"""

from __future__ import annotations

import gc
import os
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from riskcore import settings
from riskcore.data.errors import StoreNotReady, StoreNotWritable
from riskcore.data.ledger import LedgerOutdated
from riskcore.data.store import RiskStore
from riskcore.serving.decisions import Decision, Decisions, UnknownDriver
from riskcore.serving.model import DEFAULT_VERSION
from riskcore.validation import InvalidInput, OnboardingApplication

Version = Literal["v0", "v1"]
MAX_BODY_BYTES = 16 * 1024
ALLOWED_HOSTS_ENV = "RISK_API_ALLOWED_HOSTS"
DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")


class OnboardingRequest(BaseModel):
    """A signup as entered. Values are checked by riskcore's rules (field-named 422s). The
    application date is the server's today; there is no field for it."""

    model_config = ConfigDict(extra="forbid")

    date_of_birth: str = Field(examples=["1990-01-01"], description="YYYY-MM-DD")
    ssn: str = Field(examples=["123-45-6789"], description="9 digits, dashes optional")
    licence: str = Field(examples=["D1234567"], description="1-20 letters, digits or dashes")
    state: str = Field(examples=["CA"], description="two-letter USPS code, any case")
    version: Version = Field(default=DEFAULT_VERSION, description=f"only {DEFAULT_VERSION} registers "
                             "drivers; another version is scored and logged as a what-if")


class WhatIfRequest(OnboardingRequest):
    """A what-if application: may be scored as of another date (nothing is stored)."""

    application_date: str | None = Field(default=None, description="YYYY-MM-DD, default today")


class Timings(BaseModel):
    retrieval: float
    featurization: float
    inference: float


class FeaturesResponse(BaseModel):
    subject: str
    features: dict[str, Any]
    timings_ms: Timings


class RegistryVersion(BaseModel):
    name: str = Field(description="registered model name in the MLflow registry")
    version: int = Field(description="registered version number")
    alias: str | None = Field(description="the alias it served under: champion (or challenger)")
    run_id: str = Field(description="the MLflow run that trained it")
    kind: str


class ShadowScore(BaseModel):
    model: str
    version: str
    score: float
    decision: str
    agrees: bool = Field(description="whether the challenger would have decided the same")


class ScoreResponse(FeaturesResponse):
    model: str
    version: str
    served_by: str = Field(description='e.g. "daily-risk v3 (registry, champion)" or "daily v1 (hand-set)"')
    registry: RegistryVersion | None = Field(description="the registered model version that scored, if any")
    fallback: str | None = Field(description="why a hand-set model served by default (no champion registered)")
    vector: list[float]
    score: float | None
    contributions: dict[str, float]


class DecisionResponse(ScoreResponse):
    decision: Literal["Approved", "Declined", "Review"]
    reasons: list[str]
    driver_id: int | None
    what_if: bool = Field(description="scored with another model than the served one: nobody registered")
    replayed: bool = Field(description="a retry of an application already decided: its original answer")
    logged: bool = Field(description="whether the decision log took this decision")
    log_problem: str | None
    shadow: ShadowScore | None = Field(description="the challenger's score on the same vector (logged, not acted on)")


class Health(BaseModel):
    ready: bool
    writable: bool
    data_dir: str
    problems: list[str]
    warnings: list[str]


class BodyLimit:
    """413 for a request body over ``limit`` bytes, declared or streamed, before the app sees it
    (a 1 GiB body once took 3.3 GB and stalled every other client). The body, at most ``limit``
    bytes, is read here and handed on whole."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            await self._too_large(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._too_large(send)
                return
            more = message.get("more_body", False)
        body = b"".join(chunks)
        handed = False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = f'{{"detail": "request body too large (at most {self.limit // 1024} KB)"}}'.encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def allowed_hosts() -> list[str]:
    """Host names requests may use: loopback, plus what `riskcore api --allow-host` added."""
    configured = os.environ.get(ALLOWED_HOSTS_ENV, "")
    return [h.strip() for h in configured.split(",") if h.strip()] or list(DEFAULT_ALLOWED_HOSTS)


def _respond(model: type[BaseModel], decision: Decision) -> JSONResponse:
    """The decision as ``model``'s fields. Returned as a ready response: the dataclass behind it
    is already typed, and FastAPI's re-validation of it cost more than the decision's own code
    (the schema in /docs still comes from ``response_model``)."""
    payload = decision.as_dict()
    return JSONResponse({name: payload[name] for name in model.model_fields})


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": message})


def _validation_message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden" and error["loc"][-1] == "application_date":
        return ("set by the server (today) for a real signup; to score another date use "
                "/onboarding/score, which stores nothing")
    return str(error["msg"])


def create_app(store: RiskStore | None = None) -> FastAPI:
    store = store or RiskStore()
    decisions = Decisions(store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if store.paths.ready_marker.exists() and store.paths.ledger_db.exists():
            # A store that cannot be read or written yet still gets a server: /health says why.
            with suppress(StoreNotReady, StoreNotWritable, LedgerOutdated, settings.PiiKeyMissing):
                store.warm()
                # The champion is loaded now (MLflow's import costs seconds), not by a request.
                decisions.served.current()
                # Signups a killed server committed but did not copy to the feature store.
                decisions.signups.replay()
        # Everything loaded so far (Feast, pandas, the registry) lives as long as the server:
        # keeping it out of the collector's scans cut an 80 ms pause of every full collection.
        gc.freeze()
        yield
        with suppress(StoreNotWritable):
            decisions.signups.flush()

    app = FastAPI(
        title="Driver Risk Studio API",
        version="1.0",
        description="Onboarding and daily risk decisions over a Feast feature store. "
        "Features, score and decision for an application or a driver; decisions carry the "
        "model name and version, reasons and per-stage timings.",
        lifespan=lifespan,
    )
    app.state.decisions = decisions  # its signups' offline copies can be flushed (shutdown, tests)
    app.add_middleware(BodyLimit)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts())

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default 422 echoes the submitted values: they may be an SSN or a licence.
        detail = [{"loc": list(e["loc"]), "msg": _validation_message(e), "type": e["type"]} for e in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(InvalidInput)
    async def invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        detail = [{"loc": ["body" if field != "driver_id" else "path", field], "msg": message,
                   "type": "value_error"} for field, message in exc.problems]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(UnknownDriver)
    async def unknown(_: Request, exc: UnknownDriver) -> JSONResponse:
        return _problem(404, str(exc))

    @app.exception_handler(StoreNotReady)
    async def not_ready(_: Request, exc: StoreNotReady) -> JSONResponse:
        return _problem(503, str(exc))

    @app.exception_handler(StoreNotWritable)
    async def not_writable(_: Request, exc: StoreNotWritable) -> JSONResponse:
        return _problem(503, str(exc))

    @app.exception_handler(settings.PiiKeyMissing)
    async def no_key(_: Request, exc: settings.PiiKeyMissing) -> JSONResponse:
        return _problem(503, str(exc))

    @app.exception_handler(LedgerOutdated)
    async def outdated(_: Request, exc: LedgerOutdated) -> JSONResponse:
        return _problem(503, str(exc))

    def onboarding(body: OnboardingRequest, record: bool) -> Decision:
        store.require_ready()
        day = body.application_date if isinstance(body, WhatIfRequest) else None
        application = OnboardingApplication.parse(
            date_of_birth=body.date_of_birth, ssn=body.ssn, licence=body.licence,
            state=body.state, application_date=day,
        )
        return decisions.onboard(application, version=body.version, record=record)

    def daily(driver_id: str, version: str | None, record: bool) -> Decision:
        store.require_ready()
        return decisions.daily(driver_id, version=version, record=record)

    @app.get("/health", response_model=Health, tags=["service"],
             responses={503: {"description": "store not ready, or its disk not writable"}})
    def health() -> Any:
        """Store readiness: registry applied, sources present and readable, online store there,
        data directory writable; warnings (e.g. the demo PII key)."""
        status = store.status(deep=False)
        body = Health(ready=status.ready, writable=status.writable, data_dir=str(status.data_dir),
                      problems=list(status.problems), warnings=list(status.warnings))
        return body if status.ready else JSONResponse(status_code=503, content=body.model_dump())

    # The endpoints are plain functions (not async): Feast reads are blocking, so FastAPI runs
    # them in its thread pool.
    @app.post("/onboarding/features", response_model=FeaturesResponse, tags=["onboarding"])
    def onboarding_features(body: WhatIfRequest) -> Any:
        """The onboarding features for an application (nothing is stored)."""
        return _respond(FeaturesResponse, onboarding(body, record=False))

    @app.post("/onboarding/score", response_model=ScoreResponse, tags=["onboarding"])
    def onboarding_score(body: WhatIfRequest) -> Any:
        """Features, vector and score for an application, as of any date (nothing is stored)."""
        return _respond(ScoreResponse, onboarding(body, record=False))

    @app.post("/onboarding/decision", response_model=DecisionResponse, tags=["onboarding"],
              responses={503: {"description": "store not ready, or its disk not writable"}})
    def onboarding_decision(body: OnboardingRequest) -> Any:
        """The decision, dated today. With the served model an approval becomes a driver (in the
        ledger, then the feature store) and a retry of the same application returns the original
        answer; another version is a what-if. Every decision is logged, with tokens only."""
        return _respond(DecisionResponse, onboarding(body, record=True))

    @app.get("/daily/{driver_id}/features", response_model=FeaturesResponse, tags=["daily"])
    def daily_features(driver_id: str, version: Version | None = None) -> Any:
        """A driver's daily-model features from the online store. Without ``version`` the served
        model decides: the registry's champion, or the hand-set v1 while none is registered."""
        return _respond(FeaturesResponse, daily(driver_id, version, record=False))

    @app.get("/daily/{driver_id}/score", response_model=ScoreResponse, tags=["daily"])
    def daily_score(driver_id: str, version: Version | None = None) -> Any:
        """A driver's daily score (not logged)."""
        return _respond(ScoreResponse, daily(driver_id, version, record=False))

    @app.get("/daily/{driver_id}/decision", response_model=DecisionResponse, tags=["daily"])
    def daily_decision(driver_id: str, version: Version | None = None) -> Any:
        """A driver's daily decision (logged; if the log cannot be written the decision still
        comes back, with ``logged: false`` and why)."""
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
