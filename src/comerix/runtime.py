"""Settings of the Python process itself that the service's processes share."""

from __future__ import annotations

import gc


def tune_garbage_collector() -> None:
    """Keep the collector's pauses out of request latency. What start-up loaded (modules, the ORM's
    mappings) lives as long as the process: freeze it, so that full collections stop walking it. And
    ingestion allocates a few dicts per event, all freed by reference counting: collect the youngest
    generation every 50,000 allocations instead of Python's default 700, so a batch is not interrupted
    over and over to find cycles that are not there.

    Called by `comerix serve` before it serves, by the writer process before its first group, and by
    `bench/profile_ingest.py` so that its profiles see the collector as the service runs it."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)
