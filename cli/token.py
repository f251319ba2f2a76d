"""``photostream token USER_ID``: a bearer token for local development only."""

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
    """Print a signed bearer token naming USER_ID, for local development only.

    It is signed with this machine's secret (PHOTOSTREAM_SECRET_KEY, or the generated
    development secret) and names any user without a password. A deployment sets
    PHOTOSTREAM_SECRET_KEY and its clients log in (POST /v1/accounts/login).
    """
    settings = get_settings()
    click.echo(
        "photostream token: for local development only; clients of a deployment log in "
        "(POST /v1/accounts/login)",
        err=True,
    )
    click.echo(
        issue_token(user_id, secret=load_secret(settings), ttl_s=ttl_s or settings.token_ttl_s)
    )
