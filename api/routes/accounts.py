"""Accounts: register, log in, refresh and log out."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["accounts"])
