"""The scheduler's log lines (issue 10): named jobs, and APScheduler's two lines per job
run at DEBUG, so that `make run` shows what matters (one line per feed per poll)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from apscheduler.events import EVENT_JOB_EXECUTED

from aggregator.config import ConfigSource
from aggregator.scheduler import build_scheduler, stop
from aggregator.storage import Storage
from aggregator.update import Worker


def run_once(tmp_path: Path) -> None:
    """Build the real scheduler over an empty configuration, run its first jobs, stop."""
    config = tmp_path / "feeds.yaml"
    config.write_text("tabs:\n  - name: Vide\n    feeds: []\n", encoding="utf-8")
    worker = Worker(ConfigSource(str(config)), Storage(tmp_path / "agg.sqlite3"))
    scheduler = build_scheduler(worker, tick_seconds=3600)
    names = {job.id: job.name for job in scheduler.get_jobs()}
    assert names["tick"] == "fetch the due feeds"
    assert names["housekeeping"] == "housekeeping (retention)"
    ran = threading.Event()
    scheduler.add_listener(lambda event: event.job_id == "tick" and ran.set(), EVENT_JOB_EXECUTED)
    scheduler.start()
    try:
        assert ran.wait(20), "the first tick runs at once"
    finally:
        stop(scheduler, worker)


def per_run(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name.startswith("apscheduler")
        and ("Running job" in r.getMessage() or "executed" in r.getMessage())
    ]


def test_per_run_lines_are_hidden_at_info(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    run_once(tmp_path)
    assert per_run(caplog) == []


def test_per_run_lines_are_debug_lines_with_the_job_name(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    run_once(tmp_path)
    lines = per_run(caplog)
    assert lines and all(r.levelno == logging.DEBUG for r in lines)
    assert any('Running job "fetch the due feeds' in r.getMessage() for r in lines)
    assert not any("<lambda>" in r.getMessage() for r in lines)
