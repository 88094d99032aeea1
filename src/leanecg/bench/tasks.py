"""The benchmark tasks; moved to :mod:`leanecg.tasks` (layer 6), re-exported here for ``leanecg.bench.tasks``."""

from leanecg.tasks import TASKS, BenchTask, Cinc2017Task, MitdbAamiTask, TaskData, get_task

__all__ = ["TASKS", "BenchTask", "Cinc2017Task", "MitdbAamiTask", "TaskData", "get_task"]
