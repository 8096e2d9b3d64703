"""``GET /v1/verify/BUCKET[?prefix=P&provider=ais]``: re-read stored objects and check them against their blake3.

A dld extension (AIS has no such call): bit rot and tampering show up as ``mismatch``. Streams one JSON line per
object, ``{"name", "status": "ok"|"mismatch"|"no-checksum"|"missing", "size", "expected", "actual"}``, then a
summary line ``{"summary": {"checked", "ok", "mismatch", "no_checksum"}}``. Hashing runs in a worker thread
(blake3 releases the GIL), one object at a time, so the API stays responsive.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio

from .._fast.sink import hash_file
from ..errors import BadRequest, MethodNotAllowed, NotFound
from ..store.meta import PROVIDER_ALIASES, Bck
from .http import Request, Response

if TYPE_CHECKING:
    from ..daemon import Daemon


def _blake3_file(path: str) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        return hash_file(fd, os.fstat(fd).st_size).hexdigest()
    finally:
        os.close(fd)


async def handle(req: Request, ctx: Daemon) -> Response:
    if req.method != "GET":
        raise MethodNotAllowed(f"method {req.method} not allowed on {req.path}", "GET")
    items = req.path_items("/v1/verify")
    if len(items) != 1:
        raise BadRequest("expecting /v1/verify/BUCKET[?prefix=PREFIX]")
    provider = req.arg("provider", "ais") or "ais"
    if provider not in PROVIDER_ALIASES:
        raise BadRequest(f'invalid bucket provider "{provider}"')
    bck = Bck(PROVIDER_ALIASES[provider], items[0])
    if not ctx.store.bucket_exists(bck):
        raise NotFound(f'bucket "{bck.cname}" does not exist')
    prefix = req.arg("prefix", "") or ""

    async def lines() -> AsyncIterator[bytes]:
        counts = {"checked": 0, "ok": 0, "mismatch": 0, "no_checksum": 0}
        for entry in ctx.store.iter_objects(bck, prefix):
            row: dict[str, Any] = {"name": entry.name, "size": entry.meta.size}
            path = str(ctx.store.object_path(bck, entry.name))
            counts["checked"] += 1
            if not entry.meta.blake3:
                row["status"] = "no-checksum"
                counts["no_checksum"] += 1
            else:
                try:
                    actual = await trio.to_thread.run_sync(_blake3_file, path)
                except FileNotFoundError:
                    row["status"] = "missing"
                    yield (json.dumps(row) + "\n").encode()
                    continue
                ok = actual == entry.meta.blake3
                row.update(status="ok" if ok else "mismatch", expected=entry.meta.blake3, actual=actual)
                counts["ok" if ok else "mismatch"] += 1
            yield (json.dumps(row) + "\n").encode()
        yield (json.dumps({"summary": counts}) + "\n").encode()

    return Response(200, [("Content-Type", "application/x-ndjson")], lines())
