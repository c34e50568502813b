"""The storage layer on each backend: migrations, exact types, constraint names."""

from __future__ import annotations

import sqlite3
import threading
import uuid
import warnings
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy.exc
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from comerix.auth.service import principal_of
from comerix.conversions.attribution import AttributionKind
from comerix.conversions.models import GoalCycle, Outcome
from comerix.conversions.records import COLUMNS as OUTCOME_COLUMNS
from comerix.db import Database
from comerix.db.bulk import SQLITE_ROWS_A_STATEMENT, codec_for, insert_rows
from comerix.db.constraints import violated_constraint
from comerix.db.engine import Checkpointer
from comerix.db.migrate import alembic_config, current_revision, head_revision, is_current, upgrade
from comerix.db.types import ExactDecimal, UTCDateTime
from comerix.goals.models import Goal
from comerix.models import metadata
from comerix.telemetry.batches import EVENT_COLUMNS
from comerix.telemetry.models import Event, EventNameDay, ExecutedStep
from comerix.vocabulary import BaseValueSource, GoalKind
from tests.conftest import _POSTGRES_PROBLEM, _postgres_database
from tests.factories import make_goal, make_multistep_goal, make_user, make_workspace

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_migrations_build_exactly_the_models_schema(db: Database) -> None:
    with db.engine.connect() as connection, warnings.catch_warnings():
        # Alembic leaves out the indexes on an expression where it cannot read them back (SQLite), and
        # says so; the one such index is PostgreSQL's alone (migration 0018), so SQLite has none.
        warnings.filterwarnings(
            "ignore",
            "autogenerate skipping metadata-specified expression-based index 'ix_conversation_paths_steps'",
        )
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_postgresql_indexes_the_paths_by_their_steps_in_their_workspace(db: Database) -> None:
    """Alembic compares an index's columns or expression, not its method: the GIN index the
    Conversation Explorer relies on is checked here, and what its expression makes of a path."""
    if db.backend != "postgresql":
        pytest.skip("PostgreSQL only")
    with db.engine.connect() as connection:
        definition = connection.scalar(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_conversation_paths_steps'")
        )
        keys = connection.scalar(
            text("SELECT comerix_path_steps(:workspace, CAST(:seen AS jsonb))"),
            {"workspace": "01234567-89ab-cdef-0123-456789abcdef", "seen": '["ask", "say \\"hi\\""]'},
        )
    assert definition is not None
    assert "USING gin (comerix_path_steps(workspace_id, seen) jsonb_path_ops)" in definition
    assert keys == {"01234567-89ab-cdef-0123-456789abcdef": ["ask", 'say "hi"']}


def test_migrating_again_is_harmless(db: Database) -> None:
    upgrade(db.engine)
    assert is_current(db.engine)
    assert current_revision(db.engine) == head_revision()


def test_decimals_round_trip_exactly(session: Session) -> None:
    admin = principal_of(make_user(session, make_workspace(session, NOW), NOW))
    goal = make_goal(session, admin, NOW, value_mode="fixed", fixed_value="129.50")
    session.expire_all()
    stored = session.get(Goal, (goal.workspace_id, goal.id))
    assert stored is not None
    assert stored.fixed_value == Decimal("129.50")
    assert str(stored.fixed_value) == "129.50"


def test_timestamps_come_back_aware_and_in_utc(session: Session) -> None:
    berlin = timezone(timedelta(hours=1))
    workspace = make_workspace(session, datetime(2026, 11, 2, 10, 30, tzinfo=berlin))
    session.expire_all()
    assert workspace.created_at == NOW
    assert workspace.created_at.tzinfo is not None
    assert workspace.created_at.utcoffset() == timedelta(0)


def test_naive_timestamps_are_refused(session: Session) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        make_workspace(session, datetime(2026, 11, 2))  # noqa: DTZ001 - the point of the test


def test_match_conditions_keep_their_json_types(session: Session) -> None:
    admin = principal_of(make_user(session, make_workspace(session, NOW), NOW))
    conditions = {"plan": "premium", "seats": 1, "ratio": 1.5, "trial": True, "coupon": None}
    goal = make_goal(session, admin, NOW, match_conditions=conditions)
    session.expire_all()
    assert session.scalar(select(Goal.match_conditions).where(Goal.id == goal.id)) == conditions


def test_unique_violations_are_told_by_constraint_name(session: Session) -> None:
    admin = principal_of(make_user(session, make_workspace(session, NOW), NOW))
    goal = make_goal(session, admin, NOW, code="signup")
    row = {column.key: getattr(goal, column.key) for column in Goal.__table__.columns} | {"id": uuid.uuid4()}
    with pytest.raises(IntegrityError) as exc, session.begin_nested():
        session.execute(insert(Goal).values(**row))
    assert violated_constraint(exc.value, metadata) == "uq_goals_workspace_id_code"


def test_a_row_cannot_point_into_another_workspace(session: Session) -> None:
    """Foreign keys carry the workspace id, so a reference across tenants is impossible in the database."""
    from comerix.goals.models import GoalRevision, RevisionAction

    admin = principal_of(make_user(session, make_workspace(session, NOW), NOW))
    goal = make_goal(session, admin, NOW)
    other = make_workspace(session, NOW)
    session.add(
        GoalRevision(
            workspace_id=other.id,
            goal_id=goal.id,
            action=RevisionAction.UPDATED,
            changes={},
            actor_user_id=None,
            actor_email="x@y.example",
            at=NOW,
        )
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.flush()


def test_a_database_without_autocheckpoint_is_checkpointed_by_its_owner(db: Database) -> None:
    """The writer process's database: commits leave the log alone; `checkpoint()` copies it back as
    far as no reader still needs it, and tells how much is left."""
    own = Database(db.url, autocheckpoint=False)
    try:
        if own.backend != "sqlite":
            assert own.checkpoint() == 0  # PostgreSQL has nothing of the kind to do
            return
        with own.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        with own.transaction() as session:
            make_workspace(session, NOW)
        reader = sqlite3.connect(str(own.url.database), isolation_level=None)
        try:
            reader.execute("BEGIN")  # a read transaction: it holds its snapshot of the log
            reader.execute("SELECT count(*) FROM workspaces").fetchall()
            with own.transaction() as session:
                make_workspace(session, NOW)
            assert own.checkpoint() > 0  # the newer commit must stay in the log for now
        finally:
            reader.close()
        assert own.checkpoint() == 0  # reader gone: all of it copied back
    finally:
        own.dispose()


@pytest.fixture
def own(tmp_path: Path) -> Iterator[Database]:
    """The writer process's SQLite database: commits leave the log to a `Checkpointer`."""
    database = Database(URL.create("sqlite", database=str(tmp_path / "own.db")), autocheckpoint=False)
    upgrade(database.engine)
    yield database
    database.dispose()


def test_only_sqlite_has_a_log_to_checkpoint(db: Database) -> None:
    if db.backend == "sqlite":
        Checkpointer(db)
    else:
        with pytest.raises(ValueError, match="only SQLite"):
            Checkpointer(db)


@pytest.fixture
def checkpointer(own: Database) -> Iterator[Checkpointer]:
    checkpointer = Checkpointer(own)
    checkpointer.start()
    yield checkpointer
    checkpointer.stop()


def commit_then_checkpoint(database: Database, checkpointer: Checkpointer) -> None:
    """What the writer process does with each group: commit, then have the log copied back."""
    with database.transaction() as session:
        make_workspace(session, NOW)
    checkpointer.request()
    checkpointer.wait()


def test_the_checkpointer_copies_the_log_back_after_a_commit(
    own: Database, checkpointer: Checkpointer
) -> None:
    assert checkpointer.pages_left is None  # no checkpoint yet
    reader = sqlite3.connect(str(own.url.database), isolation_level=None)
    try:
        reader.execute("BEGIN")  # a read transaction holds its snapshot of the log
        reader.execute("SELECT count(*) FROM workspaces").fetchall()
        commit_then_checkpoint(own, checkpointer)
        assert checkpointer.pages_left is not None
        assert checkpointer.pages_left > 0  # the newer commit must stay in the log for now
    finally:
        reader.close()
    commit_then_checkpoint(own, checkpointer)
    assert checkpointer.pages_left == 0  # reader gone: all of it copied back


def test_a_commit_waits_for_the_checkpoint_under_way(
    own: Database, checkpointer: Checkpointer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint overlaps the writer's preparation, never its commit."""
    started, release, committed = threading.Event(), threading.Event(), threading.Event()
    real = own.checkpoint

    def slow_checkpoint() -> int:
        started.set()
        release.wait(timeout=10)
        return real()

    def write() -> None:
        with own.transaction() as session:
            make_workspace(session, NOW)  # the preparation runs beside the checkpoint...
        committed.set()

    monkeypatch.setattr(own, "checkpoint", slow_checkpoint)
    try:
        checkpointer.request()
        assert started.wait(timeout=10)
        writer = threading.Thread(target=write)
        writer.start()
        assert not committed.wait(timeout=0.3)  # ...the commit does not
        release.set()
        writer.join(timeout=10)
        assert committed.is_set()
    finally:
        release.set()


def test_a_failed_checkpoint_is_tried_again_on_the_next_request(
    own: Database,
    checkpointer: Checkpointer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = own.checkpoint
    calls: list[str] = []

    def flaky() -> int:
        calls.append("checkpoint")
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return real()

    monkeypatch.setattr(own, "checkpoint", flaky)
    commit_then_checkpoint(own, checkpointer)
    assert "checkpointing the write-ahead log failed" in caplog.text
    commit_then_checkpoint(own, checkpointer)  # commits went on regardless; the next one is tried
    assert (calls, checkpointer.pages_left) == (["checkpoint", "checkpoint"], 0)


def test_stopping_the_checkpointer_finishes_what_was_requested(own: Database) -> None:
    checkpointer = Checkpointer(own)
    checkpointer.start()
    with own.transaction() as session:
        make_workspace(session, NOW)
    checkpointer.request()
    checkpointer.stop()
    assert checkpointer.pages_left == 0  # the requested checkpoint ran, and copied everything back


def test_bulk_inserts_store_every_kind_of_value_and_count_what_they_wrote(session: Session) -> None:
    """`db.bulk`, which ingestion writes with (SQLite: executemany; PostgreSQL: unnest of arrays):
    UUIDs, times, JSON, decimals and columns holding only NULLs come back as the ORM reads them, and
    ON CONFLICT DO NOTHING counts only the rows it wrote."""
    workspace = make_workspace(session, NOW)
    connection = session.connection()
    codec = codec_for(connection.dialect.name)
    columns = ("workspace_id", "id", "event_id", "name", "timestamp", "received_at", "conversation_id")
    columns += ("contact_id", "flow_id", "source", "properties")
    ids = [uuid.uuid4() for _ in range(3)]
    berlin = timezone(timedelta(hours=1))
    rows = [
        (
            codec.id(workspace.id),
            codec.id(row_id),
            f"e-{n}",
            "purchase",
            codec.time(NOW.astimezone(berlin) + timedelta(seconds=n, microseconds=7 * n)),
            codec.time(NOW),
            None,  # a column of NULLs only
            "ann" if n else None,
            None,
            "server",
            codec.json({"total": "12.50", "items": [n, {"deep": True}], "big": 2**70}),
        )
        for n, row_id in enumerate(ids)
    ]
    tail = "ON CONFLICT (workspace_id, event_id) DO NOTHING"
    assert (
        insert_rows(
            connection, codec, "events", columns, rows, tail=tail, json_columns=frozenset({"properties"})
        )
        == 3
    )
    again = [(*row[:1], codec.id(uuid.uuid4()), *row[2:]) for row in rows[:2]]
    assert (
        insert_rows(
            connection, codec, "events", columns, again, tail=tail, json_columns=frozenset({"properties"})
        )
        == 0
    )

    stored = session.scalars(
        select(Event).where(Event.workspace_id == workspace.id).order_by(Event.event_id)
    ).all()
    assert [event.id for event in stored] == ids
    assert [event.timestamp for event in stored[:2]] == [NOW, NOW + timedelta(seconds=1, microseconds=7)]
    assert stored[1].properties == {"total": "12.50", "items": [1, {"deep": True}], "big": 2**70}
    assert [(event.conversation_id, event.contact_id) for event in stored] == [
        (None, None),
        (None, "ann"),
        (None, "ann"),
    ]


@pytest.mark.parametrize("count", [1, SQLITE_ROWS_A_STATEMENT, 2 * SQLITE_ROWS_A_STATEMENT + 3])
def test_bulk_inserts_count_what_they_wrote_at_any_size(session: Session, count: int) -> None:
    """SQLite takes the rows 50 to a statement and the rest one at a time: whatever their number,
    every row is stored once, an upsert adds to what an earlier call stored, and ON CONFLICT DO NOTHING
    counts only the rows it wrote, including a repeat within the call."""
    workspace = make_workspace(session, NOW)
    connection = session.connection()
    codec = codec_for(connection.dialect.name)
    workspace_key = codec.id(workspace.id)
    columns = ("workspace_id", "name", "day", "count", "last_seen_at")
    tail = (
        "ON CONFLICT (workspace_id, name, day) DO UPDATE SET count = event_name_days.count + excluded.count"
    )
    rows = [(workspace_key, f"name-{n:04d}", codec.day(NOW.date()), n, codec.time(NOW)) for n in range(count)]
    assert insert_rows(connection, codec, "event_name_days", columns, rows, tail=tail) == count
    assert insert_rows(connection, codec, "event_name_days", columns, rows, tail=tail) == count
    stored = session.execute(
        select(EventNameDay.name, EventNameDay.count).where(EventNameDay.workspace_id == workspace.id)
    )
    assert dict(stored.all()) == {f"name-{n:04d}": 2 * n for n in range(count)}

    def event(n: int) -> tuple[object, ...]:
        at = codec.time(NOW)
        return (workspace_key, codec.new_id(), f"e-{n}", "viewed", at, at, None, None, None, "widget", "{}")

    nothing = "ON CONFLICT (workspace_id, event_id) DO NOTHING"
    assert (
        insert_rows(
            connection, codec, "events", EVENT_COLUMNS, [event(n) for n in range(count)], tail=nothing
        )
        == count
    )
    # again, with every other id new, and the last one twice
    again = [event(n if n % 2 else count + n) for n in range(count)] + [event(2 * count)] * 2
    assert (
        insert_rows(connection, codec, "events", EVENT_COLUMNS, again, tail=nothing) == (count + 1) // 2 + 1
    )
    assert session.scalar(select(func.count()).select_from(Event)) == count + (count + 1) // 2 + 1


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("kind", "goal", "ck_outcomes_outcome_kind"),
        ("attribution", "direct", "ck_outcomes_attribution_kind"),
        ("base_value_source", "guess", "ck_outcomes_base_value_source"),
    ],
)
def test_an_outcome_outside_its_closed_sets_is_refused(
    session: Session, column: str, value: str, constraint: str
) -> None:
    """`outcomes.kind` and `.attribution` are checked as `c = 'a' OR …` (`db.types.one_of`, cheaper on
    SQLite than `IN`): every member passes, anything else is refused by the database."""
    admin = principal_of(make_user(session, make_workspace(session, NOW), NOW))
    goal = make_goal(session, admin, NOW)
    codec = codec_for(session.get_bind().dialect.name)

    def outcome(**values: str) -> tuple[object, ...]:
        row = {
            "workspace_id": codec.id(goal.workspace_id),
            "id": codec.id(uuid.uuid4()),
            "goal_id": codec.id(goal.id),
            "goal_code": goal.code,
            "kind": "conversion",
            "event_ref": codec.id(uuid.uuid4()),
            "occurred_at": codec.time(NOW),
            "recorded_at": codec.time(NOW),
            "value": None,
            "currency": None,
            "base_value": None,
            "base_currency": None,
            "base_value_source": None,
            "fx_rate": None,
            "fx_date": None,
            "value_error": None,
            "attribution": "none",
            "conversation_id": None,
            "flow_id": None,
            "contact_id": None,
            "source": "server",
        } | values
        return tuple(row[name] for name in OUTCOME_COLUMNS)

    closed = {"kind": GoalKind, "attribution": AttributionKind, "base_value_source": BaseValueSource}
    members = [member.value for member in closed[column]]
    written = insert_rows(
        session.connection(), codec, "outcomes", OUTCOME_COLUMNS, [outcome(**{column: m}) for m in members]
    )
    assert written == len(members)
    with pytest.raises(Exception, match=constraint), session.begin_nested():
        insert_rows(session.connection(), codec, "outcomes", OUTCOME_COLUMNS, [outcome(**{column: value})])


def test_revision_0007_keeps_the_outcomes_it_copies(tmp_path: Path) -> None:
    """On SQLite, spelling out the outcomes' checks copies the table (a constraint cannot be altered
    there): the rows, and the checks, are the same after the upgrade and after the downgrade."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(engine)
    command.upgrade(config, "0006")
    row = {
        "workspace_id": "a" * 32,
        "id": "b" * 32,
        "goal_id": "c" * 32,
        "goal_code": "buy",
        "kind": "conversion",
        "event_ref": "d" * 32,
        "occurred_at": "2026-11-02 09:30:00.000000",
        "recorded_at": "2026-11-02 09:30:00.000000",
        "value": "129.50",
        "attribution": "window",
        "source": "server",
    }
    columns = ", ".join(row)
    insert_one = text(f"INSERT INTO outcomes ({columns}) VALUES ({', '.join(':' + c for c in row)})")  # noqa: S608
    with engine.begin() as connection:
        connection.execute(insert_one, row)

    def stored() -> list[tuple[object, ...]]:
        with engine.connect() as connection:
            return [tuple(r) for r in connection.execute(text(f"SELECT {columns} FROM outcomes"))]  # noqa: S608

    def schema() -> str:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'outcomes'"))
            return str(found.scalar())

    command.upgrade(config, "0007")
    assert stored() == [tuple(row.values())]
    assert "kind = 'conversion' OR kind = 'engagement' OR kind = 'custom'" in schema()
    refused = pytest.raises(sqlalchemy.exc.IntegrityError, match="ck_outcomes_attribution_kind")
    with refused, engine.begin() as connection:
        connection.execute(insert_one, row | {"id": "e" * 32, "event_ref": "f" * 32, "attribution": "x"})
    command.downgrade(config, "0006")
    assert stored() == [tuple(row.values())]
    assert "kind IN ('conversion', 'engagement', 'custom')" in schema()
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each backend, for a test that migrates it step by step."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    if _POSTGRES_PROBLEM is not None:
        pytest.skip(f"PostgreSQL not reachable: {_POSTGRES_PROBLEM}")
    name = f"comerix_migration_{uuid.uuid4().hex[:12]}"
    engine = create_engine(_postgres_database(name, create=True))
    yield engine
    engine.dispose()
    _postgres_database(name, create=False)


def test_revision_0008_keeps_only_each_chats_own_marks_and_gives_back_the_rest(blank: Engine) -> None:
    """Upgrading keeps a conversation's own marks (goal and attribution), each knowing from the stored
    outcomes whether a conversion lay behind it, and drops the rows for any goal or attribution;
    downgrading writes those back from the own marks."""
    config = alembic_config(blank)
    command.upgrade(config, "0007")
    with Session(blank) as session, session.begin():
        workspace = make_workspace(session, NOW)
        actor = principal_of(make_user(session, workspace, NOW))
        buy = make_goal(session, actor, NOW, code="buy", kind="conversion", trigger_event="buy")
        signup = make_goal(session, actor, NOW, code="signup", kind="engagement", trigger_event="signup")
        outcomes = [("c-1", buy, "window"), ("c-1", signup, "conversation"), ("c-2", signup, "window")]
        for chat, goal, attribution in outcomes:
            session.execute(
                insert(Outcome).values(
                    workspace_id=workspace.id,
                    id=uuid.uuid4(),
                    goal_id=goal.id,
                    goal_code=goal.code,
                    kind=goal.kind.value,
                    event_ref=uuid.uuid4(),
                    occurred_at=NOW,
                    recorded_at=NOW,
                    attribution=attribution,
                    conversation_id=chat,
                    source="server",
                )
            )
        b, s = buy.id.hex, signup.id.hex
        old = {
            ("c-1", b, "window"),
            ("c-1", b, ""),
            ("c-1", "", "window"),
            ("c-1", "", ""),
            ("c-1", s, "conversation"),
            ("c-1", s, ""),
            ("c-2", s, "window"),
            ("c-2", s, ""),
        }
        for mark in old:
            session.execute(
                text(
                    "INSERT INTO conversation_marks (workspace_id, conversation_id, goal_id, attribution) "
                    "VALUES (:workspace, :chat, :goal, :attribution)"
                ),
                {
                    "workspace": codec_for(blank.dialect.name).id(workspace.id),
                    "chat": mark[0],
                    "goal": mark[1],
                    "attribution": mark[2],
                },
            )

    def marks(*columns: str) -> set[tuple[object, ...]]:
        with blank.connect() as connection:
            found = connection.execute(text(f"SELECT {', '.join(columns)} FROM conversation_marks"))  # noqa: S608
            return {tuple(row) for row in found}

    command.upgrade(config, "0008")
    assert {
        (chat, goal, attribution, bool(flag))
        for chat, goal, attribution, flag in marks("conversation_id", "goal_id", "attribution", "conversion")
    } == {("c-1", b, "window", True), ("c-1", s, "conversation", False), ("c-2", s, "window", False)}
    command.downgrade(config, "0007")
    assert marks("conversation_id", "goal_id", "attribution") == old


def test_revision_0009_splits_every_money_sum_into_limbs_and_joins_them_back(blank: Engine) -> None:
    """Upgrading splits each sum of millionths exactly into high * 10^18 + low (0 ≤ low < 10^18), the
    64-bit extremes and negative sums included; downgrading gives back the very same sums, and refuses,
    changing nothing, once a sum no longer fits in 64 bits."""
    config = alembic_config(blank)
    command.upgrade(config, "0008")
    codec = codec_for(blank.dialect.name)
    sums = [0, 1, -1, 10**18, -(10**18), 2**63 - 1, -(2**63), 9_300_000_000_000_000_000 - 2**63, -12_345_678]
    with Session(blank) as session, session.begin():
        workspace = make_workspace(session, NOW)
        dimensions = ("goal", "conversion", "", "none", "EUR", "EUR")
        for n, micros in enumerate(sums):
            row = {
                "w": codec.id(workspace.id),
                "day": date(2026, 11, 1 + n),
                "v": micros,
                "b": ~micros,
            }  # ~: every 64-bit integer to another
            for table in ("outcome_rollups", "outcome_month_rollups"):
                session.execute(
                    text(
                        f"INSERT INTO {table} VALUES (:w, :day, :goal, :kind, :flow, :attribution, "  # noqa: S608
                        ":currency, :base_currency, 1, :v, :b)"
                    ),
                    row
                    | dict(
                        zip(
                            ("goal", "kind", "flow", "attribution", "currency", "base_currency"),
                            dimensions,
                            strict=True,
                        )
                    ),
                )
            session.execute(
                text("INSERT INTO outcome_day_series VALUES (:w, :day, 'conversion', 'EUR', 1, :b)"), row
            )

    def stored(table: str, *columns: str) -> list[tuple[int, ...]]:
        first = "month" if table == "outcome_month_rollups" else "day"
        with blank.connect() as connection:
            found = connection.execute(text(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {first}"))  # noqa: S608
            return [tuple(int(value) for value in row) for row in found]

    command.upgrade(config, "0009")
    for table in ("outcome_rollups", "outcome_month_rollups"):
        assert stored(table, "value_high", "value_low", "base_value_high", "base_value_low") == [
            (*divmod(micros, 10**18), *divmod(~micros, 10**18)) for micros in sums
        ]
    assert stored("outcome_day_series", "base_value_high", "base_value_low") == [
        divmod(~m, 10**18) for m in sums
    ]
    command.downgrade(config, "0008")
    for table in ("outcome_rollups", "outcome_month_rollups"):
        assert stored(table, "value_micros", "base_value_micros") == [(m, ~m) for m in sums]
    assert stored("outcome_day_series", "base_value_micros") == [(~m,) for m in sums]
    command.upgrade(config, "0009")
    with blank.begin() as connection:
        connection.execute(
            text("UPDATE outcome_rollups SET value_high = value_high + 1 WHERE value_high = 9")
        )
    with pytest.raises(RuntimeError, match="1 rows of outcome_rollups hold sums beyond 64-bit millionths"):
        command.downgrade(config, "0008")
    assert stored("outcome_day_series", "base_value_high", "base_value_low") == [
        divmod(~m, 10**18) for m in sums
    ]


def test_revision_0009_counts_again_the_money_that_sqlite_had_turned_into_floats(tmp_path: Path) -> None:
    """On SQLite an overflowing `+` in the old upsert stored a float (18446744073707999232 for twice
    9,223,372,036,854 units): the workspace's money rollups are counted again from its outcomes."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = alembic_config(engine)
    command.upgrade(config, "0008")
    at = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 1 December in Berlin
    with Session(engine) as session, session.begin():
        workspace = make_workspace(session, NOW, timezone="Europe/Berlin")
        actor = principal_of(make_user(session, workspace, NOW))
        goal = make_goal(session, actor, NOW, code="buy", kind="conversion", trigger_event="buy")
        for value in ("9223372036854", "9223372036854", "0.0000015"):
            session.execute(
                insert(Outcome).values(
                    workspace_id=workspace.id,
                    id=uuid.uuid4(),
                    goal_id=goal.id,
                    goal_code=goal.code,
                    kind="conversion",
                    event_ref=uuid.uuid4(),
                    occurred_at=at,
                    recorded_at=at,
                    value=Decimal(value),
                    currency="IDR",
                    base_value=Decimal(value),
                    base_currency="EUR",
                    attribution="none",
                    source="server",
                )
            )
        cell = {"w": workspace.id.hex, "goal": goal.id.hex, "v": float(2 * 9223372036854 * 10**6)}
        for table, first in (("outcome_rollups", "2026-12-01"), ("outcome_month_rollups", "2026-12-01")):
            session.execute(
                text(
                    f"INSERT INTO {table} VALUES (:w, :first, :goal, 'conversion', '', 'none', "  # noqa: S608
                    "'IDR', 'EUR', 3, :v, :v)"
                ),
                cell | {"first": first},
            )
        session.execute(
            text("INSERT INTO outcome_day_series VALUES (:w, '2026-12-01', 'conversion', 'EUR', 3, 5)"), cell
        )
    command.upgrade(config, "0009")
    exact = divmod(2 * 9223372036854 * 10**6 + 2, 10**18)
    with engine.connect() as connection:
        for table in ("outcome_rollups", "outcome_month_rollups"):
            found = connection.execute(
                text(f"SELECT outcomes, value_high, value_low, base_value_high, base_value_low FROM {table}")  # noqa: S608
            )
            assert [tuple(row) for row in found] == [(3, *exact, *exact)]
        series = connection.execute(
            text("SELECT day, outcomes, base_value_high, base_value_low FROM outcome_day_series")
        )
        assert [tuple(row) for row in series] == [("2026-12-01", 3, *exact)]
    engine.dispose()


def test_revision_0012_moves_each_step_reached_into_its_cycle_and_back(blank: Engine) -> None:
    """Upgrading writes each cycle's `goal_events` into its `reached_at` (by slot, the time in UTC) and
    drops the table; downgrading builds the table again from the cycles: the same steps, times,
    conversations and contacts, each step's worth as the step stands, and the event found by its time."""
    config = alembic_config(blank)
    command.upgrade(config, "0011")
    later = NOW + timedelta(minutes=1, microseconds=5)
    with Session(blank) as session, session.begin():
        workspace = make_workspace(session, NOW)
        actor = principal_of(make_user(session, workspace, NOW))
        goal = make_multistep_goal(session, actor, NOW)
        scope = {"workspace_id": workspace.id, "goal_id": goal.id}
    hits = sqlalchemy.Table(  # as revision 0011 made it
        "goal_events",
        sqlalchemy.MetaData(),
        *(
            sqlalchemy.Column(name, sqlalchemy.Uuid())
            for name in ("workspace_id", "id", "goal_id", "cycle_id", "event_ref")
        ),
        *(
            sqlalchemy.Column(name, sqlalchemy.String())
            for name in ("step_key", "conversation_id", "contact_id")
        ),
        sqlalchemy.Column("step_slot", sqlalchemy.Integer()),
        sqlalchemy.Column("occurred_at", UTCDateTime()),
        sqlalchemy.Column("time_saved_seconds", sqlalchemy.BigInteger()),
        *(sqlalchemy.Column(name, ExactDecimal()) for name in ("cost_savings", "revenue_earned")),
    )
    cycle, event = uuid.uuid4(), uuid.uuid4()
    with blank.begin() as connection:
        connection.execute(
            insert(GoalCycle).values(
                **scope,
                id=cycle,
                conversation_id="chat-1",
                open_for="chat-1",
                contact_id="ann",
                started_at=NOW,
                last_step_at=later,
                state="partial",
                reached=0b011,
                steps_reached=2,
                time_saved_seconds=60,
                cost_savings=Decimal(0),
                revenue_earned=Decimal(0),
            )
        )
        connection.execute(
            insert(Event).values(
                workspace_id=scope["workspace_id"],
                id=event,
                event_id="e-2",
                name="details_given",
                timestamp=later,
                received_at=later,
                conversation_id="chat-1",
                contact_id="ann",
                source="widget",
                properties={},
            )
        )
        for slot, key, at, seconds in ((0, "booking_started", NOW, 0), (1, "details_given", later, 60)):
            connection.execute(
                insert(hits).values(
                    **scope,
                    id=uuid.uuid4(),
                    cycle_id=cycle,
                    step_key=key,
                    step_slot=slot,
                    event_ref=uuid.uuid4(),
                    conversation_id="chat-1",
                    contact_id="ann",
                    occurred_at=at,
                    time_saved_seconds=seconds,
                    cost_savings=Decimal(0),
                    revenue_earned=Decimal(0),
                )
            )

    command.upgrade(config, "0012")
    with Session(blank) as session:
        (stored,) = session.scalars(select(GoalCycle)).all()
        assert stored.step_times() == {0: NOW, 1: later}
    assert "goal_events" not in sqlalchemy.inspect(blank).get_table_names()

    command.downgrade(config, "0011")
    with blank.connect() as connection:
        rows = connection.execute(
            select(hits.c.cycle_id, hits.c.step_key, hits.c.step_slot, hits.c.occurred_at, hits.c.contact_id)
            .add_columns(hits.c.event_ref, hits.c.time_saved_seconds)
            .order_by(hits.c.step_slot)
        ).all()
        assert [(r.cycle_id, r.step_key, r.step_slot, r.contact_id, r.time_saved_seconds) for r in rows] == [
            (cycle, "booking_started", 0, "ann", 0),
            (cycle, "details_given", 1, "ann", 60),
        ]
        assert [r.occurred_at.replace(tzinfo=UTC) for r in rows] == [NOW, later]
        # the start's event is not stored: the cycle names it; the second's is found by its time
        assert [r.event_ref for r in rows] == [cycle, event]
        assert "reached_at" not in {
            c["name"] for c in sqlalchemy.inspect(connection).get_columns("goal_cycles")
        }


def test_revision_0013_counts_each_conversations_events_and_keeps_their_ids(blank: Engine) -> None:
    """Upgrading counts the stored events into their conversations and keeps their row ids (32 hex
    digits, in time order) for the timeline; downgrading drops both again."""
    config = alembic_config(blank)
    command.upgrade(config, "0012")
    with Session(blank) as session, session.begin():
        workspace_id = make_workspace(session, NOW).id
    tables = sqlalchemy.MetaData()
    chats = sqlalchemy.Table(  # as revision 0012 left it
        "conversations",
        tables,
        sqlalchemy.Column("workspace_id", sqlalchemy.Uuid()),
        sqlalchemy.Column("id", sqlalchemy.String()),
        sqlalchemy.Column("started_at", UTCDateTime()),
        sqlalchemy.Column("last_activity_at", UTCDateTime()),
    )
    late, early = uuid.uuid4(), uuid.uuid4()
    with blank.begin() as connection:
        connection.execute(
            insert(chats).values(workspace_id=workspace_id, id="c-1", started_at=NOW, last_activity_at=NOW)
        )
        connection.execute(
            insert(chats).values(workspace_id=workspace_id, id="c-2", started_at=NOW, last_activity_at=NOW)
        )
        for row_id, minutes in ((late, 5), (early, 1)):
            connection.execute(
                insert(Event.__table__).values(
                    workspace_id=workspace_id,
                    id=row_id,
                    name="message_sent",
                    timestamp=NOW + timedelta(minutes=minutes),
                    received_at=NOW,
                    conversation_id="c-1",
                    source="widget",
                    properties={},
                )
            )

    command.upgrade(config, "0013")
    with blank.connect() as connection:
        found = connection.execute(text("SELECT id, events, event_refs FROM conversations ORDER BY id")).all()
    assert [tuple(row) for row in found] == [("c-1", 2, f"{early.hex},{late.hex}"), ("c-2", 0, "")]
    command.downgrade(config, "0012")
    columns = {c["name"] for c in sqlalchemy.inspect(blank).get_columns("conversations")}
    assert {"events", "event_refs"}.isdisjoint(columns)


def test_revision_0014_gives_each_day_with_path_rollups_its_first_revision(blank: Engine) -> None:
    config = alembic_config(blank)
    command.upgrade(config, "0013")
    with Session(blank) as session, session.begin():
        workspace_id = make_workspace(session, NOW).id
    rollups = sqlalchemy.Table(  # as revision 0013 left it
        "step_path_rollups",
        sqlalchemy.MetaData(),
        sqlalchemy.Column("workspace_id", sqlalchemy.Uuid()),
        sqlalchemy.Column("day", sqlalchemy.Date()),
        sqlalchemy.Column("flow_id", sqlalchemy.String()),
        sqlalchemy.Column("path_key", sqlalchemy.String()),
        sqlalchemy.Column("path", sqlalchemy.JSON()),
        sqlalchemy.Column("conversations", sqlalchemy.BigInteger()),
    )
    with blank.begin() as connection:
        for day, flow, key in ((1, "sales", "a"), (1, "support", "b"), (3, "sales", "a")):
            row = {"day": date(2026, 11, day), "flow_id": flow, "path_key": key, "path": [key]}
            connection.execute(insert(rollups).values(workspace_id=workspace_id, conversations=1, **row))

    command.upgrade(config, "0014")
    with blank.connect() as connection:
        found = connection.execute(text("SELECT day, revision FROM step_path_days ORDER BY day")).all()
    assert [(str(day), revision) for day, revision in found] == [("2026-11-01", 1), ("2026-11-03", 1)]
    command.downgrade(config, "0013")
    assert not sqlalchemy.inspect(blank).has_table("step_path_days")


def test_revision_0015_marks_how_each_stored_base_value_was_found(blank: Engine) -> None:
    config = alembic_config(blank)
    command.upgrade(config, "0014")
    money = [  # value, currency, base value, base currency: the source the revision gives
        (None, None, None, None, None),
        ("89.00", "EUR", "89.00", "EUR", "same_currency"),
        ("129.50", "USD", "118.20", "EUR", "event"),
        ("129.50", "USD", "129.50", "EUR", "display_fallback"),
    ]
    with Session(blank) as session, session.begin():
        workspace = make_workspace(session, NOW)
        goal = make_goal(session, principal_of(make_user(session, workspace, NOW)), NOW)
        ids = []
        for value, currency, base_value, base_currency, _ in money:
            ids.append(uuid.uuid4())
            session.execute(
                insert(Outcome).values(
                    workspace_id=workspace.id,
                    id=ids[-1],
                    goal_id=goal.id,
                    goal_code=goal.code,
                    kind=goal.kind.value,
                    event_ref=uuid.uuid4(),
                    occurred_at=NOW,
                    recorded_at=NOW,
                    value=None if value is None else Decimal(value),
                    currency=currency,
                    base_value=None if base_value is None else Decimal(base_value),
                    base_currency=base_currency,
                    attribution="none",
                    source="server",
                )
            )

    command.upgrade(config, "0015")
    with Session(blank) as session:
        marked = {row.id: row for row in session.scalars(select(Outcome))}
    assert [(marked[i].base_value_source, marked[i].fx_rate) for i in ids] == [
        (None if source is None else BaseValueSource(source), None) for *_, source in money
    ]
    with blank.connect() as connection:
        counted = connection.execute(
            text("SELECT day, currency, outcomes, value_high, value_low FROM outcome_fallback_rollups")
        ).all()
    assert [(str(day), *rest) for day, *rest in counted] == [("2026-11-02", "USD", 1, 0, 129_500_000)]
    command.downgrade(config, "0014")
    columns = {c["name"] for c in sqlalchemy.inspect(blank).get_columns("outcomes")}
    assert {"base_value_source", "fx_rate", "fx_date"}.isdisjoint(columns)
    assert not sqlalchemy.inspect(blank).has_table("workspace_rates")


def test_revision_0019_moves_each_executed_step_into_a_run_and_back(blank: Engine) -> None:
    """Each stored step becomes a run of its own; the view reads them back as they were, a gap left by
    erasure and a step without a parent included; the downgrade gives the table back, row for row."""
    config = alembic_config(blank)
    command.upgrade(config, "0018")
    with Session(blank) as session, session.begin():
        workspace_id = make_workspace(session, NOW).id
    steps = sqlalchemy.Table(  # as revision 0018 left it
        "executed_steps",
        sqlalchemy.MetaData(),
        sqlalchemy.Column("workspace_id", sqlalchemy.Uuid()),
        sqlalchemy.Column("conversation_id", sqlalchemy.String()),
        sqlalchemy.Column("position", sqlalchemy.Integer()),
        sqlalchemy.Column("flow_id", sqlalchemy.String()),
        sqlalchemy.Column("step_id", sqlalchemy.String()),
        sqlalchemy.Column("parent_step_id", sqlalchemy.String()),
        sqlalchemy.Column("executed_at", UTCDateTime()),
        sqlalchemy.Column("event_ref", sqlalchemy.Uuid()),
    )
    later = NOW + timedelta(seconds=1, microseconds=250)
    rows = [  # position 2 was erased
        ("c-1", 0, "sales", "greet", None, NOW, uuid.uuid4()),
        ("c-1", 1, "sales", "ask", "greet", later, uuid.uuid4()),
        ("c-1", 3, "", 'say "bye"', "ask", later, uuid.uuid4()),
        ("c-2", 0, "support", "greet", None, NOW, uuid.uuid4()),
    ]
    names = (
        "conversation_id",
        "position",
        "flow_id",
        "step_id",
        "parent_step_id",
        "executed_at",
        "event_ref",
    )
    with blank.begin() as connection:
        for row in rows:
            connection.execute(
                insert(steps).values(workspace_id=workspace_id, **dict(zip(names, row, strict=True)))
            )

    def stored() -> list[tuple[object, ...]]:
        with Session(blank) as session:
            found = session.scalars(
                select(ExecutedStep).order_by(ExecutedStep.conversation_id, ExecutedStep.position)
            )
            return [
                (
                    s.conversation_id,
                    s.position,
                    s.flow_id,
                    s.step_id,
                    s.parent_step_id,
                    s.executed_at,
                    s.event_ref,
                )
                for s in found
            ]

    command.upgrade(config, "0019")
    assert stored() == rows
    with blank.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM executed_step_runs")) == 4
    command.downgrade(config, "0018")
    assert not sqlalchemy.inspect(blank).has_table("executed_step_runs")
    assert stored() == rows


def test_revision_0020_keys_a_chats_cycles_by_conversation_and_keeps_them(blank: Engine) -> None:
    """The stored cycles stay; the new key still lets one cycle per goal and conversation be open (any
    number closed), and the CHECK keeps `open_for` the cycle's own conversation; the downgrade gives
    the old key and indexes back, cycles and all."""
    config = alembic_config(blank)
    command.upgrade(config, "0019")
    with Session(blank) as session, session.begin():
        workspace = make_workspace(session, NOW)
        goal = make_multistep_goal(session, principal_of(make_user(session, workspace, NOW)), NOW)
        scope = {"workspace_id": workspace.id, "goal_id": goal.id}

    def cycle(chat: str, open_for: str | None) -> dict[str, object]:
        return {
            **scope,
            "id": uuid.uuid4(),
            "conversation_id": chat,
            "open_for": open_for,
            "started_at": NOW,
            "last_step_at": NOW,
            "state": "incomplete" if open_for else "completed",
            "reached": 1,
            "steps_reached": 1,
            "time_saved_seconds": 0,
            "cost_savings": Decimal(0),
            "revenue_earned": Decimal(0),
            "reached_at": {"0": "2026-11-02 09:30:00.000000"},
        }

    kept = [
        cycle("chat-1", "chat-1"),
        cycle("chat-1", None),
        cycle("chat-1", None),
        cycle("chat-2", "chat-2"),
    ]
    with blank.begin() as connection:
        connection.execute(insert(GoalCycle), kept)

    def stored() -> list[tuple[object, ...]]:
        with blank.connect() as connection:
            rows = connection.execute(select(GoalCycle.id, GoalCycle.conversation_id, GoalCycle.open_for))
            return sorted(tuple(row) for row in rows)

    expected = sorted((c["id"], c["conversation_id"], c["open_for"]) for c in kept)
    command.upgrade(config, "0020")
    assert stored() == expected
    for refused in (cycle("chat-1", "chat-1"), cycle("chat-3", "chat-1")):
        with pytest.raises(IntegrityError), blank.begin() as connection:
            connection.execute(insert(GoalCycle).values(**refused))
    gone = {"ix_goal_cycles_workspace_id_conversation_id_goal_id", "ix_goal_cycles_workspace_id_contact_id"}
    indexes = {index["name"] for index in sqlalchemy.inspect(blank).get_indexes("goal_cycles")}
    assert not gone & indexes
    command.downgrade(config, "0019")
    assert stored() == expected
    indexes = {index["name"] for index in sqlalchemy.inspect(blank).get_indexes("goal_cycles")}
    assert gone <= indexes


def test_revision_0021_checks_a_cycles_workspace_through_its_goal(blank: Engine) -> None:
    """The foreign key to `workspaces` goes and the cycles stay; the key to the goal still refuses a
    cycle whose goal is not of its workspace, or whose workspace does not exist; the downgrade gives the
    key back."""
    config = alembic_config(blank)
    command.upgrade(config, "0020")
    with Session(blank) as session, session.begin():
        workspace, other = make_workspace(session, NOW), make_workspace(session, NOW)
        goal = make_multistep_goal(session, principal_of(make_user(session, workspace, NOW)), NOW)
        ids = (workspace.id, other.id, goal.id)

    def cycle(workspace_id: uuid.UUID) -> dict[str, object]:
        return {
            "workspace_id": workspace_id,
            "goal_id": ids[2],
            "id": uuid.uuid4(),
            "conversation_id": "chat-1",
            "open_for": None,
            "started_at": NOW,
            "last_step_at": NOW,
            "state": "completed",
            "reached": 3,
            "steps_reached": 2,
            "time_saved_seconds": 0,
            "cost_savings": Decimal(0),
            "revenue_earned": Decimal(0),
            "reached_at": {"0": "2026-11-02 09:30:00.000000"},
        }

    kept = cycle(ids[0])
    with blank.begin() as connection:
        connection.execute(insert(GoalCycle), [kept])

    def keys() -> set[str]:
        return {fk["referred_table"] for fk in sqlalchemy.inspect(blank).get_foreign_keys("goal_cycles")}

    command.upgrade(config, "0021")
    assert keys() == {"goals"}
    with blank.connect() as connection:
        assert connection.scalars(select(GoalCycle.id)).all() == [kept["id"]]
    for refused in (cycle(ids[1]), cycle(uuid.uuid4())):  # another workspace's goal; no workspace
        with blank.connect() as connection:
            if blank.dialect.name == "sqlite":  # as `Database` connects; before the transaction begins
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            with pytest.raises(IntegrityError):
                connection.execute(insert(GoalCycle).values(**refused))
            connection.rollback()
    command.downgrade(config, "0020")
    assert keys() == {"goals", "workspaces"}
