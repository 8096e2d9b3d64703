"""Which handler serves which path. Handlers are ``async def handle(req, ctx) -> Response``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NotFound
from . import buckets, download, objects, verify
from .http import Request, Response

if TYPE_CHECKING:
    from ..daemon import Daemon

_PREFIXES = (
    ("/v1/download", download.handle),
    ("/v1/buckets", buckets.handle),
    ("/v1/objects", objects.handle),
    ("/v1/verify", verify.handle),
)


def make_router(ctx: Daemon):  # noqa: ANN201 - returns the server's Handler type
    async def route(req: Request) -> Response:
        path = req.path
        for prefix, handler in _PREFIXES:
            if path == prefix or path.startswith(prefix + "/"):
                return await handler(req, ctx)
        if path in ("/v1/health", "/health"):
            return Response.empty(200)
        raise NotFound(f"no such endpoint: {req.method} {path}")

    return route
