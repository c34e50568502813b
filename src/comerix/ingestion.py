"""The ingestion pipeline as the service runs it: telemetry's stages, then those of the packages above
telemetry, which it must not import (docs/architecture.md). To add a stage, write its function in the
package that owns its rows and put it here, in its place."""

from __future__ import annotations

from comerix.analytics import rollups
from comerix.telemetry import stages
from comerix.telemetry.pipeline import Stage

STAGES: tuple[Stage, ...] = (*stages.STAGES, rollups.count)
