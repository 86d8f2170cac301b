"""Driver Risk Studio: every Feast object of the risk system, documented where it is defined.

Feature names and the feature logic come from ``riskcore`` (one home for each fact); data paths
come from ``riskcore.settings`` so the same definitions serve any data directory.
"""

from datetime import timedelta
from typing import Any

from feast import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    PushSource,
    RequestSource,
    ValueType,
)
from feast.data_format import ParquetFormat
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Float32, Int64, String

from riskcore.serving import features as F
from riskcore.settings import paths

OWNER = "risk-team@driver-risk.example"
_paths = paths()

# --- Entities -------------------------------------------------------------------------------

driver = Entity(
    name="driver",
    join_keys=["driver_id"],
    value_type=ValueType.INT64,
    description="A driver on the platform (assigned at approval).",
    tags={"domain": "drivers"},
    owner=OWNER,
)
ssn = Entity(
    name="ssn",
    join_keys=["ssn"],
    value_type=ValueType.STRING,
    description="A social security number, as an HMAC token: raw SSNs never reach Feast.",
    tags={"domain": "identity", "pii": "tokenized"},
    owner=OWNER,
)
dl = Entity(
    name="dl",
    join_keys=["dl"],
    value_type=ValueType.STRING,
    description="A driver's licence number, as an HMAC token.",
    tags={"domain": "identity", "pii": "tokenized"},
    owner=OWNER,
)
state = Entity(
    name="state",
    join_keys=["state"],
    value_type=ValueType.STRING,
    description="A US state (two-letter USPS code) the business may operate in.",
    tags={"domain": "product"},
    owner=OWNER,
)

# --- Sources --------------------------------------------------------------------------------
# Every batch source is a *directory* of parquet files: writers add a new file (written to a
# hidden temporary name, then renamed) instead of rewriting one file in place, so concurrent
# writers never corrupt it and readers never see half a file. The DuckDB offline store reads a
# directory as every `*.parquet` file below it, hidden ones too (DuckDB >= 1.4); temporary names
# end in `.tmp`, so they never match. `file_format=ParquetFormat()` is required: without it the
# DuckDB store reads only paths ending in `.parquet` and returns nothing for a directory.

driver_hourly_source = FileSource(
    name="driver_hourly_source",
    path=str(_paths.hourly_dir),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
    description="Hourly driver activity, generated with feast.driver_test_data (one file a day).",
)
driver_yesterdays_source = FileSource(
    name="driver_yesterdays_source",
    path=str(_paths.yesterdays_dir),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
    description="Output of the daily batch job: yesterday's averages and red flags.",
)
signups_source = FileSource(
    name="signups_source",
    path=str(_paths.signups_dir),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
    description="Approved signups (tokens only): the offline half of the closed loop.",
)
signups_push = PushSource(
    name="signups_push",
    batch_source=signups_source,
    description="Each approval is pushed here, so the next signup with the same SSN or "
    "licence is flagged at once (the closed loop).",
)
launched_states_source = FileSource(
    name="launched_states_source",
    path=str(_paths.states_dir),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
    description="Launch and retire events for states: product configuration as data.",
)
launched_states_push = PushSource(
    name="launched_states_push",
    batch_source=launched_states_source,
    description="Launching or retiring a state is a push: the model sees it on the next request.",
)
# Labels are not features: a model learns from them, nothing serves them. They are registered as
# a source (so `feast ui` and the registry show where training rows come from) and read as the
# entity rows of `get_historical_features`, joined point-in-time with the `daily` service.
driver_outcomes_source = FileSource(
    name="driver_outcomes",
    path=str(_paths.outcomes_dir),
    file_format=ParquetFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created",
    description="Matured outcomes of past daily decisions: per driver and decision time, whether an "
    "incident followed within the horizon. `created` is when the outcome matured (became known).",
    tags={"team": "risk", "producer": "riskcore.learning.outcomes", "kind": "labels"},
    owner=OWNER,
)
onboarding_request = RequestSource(
    name="onboarding_request",
    schema=[
        Field(name=F.DATE_OF_BIRTH, dtype=String, description="ISO date of birth."),
        Field(name=F.APPLICATION_DATE, dtype=String, description="ISO date of the application."),
    ],
    description="Values only known at request time; never stored.",
)

# --- Feature views --------------------------------------------------------------------------

driver_hourly_stats = FeatureView(
    name=F.HOURLY_VIEW,
    entities=[driver],
    ttl=F.HOURLY_TTL,
    schema=[
        Field(name=F.CONV_RATE, dtype=Float32, description="Share of offers converted."),
        Field(name=F.ACC_RATE, dtype=Float32, description="Share of offers accepted."),
        Field(name=F.AVG_DAILY_TRIPS, dtype=Int64, description="Trips per day (rolling)."),
    ],
    source=driver_hourly_source,
    online=True,
    description="Latest hourly activity of each driver; input of the daily model.",
    tags={"team": "risk", "cadence": "hourly"},
    owner=OWNER,
)
driver_yesterdays_stats = FeatureView(
    name=F.YESTERDAYS_VIEW,
    entities=[driver],
    ttl=F.YESTERDAYS_TTL,
    schema=[
        Field(name=F.Y_CONV_RATE, dtype=Float32, description="Yesterday's mean conversion rate."),
        Field(name=F.Y_ACC_RATE, dtype=Float32, description="Yesterday's mean acceptance rate."),
        Field(name=F.Y_TRIPS, dtype=Float32, description="Yesterday's mean daily trips."),
        Field(name=F.Y_TRIPS_LT_10, dtype=Int64,
              description=f"1 if yesterday's trips < {F.TRIPS_LOW}."),
        Field(name=F.Y_ACC_LT_01, dtype=Int64,
              description=f"1 if yesterday's acceptance rate < {F.ACC_RATE_LOW}."),
        Field(name=F.Y_CONV_GT_80, dtype=Int64,
              description=f"1 if yesterday's conversion rate > {F.CONV_RATE_HIGH}."),
    ],
    source=driver_yesterdays_source,
    online=True,
    description="Built by the daily batch job (riskcore.data.jobs.batch_job): business logic lives "
    "in batch pipelines too (teaching point 2).",
    tags={"team": "risk", "cadence": "daily", "producer": "batch_job"},
    owner=OWNER,
)
ssn_identity = FeatureView(
    name="ssn_identity",
    entities=[ssn],
    ttl=timedelta(0),
    schema=[Field(name=F.SSN_DRIVER_ID, dtype=Int64, description="Driver holding this SSN.")],
    source=signups_push,
    online=True,
    description="Which driver already holds an SSN token (never expires).",
    tags={"team": "risk", "pii": "tokenized", "producer": "signups"},
    owner=OWNER,
)
dl_identity = FeatureView(
    name="dl_identity",
    entities=[dl],
    ttl=timedelta(0),
    schema=[Field(name=F.DL_DRIVER_ID, dtype=Int64, description="Driver holding this licence.")],
    source=signups_push,
    online=True,
    description="Which driver already holds a licence token (never expires).",
    tags={"team": "risk", "pii": "tokenized", "producer": "signups"},
    owner=OWNER,
)
driver_signups = FeatureView(
    name="driver_signups",
    entities=[driver],
    ttl=timedelta(0),
    schema=[Field(name="signup_state", dtype=String, description="State signed up in.")],
    source=signups_push,
    online=True,
    description="One row per approved driver: the roster that daily jobs and lookups use.",
    tags={"team": "risk", "producer": "signups"},
    owner=OWNER,
)
launched_states = FeatureView(
    name="launched_states",
    entities=[state],
    ttl=timedelta(0),
    schema=[Field(name=F.IS_LAUNCHED, dtype=Int64, description="1 if the business operates here.")],
    source=launched_states_push,
    online=True,
    description="Where the product is live. The model's is_valid_state reads this, so launching "
    "a state is a data change the model sees (teaching point 3).",
    tags={"team": "product"},
    owner=OWNER,
)

# --- On-demand features ---------------------------------------------------------------------


@on_demand_feature_view(
    sources=[onboarding_request, launched_states, ssn_identity, dl_identity],
    schema=[Field(name=name, dtype=Int64) for name in F.ONBOARDING_FEATURES],
    mode="python",
    description="The onboarding model's inputs, computed per request from request data and "
    "stored lookups by riskcore.serving.features.onboarding_features (unit-tested).",
    tags={"team": "risk", "model": "onboarding"},
    owner=OWNER,
)
def onboarding_features(inputs: dict[str, Any]) -> dict[str, Any]:
    # Feast rebuilds this function from its source: import what it needs inside the body.
    from riskcore.serving.features import onboarding_features as compute

    return compute(inputs)


# --- Feature services: what each model reads ------------------------------------------------

onboarding = FeatureService(
    name="onboarding",
    features=[onboarding_features],
    description="Everything the onboarding model needs for one application.",
    tags={"model": "onboarding"},
    owner=OWNER,
)
daily = FeatureService(
    name="daily",
    features=[driver_hourly_stats, driver_yesterdays_stats[list(F.YESTERDAYS_FLAGS)]],
    description="Everything the daily model needs for one driver.",
    tags={"model": "daily"},
    owner=OWNER,
)
