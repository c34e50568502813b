"""Errors of the workspaces domain."""

from __future__ import annotations

from comerix.errors import Invalid, NotFound


class WorkspaceNotFound(NotFound):
    code = "workspace_not_found"

    def __init__(self, reference: str) -> None:
        super().__init__(f"no workspace {reference!r}")
        self.reference = reference


class WorkspaceAmbiguous(Invalid):
    code = "workspace_ambiguous"

    def __init__(self, name: str) -> None:
        super().__init__(f"several workspaces are named {name!r}; give the workspace id instead")
        self.name = name
