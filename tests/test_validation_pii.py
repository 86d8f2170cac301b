"""Input validation and PII tokenization."""

import stat
from datetime import date

import pytest

from riskcore import pii, settings
from riskcore.validation import InvalidInput, OnboardingApplication, parse_driver_id

GOOD = {"date_of_birth": "1990-01-01", "ssn": "123-45-6789", "licence": "D1234567", "state": "CA",
        "application_date": "2026-11-26"}


def test_good_application_is_normalised():
    app = OnboardingApplication.parse(**{**GOOD, "ssn": "123456789", "licence": " d12-34 ", "state": " nj\t"})
    assert (app.ssn, app.licence, app.state) == ("123456789", "D12-34", "NJ")
    assert app.date_of_birth == date(1990, 1, 1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ssn", "12-345-6789", "9 digits"),
        ("ssn", "", "required"),
        ("ssn", "1234567890", "9 digits"),
        ("ssn", "000-12-3456", "not an issuable"),
        ("ssn", "666-12-3456", "not an issuable"),
        ("ssn", "923-45-6789", "not an issuable"),
        ("ssn", "123-00-6789", "not an issuable"),  # group 00
        ("ssn", "123-45-0000", "not an issuable"),  # serial 0000
        ("ssn", "１２３-45-6789", "9 digits"),  # full-width digits
        ("ssn", "1" * 10_000, "too long"),
        ("ssn", None, "expected text"),
        ("licence", "", "required"),
        ("licence", "   ", "required"),
        ("licence", "A" * 21, "at most 20"),
        ("licence", "D12\x00", "letters, digits and dashes"),
        ("licence", "DÉ123", "letters, digits and dashes"),
        ("state", "ZZ", "state code"),
        ("state", "California", "state code"),
        ("state", "", "state code"),
        ("date_of_birth", "2990-01-01", "in the future"),
        ("date_of_birth", "1899-12-31", "before 1900"),
        ("date_of_birth", "01/02/1990", "YYYY-MM-DD"),
        ("date_of_birth", "1990-02-30", "YYYY-MM-DD"),
        ("date_of_birth", "yesterday", "YYYY-MM-DD"),
    ],
)
def test_bad_input_names_the_field_and_never_echoes_it(field, value, message):
    with pytest.raises(InvalidInput) as caught:
        OnboardingApplication.parse(**{**GOOD, field: value})
    assert caught.value.field == field
    assert message in str(caught.value)
    if value and len(str(value)) > 3:
        assert str(value) not in str(caught.value)


def test_every_problem_is_listed_in_form_order_and_in_words():
    with pytest.raises(InvalidInput) as caught:
        OnboardingApplication.parse(date_of_birth="2999-01-01", ssn="", licence="A" * 21, state="ZZ",
                                    application_date="2026-11-26")
    assert [field for field, _ in caught.value.problems] == ["date_of_birth", "ssn", "licence", "state"]
    assert caught.value.in_words() == ["Date of birth: in the future", "SSN: required",
                                       "Driver's licence: at most 20 characters",
                                       "State: expected a two-letter US state code such as CA or NJ"]


@pytest.mark.parametrize("value", ["abc", "-3", "0", "1.5", "", " ", "٣", True, "9" * 30])
def test_bad_driver_ids(value):
    with pytest.raises(InvalidInput, match="driver_id"):
        parse_driver_id(value)


def test_driver_id_accepts_whitespace_and_ints():
    assert parse_driver_id(" 1001 ") == 1001
    assert parse_driver_id(1001) == 1001


def test_tokens_are_stable_keyed_and_opaque():
    a = pii.tokenize("ssn", "123456789", key=b"k1")
    assert a == pii.tokenize("ssn", "123456789", key=b"k1")
    assert a != pii.tokenize("ssn", "123456789", key=b"k2")
    assert a != pii.tokenize("dl", "123456789", key=b"k1")
    assert "123456789" not in a and "6789" not in a


def test_token_key_comes_from_the_environment_or_the_generated_key_file(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(settings.PII_KEY_ENV, raising=False)
    with pytest.raises(settings.PiiKeyMissing, match="riskcore bootstrap"):
        pii.tokenize("ssn", "123456789")
    generated = settings.ensure_pii_key(tmp_path)
    assert generated.source == "generated" and len(generated.secret) >= 32
    assert stat.S_IMODE(settings.Paths(tmp_path).pii_key_file.stat().st_mode) == 0o600
    assert settings.ensure_pii_key(tmp_path) == generated  # generated once, then kept
    from_file = pii.tokenize("ssn", "123456789")
    assert from_file == pii.tokenize("ssn", "123456789", key=generated.secret)
    monkeypatch.setenv(settings.PII_KEY_ENV, "another-key")
    assert pii.tokenize("ssn", "123456789") == pii.tokenize("ssn", "123456789", key=b"another-key")
    assert pii.tokenize("ssn", "123456789") != from_file


def test_the_demo_key_only_when_asked_for(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.DATA_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(settings.PII_KEY_ENV, raising=False)
    assert settings.ensure_pii_key(tmp_path).secret != settings.DEMO_PII_KEY.encode()
    monkeypatch.setenv(settings.PII_KEY_ENV, "demo")
    key = settings.pii_key()
    assert key.is_demo and key.secret == settings.DEMO_PII_KEY.encode()


def test_fingerprints_identify_keys_without_revealing_them():
    a, b = settings.PiiKey(b"k" * 32, "environment"), settings.PiiKey(b"j" * 32, "environment")
    assert a.fingerprint != b.fingerprint and len(a.fingerprint) == 16
    assert a.fingerprint == settings.PiiKey(b"k" * 32, "generated").fingerprint
    assert "k" * 8 not in a.fingerprint


def test_screens_show_token_prefixes_never_digits(monkeypatch):
    monkeypatch.setenv(settings.PII_KEY_ENV, "a-test-key")
    token = pii.tokenize("ssn", "123456789", key=b"k1")
    shown = pii.short(token)
    assert shown == "ssn·" + token.removeprefix("ssn_")[:8]
    assert not any(part in shown for part in ("6789", "123", "45"))
    assert pii.application_key("123456789", "D1", "1990-01-01", "CA") != pii.application_key(
        "123456789", "D1", "1990-01-02", "CA")
