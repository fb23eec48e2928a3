"""APScheduler wiring only. The jobs call plain methods of update.Worker.

One short tick (coalesced, one instance at a time) asks storage which feeds are due
and refreshes them; per-feed next-check times live in the database, so they survive
restarts. A second job does housekeeping (retention).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

from aggregator.update import Worker

log = logging.getLogger(__name__)

TICK_SECONDS = 30
HOUSEKEEPING_SECONDS = 3600


def utcnow() -> datetime:
    return datetime.now(UTC)


def build_scheduler(worker: Worker, *, tick_seconds: int = TICK_SECONDS) -> BackgroundScheduler:
    """A scheduler whose first tick runs at once. Call ``.start()`` to run it."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        job_defaults={
            # a tick that overran its interval is not run twice in a row to catch up
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": tick_seconds,
        },
    )
    scheduler.add_job(
        lambda: worker.tick(now=utcnow()),
        "interval",
        seconds=tick_seconds,
        id="tick",
        next_run_time=utcnow(),
    )
    scheduler.add_job(
        lambda: worker.housekeeping(now=utcnow()),
        "interval",
        seconds=HOUSEKEEPING_SECONDS,
        id="housekeeping",
        next_run_time=utcnow(),
    )
    return scheduler


def stop(scheduler: BackgroundScheduler, worker: Worker) -> None:
    """Stop cleanly: no new fetches start, the running tick finishes its writes."""
    worker.updater.stopping.set()
    if scheduler.running:
        scheduler.shutdown(wait=True)
    worker.close()
    log.info("scheduler stopped")
