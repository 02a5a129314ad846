"""Cumulative log-bucket histograms for latencies and loop lag.

Buckets grow by 10^(1/20) (about 12 %), so any percentile is within ~6 % of
the truth. The probe sends cumulative bucket counts; a consumer subtracts two
snapshots to get the percentiles of any window, so dropped frames lose nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["BUCKETS_PER_DECADE", "bucket_of", "diff", "percentile", "upper_ms"]

BUCKETS_PER_DECADE = 20
_MIN_MS = 0.001  # bucket 0 holds everything up to 1 µs


def bucket_of(ms: float) -> int:
    """Index of the bucket holding a value in milliseconds."""
    if ms <= _MIN_MS:
        return 0
    return 1 + int(math.log10(ms / _MIN_MS) * BUCKETS_PER_DECADE)


def upper_ms(bucket: int) -> float:
    """Upper edge of a bucket, in milliseconds."""
    return float(_MIN_MS * 10 ** (bucket / BUCKETS_PER_DECADE))


def mid_ms(bucket: int) -> float:
    """Geometric middle of a bucket: the value reported for a percentile."""
    if bucket == 0:
        return _MIN_MS
    return float(_MIN_MS * 10 ** ((bucket - 0.5) / BUCKETS_PER_DECADE))


def diff(newer: Mapping[int, int], older: Mapping[int, int] | None) -> dict[int, int]:
    """Counts that arrived between two cumulative snapshots."""
    if not older:
        return {k: v for k, v in newer.items() if v}
    out = {}
    for k, v in newer.items():
        d = v - older.get(k, 0)
        if d > 0:
            out[k] = d
    return out


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The q-th percentile (0..100) in ms, or None when there are no counts."""
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = max(1, math.ceil(total * q / 100.0))
    seen = 0
    for bucket in sorted(counts):
        seen += counts[bucket]
        if seen >= rank:
            return mid_ms(bucket)
    return mid_ms(max(counts))  # pragma: no cover - rank <= total always hits


__all__ += ["mid_ms"]
