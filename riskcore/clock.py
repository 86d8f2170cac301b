"""The server's clock: the one authority on what "now" and "today" are.

Clients never choose the date a real signup is decided on (a client-sent date once let a
14-year-old register as an adult); only what-if paths, which write nothing, accept one.
"""

from __future__ import annotations

from datetime import date, datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def today() -> date:
    """Today's date on the server (UTC), the application date of every real signup."""
    return utc_now().date()
