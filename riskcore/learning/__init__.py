"""Learning: the daily model learned from the feature store.

- ``outcomes``: a seeded simulation of driver history whose incidents follow a latent risk and
  change behaviour afterwards; matured outcomes (labels) in an offline source Feast knows;
- ``training``: the training set through Feast (point in time beside the naive latest-value
  join), the time split, the candidates and how they are judged (AUC, calibration, cost);
- ``registry``: MLflow's registry in the data dir, through ``feast.mlflow``: versions,
  champion and challenger aliases, promotion and rollback, loading a version to serve;
- ``job``: the training job that ties them together (``riskcore train``, the Train page).
"""
