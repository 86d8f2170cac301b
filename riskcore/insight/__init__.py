"""Insight: the registry catalog, online vs offline values, model insights and charts."""
