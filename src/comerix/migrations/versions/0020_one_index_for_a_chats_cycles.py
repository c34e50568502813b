"""One index for a conversation's cycles, and none for a contact's: the unique key that lets one cycle
per goal and conversation be open becomes (workspace, conversation, goal, `open_for`), and the
indexes on (workspace, conversation, goal) and (workspace, contact) go. The key finds a
conversation's cycles, open or all, as well as the index did, and a contact's cycles are found
through their conversations (a cycle's contact is its conversation's). Each cycle ingestion writes
enters one index keyed by a random id instead of three (docs/benchmarks.md, 2026-12-07). A CHECK
keeps `open_for` NULL or the cycle's own conversation, which makes the new key say what the old one
did.

SQLite cannot alter a constraint, so there the table is copied (batch mode).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

OLD_KEY = ("workspace_id", "goal_id", "open_for")
NEW_KEY = ("workspace_id", "conversation_id", "goal_id", "open_for")
CHATS_CYCLES = ("workspace_id", "conversation_id", "goal_id")
CONTACTS_CYCLES = ("workspace_id", "contact_id")


def _name(prefix: str, columns: tuple[str, ...]) -> str:
    return op.f(f"{prefix}_goal_cycles_{'_'.join(columns)}")


def upgrade() -> None:
    for index in (CHATS_CYCLES, CONTACTS_CYCLES):
        op.drop_index(_name("ix", index), table_name="goal_cycles")
    with op.batch_alter_table("goal_cycles") as batch:
        batch.drop_constraint(_name("uq", OLD_KEY), type_="unique")
        batch.create_unique_constraint(_name("uq", NEW_KEY), list(NEW_KEY))
        batch.create_check_constraint(
            "open_in_own_conversation", "open_for IS NULL OR open_for = conversation_id"
        )


def downgrade() -> None:
    with op.batch_alter_table("goal_cycles") as batch:
        batch.drop_constraint(op.f("ck_goal_cycles_open_in_own_conversation"), type_="check")
        batch.drop_constraint(_name("uq", NEW_KEY), type_="unique")
        batch.create_unique_constraint(_name("uq", OLD_KEY), list(OLD_KEY))
    for index in (CHATS_CYCLES, CONTACTS_CYCLES):
        op.create_index(_name("ix", index), "goal_cycles", list(index))
