"""PII handling: raw SSNs and licences become keyed tokens before they go anywhere.

A token is HMAC-SHA256(key, kind + normalised value), so the same SSN always maps to the same
token under one key ("previously seen" is a token lookup) while a leaked token reveals nothing
without the key. Screens and the decision log show a short token prefix and never a digit of
the SSN: with the last four digits beside a token, a known key gave every SSN back in seconds.
"""

from __future__ import annotations

import hashlib
import hmac

from riskcore import settings

SHOWN_TOKEN_CHARS = 8


def tokenize(kind: str, normalised_value: str, key: bytes | None = None) -> str:
    """A stable, keyed, non-reversible token such as ``ssn_3f9a…``."""
    digest = hmac.new(
        key if key is not None else settings.pii_key().secret,
        f"{kind}:{normalised_value}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"{kind}_{digest[:32]}"


def short(token: str) -> str:
    """What a screen shows of a token: enough to tell two applicants apart, nothing more."""
    kind, _, digest = token.partition("_")
    return f"{kind}·{digest[:SHOWN_TOKEN_CHARS]}"


def application_key(ssn: str, licence: str, date_of_birth: str, state: str, key: bytes | None = None) -> str:
    """The idempotency key of an application: a retry with the same SSN, licence, date of birth
    and state is the same application (and gets the same answer)."""
    return tokenize("application", "|".join((ssn, licence, date_of_birth, state)), key)
