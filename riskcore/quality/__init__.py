"""Quality: feature quality you can watch, and checks that stop a buggy batch job.

- ``checks``: expectations on each batch output (ranges, nulls, rows, freshness, flag rates),
  their limits defined once;
- ``gate``: which batch outputs are held back from the online store, and the override;
- ``bugs``: named, realistic batch-job bugs a presenter can inject, each caught by a check;
- ``monitoring``: Feast's data-quality monitoring (baseline, daily metrics, a profile of every
  batch output), stored in the data dir; ``drift``: PSI from Feast's histograms;
- ``skew``: online values against point-in-time offline values for a sample of drivers;
- ``feature_tests``: the feature unit tests, run with pytest from the dashboard;
- ``charts``: the Monitoring page's Altair charts, as pure functions.
"""
