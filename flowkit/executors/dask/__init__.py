"""The dask executor: attempts on a ``distributed`` cluster (``executor="dask"``).

``DaskExecutor`` is the public name; the orchestrator side lives in ``_executor``, the
worker side (the zygote and the supervised attempt) in ``_worker``.
"""

from flowkit.executors.dask._executor import DaskExecutor

__all__ = ["DaskExecutor"]
