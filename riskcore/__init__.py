"""Driver Risk Studio's engine. Never imports Streamlit; pages, the CLI and the HTTP API call it.

The folders follow the architecture, so a behaviour is one hop from its page:

- ``serving``: what decides about a customer (features, models, the missing/stale policy,
  decisions);
- ``data``: the Feast store facade, the ledger (the source of truth for signups, the decision
  log and job history), the batch jobs and the background job runner;
- ``insight``: looking inside (registry catalog, online vs offline, model insights, charts);
- ``stage``: the talk's scenarios and teaching points;
- top level: ``settings`` (paths, keys), ``pii`` (tokens, masks), ``validation`` (input rules),
  ``cli`` and ``api`` (the two non-dashboard front ends).
"""

from riskcore.settings import isolate_feast_metrics

isolate_feast_metrics()
