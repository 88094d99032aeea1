"""Benchmark tasks (layer 6): how each is loaded, split, trained and scored.

A task turns a registered dataset into train / val / test :class:`~leanecg.train.datasets.ArraySplit`
objects (preprocessed once, cached on disk), names its classes and its primary metric, and scores
predictions with 95 % bootstrap CIs. Splits are the ones the field uses:

- ``mitdb-aami``: beat classification N / S / V / F on MIT-BIH, trained on de Chazal DS1 and tested on
  DS2 (inter-patient); validation records are held out of DS1 by patient. Reference beat positions
  (classification-only evaluation, as de Chazal 2004); RR-interval context goes in as features. The
  15 Q beats (8 in DS1, 7 in DS2) are left out of training and scoring, as in de Chazal 2004.
- ``cinc2017``: record classification N / A / O / ~ on the single-lead PhysioNet/CinC 2017 records with
  the seeded, class-stratified 70/15/15 split of :mod:`leanecg.data.cinc2017` (the data has no patient ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leanecg.registry import Registry
from leanecg.tasks.base import BenchTask, TaskData
from leanecg.tasks.cinc2017 import Cinc2017Task
from leanecg.tasks.mitdb_aami import MitdbAamiTask
from leanecg.tasks.preprocess import task_pipeline
from leanecg.tasks.ptbxl_superclass import PtbxlSuperclassTask

__all__ = [
    "TASKS",
    "BenchTask",
    "Cinc2017Task",
    "MitdbAamiTask",
    "PtbxlSuperclassTask",
    "TaskData",
    "get_task",
    "list_tasks",
    "task_for_package",
    "task_pipeline",
]

#: The benchmark tasks by name (a :class:`~leanecg.registry.Registry`, a mapping ``name -> task``).
TASKS: Registry[BenchTask] = Registry("benchmark task", "TASK")
for _task in (MitdbAamiTask(), Cinc2017Task(), PtbxlSuperclassTask()):
    TASKS.register(_task.name, _task)
del _task


def get_task(name: str) -> BenchTask:
    """The task called ``name``; unknown names raise :class:`LeanECGError` listing the known ones."""
    return TASKS.get(name)


def task_for_package(meta: Mapping[str, Any]) -> BenchTask:
    """A fresh task instance set up as a trained model package's metadata says: its task, feeding the input
    leads (``meta["input"]["leads"]``, :meth:`BenchTask.use_leads`) and computing the feature columns
    (``meta["input"]["features"]``, :meth:`BenchTask.use_features`) the model takes, so that loading it
    rebuilds the model's own inputs whatever the task's current defaults are.

    Raises:
        LeanECGError: an unknown task, or input leads or feature columns the task cannot give.
    """
    task = type(get_task(str(meta["task"]["name"])))()
    spec = meta.get("input") or {}
    if spec.get("leads"):
        task.use_leads(list(spec["leads"]))
    if spec.get("features"):
        task.use_features(list(spec["features"]))
    task.use_orientation(bool(spec.get("orient_polarity", False)))
    return task


def list_tasks() -> list[str]:
    """The names of the benchmark tasks."""
    return TASKS.list()
