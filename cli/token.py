"""``photostream token USER_ID``: a bearer token for local use."""

from __future__ import annotations

import click

from api.auth import issue_token, load_secret
from settings import get_settings


@click.command()
@click.argument("user_id")
@click.option(
    "--ttl", "ttl_s", type=int, default=None, help="Lifetime in seconds (default: settings)."
)
def token(user_id: str, ttl_s: int | None) -> None:
    """Print a signed bearer token naming USER_ID."""
    settings = get_settings()
    click.echo(
        issue_token(user_id, secret=load_secret(settings), ttl_s=ttl_s or settings.token_ttl_s)
    )
