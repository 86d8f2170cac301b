"""Input validation shared by the CLI, the API and the dashboard's forms.

Each rule rejects with a one-line message that names the field and never echoes the value
(it may be PII). Every problem of an application is reported at once, not only the first.
Nothing is written before an application validates.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from riskcore.clock import today

USPS_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)
MAX_LICENCE_LENGTH = 20
SSN_INPUT_LENGTH = 11  # 123-45-6789
DATE_INPUT_LENGTH = 10  # YYYY-MM-DD
MAX_INPUT_LENGTH = 64
# How forms and messages name each field (the code's names stay in the API's 422 locations).
FIELD_LABELS = {"date_of_birth": "Date of birth", "ssn": "SSN", "licence": "Driver's licence",
                "state": "State", "application_date": "Application date", "driver_id": "Driver id"}
EARLIEST_BIRTH = date(1900, 1, 1)
_SSN = re.compile(r"(\d{3})-?(\d{2})-?(\d{4})", re.ASCII)
_LICENCE = re.compile(r"[A-Z0-9-]+")


class InvalidInput(ValueError):
    """Bad user input: each problem is (field, what is expected). ``field`` and ``message`` are
    the first problem's."""

    def __init__(self, field: str, message: str, more: tuple[tuple[str, str], ...] = ()) -> None:
        self.problems = ((field, message), *more)
        super().__init__("; ".join(f"{f}: {m}" for f, m in self.problems))
        self.field = field
        self.message = message

    def in_words(self) -> list[str]:
        """The problems as a form shows them: "SSN: required"."""
        return [f"{FIELD_LABELS.get(f, f)}: {m}" for f, m in self.problems]


def _bounded(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    if len(value) > MAX_INPUT_LENGTH:
        raise ValueError(f"too long (at most {MAX_INPUT_LENGTH} characters)")
    return value.strip()


def normalise_ssn(value: Any) -> str:
    """Nine digits, with or without dashes, following the SSA's never-issued rules."""
    text = _bounded(value)
    if not text:
        raise ValueError("required")
    match = _SSN.fullmatch(text)
    if not match:
        raise ValueError("expected 9 digits like 123-45-6789")
    area, group, serial = match.groups()
    if area in ("000", "666") or area.startswith("9") or group == "00" or serial == "0000":
        raise ValueError("not an issuable SSN (area 000/666/9xx, group 00 or serial 0000)")
    return area + group + serial


def normalise_licence(value: Any) -> str:
    text = _bounded(value).upper()
    if not text:
        raise ValueError("required")
    if len(text) > MAX_LICENCE_LENGTH:
        raise ValueError(f"at most {MAX_LICENCE_LENGTH} characters")
    if not _LICENCE.fullmatch(text):
        raise ValueError("letters, digits and dashes only")
    return text


def normalise_state(value: Any) -> str:
    """Two-letter USPS code, case- and whitespace-insensitive."""
    text = _bounded(value).upper()
    if text not in USPS_STATES:
        raise ValueError("expected a two-letter US state code such as CA or NJ")
    return text


def parse_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    text = _bounded(value)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError("expected a date as YYYY-MM-DD") from None


def parse_driver_id(value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidInput("driver_id", "expected a positive whole number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            raise InvalidInput("driver_id", "expected a positive whole number")
        number = int(text)
    if number <= 0:
        raise InvalidInput("driver_id", "expected a positive whole number")
    return number


class OnboardingApplication(BaseModel):
    """A signup as entered. Raw SSN and licence live only in memory; see ``pii``."""

    model_config = ConfigDict(frozen=True)

    # Declared first: the date of birth is checked against it.
    application_date: date
    # True when the server chose the date (today): only such an application can be a real
    # signup; one dated by its caller is a what-if.
    server_dated: bool = False
    date_of_birth: date
    ssn: str
    licence: str
    state: str

    @field_validator("ssn", mode="before")
    @classmethod
    def _ssn(cls, v: Any) -> str:
        return normalise_ssn(v)

    @field_validator("licence", mode="before")
    @classmethod
    def _licence(cls, v: Any) -> str:
        return normalise_licence(v)

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, v: Any) -> str:
        return normalise_state(v)

    @field_validator("application_date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> date:
        return parse_date(v)

    @field_validator("date_of_birth", mode="before")
    @classmethod
    def _birth(cls, v: Any, info: ValidationInfo) -> date:
        if isinstance(v, str) and not v.strip():
            raise ValueError("required")
        born = parse_date(v)
        if born < EARLIEST_BIRTH:
            raise ValueError("before 1900")
        applied = info.data.get("application_date")
        if applied is not None and born > applied:
            raise ValueError("in the future")
        return born

    @classmethod
    def parse(
        cls, *, date_of_birth: Any, ssn: Any, licence: Any, state: Any,
        application_date: Any = None,
    ) -> OnboardingApplication:
        """Validate raw input, raising ``InvalidInput`` with every problem found. Without an
        ``application_date`` the server dates it: today."""
        try:
            return cls(
                date_of_birth=date_of_birth, ssn=ssn, licence=licence, state=state,
                application_date=application_date if application_date is not None else today(),
                server_dated=application_date is None,
            )
        except ValidationError as exc:
            raise _problems(exc) from None


def _problems(exc: ValidationError) -> InvalidInput:
    found = [(str(error["loc"][0]) if error["loc"] else "application",
              str(error.get("ctx", {}).get("error") or error["msg"]).removeprefix("Value error, "))
             for error in exc.errors(include_input=False, include_url=False)]
    order = list(FIELD_LABELS)
    found.sort(key=lambda problem: order.index(problem[0]) if problem[0] in order else len(order))
    return InvalidInput(*found[0], tuple(found[1:]))
