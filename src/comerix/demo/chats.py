"""One demo chat as it unfolds: the events its widget sends, each a little after the one before, each
marking the analytics step it is (`demo.steps`)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from comerix.demo.steps import flow_step
from comerix.telemetry.schemas import Item
from comerix.vocabulary import Source


@dataclass
class Chat:
    """`rng` draws the chat's usual events; `process` draws those of the multi-step processes
    (`demo.processes`), so that adding a process leaves every other draw of the demo as it was."""

    rng: random.Random
    process: random.Random
    id: str
    contact: str
    flow: str
    at: datetime
    items: list[Item] = field(default_factory=list)

    def event(
        self,
        name: str,
        properties: dict[str, Any] | None = None,
        *,
        gap: float = 40,
        rng: random.Random | None = None,
    ) -> None:
        """An event of the widget, on average `gap` seconds after the chat's last one."""
        self.at += timedelta(seconds=(rng or self.rng).expovariate(1 / gap))
        self.items.append(
            Item(
                index=0,
                source=Source.WIDGET,
                name=name,
                timestamp=self.at,
                event_id=f"{self.id}-{len(self.items)}",
                conversation_id=self.id,
                contact_id=self.contact,
                flow_id=self.flow,
                properties=properties or {},
                step=flow_step(name, properties or {}),
            )
        )

    def step(self, name: str, properties: dict[str, Any], *, gap: float = 60) -> None:
        """An event of a multi-step process, drawn from the processes' own generator."""
        self.event(name, properties, gap=gap, rng=self.process)
