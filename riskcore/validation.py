"""Input validation shared by the CLI, the API and the dashboard's forms.

Each rule rejects with a one-line message that names the field and never echoes the value
(it may be PII). Nothing is written before an application validates.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    field_validator,
    model_validator,
)

from riskcore.clock import today

USPS_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY".split()
)
MAX_LICENCE_LENGTH = 20
MAX_INPUT_LENGTH = 64
EARLIEST_BIRTH = date(1900, 1, 1)
_SSN = re.compile(r"(\d{3})-?(\d{2})-?(\d{4})", re.ASCII)
_LICENCE = re.compile(r"[A-Z0-9-]+")


class InvalidInput(ValueError):
    """Bad user input: ``field`` says where, the message says what is expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _bounded(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    if len(value) > MAX_INPUT_LENGTH:
        raise ValueError(f"too long (at most {MAX_INPUT_LENGTH} characters)")
    return value.strip()


def normalise_ssn(value: Any) -> str:
    """Nine digits, with or without dashes, following the SSA's never-issued rules."""
    match = _SSN.fullmatch(_bounded(value))
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

    date_of_birth: date
    ssn: str
    licence: str
    state: str
    application_date: date

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

    @field_validator("date_of_birth", "application_date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> date:
        return parse_date(v)

    @model_validator(mode="after")
    def _dates(self) -> OnboardingApplication:
        if self.date_of_birth < EARLIEST_BIRTH:
            raise ValueError("date_of_birth|before 1900")
        if self.date_of_birth > self.application_date:
            raise ValueError("date_of_birth|in the future")
        return self

    @classmethod
    def parse(
        cls, *, date_of_birth: Any, ssn: Any, licence: Any, state: Any,
        application_date: Any = None,
    ) -> OnboardingApplication:
        """Validate raw input, raising ``InvalidInput`` for the first problem found."""
        try:
            return cls(
                date_of_birth=date_of_birth, ssn=ssn, licence=licence, state=state,
                application_date=application_date if application_date is not None else today(),
            )
        except ValidationError as exc:
            raise _first_problem(exc) from None


def _first_problem(exc: ValidationError) -> InvalidInput:
    error = exc.errors(include_input=False, include_url=False)[0]
    message = str(error.get("ctx", {}).get("error") or error["msg"]).removeprefix("Value error, ")
    if error["loc"]:
        return InvalidInput(str(error["loc"][0]), message)
    field, _, text = message.partition("|")
    return InvalidInput(field, text)
