"""Rate limits per user and client address, shared by every API process through Redis."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Put the limiter in front of every route."""
