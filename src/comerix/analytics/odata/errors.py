"""Errors of the OData feed. They carry data and never speak HTTP; the feed's views answer them in the
OData error shape `{"error": {"code", "message", "target"}}`."""

from __future__ import annotations

from comerix.errors import Malformed, NotFound


class ODataQueryError(Malformed):
    """A query the feed cannot answer: bad syntax, an unknown property, an unsupported option (400)."""

    code = "bad_query"

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class EntitySetNotFound(NotFound):
    code = "entity_set_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"no entity set {name!r}: the feed has Goals, Outcomes, Conversations, Events, GoalSteps, "
            "GoalCycles and GoalEvents"
        )
        self.name = name


class EntityNotFound(NotFound):
    code = "entity_not_found"

    def __init__(self, entity_set: str, key: str) -> None:
        super().__init__(f"no entity {key!r} in {entity_set}")
        self.entity_set = entity_set
        self.key = key
