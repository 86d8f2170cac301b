"""Driver Risk Studio's engine: features, models, the Feast store facade, jobs and decisions.

Never imports Streamlit; pages, the CLI and the HTTP API all call into this package.
"""
