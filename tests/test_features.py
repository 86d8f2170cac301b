"""Every feature function at its edges (teaching point 4: test features before they decide)."""

from datetime import date

import numpy as np
import pytest

from riskcore.serving import features as F


@pytest.mark.parametrize(
    ("dob", "as_of", "adult"),
    [
        (date(2008, 11, 26), date(2026, 11, 26), 1),  # 18th birthday today
        (date(2008, 11, 27), date(2026, 11, 26), 0),  # 18 tomorrow
        (date(1990, 1, 1), date(2026, 11, 26), 1),
        (date(2026, 11, 26), date(2026, 11, 26), 0),  # born today
        (date(2008, 2, 29), date(2026, 2, 28), 0),  # leap-day birthday, common year: not yet
        (date(2008, 2, 29), date(2026, 3, 1), 1),  # ... completes the year on 1 March
        (date(2006, 2, 28), date(2024, 2, 28), 1),  # plain birthday in a leap year
        (date(2004, 2, 29), date(2022, 2, 28), 0),
        (date(2004, 2, 29), date(2028, 2, 29), 1),  # leap-day birthday on a leap day
        (None, date(2026, 11, 26), 0),  # unknown date of birth is never "adult"
    ],
)
def test_is_adult_edges(dob, as_of, adult):
    assert F.is_adult(dob, as_of) == adult


def test_age_in_years_counts_completed_years():
    assert F.age_in_years(date(2000, 6, 15), date(2026, 6, 14)) == 25
    assert F.age_in_years(date(2000, 6, 15), date(2026, 6, 15)) == 26


@pytest.mark.parametrize(("stored", "valid"), [(1, 1), (0, 0), (None, 0), (True, 1), (2, 1)])
def test_is_valid_state_reads_the_launch_flag(stored, valid):
    assert F.is_valid_state(stored) == valid


@pytest.mark.parametrize(("holder", "seen"), [(1001, 1), (0, 1), (None, 0)])
def test_previously_seen_is_presence_of_a_holder(holder, seen):
    assert F.is_previously_seen(holder) == seen


def test_onboarding_features_batch_matches_the_scalar_functions():
    out = F.onboarding_features({
        F.DATE_OF_BIRTH: ["1990-01-01", "2010-05-05", "2008-11-26"],
        F.APPLICATION_DATE: ["2026-11-26", "2026-11-26", "2026-11-26"],
        F.IS_LAUNCHED: [1, None, 0],
        F.SSN_DRIVER_ID: [None, 1003, None],
        F.DL_DRIVER_ID: [1004, None, None],
    })
    assert out == {
        F.IS_ADULT: [1, 0, 1],
        F.IS_VALID_STATE: [1, 0, 0],
        F.SEEN_SSN: [0, 1, 0],
        F.SEEN_DL: [1, 0, 0],
    }


def test_onboarding_features_with_missing_inputs_assumes_the_worst_for_the_applicant():
    # No stored lookups and a date Feast's schema inference might send: nothing is "good".
    out = F.onboarding_features({F.DATE_OF_BIRTH: ["hello world"], F.APPLICATION_DATE: [""]})
    assert out == {F.IS_ADULT: [0], F.IS_VALID_STATE: [0], F.SEEN_SSN: [0], F.SEEN_DL: [0]}


def test_onboarding_features_empty_batch():
    assert F.onboarding_features({F.DATE_OF_BIRTH: []}) == {f: [] for f in F.ONBOARDING_FEATURES}


def test_yesterdays_flags_at_their_thresholds():
    flags = F.yesterdays_flags(
        conv_rate=np.array([0.80, 0.8001, 0.5]),
        acc_rate=np.array([0.01, 0.0099, 0.5]),
        avg_daily_trips=np.array([10, 9.99, 500]),
    )
    assert flags[F.Y_CONV_GT_80].tolist() == [0, 1, 0]
    assert flags[F.Y_ACC_LT_01].tolist() == [0, 1, 0]
    assert flags[F.Y_TRIPS_LT_10].tolist() == [0, 1, 0]


def test_daily_feature_order_is_fixed():
    assert F.DAILY_FEATURES == (
        "conv_rate", "acc_rate", "avg_daily_trips",
        "yesterdays_avg_daily_trips_lt_10", "yesterdays_acc_rate_lt_01", "yesterdays_conv_rate_gt_80",
    )
    assert F.ONBOARDING_FEATURES == (
        "is_gt_18_years_old", "is_valid_state", "is_previously_seen_ssn", "is_previously_seen_dl",
    )
