"""Serving: features, models as data, the missing/stale policy and the decision service."""
