from __future__ import annotations

import pytest

from workloads.config import MODELS, ConfigError, LabConfig


def test_defaults_are_valid() -> None:
    LabConfig().check()


@pytest.mark.parametrize(
    ("changes", "flag"),
    [
        ({"model": "fibers"}, "--model"),
        ({"cpu_share": 1.5}, "--cpu-share"),
        ({"cpu_share": -0.1}, "--cpu-share"),
        ({"task_ms": 0}, "--task-ms"),
        ({"concurrency": 0}, "--concurrency"),
        ({"concurrency": 2.5}, "--concurrency"),
        ({"rate": 0}, "--rate"),
        ({"workers": -1}, "--workers"),
        ({"cpu_kind": "gpu"}, "--cpu-kind"),
        ({"io_kind": "disk"}, "--io-kind"),
        ({"hz": 1000}, "--hz"),
        ({"cpu_share": float("nan")}, "--cpu-share"),
    ],
)
def test_bad_values_name_the_flag(changes: dict[str, object], flag: str) -> None:
    with pytest.raises(ConfigError) as info:
        LabConfig().replace(**changes)
    message = str(info.value)
    assert message.startswith(flag)
    assert "\n" not in message


def test_unknown_model_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        LabConfig.validated(model="green-threads")
    for name in MODELS:
        assert name in str(info.value)


def test_split_of_task_time() -> None:
    config = LabConfig(cpu_share=0.25, task_ms=20)
    assert config.cpu_ms == pytest.approx(5.0)
    assert config.io_ms == pytest.approx(15.0)


def test_round_trip_through_dict() -> None:
    config = LabConfig.validated(model="mn", rate=50.0, workers=3)
    assert LabConfig.from_dict(config.to_dict()) == config
