"""Realistic chat traffic for the demo workspace: 90 days of conversations across several flows.

Pure and deterministic (a seeded `random.Random` and a given `now`): it yields the events a chat widget
and a shop's backend would have sent, in time order, as validated ingestion items. The shapes:
- four flows (sales assistant, support bot, onboarding guide, returns helper) with their own mix of
  messages, product views, ratings, newsletter sign-ups, lead forms, hand-offs and purchases;
- purchases in EUR, USD, GBP and CHF, premium and basic plans, converted into euros by the service;
- late sales reported by the backend as server conversions, 1 to 14 days after the chat, so some fall
  inside the 168-hour attribution window and some outside; a few with values the goal cannot read;
- the two multi-step processes of `demo.processes` (a fitting booked, a return handled), with drop-off at
  each step, and deposits the backend reports days after the booking chat;
- the analytics steps each flow marks (`demo.steps`), for the Step Explorer;
- more traffic on weekdays and in the afternoon, and a slow rise over the 90 days.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from comerix.demo import processes
from comerix.demo.chats import Chat
from comerix.telemetry.schemas import Item
from comerix.vocabulary import Source

DAYS = 90
FLOWS = ("sales-assistant", "support-bot", "onboarding-guide", "returns-helper")
FLOW_WEIGHTS = (0.45, 0.3, 0.15, 0.1)
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
CURRENCY_WEIGHTS = (0.55, 0.25, 0.12, 0.08)
PLANS = {"premium": (Decimal("89"), Decimal("249")), "basic": (Decimal("19"), Decimal("59"))}
PRODUCTS = ("trail-runner-2", "city-backpack", "merino-hoodie", "rain-shell", "camp-stove", "yoga-mat")
INTENTS = ("pricing", "shipping", "returns", "sizing", "order_status", "product_question")


def conversations_per_day(day: int, weekday: int, scale: float) -> int:
    """Busier on weekdays, growing slowly over the period."""
    base = 70 if weekday < 5 else 40
    return max(1, round(base * (0.7 + 0.6 * day / DAYS) * scale))


def traffic(now: datetime, *, seed: int = 7, scale: float = 1.0) -> Iterator[Item]:
    """Every event of the demo period, in time order; each item's index is its position in the stream."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    process = random.Random(f"{seed}-processes")  # noqa: S311
    start = (now - timedelta(days=DAYS)).replace(minute=0, second=0, microsecond=0)
    stream: list[Item] = []
    contacts = [f"contact-{n:05d}" for n in range(int(4000 * scale) + 1)]
    for day in range(DAYS):
        date = start + timedelta(days=day)
        for n in range(conversations_per_day(day, date.weekday(), scale)):
            hour = min(23, max(0, int(rng.gauss(15, 3.5))))
            at = date.replace(hour=hour) + timedelta(minutes=rng.randrange(60))
            chat = Chat(
                rng,
                process,
                f"chat-{day:02d}-{n:03d}",
                rng.choice(contacts),
                rng.choices(FLOWS, FLOW_WEIGHTS)[0],
                at,
            )
            later = _converse(chat)
            stream.extend(chat.items)
            stream.extend(_late_sales(rng, chat))
            stream.extend(later)
    stream = [item for item in stream if item.timestamp <= now]
    stream.sort(key=lambda item: item.timestamp)
    for index, item in enumerate(stream):
        yield Item(
            index=index,
            source=item.source,
            name=item.name,
            timestamp=item.timestamp,
            event_id=item.event_id,
            conversation_id=item.conversation_id,
            contact_id=item.contact_id,
            flow_id=item.flow_id,
            properties=item.properties,
            goal_code=item.goal_code,
            step=item.step,
        )


def _converse(chat: Chat) -> list[Item]:
    """The chat's events; returns what the shop's backend reports of it later (deposits paid)."""
    rng = chat.rng
    chat.event(
        "conversation_started",
        {
            "channel": rng.choice(["web", "web", "web", "mobile"]),
            "locale": rng.choice(["de-DE", "en-GB", "en-US", "fr-CH"]),
        },
        gap=1,
    )
    intent = processes.intent(chat, rng.choice(INTENTS))
    chat.event("intent_detected", {"intent": intent, "confidence": round(rng.uniform(0.6, 1), 2)})
    for _ in range(rng.randint(1, 6)):
        chat.event("message_received", {"length": rng.randint(5, 240)})
        chat.event("message_sent", {"length": rng.randint(20, 600), "model": "agent-v3"}, gap=4)
    processes.handle_return(chat, intent)
    if chat.flow in ("sales-assistant", "onboarding-guide") and rng.random() < 0.7:
        for product in rng.sample(PRODUCTS, rng.randint(1, 3)):
            chat.event("product_viewed", {"product": {"sku": product, "category": "outdoor"}})
    later = processes.book_fitting(chat)
    if rng.random() < 0.35:
        chat.event("reply_rated", {"rating": {"helpful": rng.random() < 0.78, "stars": rng.randint(2, 5)}})
    if rng.random() < 0.06:
        chat.event("newsletter_subscribed", {"list": "weekly"})
    if chat.flow == "sales-assistant" and rng.random() < 0.08:
        chat.event("form_submitted", {"form": "lead", "fields": 4})
    if chat.flow == "support-bot" and rng.random() < 0.12:
        chat.event("handoff_requested", {"reason": rng.choice(["complex", "angry", "asked_for_human"])})
    if chat.flow == "sales-assistant" and rng.random() < 0.09:
        chat.event("purchase", _order(rng), gap=300)
    chat.event("conversation_ended", {"turns": len(chat.items)}, gap=20)
    return later


def _order(rng: random.Random) -> dict[str, Any]:
    plan = "premium" if rng.random() < 0.55 else "basic"
    low, high = PLANS[plan]
    total = (low + (high - low) * Decimal(rng.randrange(100)) / 100).quantize(Decimal("0.01"))
    return {
        "plan": plan,
        "grand_total": str(total),
        "currency": rng.choices(CURRENCIES, CURRENCY_WEIGHTS)[0],
        "items": rng.randint(1, 3),
    }


def _late_sales(rng: random.Random, chat: Chat) -> list[Item]:
    """Sales the shop's backend reports days after a sales chat, for the same contact."""
    if chat.flow != "sales-assistant" or rng.random() > 0.12:
        return []
    at = chat.at + timedelta(days=rng.uniform(1, 14))
    order = _order(rng)
    if rng.random() < 0.03:
        order["grand_total"] = "pending"  # a value the goal cannot read: recorded with its reason
    return [
        Item(
            index=0,
            source=Source.SERVER,
            name="purchase",
            timestamp=at,
            event_id=f"order-{chat.id}",
            conversation_id=None,
            contact_id=chat.contact,
            flow_id=None,
            properties=order,
        )
    ]
