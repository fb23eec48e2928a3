"""`aggregator api-password`: the app password the sync APIs (GReader, Fever) ask for.

Prints a new, generated password once and keeps only salted hashes in the database
(``web/apiauth.py``); running it again replaces the password, which logs every app out.
"""

from __future__ import annotations

import os

import click

from aggregator.cli import Paths, cli
from aggregator.storage import Storage


@cli.command("api-password")
@click.option(
    "--user",
    "user",
    default=None,
    help="The user name to type in the apps. Default: AGGREGATOR_API_USER, else 'aggregator'.",
)
@click.pass_obj
def api_password(paths: Paths, user: str | None) -> None:
    """Generate the password that phone and desktop apps use to sync (Google Reader
    and Fever APIs), print it once, and store only a salted hash of it.

    AGGREGATOR_API_PASSWORD in the environment, when set, wins over this one.
    """
    from aggregator.web.apiauth import DEFAULT_USER, generate_password, store_password, valid_user

    name = user or os.environ.get("AGGREGATOR_API_USER") or DEFAULT_USER
    if not valid_user(name):
        raise click.BadParameter(
            "a user name is 1 to 100 printable characters, without ':'", param_hint="--user"
        )
    password = generate_password()
    storage = Storage(paths.db)
    try:
        store_password(storage, name, password)
    finally:
        storage.close()
    click.echo(f"user:     {name}")
    click.echo(f"password: {password}")
    click.echo(
        "Type them into the app now: the password is not shown again (only its hash is kept)."
    )
    if os.environ.get("AGGREGATOR_API_PASSWORD"):
        click.echo(
            "note: AGGREGATOR_API_PASSWORD is set in this environment; where it is set, it wins "
            "over the password stored here.",
            err=True,
        )
