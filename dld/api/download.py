"""``/v1/download``: start, status, list, abort, remove (AIS §1), plus the per-job manifest.

| method | path | body | answer |
|---|---|---|---|
| POST | /v1/download | start envelope | ``{"id": "dnl-…"}`` |
| GET | /v1/download | ``{"id"}`` (or ``?id=``) | status (streamed: finished tasks come from the journal) |
| GET | /v1/download | ``{"regex"}``, ``{}``, none | JSON array of jobs |
| GET | /v1/download/manifest | ``?id=`` or ``{"id"}`` | JSONL, one line per object outcome |
| DELETE | /v1/download/abort, /remove | ``{"id"}`` | empty 200 |
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import trio

from .. import wire
from ..errors import BadRequest, MethodNotAllowed
from ..jobs.journal import DONE, FAILED, SKIPPED
from .http import Request, Response

if TYPE_CHECKING:
    from ..daemon import Daemon

ALLOW = "DELETE, GET, POST"
_OUTCOME_NAMES = {DONE: "done", SKIPPED: "skipped", FAILED: "error"}


async def handle(req: Request, ctx: Daemon) -> Response:
    items = req.path_items("/v1/download")
    if req.method == "POST":
        if items:
            raise BadRequest(f"invalid URL path {req.path!r}: URL must have 0 extra items after /v1/download")
        job = ctx.registry.create(wire.parse_start(req.body))
        return Response.json({"id": job.id})
    if req.method == "GET":
        admin = wire.parse_admin(req.body, req.query)
        if items == ["manifest"]:
            return _manifest(ctx, admin)
        if items:
            raise BadRequest(f"invalid URL path {req.path!r}")
        if admin.id:
            return _status(ctx, admin)
        jobs = ctx.registry.list(admin.regex, admin.only_active_tasks)
        return Response.json([j.view().header() for j in jobs])
    if req.method == "DELETE":
        if len(items) != 1 or items[0] not in ("abort", "remove"):
            raise BadRequest(f"invalid action {'/'.join(items)!r}: expecting /v1/download/abort or /v1/download/remove")
        admin = wire.parse_admin(req.body, req.query)
        if not admin.id:
            raise BadRequest("UUID not specified")
        if items[0] == "abort":
            ctx.registry.abort(admin.id)
        else:
            ctx.registry.remove(admin.id)
        return Response.empty(200)
    raise MethodNotAllowed(f"method {req.method} not allowed on {req.path}", ALLOW)


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Stream a synchronous generator of pieces, yielding to other tasks between pieces."""
    for chunk in chunks:
        yield chunk
        await trio.lowlevel.checkpoint()


def _status(ctx: Daemon, admin: wire.AdminRequest) -> Response:
    job = ctx.registry.get(admin.id)
    finished = errors = None
    if not admin.only_active_tasks:
        journal = ctx.journal
        finished = (wire.task_info(name, size, total, start, end)
                    for _idx, name, size, total, start, end in journal.finished_tasks(job.id))
        errors = ({"name": name, "error": error} for name, error in journal.errors(job.id))
    body = wire.render_status(job.view(), job.current_tasks(), finished, errors)
    return Response(200, [("Content-Type", "application/json")], _aiter(body))


def _manifest(ctx: Daemon, admin: wire.AdminRequest) -> Response:
    if not admin.id:
        raise BadRequest("UUID not specified")
    job = ctx.registry.get(admin.id)

    def lines() -> Iterator[bytes]:
        buf: list[str] = []
        for (idx, name, link, outcome, size, total, b3, etag, lm, error, start, end) in ctx.journal.manifest(job.id):
            row: dict[str, Any] = {"index": idx, "name": name, "link": link, "outcome": _OUTCOME_NAMES[outcome],
                                   "size": size}
            if total:
                row["total"] = total
            if b3:
                row["blake3"] = b3
            if etag:
                row["etag"] = etag
            if lm:
                row["last_modified"] = lm
            if error:
                row["error"] = error
            row["start_time"] = wire.go_time(start)
            row["end_time"] = wire.go_time(end)
            buf.append(json.dumps(row, separators=(",", ":")) + "\n")
            if len(buf) >= 500:
                yield "".join(buf).encode()
                buf.clear()
        if buf:
            yield "".join(buf).encode()

    return Response(200, [("Content-Type", "application/x-ndjson")], _aiter(lines()))
