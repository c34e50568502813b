"""Telemetry: events in (the Engine API and its ingestion pipeline), conversations and contacts kept
from them, and the Event Explorer over what was stored."""
