"""The talk's spine: the original demo's five teaching points and the scenario for each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TeachingPoint:
    title: str
    say: str
    action: str
    page: str
    preset: str | None = None
    version: str | None = None
    bad_day: bool = False
    unlaunched_application: bool = False


TEACHING_POINTS = (
    TeachingPoint(
        "Separate retrieval, featurization and inference",
        "Each decision shows three timed stages, and the model sees a real numpy vector, never raw "
        "values. Submit the happy path and point at the vector and the timings.",
        "Onboard: happy path", "pages/1_onboarding.py", preset="happy", version="v1",
    ),
    TeachingPoint(
        "Batch feature pipelines are real work",
        "The daily batch job turns hourly activity into yesterday's averages and red flags: business "
        "logic, thresholds, and room for bugs. The button gives a driver a bad day and opens Monitoring: "
        "the checks pass and the flags arrive. Then inject a bug (a rate written as a percentage) and run "
        "a tick: the checks block it on screen, the online store keeps yesterday's values and skew shows "
        "what a model trained now would learn. Turn it off, run again: green.",
        "Monitoring: a bad day, then break the batch job", "pages/8_monitoring.py", bad_day=True,
    ),
    TeachingPoint(
        "Models live inside a product",
        "The model has an is_valid_state feature. An applicant from NJ is declined; launching NJ is a "
        "product decision that changes the model's input. See the what-if, then launch it.",
        "Model: launch a new state", "pages/5_model.py", unlaunched_application=True,
    ),
    TeachingPoint(
        "Test features before they decide about customers",
        "The original model (v0) was untested: it approves a 16-year-old. Here the unit tests pin every "
        "feature and the batch job's checks at their edges: run them on screen (the same pytest files CI "
        "runs) and show the checks per batch run. Then open Onboarding: the under-18 preset with v0 is "
        "filled in; v1 declines it.",
        "Monitoring: run the feature tests", "pages/8_monitoring.py", preset="under_18", version="v0",
    ),
    TeachingPoint(
        "Feast does a lot of the work",
        "Registry and metadata, materialization, on-demand feature execution and serving. Browse the "
        "registry, look up a driver's online values and their freshness.",
        "Online features: the registry", "pages/3_online_features.py",
    ),
)
