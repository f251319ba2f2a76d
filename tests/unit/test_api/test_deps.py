"""Every route declares the clients it uses, never the whole application state."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from fastapi.routing import APIRoute

import api.routes
from api.deps import get_state

ROUTERS = [
    importlib.import_module(f"api.routes.{info.name}").router
    for info in pkgutil.iter_modules(api.routes.__path__)
]
ROUTES = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{sorted(r.methods)[0]} {r.path}")
def test_route_declares_narrow_dependencies_not_the_state(route: APIRoute) -> None:
    declared = [dependency.call for dependency in route.dependant.dependencies]
    assert get_state not in declared
