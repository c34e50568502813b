"""Errors of the goals domain."""

from __future__ import annotations

from comerix.errors import Conflict, Invalid, NotFound


class GoalNotFound(NotFound):
    code = "goal_not_found"

    def __init__(self, goal_id: str) -> None:
        super().__init__(f"no goal {goal_id!r} in this workspace")
        self.goal_id = goal_id


class GoalCodeTaken(Conflict):
    code = "goal_code_taken"

    def __init__(self, goal_code: str) -> None:
        super().__init__(
            f"the code {goal_code!r} is already used by a goal of this workspace (archived goals included)",
            [{"field": "code", "message": "is already used by another goal of this workspace"}],
        )
        self.goal_code = goal_code


class GoalCodeImmutable(Invalid):
    code = "goal_code_immutable"

    def __init__(self, current: str, requested: str) -> None:
        super().__init__(
            f"a goal's code cannot be changed once created (it is {current!r}, the request asked for "
            f"{requested!r}); create a new goal and archive this one instead",
            [{"field": "code", "message": "cannot be changed once the goal is created"}],
        )
        self.current = current
        self.requested = requested
