"""The models' weights, threshold, clipping and reasons, pinned to SPEC §3."""

import numpy as np
import pytest

from riskcore.serving import features as F
from riskcore.serving.model import (
    APPROVED,
    DAILY_V0,
    DAILY_V1,
    DECLINED,
    ONBOARDING_V0,
    ONBOARDING_V1,
    get_model,
)


def onboarding(adult, launched, ssn, dl):
    return {F.IS_ADULT: adult, F.IS_VALID_STATE: launched, F.SEEN_SSN: ssn, F.SEEN_DL: dl}


@pytest.mark.parametrize(
    ("row", "score", "decision", "top_reason"),
    [
        ((1, 1, 0, 0), 0.15, APPROVED, None),
        ((1, 0, 0, 0), 0.55, DECLINED, "state not launched"),
        ((0, 1, 0, 0), 0.55, DECLINED, "under 18"),
        ((1, 1, 1, 0), 0.65, DECLINED, "previously seen SSN"),
        ((1, 1, 0, 1), 0.40, APPROVED, "previously seen licence"),
        ((1, 1, 1, 1), 0.90, DECLINED, "previously seen SSN"),
    ],
)
def test_onboarding_v1_decision_table(row, score, decision, top_reason):
    vector = ONBOARDING_V1.vector(onboarding(*row))
    assert ONBOARDING_V1.score(vector) == score
    assert ONBOARDING_V1.decide(ONBOARDING_V1.score(vector)) == decision
    reasons = ONBOARDING_V1.reasons(vector)
    assert (reasons[0].text if reasons else None) == top_reason


def test_onboarding_v1_weights_are_the_spec():
    assert ONBOARDING_V1.intercept == 0.95
    assert ONBOARDING_V1.weights == (-0.40, -0.40, 0.50, 0.25)
    assert ONBOARDING_V1.threshold == 0.5


def test_v0_reproduces_the_original_bugs():
    # Under 18 (and in a state that is not launched) the original model approves at 0.03.
    v = ONBOARDING_V0.vector(onboarding(0, 0, 0, 0))
    assert ONBOARDING_V0.score(v) == 0.03
    assert ONBOARDING_V0.decide(0.03) == APPROVED
    # A clean driver with ~500 trips a day is declined because the trip count dominates.
    busy = DAILY_V0.vector({F.CONV_RATE: 0.5, F.ACC_RATE: 0.5, F.AVG_DAILY_TRIPS: 500,
                            F.Y_TRIPS_LT_10: 0, F.Y_ACC_LT_01: 0, F.Y_CONV_GT_80: 0})
    assert DAILY_V0.score(busy) == pytest.approx(0.52)
    assert DAILY_V0.decide(DAILY_V0.score(busy)) == DECLINED
    assert DAILY_V0.reasons(busy)[0].feature == F.AVG_DAILY_TRIPS
    assert DAILY_V1.decide(DAILY_V1.score(busy)) == APPROVED


def daily(conv, acc, trips, *flags):
    return DAILY_V1.vector(dict(zip(F.DAILY_FEATURES, (conv, acc, trips, *flags))))


def test_daily_v1_flags():
    one = DAILY_V1.score(daily(0.5, 0.5, 100, 1, 0, 0))
    two = DAILY_V1.score(daily(0.5, 0.5, 100, 1, 0, 1))
    assert one == pytest.approx(0.05 + 0.30 + 0.025 - 0.025 - 0.01)
    assert DAILY_V1.decide(one) == APPROVED
    assert two == pytest.approx(one + 0.30)
    assert DAILY_V1.decide(two) == DECLINED


def test_daily_v1_bad_driver_day_from_the_seed():
    # conv 0.99, acc 0.01, 2 trips: trips < 10 and conv > 0.80 flag; acc 0.01 is not < 0.01.
    flags = F.yesterdays_flags(np.array([0.99]), np.array([0.01]), np.array([2]))
    vector = daily(0.99, 0.01, 2, *(int(flags[f][0]) for f in F.YESTERDAYS_FLAGS))
    assert DAILY_V1.score(vector) == pytest.approx(0.6988)
    assert DAILY_V1.decide(DAILY_V1.score(vector)) == DECLINED


def test_scores_are_clipped_to_unit_interval():
    assert DAILY_V1.score(daily(0, 1, 10_000, 0, 0, 0)) == 0.0
    assert ONBOARDING_V0.score(ONBOARDING_V0.vector(onboarding(0, 0, 1, 1))) == pytest.approx(0.78)
    assert DAILY_V0.score(daily(1, 1, 5_000, 1, 1, 1)) == 1.0


def test_threshold_is_strict():
    assert ONBOARDING_V1.decide(0.4999) == APPROVED
    assert ONBOARDING_V1.decide(0.5) == DECLINED


def test_batch_scoring_equals_row_scoring():
    rng = np.random.default_rng(0)
    matrix = np.column_stack([rng.random(200), rng.random(200), rng.integers(0, 1000, 200),
                              *(rng.integers(0, 2, 200) for _ in range(3))]).astype(float)
    batch = DAILY_V1.score_batch(matrix)
    assert np.allclose(batch, [DAILY_V1.score(row) for row in matrix])


def test_contributions_are_weight_times_value():
    vector = ONBOARDING_V1.vector(onboarding(1, 0, 1, 0))
    assert ONBOARDING_V1.contributions(vector) == pytest.approx(
        {F.IS_ADULT: -0.40, F.IS_VALID_STATE: 0.0, F.SEEN_SSN: 0.50, F.SEEN_DL: 0.0})
    assert [r.text for r in ONBOARDING_V1.reasons(vector)] == ["previously seen SSN", "state not launched"]


def test_vector_is_numpy_in_model_order():
    vector = ONBOARDING_V1.vector({F.SEEN_DL: 1, F.SEEN_SSN: 0, F.IS_VALID_STATE: 1, F.IS_ADULT: 0})
    assert isinstance(vector, np.ndarray) and vector.dtype == np.float64
    assert vector.tolist() == [0.0, 1.0, 0.0, 1.0]


def test_model_lookup():
    assert get_model("onboarding") is ONBOARDING_V1
    assert get_model("daily", "v0") is DAILY_V0
    with pytest.raises(ValueError, match="unknown model version"):
        get_model("daily", "v9")
