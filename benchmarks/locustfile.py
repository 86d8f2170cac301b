"""Locust users for `benchmarks/load.py`: signups and daily decisions against `riskcore api`.

The mix and think time come from the environment so one file serves every scenario:
``RISK_LOAD_SIGNUP_WEIGHT`` / ``RISK_LOAD_DAILY_WEIGHT`` (task weights), ``RISK_LOAD_THINK``
(seconds between a user's requests; 0 for saturation) and ``RISK_LOAD_DRIVERS`` (the seeded
population's size, for daily decisions).
"""

from __future__ import annotations

import itertools
import os
import random
import uuid

from locust import FastHttpUser, between, constant

SIGNUP_WEIGHT = int(os.environ.get("RISK_LOAD_SIGNUP_WEIGHT", "1"))
DAILY_WEIGHT = int(os.environ.get("RISK_LOAD_DAILY_WEIGHT", "1"))
THINK = float(os.environ.get("RISK_LOAD_THINK", "1"))
DRIVERS = int(os.environ.get("RISK_LOAD_DRIVERS", "1000"))
FIRST_DRIVER_ID = 1001
_serials = itertools.count(random.randrange(1, 9000))


def fresh_applicant() -> dict[str, str]:
    """An adult in a launched state with an SSN and licence nobody has used: Approved."""
    serial = next(_serials) % 9999 + 1
    return {"date_of_birth": "1988-03-14", "state": "CA",
            "ssn": f"{random.randrange(1, 666):03d}-{random.randrange(1, 100):02d}-{serial:04d}",
            "licence": f"L{uuid.uuid4().hex[:12].upper()}"}


def signup(user: FastHttpUser) -> None:
    user.client.post("/onboarding/decision", json=fresh_applicant(), name="signup")


def daily(user: FastHttpUser) -> None:
    driver = FIRST_DRIVER_ID + random.randrange(DRIVERS)
    user.client.get(f"/daily/{driver}/decision", name="daily decision")


class RiskClient(FastHttpUser):
    wait_time = between(0.5 * THINK, 1.5 * THINK) if THINK else constant(0)
    tasks = {task: weight for task, weight in ((signup, SIGNUP_WEIGHT), (daily, DAILY_WEIGHT)) if weight}
