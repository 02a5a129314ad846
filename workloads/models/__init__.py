"""The concurrency models, by their stable names (see `workloads.config.MODELS`)."""

from __future__ import annotations

from workloads.models.base import LabContext, Model
from workloads.models.loops import AsyncioModel, AsyncioOffloadModel, AsyncioProcsModel
from workloads.models.mn import MNModel
from workloads.models.pool import PoolModel
from workloads.models.processes import ProcessesModel
from workloads.models.threads import ThreadsModel

__all__ = ["MODEL_CLASSES", "LabContext", "Model"]

MODEL_CLASSES: dict[str, type[Model]] = {
    "threads": ThreadsModel,
    "pool": PoolModel,
    "asyncio": AsyncioModel,
    "asyncio-offload": AsyncioOffloadModel,
    "asyncio-procs": AsyncioProcsModel,
    "mn": MNModel,
    "processes": ProcessesModel,
}
