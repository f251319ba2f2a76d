"""Sinks project Faust state and events to Redis and Cassandra, idempotently."""

from __future__ import annotations

from settings import get_settings
from sinks.connections import Connections

connections = Connections(get_settings())
