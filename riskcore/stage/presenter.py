"""Who may drive the demo: the presenter, unlocked with a key; everyone else watches.

On a dashboard bound to loopback only this machine can connect, so every session is the
presenter. Once the dashboard is exposed to a room (or a key is configured), the presenter's
controls (reset, jobs, cadence, launching states, bug injection, models) need the presenter key:
from ``RISK_PRESENTER_KEY`` (or Streamlit secrets), else generated when the server starts and
printed in its terminal. The audience gets read-only pages and the Join page.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket

PRESENTER_KEY_ENV = "RISK_PRESENTER_KEY"
# Where phones should go; overrides the guessed LAN address (e.g. behind a tunnel).
PUBLIC_URL_ENV = "RISK_PUBLIC_URL"
KEY_GROUPS, KEY_GROUP_LENGTH = 3, 4
_KEY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off a projector


def generate_key() -> str:
    """A key a presenter can type from the terminal: ``k7dp-x3mr-9wfa`` (~59 bits)."""
    return "-".join("".join(secrets.choice(_KEY_ALPHABET) for _ in range(KEY_GROUP_LENGTH))
                    for _ in range(KEY_GROUPS))


def matches(candidate: str, key: str) -> bool:
    """Constant-time comparison, ignoring case and surrounding spaces."""
    return hmac.compare_digest(candidate.strip().lower().encode(), key.strip().lower().encode())


def is_loopback(address: str) -> bool:
    """Whether a bind address only lets this machine in (``127.0.0.1``, ``localhost``, ``::1``)."""
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def lan_address() -> str | None:
    """This machine's address on its local network, as phones in the room would use it. A UDP
    socket "connected" to a routable address sends nothing but picks the outgoing interface."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if ipaddress.ip_address(address).is_loopback else address


def join_url(public_url: str | None, bind_address: str, port: int) -> str | None:
    """The Join page's address for the audience, or None while the dashboard is loopback-only."""
    if public_url:
        return public_url.rstrip("/") + "/join"
    if is_loopback(bind_address):
        return None
    host = bind_address if bind_address not in ("0.0.0.0", "::", "") else lan_address()
    return f"http://{host}:{port}/join" if host else None
