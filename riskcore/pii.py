"""PII handling: raw SSNs and licences become keyed tokens before they go anywhere.

A token is HMAC-SHA256(key, kind + normalised value), so the same SSN always maps to the same
token under one key ("previously seen" is a token lookup) while a leaked token reveals nothing
without the key. Masked forms are for the screen only.
"""

from __future__ import annotations

import hashlib
import hmac

from riskcore import settings


def tokenize(kind: str, normalised_value: str, key: bytes | None = None) -> str:
    """A stable, keyed, non-reversible token such as ``ssn_3f9a…``."""
    digest = hmac.new(
        key if key is not None else settings.pii_key(),
        f"{kind}:{normalised_value}".encode(),
        hashlib.sha256,
    ).hexdigest()
    return f"{kind}_{digest[:32]}"


def mask_ssn(ssn_digits: str) -> str:
    """``***-**-6789``: the last four digits, as on a bank statement."""
    return f"***-**-{ssn_digits[-4:]}"


def mask_licence(licence: str) -> str:
    """Stars for all but the last two characters, so two licences can still be told apart;
    a short licence is starred whole, since two characters of it would reveal too much."""
    if len(licence) <= 4:
        return "****"
    return "*" * (len(licence) - 2) + licence[-2:]
