"""Background jobs (procrastinate, PostgreSQL-backed).

Jobs are deferred inside the caller's transaction (a rollback drops the job). In ``make run`` the worker runs
inside the web process: ``asgi.py`` starts ``run_in_process_worker`` from the ASGI lifespan, on a separate app
that shares the task registry but has its own asynchronous connector.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import warnings
from collections.abc import Callable

from procrastinate.contrib.django import app

from shifa.audit.context import audit_context

logger = logging.getLogger(__name__)

_worker_task: asyncio.Task | None = None
_worker_running = False


def on_app_ready(procrastinate_app) -> None:
    """Hook named by PROCRASTINATE_ON_APP_READY; nothing to configure yet beyond the defaults."""
    return None


def task(name: str, **options) -> Callable:
    """Declare a job. Its writes are audited with the source ``job:<name>`` and no human actor.

    Jobs are synchronous functions that call actions (the audit context follows the thread that writes).
    """

    def decorate(func: Callable) -> Callable:
        if inspect.iscoroutinefunction(func):
            raise TypeError(f"job {name} must be a plain function that calls actions, not a coroutine")

        @functools.wraps(func)
        def run(*args, **kwargs):
            with audit_context(source=f"job:{name}"):
                return func(*args, **kwargs)

        return app.task(name=name, **options)(run)

    return decorate


def periodic_task(name: str, *, cron: str, **options) -> Callable:
    """Declare a job the worker runs on a schedule (cron syntax, UTC). The function receives ``timestamp``."""

    def decorate(func: Callable) -> Callable:
        return app.periodic(cron=cron)(task(name, **options)(func))

    return decorate


#: The longest the worker waits for a connection of its pool. After a database restart psycopg's pool may back off
#: for half a minute before it reconnects; a worker that gives up sooner is started again with a new pool.
WORKER_POOL_TIMEOUT_SECONDS = 5.0


def _worker_app():
    from procrastinate import PsycopgConnector
    from procrastinate.contrib.django.utils import connector_params

    connector = PsycopgConnector(kwargs=connector_params(), timeout=WORKER_POOL_TIMEOUT_SECONDS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return app.with_connector(connector)


#: A worker silent for this long is dead (it beats every few seconds); its unfinished jobs run again.
STALLED_AFTER_SECONDS = 60.0


async def recover_stalled_jobs(worker_app, *, seconds_since_heartbeat: float = STALLED_AFTER_SECONDS) -> int:
    """Put back in the queue the jobs a dead worker left half done (a crash, a kill -9). Their code must be
    safe to run again: deliveries, for instance, check with the provider before sending."""
    stalled = await worker_app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat)
    count = 0
    for job in stalled:
        await worker_app.job_manager.retry_job(job)
        logger.warning("job %s (%s) of a dead worker is queued again", job.id, job.task_name)
        count += 1
    await worker_app.job_manager.prune_stalled_workers(seconds_since_heartbeat=seconds_since_heartbeat)
    return count


async def _recover_periodically(worker_app) -> None:
    while True:
        try:
            await recover_stalled_jobs(worker_app)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("could not look for stalled jobs", exc_info=True)
        await asyncio.sleep(STALLED_AFTER_SECONDS / 2)


async def _supervise_worker() -> None:
    """Run the worker; when it dies (say the database went away), log it and start it again with back-off."""
    global _worker_running
    from asgiref.sync import sync_to_async
    from django.db import close_old_connections

    delay = 1.0
    while True:
        worker_app = _worker_app()
        try:
            # The worker's periodic deferrer writes through Django's connection of the thread sync_to_async keeps
            # for it; after a database restart that connection is dead and nothing else replaces it (requests do
            # so at their start and end). Drop it, or every start of the worker fails on it again.
            await sync_to_async(close_old_connections)()
            async with worker_app.open_async():
                _worker_running = True
                delay = 1.0
                recovery = asyncio.get_running_loop().create_task(_recover_periodically(worker_app))
                try:
                    await worker_app.run_worker_async(install_signal_handlers=False, name="shifa-web")
                finally:
                    recovery.cancel()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("job worker stopped; restarting in %.0f s", delay)
        finally:
            _worker_running = False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 60.0)


async def start_in_process_worker() -> None:
    """Start the supervised worker as a background task of the running event loop."""
    global _worker_task
    if _worker_task is not None and not _worker_task.done():
        return
    _worker_task = asyncio.get_running_loop().create_task(_supervise_worker(), name="procrastinate-worker")
    logger.info("job worker started in-process")


async def stop_in_process_worker(timeout: float = 10.0) -> None:
    global _worker_task
    if _worker_task is None:
        return
    _worker_task.cancel()
    try:
        await asyncio.wait_for(_worker_task, timeout)
    except (asyncio.CancelledError, TimeoutError):
        pass
    except Exception:
        logger.exception("job worker stopped with an error")
    _worker_task = None
    logger.info("job worker stopped")


def in_process_worker_alive() -> bool | None:
    """Whether the in-process worker is running now; None when this process does not run one."""
    if _worker_task is None:
        return None
    return _worker_running and not _worker_task.done()


def queue_reachable() -> bool:
    """The job queue's tables answer (it lives in the same PostgreSQL as the data)."""
    try:
        return app.check_connection()
    except Exception:
        logger.warning("job queue check failed", exc_info=True)
        return False
