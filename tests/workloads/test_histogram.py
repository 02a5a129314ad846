from __future__ import annotations

import pytest

from workloads import histogram


def test_percentiles_are_within_bucket_precision() -> None:
    counts: dict[int, int] = {}
    for ms in range(1, 101):  # 1..100 ms, uniform
        b = histogram.bucket_of(float(ms))
        counts[b] = counts.get(b, 0) + 1
    assert histogram.percentile(counts, 50) == pytest.approx(50, rel=0.07)
    assert histogram.percentile(counts, 99) == pytest.approx(99, rel=0.07)


def test_empty_is_none_not_zero() -> None:
    assert histogram.percentile({}, 50) is None


def test_diff_of_cumulative_snapshots() -> None:
    older = {10: 5, 20: 1}
    newer = {10: 7, 20: 1, 30: 2}
    assert histogram.diff(newer, older) == {10: 2, 30: 2}
    assert histogram.diff(newer, None) == newer


def test_buckets_are_monotonic() -> None:
    values = [0.0005, 0.002, 0.5, 1, 10, 1000, 60000]
    buckets = [histogram.bucket_of(v) for v in values]
    assert buckets == sorted(buckets)
    for v, b in zip(values[1:], buckets[1:], strict=True):
        assert histogram.upper_ms(b - 1) <= v <= histogram.upper_ms(b) * 1.0001
