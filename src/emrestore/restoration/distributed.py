"""Restore a batch of files on a Dask cluster: a local one (``--workers N``) or yours (``--scheduler``).

:func:`restore_files_on_cluster` restores a batch, one
:func:`~emrestore.restoration.files.restore_file` task per file. Both kinds of cluster go
through one :class:`distributed.Client`: :func:`batch_client` starts a
:class:`~distributed.LocalCluster` of ``N`` worker *processes* (one task at a time each, the
cores shared out as onnxruntime threads, see :func:`intra_op_threads`) or connects to a running
scheduler, and :func:`run_tasks` sends one task per file and hands each result back as it
arrives. Each worker process loads a model once (the :func:`~emrestore.restoration.load_model`
cache lives in the worker) and reads the models shipped inside the package: nothing is
downloaded.

Ctrl-C or SIGTERM cancels the tasks not yet finished; a local cluster is shut down (its worker
processes end with it) and :func:`remove_partial_outputs` deletes the temporary files
(``.<stem>.XXXX.part<ext>``) that killed workers left next to unfinished outputs. Tasks already
running on a remote cluster finish (Dask cannot stop a running task); they write complete
outputs atomically, so nothing partial is left there either.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ..errors import EMRestoreError, ParameterError
from .files import FileOutcome, FileSettings, restore_file
from .outputs import FileJob

#: Threads per onnxruntime session in this worker process (set by :func:`configure_worker`;
#: None: onnxruntime's default of all cores).
WORKER_THREADS: int | None = None
#: Seconds to wait for a scheduler to answer (``--scheduler``) or a local cluster to start.
CONNECT_TIMEOUT_S = 60


def intra_op_threads(workers: int, cores: int | None = None) -> int:
    """onnxruntime threads per worker: the cores shared out evenly, at least 1.

    Parameters
    ----------
    workers : int
        Worker processes on this machine.
    cores : int, optional
        Cores to share (default: those this process may run on).
    """
    if cores is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
    return max(1, int(cores) // max(1, int(workers)))


def configure_worker(threads: int | None) -> int:
    """Run on each worker: remember how many onnxruntime threads its sessions get."""
    global WORKER_THREADS
    WORKER_THREADS = threads
    return os.getpid()


def prepare_session(onnx_path: Path, device: str | None) -> None:
    """Open the worker's onnxruntime session for ``onnx_path`` with :data:`WORKER_THREADS` threads.

    :func:`~emrestore.restoration.backends.open_session` caches sessions per model file and
    device, so the Restorer loaded next runs on this one. Does nothing outside a configured
    worker.
    """
    if WORKER_THREADS is None:
        return
    from .backends import open_session

    open_session(Path(onnx_path), device or "auto", threads=WORKER_THREADS)


def check_workers(workers: int | None, scheduler: str | None) -> None:
    """Refuse ``--workers`` below 1, or ``--workers`` together with ``--scheduler``."""
    if workers is not None and workers < 1:
        raise ParameterError(f"--workers must be at least 1 (got {workers}).",
                             "Use e.g. --workers 2, or leave it out to restore in this process.")
    if workers is not None and scheduler:
        raise ParameterError("--workers starts a local cluster and --scheduler uses an existing one; "
                             "both were given.",
                             "Give one of them (the workers of an existing cluster are set where it runs).")


@contextlib.contextmanager
def batch_client(workers: int | None = None, scheduler: str | None = None,
                 threads: int | None = None) -> Iterator[Any]:
    """A :class:`distributed.Client` on a new local cluster or an existing scheduler.

    Parameters
    ----------
    workers : int, optional
        Start a :class:`~distributed.LocalCluster` of this many worker processes, one task
        each at a time.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); its cluster is left running.
    threads : int, optional
        onnxruntime threads per worker (default :func:`intra_op_threads` of ``workers`` for a
        local cluster; a remote cluster's workers keep their own default).

    Raises
    ------
    EMRestoreError
        If the cluster cannot be started or the scheduler not reached.
    """
    from distributed import Client, LocalCluster

    check_workers(workers, scheduler)
    cluster = None
    client = None
    try:
        try:
            if scheduler:
                client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            else:
                import dask

                # not daemonic: a worker reads each file in a child process (emrestore.io isolation).
                # Logs at CRITICAL only: a task's error comes back through its future (on_error),
                # while a worker's heartbeat that races the shutdown after Ctrl-C logs a traceback
                # at ERROR that tells the user nothing.
                with dask.config.set({"distributed.worker.daemon": False}):
                    cluster = LocalCluster(n_workers=workers or 1, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=logging.CRITICAL,
                                           scheduler_port=0)
                client = Client(cluster, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
                threads = threads or intra_op_threads(workers or 1)
        except (OSError, TimeoutError) as error:
            where = f"the scheduler at {scheduler}" if scheduler else f"a local cluster of {workers} workers"
            raise EMRestoreError(f"Could not reach {where} ({type(error).__name__}: {error}).",
                                 "Check the address and that the scheduler runs (dask scheduler), or "
                                 "restore without --scheduler/--workers." if scheduler else
                                 "Use fewer --workers, or restore without --workers.") from error
        if threads is not None:
            client.run(configure_worker, threads)
        yield client
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=10)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=30)


def run_tasks(client: Any, function: Callable[[Any], Any], items: Iterable[Any],
              on_result: Callable[[Any, Any], None],
              on_error: Callable[[Any, BaseException], None]) -> None:
    """Run ``function(item)`` for every item on the cluster; call ``on_result(item, result)``
    as each finishes, in the order they finish.

    A task that raises (or whose worker died, e.g. killed for memory) gives
    ``on_error(item, exception)`` and the others go on. On
    ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM through the command line) the unfinished tasks
    are cancelled before it propagates.
    """
    from distributed import as_completed

    items = list(items)
    futures = client.map(function, items, pure=False)
    owner = {future.key: item for future, item in zip(futures, items)}
    try:
        for future in as_completed(futures, loop=client.loop):
            try:
                result = future.result()
            except Exception as error:  # noqa: BLE001 (the task's own exception, or KilledWorker: one file fails)
                on_error(owner[future.key], error)
            else:
                on_result(owner[future.key], result)
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(futures, force=True)
        raise


def restore_files_on_cluster(jobs: list[FileJob], settings: FileSettings, *, workers: int | None,
                             scheduler: str | None, report: Callable[[FileOutcome], None],
                             report_failure: Callable[[FileJob, BaseException], None]) -> None:
    """Restore ``jobs`` on a Dask cluster, one :func:`~emrestore.restoration.files.restore_file` task per file.

    Parameters
    ----------
    jobs : list of FileJob
        The inputs and their outputs (:func:`~emrestore.restoration.outputs.plan_outputs`).
    settings : FileSettings
        The run's options (sent to the workers).
    workers, scheduler
        As for :func:`batch_client`.
    report : callable
        ``report(outcome)`` as each file's task finishes, in the order they finish.
    report_failure : callable
        ``report_failure(job, exception)`` for a task that raised or whose worker died
        (``KilledWorker``, e.g. killed for memory); the others go on.

    On Ctrl-C/SIGTERM the unfinished tasks are cancelled, a local cluster is shut down and
    the temporary files its killed workers left are removed before the interrupt propagates.
    """
    done: set[int] = set()

    def on_result(item: tuple[int, tuple[FileJob, FileSettings]], outcome: FileOutcome) -> None:
        done.add(item[0])
        report(outcome)

    def on_error(item: tuple[int, tuple[FileJob, FileSettings]], error: BaseException) -> None:
        done.add(item[0])
        report_failure(item[1][0], error)

    items = list(enumerate((job, settings) for job in jobs))
    try:
        with batch_client(workers, scheduler) as client:
            run_tasks(client, _restore_indexed, items, on_result, on_error)
    except BaseException:
        if not scheduler:  # a local cluster is gone now: nothing writes any more
            remove_partial_outputs(job.target for i, job in enumerate(jobs)
                                   if i not in done and job.target is not None)
        raise


def _restore_indexed(item: tuple[int, tuple[FileJob, FileSettings]]) -> FileOutcome:
    """One file on a cluster worker."""
    job, settings = item[1]
    return restore_file(job, settings)


def remove_partial_outputs(targets: Iterable[Path]) -> list[Path]:
    """Delete the temporary ``.<stem>.XXXXXXXX.part<ext>`` files next to ``targets``.

    For outputs whose writers were killed (workers of a local cluster stopped by Ctrl-C);
    :func:`~emrestore.io.atomic.atomic_path` names its temporary files this way.

    Returns
    -------
    list of Path
        The files removed.
    """
    from ..io.atomic import TEMP_STEM_CHARS

    removed = []
    for target in targets:
        target = Path(target)
        pattern = f".{glob.escape(target.stem[:TEMP_STEM_CHARS])}.*.part{glob.escape(target.suffix)}"
        with contextlib.suppress(OSError):
            for leftover in target.parent.glob(pattern):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
                    removed.append(leftover)
    return removed


__all__ = [
    "batch_client",
    "check_workers",
    "configure_worker",
    "intra_op_threads",
    "prepare_session",
    "remove_partial_outputs",
    "restore_files_on_cluster",
    "run_tasks",
]
