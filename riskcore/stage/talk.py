"""The talk's spine: the original demo's five teaching points and a sixth on learning from the
feature store, each with the scenario that shows it and the page it lands on (presenter mode:
one click sets up *and runs* the scenario)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FollowUp:
    """A second step of a point, one click from its landing: another scenario on another page."""

    action: str
    page: str
    scenario: str


@dataclass(frozen=True)
class TeachingPoint:
    title: str
    say: str
    action: str  # the button: what the click does, named for the page it lands on
    page: str
    scenario: str  # studio.run_point's key for what to set up and run
    then: FollowUp | None = None


TEACHING_POINTS = (
    TeachingPoint(
        "Separate retrieval, featurization and inference",
        "Each decision shows three timed stages, and the model sees a real numpy vector, never raw "
        "values. The happy path is decided for real: point at the timings and the vector.",
        "Onboard · happy path", "pages/1_onboarding.py", "happy_path",
    ),
    TeachingPoint(
        "Batch feature pipelines are real work",
        "The daily batch job turns hourly activity into yesterday's averages and red flags: business "
        "logic, thresholds, and room for bugs. A driver approved today gets a bad day: watch the "
        "batch job and materialization flip the decision. Then break the batch job (a rate written as a "
        "percentage): the checks block it on screen and yesterday's values keep serving.",
        "Driver home · bad day", "pages/2_driver_home.py", "bad_day",
        FollowUp("Monitoring · break the batch job", "pages/8_monitoring.py", "bug_caught"),
    ),
    TeachingPoint(
        "Models live inside a product",
        "The model has an is_valid_state feature. An applicant from a state the business has not "
        "launched is declined; launching it is a product decision that changes the model's input.",
        "Model · new state", "pages/5_model.py", "launch_state",
    ),
    TeachingPoint(
        "Test features before they decide about customers",
        "The original model (v0) was never tested: it approves a 16-year-old. The same applicant, side "
        "by side under v0 and v1, as what-ifs: nobody is registered. Then run the feature tests on "
        "screen: the same pytest files CI runs pin every feature and the batch job's checks.",
        "Onboard · v0 vs v1", "pages/1_onboarding.py", "original_vs_served",
        FollowUp("Monitoring · run the feature tests", "pages/8_monitoring.py", "feature_tests"),
    ),
    TeachingPoint(
        "Feast does a lot of the work",
        "Registry and metadata, materialization, on-demand feature execution and serving. Browse the "
        "registry, look up a driver's online values and their freshness.",
        "Online features", "pages/3_online_features.py", "registry",
    ),
    TeachingPoint(
        "The leak you cannot see offline",
        "Join labels to today's feature values and the model learns what an incident does to a driver "
        "(trips and acceptance collapse afterwards), not what comes before one. It looks better offline "
        "and is worse than a coin on the future. Build the training set, train, and compare the bars.",
        "Train a model · the leak", "pages/7_training.py", "leak",
    ),
)
