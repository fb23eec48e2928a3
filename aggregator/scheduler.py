"""APScheduler wiring only. The jobs call plain methods of update.Worker and
forward.Forwarder.

One short tick (coalesced, one instance at a time) asks storage which feeds are due
and refreshes them; per-feed next-check times live in the database, so they survive
restarts. A second job does housekeeping (retention). A third, "outbox", delivers
the forwards whose undo window is over, every few seconds (the outbox itself lives in
the database, so nothing is lost across restarts).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler

from aggregator.errors import StorageError
from aggregator.update import Worker

if TYPE_CHECKING:
    from aggregator.forward import Forwarder

log = logging.getLogger(__name__)

TICK_SECONDS = 30
HOUSEKEEPING_SECONDS = 3600
# Short, because the undo window is ~10 s: a forward leaves at most this much after it.
OUTBOX_SECONDS = 5


ICONS_SECONDS = 60


def utcnow() -> datetime:
    return datetime.now(UTC)


class PerRunAtDebug(logging.Filter):
    """APScheduler logs two INFO lines per job run ("Running job ...", "... executed
    successfully"): with the outbox every 5 s they drowned the useful lines of `make
    run`. They become DEBUG lines, shown only when the root logger is at DEBUG."""

    PER_RUN = ("Running job ", 'Job "%s" executed successfully', "Added job ")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and str(record.msg).startswith(self.PER_RUN):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def quiet_per_run_lines() -> None:
    """Install PerRunAtDebug on APScheduler's loggers (once)."""
    for name in ("apscheduler.executors.default", "apscheduler.scheduler"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, PerRunAtDebug) for f in logger.filters):
            logger.addFilter(PerRunAtDebug())


def build_scheduler(
    worker: Worker,
    *,
    tick_seconds: int = TICK_SECONDS,
    forwarder: Forwarder | None = None,
    outbox_seconds: int = OUTBOX_SECONDS,
) -> BackgroundScheduler:
    """A scheduler whose first tick runs at once. Call ``.start()`` to run it.
    With a ``forwarder``, an "outbox" job delivers due forwards every few seconds.
    Jobs have names (APScheduler's lines said "<lambda>"); per-run lines are DEBUG."""
    quiet_per_run_lines()
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
        name="fetch the due feeds",
        next_run_time=utcnow(),
    )
    scheduler.add_job(
        lambda: worker.housekeeping(now=utcnow()),
        "interval",
        seconds=HOUSEKEEPING_SECONDS,
        id="housekeeping",
        name="housekeeping (retention)",
        next_run_time=utcnow(),
    )
    # Site icons (issue 9): a couple of sites a minute, so a tick never waits for them.
    scheduler.add_job(
        lambda: worker.refresh_icons(now=utcnow()),
        "interval",
        seconds=ICONS_SECONDS,
        id="icons",
        name="site icons",
        next_run_time=utcnow() + timedelta(seconds=ICONS_SECONDS),
    )
    if forwarder is not None:

        def deliver() -> None:
            # Like the tick: a storage problem is shown on /feeds, not only logged by
            # APScheduler as a job crash every few seconds.
            now = utcnow()
            try:
                forwarder.deliver_due(now=now)
            except StorageError as e:
                worker.storage_problem("outbox", e, now)

        scheduler.add_job(
            deliver,
            "interval",
            seconds=outbox_seconds,
            id="outbox",
            name="deliver the due forwards",
            next_run_time=utcnow(),
            misfire_grace_time=outbox_seconds,
        )
    return scheduler


def stop(scheduler: BackgroundScheduler, worker: Worker) -> None:
    """Stop cleanly: no new fetches start, the running tick finishes its writes."""
    worker.updater.stopping.set()
    if scheduler.running:
        scheduler.shutdown(wait=True)
    worker.close()
    log.info("scheduler stopped")
