"""Every Faust agent, one module per concern; importing this package registers them all."""

from __future__ import annotations

from agents import users

__all__ = ["users"]
