"""The talk's spine: the original demo's five teaching points, a sixth on learning from the
feature store, and the scenario for each."""

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
        "logic, thresholds, and room for bugs. Give a driver a bad day and watch the flags arrive.",
        "Batch jobs: a driver's bad day", "pages/2_driver_home.py", bad_day=True,
    ),
    TeachingPoint(
        "Models live inside a product",
        "The model has an is_valid_state feature. An applicant from NJ is declined; launching NJ is a "
        "product decision that changes the model's input. See the what-if, then launch it.",
        "Model: launch a new state", "pages/5_model.py", unlaunched_application=True,
    ),
    TeachingPoint(
        "Test features before they decide about customers",
        "The original model (v0) was untested: it approves a 16-year-old. Run the under-18 preset "
        "with v0, then with v1; the unit tests pin every feature at its edges.",
        "Onboard: under 18 with v0", "pages/1_onboarding.py", preset="under_18", version="v0",
    ),
    TeachingPoint(
        "Feast does a lot of the work",
        "Registry and metadata, materialization, on-demand feature execution and serving. Browse the "
        "registry, look up a driver's online values and their freshness.",
        "Online features: the registry", "pages/3_online_features.py",
    ),
    TeachingPoint(
        "The leak you cannot see offline",
        "Join labels to today's feature values and the model learns what an incident does to a driver "
        "(trips and acceptance collapse afterwards), not what comes before one. It looks better offline "
        "and is worse than a coin on the future. Build the training set, train, and compare the bars.",
        "Train a model: the leak", "pages/7_training.py",
    ),
)
