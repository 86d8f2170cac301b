"""Feature names and the pure functions that compute features.

No Feast, no Streamlit: the on-demand view in ``feature_repo`` imports these functions inside its
UDF, the batch job calls the vectorised ones, and the unit tests call both directly, so the code
that decides about a customer is the code that is tested (teaching point 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np

from riskcore.clock import today

# Onboarding: produced by the on-demand view ``onboarding_features``.
IS_ADULT = "is_gt_18_years_old"
IS_VALID_STATE = "is_valid_state"
SEEN_SSN = "is_previously_seen_ssn"
SEEN_DL = "is_previously_seen_dl"
ONBOARDING_FEATURES = (IS_ADULT, IS_VALID_STATE, SEEN_SSN, SEEN_DL)

# Request-time inputs and the stored lookups the on-demand view reads.
DATE_OF_BIRTH = "date_of_birth"
APPLICATION_DATE = "application_date"
IS_LAUNCHED = "is_launched"
SSN_DRIVER_ID = "ssn_driver_id"
DL_DRIVER_ID = "dl_driver_id"

# The feature views the daily model reads (feature_repo/feature_definitions.py names them so).
HOURLY_VIEW = "driver_hourly_stats"
YESTERDAYS_VIEW = "driver_yesterdays_stats"

# Daily: hourly stats plus the batch job's "yesterday" flags.
CONV_RATE = "conv_rate"
ACC_RATE = "acc_rate"
AVG_DAILY_TRIPS = "avg_daily_trips"
Y_CONV_RATE = "yesterdays_conv_rate"
Y_ACC_RATE = "yesterdays_acc_rate"
Y_TRIPS = "yesterdays_avg_daily_trips"
Y_TRIPS_LT_10 = "yesterdays_avg_daily_trips_lt_10"
Y_ACC_LT_01 = "yesterdays_acc_rate_lt_01"
Y_CONV_GT_80 = "yesterdays_conv_rate_gt_80"
HOURLY_FEATURES = (CONV_RATE, ACC_RATE, AVG_DAILY_TRIPS)
YESTERDAYS_FLAGS = (Y_TRIPS_LT_10, Y_ACC_LT_01, Y_CONV_GT_80)
YESTERDAYS_FEATURES = (Y_CONV_RATE, Y_ACC_RATE, Y_TRIPS, *YESTERDAYS_FLAGS)
DAILY_FEATURES = (*HOURLY_FEATURES, *YESTERDAYS_FLAGS)

# The label: not a feature (nothing serves it) but what the daily model learns to predict, from
# the outcomes source: 1 if the driver had an incident within the horizon after a decision.
LABEL = "incident_within_horizon"

# How long a stored value may be used: the feature views' TTLs, which Feast does not enforce
# online, so the serving policy (``riskcore.serving.policy``) does.
HOURLY_TTL = timedelta(days=2)
YESTERDAYS_TTL = timedelta(days=2)
FEATURE_TTLS = {
    **{name: HOURLY_TTL for name in HOURLY_FEATURES},
    **{name: YESTERDAYS_TTL for name in YESTERDAYS_FEATURES},
}

# Business rules of the batch job: the thresholds behind each flag's name.
TRIPS_LOW = 10
ACC_RATE_LOW = 0.01
CONV_RATE_HIGH = 0.80
ADULT_AGE = 18

# The values each driver feature can take. Every batch job's output is checked against them
# before it may be served (riskcore.quality.checks): a rate is a share, a flag is 0 or 1.
MAX_DAILY_TRIPS = 1440  # a trip a minute, all day
FEATURE_DOMAINS: dict[str, tuple[float, float]] = {
    CONV_RATE: (0.0, 1.0),
    ACC_RATE: (0.0, 1.0),
    AVG_DAILY_TRIPS: (0, MAX_DAILY_TRIPS),
    Y_CONV_RATE: (0.0, 1.0),
    Y_ACC_RATE: (0.0, 1.0),
    Y_TRIPS: (0, MAX_DAILY_TRIPS),
    **{flag: (0, 1) for flag in YESTERDAYS_FLAGS},
}


def age_in_years(date_of_birth: date, as_of: date) -> int:
    """Completed years. A 29 February birthday completes a year on 1 March in common years."""
    before_birthday = (as_of.month, as_of.day) < (date_of_birth.month, date_of_birth.day)
    return as_of.year - date_of_birth.year - int(before_birthday)


def is_adult(date_of_birth: date | None, as_of: date) -> int:
    """1 from the 18th birthday on (the seed's name says "gt 18"; the rule is "18 or over")."""
    if date_of_birth is None:
        return 0
    return int(age_in_years(date_of_birth, as_of) >= ADULT_AGE)


def is_valid_state(is_launched: Any) -> int:
    """1 only if the launched-states table says so; an unknown state is not launched."""
    return int(bool(is_launched)) if is_launched is not None else 0


def is_previously_seen(holder_driver_id: Any) -> int:
    """1 if an existing driver already holds this SSN or licence token."""
    return int(holder_driver_id is not None)


def _as_date(value: Any) -> date | None:
    """A date from an ISO string; anything else (Feast's schema inference probes the UDF with
    random strings) is "unknown"."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def onboarding_features(inputs: Mapping[str, Sequence[Any]]) -> dict[str, list[int]]:
    """The body of the ``onboarding_features`` on-demand view (Feast python mode, batched).

    ``inputs`` maps each input name to a column of values; a missing column or value counts
    as "not known", which never makes an applicant look better than the facts.
    """
    rows = len(next(iter(inputs.values()), []))

    def column(name: str) -> Sequence[Any]:
        return inputs.get(name) or [None] * rows

    births, applied = column(DATE_OF_BIRTH), column(APPLICATION_DATE)
    return {
        IS_ADULT: [
            is_adult(_as_date(dob), _as_date(day) or today())
            for dob, day in zip(births, applied)
        ],
        IS_VALID_STATE: [is_valid_state(v) for v in column(IS_LAUNCHED)],
        SEEN_SSN: [is_previously_seen(v) for v in column(SSN_DRIVER_ID)],
        SEEN_DL: [is_previously_seen(v) for v in column(DL_DRIVER_ID)],
    }


def yesterdays_flags(
    conv_rate: np.ndarray, acc_rate: np.ndarray, avg_daily_trips: np.ndarray
) -> dict[str, np.ndarray]:
    """The batch job's flags, vectorised over all drivers."""
    return {
        Y_TRIPS_LT_10: (np.asarray(avg_daily_trips) < TRIPS_LOW).astype(np.int64),
        Y_ACC_LT_01: (np.asarray(acc_rate) < ACC_RATE_LOW).astype(np.int64),
        Y_CONV_GT_80: (np.asarray(conv_rate) > CONV_RATE_HIGH).astype(np.int64),
    }
