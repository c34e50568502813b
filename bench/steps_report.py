"""The Step Explorer and the Conversation Explorer at volume (SPEC §10): a 90-day path tree, depth 5, over
1,000,000 conversations of about 10 executed steps each, and over 100,000 (10,000 and 100,000 with
`--quick`); and the conversation list's first page with a "contains step" filter; on each backend.

The conversations are generated in Python from a model of four chat flows (support 40 %, sales 30 %,
returns and onboarding 15 % each), each a graph of 14 to 26 steps of its own (a welcome, a menu, the
intents its recogniser tells apart, questions, confirmations, an FAQ answer) and seven every flow shares
(anything else?, a rating and its comment, goodbye, a hand-off to an agent, connected or timed out):
weighted branches, loops back to a question (a repeat when an answer was not understood), a drop-off at
every step, and, for 18 to 36 % of the customers' requests, a free-text intent from a long tail of 40
(Zipf-distributed, each flow in its own order). Paths run 9.3 steps on average (median 8; 59 % of them
6 to 14, 0.6 % reach the service's cap of 30, `telemetry.steps.PATH_LENGTH`); the 100 most frequent
paths cover 38 % of the conversations. Each conversation is counted into `step_path_rollups` by the
rollup stage's own code (`step_rollups.add_path_changes`, 50,000 conversations a transaction), as a
PathChange of a path started, its first step spread over the last 90 local days; `flow_steps` gets the
flows' steps with their labels, for the report's label look-up, and `flow_step_days` their counts. Each
conversation is stored with its path (`conversations`, `conversation_paths`), as the list reads them,
and counted in `conversation_rollups` by ingestion's code (the list weighs a step's conversations
against them); executed steps and events are not stored: neither the tree nor the list reads them. On
PostgreSQL the tables are vacuumed and analysed after seeding, as autovacuum would have done on a live
database.

What the report reads: the revision of each day of its range (`step_path_days`), then the rows of the days
whose counts this process does not hold at that revision (`analytics.path_counts`): one row per distinct
(local day, flow, path). About 62,600 rows at 100,000 conversations (20,600 distinct flows and paths)
and 363,000 at 1,000,000 (115,000): the long tail of paths keeps adding rows as the volume grows, which
is why a process keeps the days it read. (The counts move by a few rows from run to run: the days follow
the clock.)

Each timed call is the real `step_reports.parse_paths_query` + `step_reports.paths`, in a fresh session.
Before each one, today's revision moves on, as ingestion moves it on a live service, so every call reads
today's rows again and the rest from memory ("live"). Trees and baseline are measured in turns, 5 rounds,
after one warm-up. Figures at the large volume: forward from the first steps; forward from a chosen step
(`anything-else`, executed by 44 % of the conversations, in the middle of their paths); backward from a
late step (`goodbye`, 28 %); forward from the first steps with `contains` (`support.helpful`, 24 %).
Target: median <= 300 ms on all four (the issue names the first two). Also at the large volume, the first
call of a process that holds nothing ("cold": every row read), without a target. At the small volume:
forward from the first steps, and its ratio to the large volume's (flatness; no target).

The conversation list's first page (50 chats, newest first) over the 90 days of the large volume, with
`contains_step`: a common step (`support.helpful`, 24 %), two uncommon ones (0.4 and 0.7 %), a rare one
(`intent-weather`, about 0.2 %), and one no chat executed. Target: median <= 50 ms. On SQLite the
list walks the chats newest first until it has a page, so a rarer step costs more chats walked past,
whatever the volume; on PostgreSQL the catalogue's counts choose between that walk and finding the
step's paths through their GIN index (`analytics.contains_step.plan_for`). A step the catalogue saw no
execution of since the range began is answered without reading a chat.

    .venv/bin/python bench/steps_report.py [--quick] [--backend sqlite|postgresql|all] [--calls N]
"""

from __future__ import annotations

import argparse
import bisect
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from functools import partial
from pathlib import Path
from typing import Any

from harness import (
    DEFAULT_POSTGRES_URL,
    Backends,
    Figure,
    Target,
    console,
    make_tenant,
    migrated,
    postgres_problem,
    progress,
    rng_for,
    timed,
)
from sqlalchemy import func, select, text, update
from sqlalchemy.engine import make_url

from comerix.analytics import conversations as conversation_list
from comerix.analytics import rollups, step_reports, step_rollups, sums
from comerix.analytics.models import FlowStepEntry, StepPathDay, StepPathRollup
from comerix.analytics.path_counts import PATH_COUNTS, PathCounts
from comerix.db import Database
from comerix.db.bulk import Codec, codec_for, insert_rows
from comerix.runtime import tune_garbage_collector
from comerix.telemetry.pipeline import PathChange
from comerix.telemetry.steps import PATH_COLUMNS, PATH_LENGTH
from comerix.vocabulary import FlowStepType
from comerix.workspaces.models import Workspace

DAYS = 90
CHUNK = 50_000  # conversations counted in one transaction
ZONE = "Europe/Berlin"
DEPTH = "5"
TARGET_MS = 300
SLOW_MS = 1_000

END = ""
"""A transition to END: the conversation stops there (a drop-off, or a flow's natural end)."""
INTENT = "?intent"
"""A transition to INTENT: the customer says what they want; the flow's intent model picks the step."""

# The free-text intents a chat's recogniser hears besides each flow's own, most frequent first: their
# frequencies fall as a Zipf law, so a few are common and most are rare, as in real traffic.
TAIL_INTENTS = (
    "order-status",
    "opening-hours",
    "delivery-time",
    "talk-to-human",
    "change-address",
    "cancel-order",
    "payment-methods",
    "track-parcel",
    "promo-code",
    "stock-check",
    "size-guide",
    "warranty",
    "invoice-copy",
    "password-reset",
    "store-locator",
    "gift-card",
    "loyalty-points",
    "complaint",
    "shipping-abroad",
    "click-and-collect",
    "price-match",
    "damaged-item",
    "missing-item",
    "refund-status",
    "product-care",
    "installation-help",
    "bulk-order",
    "student-discount",
    "newsletter",
    "subscription-pause",
    "delete-account",
    "privacy-request",
    "feedback",
    "compliment",
    "chit-chat",
    "job-application",
    "partnership",
    "out-of-scope",
    "weather",
    "joke",
)
ZIPF = 1.1  # the exponent of the tail intents' frequencies by rank

Moves = tuple[tuple[str, float], ...]
"""A step's transitions: the next step (or END, or INTENT) and its weight."""

# What every flow shares: the closing questions, the satisfaction survey and the hand-off to a human.
COMMON: dict[str, Moves] = {
    "anything-else": ((INTENT, 0.32), ("csat", 0.6), (END, 0.08)),
    "csat": (("csat-comment", 0.3), ("goodbye", 0.58), (END, 0.12)),
    "csat-comment": (("goodbye", 0.85), (END, 0.15)),
    "goodbye": ((END, 1.0),),
    "handoff": (("agent-connected", 0.7), ("handoff-timeout", 0.15), (END, 0.15)),
    "handoff-timeout": (("anything-else", 0.4), (END, 0.6)),
    "agent-connected": (("csat", 0.45), (END, 0.55)),
}


@dataclass(frozen=True)
class FlowModel:
    """One chat flow as the generator walks it: where it starts, the intents its recogniser tells apart
    (and how often each is heard), where an intent from the long tail leads, and the other steps'
    transitions (END for drop-off, INTENT for a new request)."""

    id: str
    share: float  # of the conversations
    entry: str
    intents: Moves  # the flow's own intents: each is a step of `steps`
    tail: float  # the weight of hearing an intent from TAIL_INTENTS
    tail_step: str  # where such an intent leads
    steps: dict[str, Moves]


FLOWS = (
    FlowModel(
        "support",
        0.40,
        "support.welcome",
        (
            ("intent-order-problem", 0.30),
            ("intent-account", 0.14),
            ("intent-technical-issue", 0.12),
            ("intent-fallback", 0.08),
        ),
        0.36,
        "support.faq-answer",
        {
            "support.welcome": (("support.main-menu", 0.97), (END, 0.03)),
            "support.main-menu": ((INTENT, 0.96), (END, 0.04)),
            "intent-fallback": (("support.rephrase", 1.0),),
            "support.rephrase": ((INTENT, 0.75), ("handoff", 0.1), (END, 0.15)),
            "intent-order-problem": (("support.ask-order-number", 0.95), (END, 0.05)),
            "support.ask-order-number": (("support.ask-email", 0.94), (END, 0.06)),
            "support.ask-email": (
                ("support.lookup-order", 0.8),
                ("support.order-not-found", 0.13),
                (END, 0.07),
            ),
            "support.order-not-found": (("support.ask-order-number", 0.72), ("handoff", 0.16), (END, 0.12)),
            "support.lookup-order": (
                ("support.order-summary", 0.93),
                (END, 0.07),
            ),
            "support.order-summary": (
                ("support.show-order-status", 0.58),
                ("support.ask-problem", 0.36),
                (END, 0.06),
            ),
            "support.show-order-status": (("support.helpful", 0.9), (END, 0.1)),
            "support.ask-problem": (
                ("support.offer-solution", 0.7),
                ("handoff", 0.2),
                (END, 0.1),
            ),
            "support.offer-solution": (
                ("support.apply-solution", 0.62),
                ("support.helpful", 0.3),
                (END, 0.08),
            ),
            "support.apply-solution": (("support.helpful", 0.9), (END, 0.1)),
            "support.helpful": (
                ("anything-else", 0.7),
                ("support.ask-problem", 0.12),
                ("handoff", 0.08),
                (END, 0.1),
            ),
            "intent-account": (("support.verify-identity", 0.94), (END, 0.06)),
            "support.verify-identity": (
                ("support.account-menu", 0.78),
                ("support.verify-identity", 0.14),
                (END, 0.08),
            ),
            "support.account-menu": (
                ("support.reset-password", 0.42),
                ("support.update-details", 0.38),
                ("handoff", 0.1),
                (END, 0.1),
            ),
            "support.reset-password": (("support.helpful", 0.9), (END, 0.1)),
            "support.update-details": (("support.confirm-details", 0.9), (END, 0.1)),
            "support.confirm-details": (
                ("support.helpful", 0.8),
                ("support.update-details", 0.12),
                (END, 0.08),
            ),
            "intent-technical-issue": (("support.ask-device", 0.95), (END, 0.05)),
            "support.ask-device": (("support.troubleshoot", 0.9), (END, 0.1)),
            "support.troubleshoot": (
                ("support.helpful", 0.52),
                ("support.troubleshoot", 0.22),
                ("handoff", 0.16),
                (END, 0.1),
            ),
            "support.faq-answer": (
                ("support.faq-article", 0.4),
                ("support.helpful", 0.42),
                ("support.rephrase", 0.12),
                (END, 0.06),
            ),
            "support.faq-article": (("support.helpful", 0.88), (END, 0.12)),
        },
    ),
    FlowModel(
        "sales",
        0.30,
        "sales.welcome",
        (
            ("intent-buy", 0.36),
            ("intent-pricing", 0.18),
            ("intent-recommendation", 0.12),
            ("intent-fallback", 0.07),
        ),
        0.27,
        "sales.faq-answer",
        {
            "sales.welcome": (("sales.main-menu", 0.97), (END, 0.03)),
            "sales.main-menu": ((INTENT, 0.96), (END, 0.04)),
            "intent-fallback": (("sales.rephrase", 1.0),),
            "sales.rephrase": ((INTENT, 0.72), ("handoff", 0.08), (END, 0.2)),
            "intent-buy": (("sales.ask-category", 0.95), (END, 0.05)),
            "intent-recommendation": (("sales.ask-category", 0.6), ("sales.ask-budget", 0.3), (END, 0.1)),
            "sales.ask-category": (("sales.ask-budget", 0.84), ("sales.not-understood", 0.1), (END, 0.06)),
            "sales.not-understood": (("sales.ask-category", 0.75), ("handoff", 0.12), (END, 0.13)),
            "sales.ask-budget": (("sales.show-products", 0.95), (END, 0.05)),
            "sales.show-products": (
                ("sales.product-details", 0.54),
                ("sales.ask-budget", 0.12),
                ("sales.add-to-cart", 0.26),
                (END, 0.08),
            ),
            "sales.product-details": (
                ("sales.ask-size", 0.5),
                ("sales.show-products", 0.25),
                ("handoff", 0.05),
                (END, 0.2),
            ),
            "sales.ask-size": (("sales.add-to-cart", 0.82), ("sales.ask-size", 0.06), (END, 0.12)),
            "sales.add-to-cart": (("sales.checkout", 0.74), ("sales.show-products", 0.12), (END, 0.14)),
            "sales.checkout": (("sales.shipping-options", 0.86), ("handoff", 0.05), (END, 0.09)),
            "sales.shipping-options": (("sales.payment", 0.9), (END, 0.1)),
            "sales.payment": (("sales.order-confirmed", 0.87), ("sales.payment-failed", 0.08), (END, 0.05)),
            "sales.payment-failed": (("sales.payment", 0.6), ("handoff", 0.2), (END, 0.2)),
            "sales.order-confirmed": (("sales.upsell", 0.7), ("anything-else", 0.24), (END, 0.06)),
            "sales.upsell": (("sales.show-products", 0.12), ("anything-else", 0.76), (END, 0.12)),
            "intent-pricing": (("sales.show-pricing", 0.95), (END, 0.05)),
            "sales.show-pricing": (("sales.ask-plan", 0.58), ("anything-else", 0.32), (END, 0.1)),
            "sales.ask-plan": (
                ("sales.checkout", 0.55),
                ("sales.show-pricing", 0.15),
                ("handoff", 0.1),
                (END, 0.2),
            ),
            "sales.faq-answer": (
                ("sales.faq-article", 0.35),
                ("anything-else", 0.4),
                ("sales.rephrase", 0.13),
                (END, 0.12),
            ),
            "sales.faq-article": (("anything-else", 0.85), (END, 0.15)),
        },
    ),
    FlowModel(
        "returns",
        0.15,
        "returns.welcome",
        (("intent-return", 0.55), ("intent-exchange", 0.2), ("intent-fallback", 0.07)),
        0.18,
        "returns.faq-answer",
        {
            "returns.welcome": (("returns.main-menu", 0.97), (END, 0.03)),
            "returns.main-menu": ((INTENT, 0.96), (END, 0.04)),
            "intent-fallback": (("returns.rephrase", 1.0),),
            "returns.rephrase": ((INTENT, 0.75), ("handoff", 0.1), (END, 0.15)),
            "intent-return": (("returns.ask-order-number", 0.95), (END, 0.05)),
            "intent-exchange": (("returns.ask-order-number", 0.95), (END, 0.05)),
            "returns.ask-order-number": (
                ("returns.pick-items", 0.84),
                ("returns.ask-order-number", 0.1),
                (END, 0.06),
            ),
            "returns.pick-items": (("returns.ask-reason", 0.55), ("returns.ask-photos", 0.38), (END, 0.07)),
            "returns.ask-photos": (("returns.ask-reason", 0.86), (END, 0.14)),
            "returns.ask-reason": (
                ("returns.check-eligibility", 0.86),
                ("returns.ask-reason", 0.06),
                (END, 0.08),
            ),
            "returns.check-eligibility": (
                ("returns.choose-refund", 0.72),
                ("returns.not-eligible", 0.18),
                (END, 0.1),
            ),
            "returns.not-eligible": (("handoff", 0.35), ("anything-else", 0.35), (END, 0.3)),
            "returns.choose-refund": (("returns.shipping-label", 0.9), (END, 0.1)),
            "returns.shipping-label": (("returns.confirm", 0.92), (END, 0.08)),
            "returns.confirm": (("returns.refund-timeline", 0.8), ("anything-else", 0.12), (END, 0.08)),
            "returns.refund-timeline": (("anything-else", 0.88), (END, 0.12)),
            "returns.faq-answer": (("anything-else", 0.7), ("returns.rephrase", 0.15), (END, 0.15)),
        },
    ),
    FlowModel(
        "onboarding",
        0.15,
        "onboarding.welcome",
        (("intent-get-started", 0.65), ("intent-fallback", 0.08)),
        0.27,
        "onboarding.faq-answer",
        {
            "onboarding.welcome": (("onboarding.main-menu", 0.97), (END, 0.03)),
            "onboarding.main-menu": ((INTENT, 0.96), (END, 0.04)),
            "intent-fallback": (("onboarding.rephrase", 1.0),),
            "onboarding.rephrase": ((INTENT, 0.7), (END, 0.3)),
            "intent-get-started": (("onboarding.ask-name", 0.95), (END, 0.05)),
            "onboarding.ask-name": (("onboarding.ask-email", 0.95), (END, 0.05)),
            "onboarding.ask-email": (
                ("onboarding.verify-email", 0.84),
                ("onboarding.ask-email", 0.1),
                (END, 0.06),
            ),
            "onboarding.verify-email": (
                ("onboarding.set-password", 0.77),
                ("onboarding.ask-email", 0.12),
                (END, 0.11),
            ),
            "onboarding.set-password": (
                ("onboarding.ask-interests", 0.86),
                ("onboarding.set-password", 0.06),
                (END, 0.08),
            ),
            "onboarding.ask-interests": (("onboarding.preferences", 0.88), (END, 0.12)),
            "onboarding.preferences": (("onboarding.tour", 0.72), ("onboarding.done", 0.18), (END, 0.1)),
            "onboarding.tour": (("onboarding.done", 0.75), ("onboarding.tour", 0.15), (END, 0.1)),
            "onboarding.done": (("anything-else", 0.88), (END, 0.12)),
            "onboarding.faq-answer": (("anything-else", 0.7), ("onboarding.rephrase", 0.15), (END, 0.15)),
        },
    ),
)


class _Choice:
    """A weighted draw among targets: one uniform number and a bisection."""

    __slots__ = ("bounds", "targets", "total")

    def __init__(self, moves: Sequence[tuple[str, float]]) -> None:
        self.targets = [target for target, _ in moves]
        self.bounds: list[float] = []
        total = 0.0
        for _, weight in moves:
            total += weight
            self.bounds.append(total)
        self.total = total

    def draw(self, rng: Any) -> str:
        return self.targets[bisect.bisect_right(self.bounds, rng.random() * self.total)]


class Walker:
    """The paths of one flow's conversations: from its entry, step by step, until END or PATH_LENGTH."""

    def __init__(self, flow: FlowModel, rank_shift: int) -> None:
        self.flow = flow
        steps = {**COMMON, **flow.steps}
        self.moves = {step: _Choice(moves) for step, moves in steps.items()}
        # The tail intents, each flow hearing them in its own order of frequency (rotated by `rank_shift`).
        order = TAIL_INTENTS[rank_shift:] + TAIL_INTENTS[:rank_shift]
        tail = tuple((f"intent-{name}", 1 / rank**ZIPF) for rank, name in enumerate(order, 1))
        tail_total = sum(weight for _, weight in tail)
        self.intent = _Choice(
            flow.intents + tuple((step, flow.tail * weight / tail_total) for step, weight in tail)
        )
        self.tail = {step for step, _ in tail}

    def path(self, rng: Any, limit: int) -> tuple[str, ...]:
        step = self.flow.entry
        path: list[str] = []
        while step != END and len(path) < limit:
            if step == INTENT:
                step = self.intent.draw(rng)
            path.append(step)
            if step in self.tail:
                step = self.flow.tail_step
                continue
            step = self.moves[step].draw(rng)
        return tuple(path)


class Traffic:
    """The conversations of all FLOWS, each flow taking its share of them."""

    def __init__(self) -> None:
        self.walkers = [Walker(flow, 7 * n) for n, flow in enumerate(FLOWS)]
        self._flow = _Choice([(str(n), flow.share) for n, flow in enumerate(FLOWS)])

    def conversation(self, rng: Any) -> tuple[str, tuple[str, ...]]:
        """A conversation's flow and its path: its first PATH_LENGTH steps, as the service keeps them."""
        walker = self.walkers[int(self._flow.draw(rng))]
        return walker.flow.id, walker.path(rng, PATH_LENGTH)

    def catalogue(self) -> list[tuple[str, str]]:
        """Every (flow, step id) a conversation can execute."""
        found = []
        for walker in self.walkers:
            steps = set(walker.moves) | set(walker.intent.targets)
            found += [(walker.flow.id, step) for step in sorted(steps)]
        return found


LABELS = {"csat": "Rate this chat", "csat-comment": "Rating comment", "handoff": "Hand-off to an agent"}


def label_of(step: str) -> str:
    """A step's label as a designer would write it: "Ask order number", "Intent: order status"."""
    if step in LABELS:
        return LABELS[step]
    if step.startswith("intent-"):
        return "Intent: " + step.removeprefix("intent-").replace("-", " ")
    return step.rsplit(".", 1)[-1].replace("-", " ").capitalize()


def _catalogue(database: Database, workspace_id: uuid.UUID, traffic: Traffic, now: datetime) -> int:
    """The flows' steps in `flow_steps` with their labels, for the report's label look-up; how many."""
    steps = traffic.catalogue()
    with database.transaction() as session:
        for flow, step in steps:
            intent = step.startswith("intent-")
            session.add(
                FlowStepEntry(
                    workspace_id=workspace_id,
                    flow_id=flow,
                    id=step,
                    label=label_of(step),
                    type=FlowStepType.INTENT if intent else FlowStepType.NODE,
                    labelled_at=now - timedelta(days=DAYS),
                    first_seen_at=now - timedelta(days=DAYS),
                    last_seen_at=now,
                )
            )
    return len(steps)


_CHAT_COLUMNS = (
    "workspace_id",
    "id",
    "started_at",
    "last_activity_at",
    "contact_id",
    "flow_id",
    "events",
    "event_refs",
)
_DAY_COLUMNS = ("workspace_id", "day", "flow_id", "step_id", "executions", "conversations")


def _chat_rows(
    codec: Codec, workspace: Any, number: int, first_step_at: datetime, flow: str, path: tuple[str, ...]
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """A conversation's row and its path's, as ingestion keeps them (a step a minute, an event before
    each step and one after: `events` and `event_refs` only count in the list)."""
    chat, ended = f"chat-{number:07d}", first_step_at + timedelta(minutes=len(path))
    conversation = (
        workspace,
        chat,
        codec.time(first_step_at),
        codec.time(ended),
        f"contact-{number % 300_000}",
        flow,
        2 * len(path),
        "",
    )
    seen = codec.json(list(dict.fromkeys(path)))  # the distinct steps, in the order first executed
    return conversation, (
        workspace,
        chat,
        codec.time(first_step_at),
        flow,
        len(path),
        codec.json(list(path)),
        seen,
        path[-1],
    )


@dataclass(frozen=True)
class Seeded:
    """What seeding a volume took and left."""

    seconds: float
    rollup_rows: int
    catalogue_rows: int
    mean_length: float
    share: dict[str, float]  # of the conversations, those that executed each of the figures' steps


def _seed(database: Database, workspace_id: uuid.UUID, conversations: int, now: datetime) -> Seeded:
    """`conversations` conversations whose first steps fall in the last DAYS local days, counted into
    `step_path_rollups` by the rollup stage's own code, one PathChange (a path started) each."""
    codec = codec_for(database.backend)
    workspace = codec.id(workspace_id)
    rng = rng_for(10)
    traffic = Traffic()
    local_today = now.astimezone(sums.zone(ZONE)).date()
    first_day = local_today - timedelta(days=DAYS - 1)
    start = datetime.combine(first_day, clock(), tzinfo=sums.zone(ZONE)).astimezone(UTC)
    span = now - start
    steps, executed = 0, Counter[str]()
    # The catalogue's counts by UTC day (as a chat's steps take a minute each, all on its first day).
    executions, first_executions = Counter[tuple[date, str, str]](), Counter[tuple[date, str, str]]()
    began = time.perf_counter()
    catalogue_rows = _catalogue(database, workspace_id, traffic, now)
    with progress() as bar:
        task = bar.add_task(f"counting {conversations:,} conversations into the rollups", total=conversations)
        for low in range(0, conversations, CHUNK):
            high = min(low + CHUNK, conversations)
            changes, chats, started = [], [], []
            for i in range(low, high):
                flow, path = traffic.conversation(rng)
                first_step_at = start + span * ((i + rng.random()) / conversations)
                changes.append(PathChange(first_step_at, flow, None, path))
                chats.append(_chat_rows(codec, workspace, i, first_step_at, flow, path))
                started.append((f"chat-{i:07d}", first_step_at, flow))
                steps += len(path)
                executed.update(step for step in FIGURE_STEPS if step in path)
                utc_day = first_step_at.astimezone(UTC).date()
                for step in path:
                    executions[(utc_day, flow, step)] += 1
                for step in set(path):
                    first_executions[(utc_day, flow, step)] += 1
            with database.transaction() as session:
                step_rollups.add_path_changes(session.connection(), codec, workspace_id, changes, ZONE)
                connection = session.connection()
                moves = [
                    rollups.ConversationMove(chat, None, key)
                    for chat, key in rollups.conversation_keys(started, ZONE).items()
                ]
                rollups.count_conversations(connection, codec, workspace_id, moves)
                insert_rows(connection, codec, "conversations", _CHAT_COLUMNS, [c for c, _ in chats])
                insert_rows(
                    connection,
                    codec,
                    "conversation_paths",
                    PATH_COLUMNS,
                    [p for _, p in chats],
                    json_columns=frozenset({"path", "seen"}),
                )
            bar.advance(task, high - low)
    days = [
        (workspace, codec.day(day), flow, step, count, first_executions[(day, flow, step)])
        for (day, flow, step), count in sorted(executions.items())
    ]
    with database.transaction() as session:
        insert_rows(session.connection(), codec, "flow_step_days", _DAY_COLUMNS, days)
    if database.backend == "postgresql":
        # On a live database autovacuum would have analysed the table by now, as this does.
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    seconds = time.perf_counter() - began
    with database.sessions() as session:
        rows = session.scalar(
            select(func.count())
            .select_from(StepPathRollup)
            .where(StepPathRollup.workspace_id == workspace_id)
        )
    return Seeded(
        seconds,
        int(rows or 0),
        catalogue_rows,
        steps / conversations,
        {step: executed[step] / conversations for step in FIGURE_STEPS},
    )


@dataclass(frozen=True)
class Tree:
    """One of the Step Explorer's trees that the bench times: its name and the API's parameters."""

    key: str
    name: str
    params: dict[str, str]


MIDDLE_STEP = "anything-else"  # every flow's closing question, often followed by a new request
LATE_STEP = "goodbye"
CONTAINED_STEP = "support.helpful"  # about 1 conversation in 4 executes it
RARE_STEP = "intent-weather"  # a tail intent: about 1 conversation in 450 executes it
# Between the rare and the common step, where walking the chats and looking the step up cost alike
# (on PostgreSQL `contains_step.plan_for` chooses between them): about 1 conversation in 270 and in 140.
UNCOMMON_STEPS = ("intent-newsletter", "intent-invoice-copy")
FIGURE_STEPS = (MIDDLE_STEP, LATE_STEP, CONTAINED_STEP, RARE_STEP, *UNCOMMON_STEPS)
TREES = (
    Tree("first", "forward from the first steps", {}),
    Tree("step", f"forward from a chosen step ({MIDDLE_STEP})", {"start": MIDDLE_STEP}),
    Tree(
        "backward", f"backward from a late step ({LATE_STEP})", {"start": LATE_STEP, "direction": "backward"}
    ),
    Tree(
        "contains", f"forward from the first steps, contains {CONTAINED_STEP}", {"contains": CONTAINED_STEP}
    ),
)


ABSENT_STEP = "intent-unknown"  # no conversation executes it: the list reads the whole range
LISTS = (
    Tree("common", f"contains {CONTAINED_STEP}", {"contains_step": CONTAINED_STEP}),
    *(Tree(f"uncommon-{step}", f"contains {step}", {"contains_step": step}) for step in UNCOMMON_STEPS),
    Tree("rare", f"contains {RARE_STEP}", {"contains_step": RARE_STEP}),
    Tree("absent", f"contains {ABSENT_STEP} (executed by none)", {"contains_step": ABSENT_STEP}),
)
LIST_TARGET_MS = 50


@dataclass(frozen=True)
class Volume:
    """A database holding one volume of conversations, ready to be measured."""

    conversations: int
    database: Database
    workspace_id: uuid.UUID
    now: datetime
    seeded: Seeded

    def report(self, tree: Tree, counts: PathCounts = PATH_COUNTS) -> None:
        """One 90-day path tree, depth 5, in a fresh session, as the API makes it (with this process's
        memory of days, unless given another)."""
        local_today = self.now.astimezone(sums.zone(ZONE)).date()
        params: dict[str, str | None] = {
            "from": (local_today - timedelta(days=DAYS - 1)).isoformat(),
            "to": local_today.isoformat(),
            "depth": DEPTH,
            **tree.params,
        }
        with self.database.sessions() as session:
            query = step_reports.parse_paths_query(params)
            result = step_reports.paths(session, self.workspace_id, query, counts)
            assert result.conversations > 0
            assert result.nodes

    def cold(self, tree: Tree) -> None:
        """The tree as a process that holds no day yet makes it."""
        self.report(tree, PathCounts())

    def ingest_today(self) -> None:
        """Move today's revision on, as ingestion does with each group on a live service."""
        today = self.now.astimezone(sums.zone(ZONE)).date()
        with self.database.transaction() as session:
            session.execute(
                update(StepPathDay)
                .where(StepPathDay.workspace_id == self.workspace_id, StepPathDay.day == today)
                .values(revision=StepPathDay.revision + 1)
            )

    def chat_list(self, step: str) -> None:
        """The Conversation Explorer's first page over the 90 days, of the chats that executed `step`."""
        local_today = self.now.astimezone(sums.zone(ZONE)).date()
        params: dict[str, str | None] = {
            "from": (local_today - timedelta(days=DAYS - 1)).isoformat(),
            "to": local_today.isoformat(),
            "contains_step": step,
        }
        with self.database.sessions() as session:
            workspace = session.get(Workspace, self.workspace_id)
            assert workspace is not None
            page = conversation_list.conversations(
                session, workspace, conversation_list.parse_query(session, workspace, params)
            )
            assert len(page.conversations) == conversation_list.PAGE or step == ABSENT_STEP

    def select_one(self) -> None:
        with self.database.sessions() as session:
            session.execute(text("SELECT 1"))


@dataclass(frozen=True)
class Options:
    small: int  # conversations at the small volume
    large: int  # conversations at the large volume
    calls: int  # timed calls of each tree at the large volume


def run(backends: Backends, options: Options) -> list[Figure]:
    """Both volumes are seeded first, then measured in turns with the baseline (5 rounds), so that a
    busy neighbour slows them alike and the flatness ratio stays fair."""
    backend = backends.name
    console.rule(f"[bold]Step Explorer at volume: {backend}")
    first = TREES[0]
    with ExitStack() as stack:
        volumes = []
        for conversations in (options.small, options.large):
            database = stack.enter_context(migrated(backends.fresh(f"steps_report_{conversations}")))
            workspace_id = uuid.UUID(make_tenant(database, 2).workspace_id)
            now = datetime.now(UTC)
            seeded = _seed(database, workspace_id, conversations, now)
            shares = ", ".join(f"{step} {share:.1%}" for step, share in seeded.share.items())
            console.print(
                f"  {conversations:,} conversations ({seeded.mean_length:.1f} steps on average) counted in "
                f"{seeded.seconds:.0f} s: {seeded.rollup_rows:,} rows in step_path_rollups; executed {shares}"
            )
            volumes.append(Volume(conversations, database, workspace_id, now, seeded))
        small, large = volumes
        tune_garbage_collector()  # as `comerix serve` runs the collector (and bench/profile_ingest.py)
        timings: dict[tuple[int, str], list[float]] = {}
        baseline: list[float] = []
        runs = [(large, tree) for tree in TREES] + [(small, first)]
        per_round: dict[tuple[int, str], int] = {}
        for volume, tree in runs:
            # One warm-up each, not one a round; a tree slower than SLOW_MS gets one call a round, to keep
            # the run short while it misses its target by far.
            key = (volume.conversations, tree.key)
            warm = timed(1, partial(volume.report, tree), warmup=0)[0]
            per_round[key] = 1 if warm > SLOW_MS else max(1, options.calls // 5)
            timings[key] = []
        lists: dict[str, list[float]] = {chosen.key: [] for chosen in LISTS}
        for chosen in LISTS:
            large.chat_list(chosen.params["contains_step"])  # one warm-up each
        cold: list[float] = []
        for _ in range(5):
            for chosen in LISTS:
                step = chosen.params["contains_step"]
                lists[chosen.key] += timed(
                    max(1, options.calls // 5), partial(large.chat_list, step), warmup=0
                )
            for volume, tree in runs:
                key = (volume.conversations, tree.key)
                for _ in range(per_round[key]):
                    volume.ingest_today()  # untimed: what a live service's ingestion does meanwhile
                    timings[key] += timed(1, partial(volume.report, tree), warmup=0)
            cold += timed(1, partial(large.cold, first), warmup=0)
            baseline += timed(max(1, options.calls // 5), large.select_one, warmup=3)
    backends.cleanup()

    def extra(volume: Volume) -> dict[str, Any]:
        return {
            "conversations": volume.conversations,
            "rollup_rows": volume.seeded.rollup_rows,
            "flow_steps_rows": volume.seeded.catalogue_rows,
            "mean_path_length": round(volume.seeded.mean_length, 2),
            "seed_seconds": round(volume.seeded.seconds, 1),
        }

    figures = [
        Figure(
            "steps",
            backend,
            f"Step Explorer, 90 days, {large.conversations:,} conversations, depth 5: {tree.name}",
            "ms",
            timings[(large.conversations, tree.key)],
            "SELECT 1, fresh session",
            baseline,
            [Target("median", "<=", TARGET_MS)],
            extra(large) | {"params": tree.params},
        )
        for tree in TREES
    ]
    figures += [
        Figure(
            "steps",
            backend,
            f"Conversation list, 90 days, {large.conversations:,} conversations, first page: {chosen.name}",
            "ms",
            lists[chosen.key],
            "SELECT 1, fresh session",
            baseline,
            [Target("median", "<=", LIST_TARGET_MS)],
            extra(large) | {"params": chosen.params},
        )
        for chosen in LISTS
    ]
    figures.append(
        Figure(
            "steps",
            backend,
            f"Step Explorer, 90 days, {large.conversations:,} conversations, depth 5: {first.name}, cold "
            "(a process holding no day)",
            "ms",
            cold,
            "SELECT 1, fresh session",
            baseline,
            [],
            extra(large),
        )
    )
    figures.append(
        Figure(
            "steps",
            backend,
            f"Step Explorer, 90 days, {small.conversations:,} conversations, depth 5: {first.name}",
            "ms",
            timings[(small.conversations, first.key)],
            "SELECT 1, fresh session",
            baseline,
            [],
            extra(small),
        )
    )
    figures.append(
        Figure(
            "steps",
            backend,
            f"flatness: forward from the first steps at {small.conversations:,} vs {large.conversations:,} "
            "conversations",
            "ms",
            timings[(small.conversations, first.key)],
            f"the same at {large.conversations:,}",
            timings[(large.conversations, first.key)],
            [],
        )
    )
    return figures


def main() -> int:
    """Run this section alone and print its figures (bench/run.py runs it with the others)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="10,000 and 100,000 conversations")
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "all"), default="all")
    parser.add_argument("--calls", type=int, default=10, help="timed calls of each tree")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("COMERIX_BENCH_POSTGRES_URL")
        or os.environ.get("COMERIX_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES_URL,
    )
    args = parser.parse_args()
    options = Options(
        small=10_000 if args.quick else 100_000, large=100_000 if args.quick else 1_000_000, calls=args.calls
    )
    admin_url = make_url(args.postgres_url)
    names = ["sqlite", "postgresql"] if args.backend == "all" else [args.backend]
    if "postgresql" in names and (problem := postgres_problem(admin_url)) is not None:
        console.print(f"[yellow]PostgreSQL skipped: {problem}")
        names.remove("postgresql")
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="comerix-bench-steps-"))
    figures: list[Figure] = []
    try:
        for name in names:
            backends = Backends(name, workdir, admin_url)
            try:
                figures += run(backends, options)
            finally:
                backends.cleanup()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    missed = False
    for figure in figures:
        baseline = "" if figure.baseline is None else f"  ({figure.baseline_name}: {figure.baseline:.2f} ms"
        ratio = "" if figure.ratio is None else f", ratio {figure.ratio:.2f})"
        met = {True: "met", False: "MISSED", None: ""}[figure.met]
        missed = missed or figure.met is False
        console.print(f"{figure.backend:>10}  {figure.name}: {figure.median:.2f} ms{baseline}{ratio}  {met}")
    console.print(f"{time.perf_counter() - started:.0f} s in all")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
