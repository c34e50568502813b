"""The analytics steps the demo's flows mark (SPEC §10): which point of a flow each widget event is, as
a conversation designer would mark them, so that the Step Explorer shows the demo's real branching and
drop-off (greeting → intent → answers → a product card, a booking, a return, a hand-off → goodbye).

A step follows from the event alone (its name and properties), so marking steps draws nothing from the
demo's random generators: every other figure of the demo stays as it was. A customer's own message is
no point of the flow and marks none; the bot's answers do, so a long chat loops on "Answer".
"""

from __future__ import annotations

from typing import Any

from comerix.telemetry.schemas import FlowStep
from comerix.vocabulary import FlowStepType

NODES = {
    "conversation_started": ("greeting", "Greeting"),
    "message_sent": ("answer", "Answer"),
    "product_viewed": ("product-card", "Product card shown"),
    "booking_started": ("booking-offer", "Offer a fitting"),
    "booking_details_given": ("booking-details", "Ask for fitting details"),
    "booking_slot_chosen": ("booking-slots", "Offer time slots"),
    "booking_confirmed": ("booking-confirm", "Confirm the booking"),
    "deposit_link_sent": ("deposit-link", "Send the deposit link"),
    "order_lookup": ("order-lookup", "Look up the order"),
    "return_reason_given": ("return-reason", "Ask why it goes back"),
    "return_resolved": ("return-resolution", "Refund or exchange"),
    "reply_rated": ("rating", "Ask for a rating"),
    "newsletter_subscribed": ("newsletter", "Newsletter opt-in"),
    "form_submitted": ("lead-form", "Lead form"),
    "handoff_requested": ("handoff", "Hand over to an agent"),
    "purchase": ("checkout", "Checkout"),
    "conversation_ended": ("goodbye", "Goodbye"),
}
INTENT_LABELS = {
    "pricing": "Pricing",
    "shipping": "Shipping",
    "returns": "Returns",
    "sizing": "Sizing",
    "order_status": "Order status",
    "product_question": "Product question",
}


def flow_step(name: str, properties: dict[str, Any]) -> FlowStep | None:
    """The step a widget event marks, if any."""
    if name == "intent_detected":
        intent = str(properties.get("intent", "unknown"))
        label = INTENT_LABELS.get(intent, intent.replace("_", " ").capitalize())
        return FlowStep(f"intent-{intent}", f"Intent: {label}", FlowStepType.INTENT)
    node = NODES.get(name)
    return None if node is None else FlowStep(node[0], node[1], FlowStepType.NODE)
