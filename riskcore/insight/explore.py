"""Looking inside the feature store: the registry catalog, online values with their event
times and freshness, and online-vs-offline comparisons (teaching point 5: Feast does a lot)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from riskcore.clock import utc_now
from riskcore.data.store import RiskStore
from riskcore.serving import features as F
from riskcore.serving.policy import TIMESTAMP_SUFFIX
from riskcore.validation import parse_driver_id

DRIVER_VIEWS = ("driver_hourly_stats", "driver_yesterdays_stats", "driver_signups")


def catalog(store: RiskStore) -> dict[str, pd.DataFrame]:
    """Every registered object with its description, tags, owner and TTL, by kind."""
    fs = store.fs

    def tags(obj: Any) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(obj.tags.items()))

    def ttl(view: Any) -> str:
        if not view.ttl or not view.ttl.total_seconds():
            return "never expires"
        return f"{view.ttl.total_seconds() / 3600:g} h"

    return {
        "Entities": pd.DataFrame([
            {"name": e.name, "join key": e.join_key, "description": e.description,
             "tags": tags(e), "owner": e.owner} for e in fs.list_entities()
        ]),
        "Feature views": pd.DataFrame([
            {"name": v.name, "entities": ", ".join(v.entities),
             "features": ", ".join(f.name for f in v.features), "ttl": ttl(v),
             "source": v.stream_source.name if v.stream_source else v.batch_source.name,
             "description": v.description, "tags": tags(v), "owner": v.owner}
            for v in fs.list_feature_views()
        ]),
        "On-demand views": pd.DataFrame([
            {"name": v.name, "mode": v.mode, "inputs": ", ".join(sorted(v.source_request_sources) +
                                                                  sorted(v.source_feature_view_projections)),
             "features": ", ".join(f.name for f in v.features), "description": v.description,
             "tags": tags(v), "owner": v.owner}
            for v in fs.list_on_demand_feature_views()
        ]),
        "Feature services": pd.DataFrame([
            {"name": s.name,
             "features": "; ".join(f"{p.name}: {', '.join(f.name for f in p.features)}"
                                   for p in s.feature_view_projections),
             "description": s.description, "tags": tags(s), "owner": s.owner}
            for s in fs.list_feature_services()
        ]),
    }


def _driver_refs(store: RiskStore) -> list[str]:
    return [f"{v.name}:{f.name}" for v in store.fs.list_feature_views() if v.name in DRIVER_VIEWS
            for f in v.features]


def shown(value: Any) -> Any:
    """A value as a screen shows it: floats to four decimals (Feast's float32 reads as
    0.9208478331565857), everything else as it is."""
    return round(float(value), 4) if isinstance(value, (float, np.floating)) else value


def online_driver_values(store: RiskStore, driver_id: Any) -> pd.DataFrame:
    """A driver's online values with their event time, age and freshness against the TTL."""
    driver = parse_driver_id(driver_id)
    refs = _driver_refs(store)
    values = store.online(refs, [{"driver_id": driver}], with_event_timestamps=True)
    now = utc_now()
    rows = []
    for ref in refs:
        view, name = ref.split(":")
        value = values[name][0]
        stamp = values.get(name + TIMESTAMP_SUFFIX, [0])[0]
        event = datetime.fromtimestamp(stamp, timezone.utc) if value is not None and stamp else None
        ttl = F.FEATURE_TTLS.get(name)
        age_h = (now - event).total_seconds() / 3600 if event else None
        fresh = None if event is None else (ttl is None or age_h <= ttl.total_seconds() / 3600)
        rows.append({
            "view": view, "feature": name, "value": None if value is None else str(shown(value)),
            "event time": event.strftime("%Y-%m-%d %H:%M:%S") if event else None,
            "age (h)": None if age_h is None else round(age_h, 2),
            "freshness": "missing" if event is None else ("never expires" if ttl is None else
                                                          f"{'fresh' if fresh else 'STALE'} (TTL {ttl.total_seconds() / 3600:g} h)"),
        })
    return pd.DataFrame(rows)


def online_vs_offline(store: RiskStore, driver_id: Any) -> pd.DataFrame:
    """Online values beside the offline point-in-time values as of now: where materialization
    is behind, they differ."""
    driver = parse_driver_id(driver_id)
    refs = [r for r in _driver_refs(store) if not r.startswith("driver_signups")]
    online = store.online(refs, [{"driver_id": driver}])
    asked = pd.DataFrame({"driver_id": [driver], "event_timestamp": [pd.Timestamp(utc_now())]})
    offline = store.historical(asked, refs).iloc[0]
    rows = []
    for ref in refs:
        name = ref.split(":")[1]
        on, off = online[name][0], offline[name]
        off = None if pd.isna(off) else off
        same = (on is None and off is None) or (on is not None and off is not None and abs(float(on) - float(off)) < 1e-6)
        rows.append({"feature": ref, "online": shown(on), "offline (as of now)": shown(off), "match": same})
    return pd.DataFrame(rows)
