"""The CPU stage moved to ``aggregator.cpustage`` (outside this package: see its
docstring); its names stay importable from here."""

from aggregator.cpustage import (
    PROCESSING_VERSION,
    ProcessedFeed,
    build_entry,
    cpu_stage,
    pick_thumbnail,
    process_body,
    process_entries,
    source_hash,
    thumbnail_url,
)

__all__ = [
    "PROCESSING_VERSION",
    "ProcessedFeed",
    "build_entry",
    "cpu_stage",
    "pick_thumbnail",
    "process_body",
    "process_entries",
    "source_hash",
    "thumbnail_url",
]
