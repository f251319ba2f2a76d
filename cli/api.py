"""``photostream api``: serve the HTTP API with uvicorn."""

from __future__ import annotations

import click


@click.command()
@click.option(
    "--host", default=None, help="Bind address (default: PHOTOSTREAM_API_HOST, 127.0.0.1)."
)
@click.option("--port", type=int, default=None, help="Port (default: PHOTOSTREAM_API_PORT, 8000).")
@click.option("--workers", type=int, default=1, show_default=True, help="uvicorn worker processes.")
def api(host: str | None, port: int | None, workers: int) -> None:
    """Serve /v1, /healthz and the OpenAPI docs at /docs."""
    import uvicorn

    from settings import get_settings

    settings = get_settings()
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        loop="uvloop",
        log_level="info",
        access_log=False,
    )
