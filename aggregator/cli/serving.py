"""Long-running processes: the scheduler (`worker`), the dashboard (`serve`), both (`run`)."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import click

from aggregator.cli import Paths, cli, setup_logging
from aggregator.cli.mail import open_forwarder
from aggregator.config import ConfigSource
from aggregator.storage import Storage


def start_worker(paths: Paths, processes: int | None) -> tuple[Any, Any, Storage]:
    from aggregator.scheduler import build_scheduler
    from aggregator.update import Worker

    source = ConfigSource(paths.config)  # reads the file now
    if source.config is None and source.error is not None:
        # nothing good to fall back on yet: say what is wrong, keep running so a
        # fix is picked up without a restart
        click.echo(f"configuration error (waiting for a fix):\n{source.error}", err=True)
    storage = Storage(paths.db)
    if processes is None:
        processes = os.cpu_count() or 1
    worker = Worker(source, storage, processes=processes)
    forwarder = open_forwarder(paths, storage, source)
    scheduler = build_scheduler(worker, forwarder=forwarder)
    scheduler.start()
    return scheduler, worker, storage


def catch_signals() -> threading.Event:
    """Take over Ctrl-C and SIGTERM now, at the very start of a long-running command:
    a signal that arrives while it is still starting (a service manager stopping it,
    a test that read the first line) is kept, and the command then stops cleanly
    instead of being killed half-way by the default action."""
    done = threading.Event()

    def handler(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return done


def wait_for_signal(done: threading.Event) -> None:
    """Block until ``catch_signals``'s event is set."""
    while not done.wait(1.0):
        pass


def _web_options(f: Any) -> Any:
    f = click.option("--host", default="127.0.0.1", show_default=True)(f)
    f = click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))(f)
    return f


@cli.command()
@_web_options
@click.option("--processes", type=int, default=None, help="Parser processes (default: cores).")
@click.pass_obj
@click.pass_context
def run(ctx: click.Context, paths: Paths, host: str, port: int, processes: int | None) -> None:
    """Run the scheduler and the dashboard until Ctrl-C or SIGTERM."""
    done = catch_signals()
    setup_logging(ctx.parent.meta.get("verbose", False) if ctx.parent else False)
    web = _web(paths, host, port)
    scheduler, worker, storage = start_worker(paths, processes)
    from aggregator.scheduler import stop

    try:
        _serve_until_signal(web, host, port, done)
    finally:
        stop(scheduler, worker)
        storage.close()


@cli.command()
@click.option("--processes", type=int, default=None, help="Parser processes (default: cores).")
@click.pass_obj
@click.pass_context
def worker(ctx: click.Context, paths: Paths, processes: int | None) -> None:
    """Run only the scheduler (for split deployments)."""
    done = catch_signals()
    setup_logging(ctx.parent.meta.get("verbose", False) if ctx.parent else False)
    scheduler, w, storage = start_worker(paths, processes)
    from aggregator.scheduler import stop

    click.echo("worker running; Ctrl-C to stop", err=True)
    try:
        wait_for_signal(done)
    finally:
        stop(scheduler, w)
        storage.close()


@cli.command()
@_web_options
@click.pass_obj
@click.pass_context
def serve(ctx: click.Context, paths: Paths, host: str, port: int) -> None:
    """Run only the dashboard (for split deployments; see `worker`)."""
    done = catch_signals()
    setup_logging(ctx.parent.meta.get("verbose", False) if ctx.parent else False)
    _serve_until_signal(_web(paths, host, port), host, port, done)


def _web(paths: Paths, host: str, port: int) -> Any:
    """Check the bind address before anything starts, then build the Flask app."""
    from aggregator.web import check_bind_allowed, create_app

    check_bind_allowed(host, os.environ.get("AGGREGATOR_PASSWORD") or None)
    return create_app(
        {
            "AGGREGATOR_CONFIG": paths.config,
            "AGGREGATOR_DB": paths.db,
            "AGGREGATOR_CONTACTS": paths.contacts_file,
        }
    )


def _serve_until_signal(app: Any, host: str, port: int, done: threading.Event) -> None:
    from aggregator.web import serve as web_serve

    server = web_serve(app, host, port)
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    click.echo(f"dashboard on http://{host}:{server.effective_port}/ ; Ctrl-C to stop", err=True)
    try:
        wait_for_signal(done)
    finally:
        server.close()
        thread.join(timeout=10)
