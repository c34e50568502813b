"""The demo's two multi-step goals (SPEC §9), and the events of the chats that go through them.

- **Fitting booked** (sales assistant): a customer books a gait analysis and shoe fitting in a store.
  started → details given → slot chosen, then either confirmed in the chat (paid in the store), or a
  deposit link is sent and the shop's backend reports the deposit paid 1 to 5 days later: a server
  item with the contact but no conversation, which §3's window rule (the goal's 96 hours: a slot is
  held four days) joins to the chat, so it completes the cycle there, or, too late, counts nowhere.
- **Return handled** (returns helper and support bot; in any flow when a return is asked about): started
  by the intent "returns", then the order found, the reason given, and completed by a return label or
  an exchange (which keeps a sale). Steps with match conditions: a failed order look-up counts nowhere.

Each share below is of the chats that reached the step before, so the funnel drops off at each step.
The process events are drawn from the chat's `process` generator: the rest of the demo stays the same.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from comerix.demo.chats import Chat
from comerix.goals.schemas import GoalCreate, StepDefinition
from comerix.telemetry.schemas import Item
from comerix.vocabulary import GoalKind, Source

BOOKING_WINDOW_HOURS = 96
BOOKING_SHARES = {
    "started": 0.2,  # of sales-assistant chats
    "details_given": 0.6,
    "slot_chosen": 0.65,
    "confirmed": 0.45,  # of those with a slot: confirmed in the chat, to be paid in the store
    "deposit_link": 0.4,  # of those with a slot: a deposit link instead (the rest leave undecided)
    "deposit_paid": 0.8,  # of the links: paid, 1 to 5 days later
}
DEPOSIT = "20.00"
DEPOSIT_DAYS = (1.0, 5.0)
STORES = ("berlin-mitte", "munich-isartor", "hamburg-hafen")

RETURN_INTENT = 0.85  # of returns-helper chats: the intent detected is "returns"
ORDER_GIVEN = {"returns-helper": 0.8, "support-bot": 0.7}  # of "returns" intents, by flow
ORDER_GIVEN_ELSEWHERE = 0.35  # in a sales or onboarding chat: mostly a question about the policy
RETURN_SHARES = {
    "order_found": 0.85,  # the look-up finds the order; when not, half try again (and find it)
    "retried": 0.5,
    "reason_given": 0.8,
    "label": 0.55,  # of those with a reason: a return label
    "exchange": 0.25,  # an exchange instead (the rest leave before choosing)
}
REASONS = ("too_small", "too_large", "defective", "not_as_described", "changed_mind")
CARRIERS = ("dhl", "dpd", "ups")


def _step(key: str, name: str, trigger: str, **fields: object) -> StepDefinition:
    return StepDefinition.model_validate({"key": key, "name": name, "trigger_event": trigger} | fields)


FITTING_BOOKING = GoalCreate(
    code="fitting_booking",
    name="Fitting booked",
    kind=GoalKind.CONVERSION,
    is_primary=True,
    description="A gait analysis and shoe fitting booked in a store: confirmed in the chat, or by the "
    "deposit the shop's backend reports while the slot is held (96 hours).",
    steps=[
        _step("booking_started", "Booking started", "booking_started", time_saved_seconds=30),
        _step(
            "details_given",
            "Details given",
            "booking_details_given",
            time_saved_seconds=90,
            cost_savings=Decimal("0.75"),
        ),
        _step(
            "slot_chosen",
            "Slot chosen",
            "booking_slot_chosen",
            time_saved_seconds=120,
            cost_savings=Decimal("1.00"),
        ),
        _step(
            "confirmed",
            "Confirmed in the chat",
            "booking_confirmed",
            completion=True,
            time_saved_seconds=60,
            cost_savings=Decimal("0.50"),
            revenue_earned=Decimal("35.00"),
        ),
        _step(
            "deposit_paid",
            "Deposit paid",
            "deposit_paid",
            description="Reported by the shop's backend, for the contact: joined to the chat by the window.",
            completion=True,
            time_saved_seconds=30,
            cost_savings=Decimal("0.25"),
            revenue_earned=Decimal("45.00"),
        ),
    ],
    attribution_window_hours=BOOKING_WINDOW_HOURS,
)

RETURN_HANDLED = GoalCreate(
    code="return_handled",
    name="Return handled",
    kind=GoalKind.CUSTOM,
    description="A return or exchange settled by the bot, without an agent.",
    steps=[
        _step(
            "return_requested",
            "Return asked about",
            "intent_detected",
            match_conditions={"intent": "returns"},
        ),
        _step(
            "order_identified",
            "Order identified",
            "order_lookup",
            match_conditions={"found": True},
            time_saved_seconds=90,
            cost_savings=Decimal("0.80"),
        ),
        _step(
            "reason_given",
            "Reason given",
            "return_reason_given",
            time_saved_seconds=45,
            cost_savings=Decimal("0.40"),
        ),
        _step(
            "label_created",
            "Return label created",
            "return_resolved",
            match_conditions={"resolution": "refund_label"},
            completion=True,
            time_saved_seconds=180,
            cost_savings=Decimal("2.50"),
        ),
        _step(
            "exchange_ordered",
            "Exchange ordered",
            "return_resolved",
            match_conditions={"resolution": "exchange"},
            completion=True,
            time_saved_seconds=240,
            cost_savings=Decimal("3.00"),
            revenue_earned=Decimal("49.00"),
        ),
    ],
)

PROCESS_GOALS = (FITTING_BOOKING, RETURN_HANDLED)


def intent(chat: Chat, drawn: str) -> str:
    """The intent detected: in the returns helper, mostly "returns", else the one drawn."""
    if chat.flow == "returns-helper" and chat.process.random() < RETURN_INTENT:
        return "returns"
    return drawn


def book_fitting(chat: Chat) -> list[Item]:
    """A sales chat that may book a fitting; returns the deposit its contact pays later, if any."""
    shares, rng = BOOKING_SHARES, chat.process
    if chat.flow != "sales-assistant" or rng.random() >= shares["started"]:
        return []
    store = rng.choice(STORES)
    chat.step("booking_started", {"service": "fitting", "store": store}, gap=30)
    if rng.random() >= shares["details_given"]:
        return []
    chat.step("booking_details_given", {"activity": rng.choice(["trail", "road", "hiking"])}, gap=90)
    if rng.random() >= shares["slot_chosen"]:
        return []
    slot = (chat.at + timedelta(days=rng.randint(2, 12))).replace(minute=0, second=0, microsecond=0)
    chat.step("booking_slot_chosen", {"store": store, "slot": slot.isoformat()}, gap=45)
    choice = rng.random()
    if choice < shares["confirmed"]:
        chat.step("booking_confirmed", {"payment": "in_store"}, gap=20)
        return []
    if choice >= shares["confirmed"] + shares["deposit_link"]:
        return []
    chat.step("deposit_link_sent", {"amount": DEPOSIT, "currency": "EUR"}, gap=20)
    if rng.random() >= shares["deposit_paid"]:
        return []
    return [_deposit(chat, chat.at + timedelta(days=rng.uniform(*DEPOSIT_DAYS)))]


def _deposit(chat: Chat, at: datetime) -> Item:
    """The shop's backend reporting the deposit, as `POST /conversions` does: no conversation."""
    return Item(
        index=0,
        source=Source.SERVER,
        name="deposit_paid",
        timestamp=at,
        event_id=f"deposit-{chat.id}",
        conversation_id=None,
        contact_id=chat.contact,
        flow_id=None,
        properties={"amount": DEPOSIT, "currency": "EUR", "booking": f"FIT-{chat.id}"},
    )


def handle_return(chat: Chat, detected: str) -> None:
    """What follows a "returns" intent: the order looked up, the reason, then a label or an exchange."""
    shares, rng = RETURN_SHARES, chat.process
    if detected != "returns":
        return
    if rng.random() >= ORDER_GIVEN.get(chat.flow, ORDER_GIVEN_ELSEWHERE):
        return
    found = rng.random() < shares["order_found"]
    chat.step("order_lookup", {"found": found, "by": "order_number"}, gap=50)
    if not found:
        if rng.random() >= shares["retried"]:
            return
        chat.step("order_lookup", {"found": True, "by": "email"}, gap=70)
    if rng.random() >= shares["reason_given"]:
        return
    chat.step("return_reason_given", {"reason": rng.choice(REASONS)}, gap=40)
    choice = rng.random()
    if choice < shares["label"]:
        chat.step("return_resolved", {"resolution": "refund_label", "carrier": rng.choice(CARRIERS)})
    elif choice < shares["label"] + shares["exchange"]:
        chat.step("return_resolved", {"resolution": "exchange", "size_change": rng.random() < 0.7})
