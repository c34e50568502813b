"""Pure pieces of the foundation: credentials, roles, errors, settings, currencies, time zones, clock."""

from __future__ import annotations

import importlib.util
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from comerix.auth import credentials, passwords
from comerix.auth.credentials import CredentialKind
from comerix.auth.passwords import hash_password, verify_password
from comerix.auth.roles import Permission, Role, permissions_of
from comerix.clock import FixedClock
from comerix.conversions.models import parse_step_time, step_time
from comerix.db.bulk import Codec
from comerix.errors import (
    Conflict,
    DomainError,
    FieldProblem,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
    status_for,
)
from comerix.goals.errors import GoalCodeImmutable, GoalCodeTaken, GoalNotFound
from comerix.money import normalize_currency
from comerix.settings import Settings, SettingsError, load_settings
from comerix.text import (
    NestedTooDeep,
    _may_hold_long_number,
    json_bytes,
    json_loads,
    json_text,
    path_deeper_than,
)
from comerix.workspaces.schemas import AnalyticsSettings


def test_roles_grant_exactly_the_permissions_of_the_spec() -> None:
    assert permissions_of(Role.ADMIN) == set(Permission)
    assert permissions_of(Role.DESIGNER) == {
        Permission.GOALS_MANAGE,
        Permission.TELEMETRY,
        Permission.ANALYTICS_VIEW,
    }
    assert permissions_of(Role.ANALYST) == {Permission.TELEMETRY, Permission.ANALYTICS_VIEW}
    assert permissions_of(Role.VIEWER) == {Permission.ANALYTICS_VIEW}


def test_permission_names_are_the_contract() -> None:
    assert {p.value for p in Permission} == {
        "comerix.insights.goals.manage",
        "comerix.insights.telemetry",
        "comerix.insights.analytics.view",
        "comerix.contacts.manage",
        "comerix.settings.manage",
    }


def test_a_credential_names_its_kind_and_workspace_and_is_stored_as_a_hash() -> None:
    workspace = uuid.uuid4()
    token, stored = credentials.issue(CredentialKind.PERSONAL_ACCESS_TOKEN, workspace)
    parsed = credentials.parse(token)
    assert parsed is not None
    assert parsed.kind is CredentialKind.PERSONAL_ACCESS_TOKEN
    assert parsed.workspace_id == workspace
    assert parsed.digest == stored
    assert token not in stored
    assert len(stored) == 64


def test_two_credentials_are_never_alike() -> None:
    workspace = uuid.uuid4()
    assert (
        credentials.issue(CredentialKind.SECRET_KEY, workspace)[0]
        != credentials.issue(CredentialKind.SECRET_KEY, workspace)[0]
    )


@pytest.mark.parametrize(
    "bearer",
    [
        "",
        "token",
        "cx_pat_nothex_secret",
        "cx_xyz_" + "0" * 32 + "_s",
        "cx_pat_" + "0" * 32 + "_",
        "xx_pat_" + "0" * 32 + "_secret",
        "cx_pat_" + "g" * 32 + "_secret",
    ],
)
def test_malformed_credentials_do_not_parse(bearer: str) -> None:
    assert credentials.parse(bearer) is None


def test_hint_shows_kind_and_last_characters_only() -> None:
    key, _ = credentials.issue(CredentialKind.PUBLIC_KEY, uuid.uuid4())
    assert credentials.hint(key) == f"cx_pub_…{key[-4:]}"


def test_the_service_hashes_at_argon2_cffis_recommended_parameters() -> None:
    """The suite hashes with cheap parameters (tests/conftest.py); a fresh copy of the module, as the
    service loads it, hashes at argon2-cffi's recommended ones (RFC 9106's low-memory choice)."""
    spec = importlib.util.spec_from_file_location("fresh_passwords", passwords.__file__)
    assert spec is not None
    assert spec.loader is not None
    fresh = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fresh)
    hashed = fresh.hash_password("correct horse")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert fresh.verify_password(hashed, "correct horse")
    assert not passwords.hash_password("correct horse").startswith("$argon2id$v=19$m=65536")


def test_passwords_are_hashed_with_argon2id() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong horse")
    assert not verify_password("not a hash", "correct horse")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (GoalNotFound("x"), 404),
        (GoalCodeTaken("x"), 409),
        (GoalCodeImmutable("a", "b"), 422),
        (Unauthenticated("no"), 401),
        (Forbidden("no"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (DomainError("plain"), 400),
    ],
)
def test_each_error_category_has_its_status(error: DomainError, status: int) -> None:
    assert status_for(error) == status


def test_invalid_summarises_its_problems() -> None:
    error = Invalid.of([FieldProblem("name", "is required"), FieldProblem("kind", "is wrong", index=2)])
    assert error.message == "name: is required (and 1 more problem)"
    assert error.details == [
        {"field": "name", "message": "is required"},
        {"index": 2, "field": "kind", "message": "is wrong"},
    ]


def test_settings_default_to_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.database.get_backend_name() == "sqlite"
    assert settings.database.database == str(tmp_path / "comerix.db")


def test_plain_postgresql_urls_use_psycopg_3() -> None:
    settings = Settings(database_url="postgresql://u@db.internal/comerix")
    assert settings.database.drivername == "postgresql+psycopg"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COMERIX_DATABASE_URL", "mysql://u@h/db", "COMERIX_DATABASE_URL: unsupported database 'mysql'"),
        ("COMERIX_DATABASE_URL", "not a url", "COMERIX_DATABASE_URL: is not a database URL"),
        ("COMERIX_SECURE_COOKIES", "perhaps", "COMERIX_SECURE_COOKIES: Input should be a valid boolean"),
    ],
)
def test_bad_settings_fail_fast_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_currencies_follow_iso_4217_case_insensitively() -> None:
    assert normalize_currency("eur") == "EUR"
    assert normalize_currency(" BHD ") == "BHD"
    assert normalize_currency("EUX") is None
    assert normalize_currency("XXX") is None


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kathmandu"])
def test_iana_time_zones_are_accepted(zone: str) -> None:
    assert AnalyticsSettings(base_currency="EUR", timezone=zone).timezone == zone


@pytest.mark.parametrize("zone", ["CEST", "Berlin", "Europe/Atlantis", "", "+02:00"])
def test_anything_else_is_not_a_time_zone(zone: str) -> None:
    with pytest.raises(ValidationError, match="IANA time zone"):
        AnalyticsSettings(base_currency="EUR", timezone=zone)


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    clock.advance(timedelta(hours=1))
    assert clock.now() == datetime(2026, 1, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedClock(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    "document",
    [
        {"n": 123456789012345678901234567890, "m": [2**64, -(2**70)], "s": "ü"},
        {"plain": 1, "f": 1.5, "nested": {"ok": True, "none": None}},
    ],
)
def test_json_text_keeps_integers_of_any_size(document: dict[str, object]) -> None:
    assert json_loads(json_bytes(document)) == document
    assert json_loads(bytearray(json_bytes(document))) == document
    assert json_loads(json_text(document, indent=True)) == document
    assert json_text(document, indent=True).startswith('{\n  "')


@given(
    st.lists(st.sampled_from([b"0", b"7", b"9", b"1" * 19, b"-", b"x", b".", b"\xd9\xa3", b'"']), max_size=40)
)
def test_the_search_for_long_numbers_finds_exactly_the_runs_of_twenty_digits(parts: list[bytes]) -> None:
    document = b"".join(parts)
    expected = re.search(rb"[0-9]{20}|-[0-9]{19}", document) is not None
    assert _may_hold_long_number(document) is expected
    assert _may_hold_long_number(bytearray(document)) is expected
    assert _may_hold_long_number(document.decode(errors="replace")) is expected


def test_a_long_integer_in_a_body_is_read_exactly() -> None:
    assert json_loads(b'{"id": 123456789012345678901, "near": 12345678901234567890.5}') == {
        "id": 123456789012345678901,
        "near": 12345678901234567890.5,
    }
    assert json_loads(b'{"n": 1234567890123456789}') == {"n": 1234567890123456789}
    # below -2**63, orjson would read a float: -9223372036854775808 is the last integer it keeps
    for n in (-(2**63), -(2**63) - 1, -(10**19) + 1, 2**64 - 1, 2**64):
        assert json_loads(f'{{"n": {n}}}'.encode()) == {"n": n}
        assert type(json_loads(f"[{n}]".encode())[0]) is int


def test_json_loads_refuses_what_is_not_json() -> None:
    for text in ("NaN", '{"x": Infinity}', "{'single': 1}", "[1,", "12345678901234567890 x"):
        with pytest.raises(ValueError, match=r"JSON|Expecting|Extra data|property name"):
            json_loads(text)
    for deep in (
        "[" * 100_000 + "]" * 100_000,
        b'{"n": 12345678901234567890, "l": ' + b"[" * 990 + b"]" * 991,
    ):
        with pytest.raises(NestedTooDeep, match="nests arrays or objects too deeply"):
            json_loads(deep)  # a ValueError, not the parser's RecursionError


@pytest.mark.parametrize(
    "text", ["1e400", "-1e400", '{"n": [1e999]}', '{"n": 1e400, "id": 12345678901234567890}']
)
def test_json_loads_refuses_numbers_beyond_the_range_of_a_double(text: str) -> None:
    with pytest.raises(ValueError, match="number"):
        json_loads(text)  # rather than read as infinity, which would be stored as null


def test_json_loads_reads_tiny_and_negative_zero_numbers() -> None:
    assert json_loads("[1e-400, -0, -0.0, 1e308, 2e-308]") == [0.0, 0, -0.0, 1e308, 2e-308]


@pytest.mark.parametrize(
    ("document", "limit", "path"),
    [
        (
            '{"events": [{"name": "x"}, {"properties": {"a": [[[[]]]]}}]}',
            5,
            ["events", 1, "properties", "a", 0],
        ),
        ('{"s": "[[[[[{{{{", "t": [[1]]}', 2, ["t", 0]),
        ('{"a\\"b": {"\\u00e9\\"": [[]]}}', 3, ['a"b', '\u00e9"', 0]),
        ("[[1, 2], [3, [4, [5]]]]", 3, [1, 1, 1]),
        ("[[1, 2], [3, [4, [5]]]]", 4, None),
        ("[]", 0, []),
        ('"[[["', 0, None),
    ],
)
def test_the_path_to_the_first_value_nested_too_deep(document: str, limit: int, path: object) -> None:
    assert path_deeper_than(document, limit) == path
    assert path_deeper_than(document.encode(), limit) == path


def test_the_sqlite_codec_writes_each_moment_as_naive_utc_text_whatever_its_zone() -> None:
    codec = Codec("sqlite")
    moment = datetime(2026, 11, 21, 10, 0, 0, 5, tzinfo=UTC)
    berlin = moment.astimezone(ZoneInfo("Europe/Berlin"))
    assert codec.time(moment) == "2026-11-21 10:00:00.000005"
    assert codec.time(berlin) == "2026-11-21 10:00:00.000005"  # remembered as the same moment
    assert Codec("sqlite").time(berlin) == "2026-11-21 10:00:00.000005"  # and the same when first
    assert codec.time(None) is None
    assert Codec("postgresql").time(berlin) == moment
    assert Codec("postgresql").time(berlin).tzinfo is UTC


def test_either_codec_writes_a_time_for_json_as_sqlite_keeps_it_and_as_cycles_read_it() -> None:
    moment = datetime(2026, 11, 21, 10, 0, 0, 5, tzinfo=UTC)
    berlin = moment.astimezone(ZoneInfo("Europe/Berlin"))
    for codec in (Codec("sqlite"), Codec("postgresql")):
        assert codec.time_text(berlin) == "2026-11-21 10:00:00.000005" == step_time(moment)
        assert parse_step_time(codec.time_text(moment)) == moment


def test_a_codec_forgets_the_times_it_remembered_once_it_holds_too_many(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Codec, "MAX_REMEMBERED", 3)
    codec = Codec("sqlite")
    start = datetime(2026, 11, 21, tzinfo=UTC)
    texts = [codec.time(start + timedelta(seconds=n)) for n in range(10)]
    assert texts == [f"2026-11-21 00:00:{n:02d}.000000" for n in range(10)]
    assert len(codec._times) <= 3
