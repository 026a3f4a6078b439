"""Messages the embedded broker's retention dropped, so the consumer is never blamed.

Each mock partition keeps only about 5 MiB and silently deletes older messages; a low
watermark above the first offset the load generator produced to counts them.
"""

from __future__ import annotations

from collections.abc import Mapping

from poolbench.broker.cluster import watermarks


def drops_from_watermarks(
    first_offsets: Mapping[int, int], marks: Mapping[int, tuple[int, int]]
) -> dict[int, int]:
    """Pure: messages at offsets >= first but below the low watermark were dropped."""
    return {
        partition: max(0, marks[partition][0] - first) if partition in marks else 0
        for partition, first in first_offsets.items()
    }


def attribute_broker_drops(
    watermark_drops: int, produced: int, delivered: int, dead_lettered: int
) -> int:
    """Pure: how many of the missing messages the broker's retention accounts for.

    A low watermark above our first offset also counts messages consumed and delivered
    before retention deleted them, so the watermark count is an upper bound; the broker
    can only be blamed for messages that are actually missing.
    """
    missing = max(0, produced - delivered - dead_lettered)
    return min(max(0, watermark_drops), missing)


def broker_drops(
    bootstrap_servers: str, topic: str, first_offsets: Mapping[int, int], timeout: float = 10.0
) -> dict[int, int]:
    """Per partition: how many produced messages the broker dropped (retention, not the consumer).

    `first_offsets` maps a partition to the first offset the load generator produced to it
    (`LoadReport.first_offsets`). A low watermark above it means the broker deleted messages
    the consumer may never have seen.
    """
    return drops_from_watermarks(first_offsets, watermarks(bootstrap_servers, topic, timeout))
