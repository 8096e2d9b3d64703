"""The HTTP/1.1 connection loop: h11 on trio, one task per connection, keep-alive.

It reads one whole request (body bounded by ``max_body_bytes``, headers by h11's limit), hands it to the router,
and writes the response: a bytes body with ``Content-Length``, or an async-iterator body streamed chunked (or with
the handler's own ``Content-Length``). Any exception from a handler becomes an error response here; an exception
while sending kills only that connection (``send_failed``). Idle keep-alive connections are closed after
``IDLE_TIMEOUT_S``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import h11
import trio

from ..errors import BadRequest, DldError
from .errors import error_response
from .http import Request, Response

log = logging.getLogger("dld.api")

IDLE_TIMEOUT_S = 120.0  # a keep-alive connection with no request for this long is closed
REQUEST_TIMEOUT_S = 60.0  # reading one request's headers and body must finish within this
MAX_HEADER_BYTES = 64 * 1024  # nginx's large_client_header_buffers default is 4 × 8 KiB; leave room
READ_SIZE = 64 * 1024

Handler = Callable[[Request], Awaitable[Response]]
_REASONS = {200: b"OK", 206: b"Partial Content", 304: b"Not Modified", 400: b"Bad Request", 404: b"Not Found",
            405: b"Method Not Allowed", 409: b"Conflict", 413: b"Payload Too Large", 416: b"Range Not Satisfiable",
            429: b"Too Many Requests", 500: b"Internal Server Error", 503: b"Service Unavailable",
            507: b"Insufficient Storage"}


class _TooLarge(DldError):
    status = 413


async def serve_connection(stream: trio.SocketStream, route: Handler, max_body: int) -> None:
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
    try:
        peer = stream.socket.getpeername()
        remote = f"{peer[0]}:{peer[1]}"
    except OSError:
        remote = ""

    async def next_event() -> Any:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(READ_SIZE)
                conn.receive_data(data)
                continue
            return event

    async def send(event: Any) -> None:
        data = conn.send(event)
        if data:
            await stream.send_all(data)

    try:
        while True:
            with trio.move_on_after(IDLE_TIMEOUT_S) as idle:
                event = await next_event()
            if idle.cancelled_caught or not isinstance(event, h11.Request):
                return
            req = Request(event.method.decode(), event.target.decode("latin-1"),
                          [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in event.headers],
                          remote_addr=remote)
            body = bytearray()
            err: BaseException | None = None
            with trio.move_on_after(REQUEST_TIMEOUT_S) as timed:
                while True:
                    ev = await next_event()
                    if isinstance(ev, h11.Data):
                        body += ev.data
                        if len(body) > max_body:
                            err = _TooLarge(f"request body larger than {max_body} bytes (max_body_bytes)")
                            break
                    elif isinstance(ev, h11.EndOfMessage):
                        break
                    elif isinstance(ev, h11.ConnectionClosed):
                        return
            if timed.cancelled_caught:
                return
            req.body = bytes(body)
            if err is None:
                try:
                    resp = await route(req)
                except DldError as e:
                    resp = error_response(e, req)
                except Exception as e:  # a bug: answer 500, keep serving
                    log.exception("handler failed: %s %s", req.method, req.path)
                    resp = error_response(e, req)
            else:
                resp = error_response(err, req)
            await _send_response(conn, send, req, resp)
            if conn.our_state is h11.MUST_CLOSE or err is not None:
                return
            try:
                conn.start_next_cycle()
            except h11.LocalProtocolError:
                return
    except h11.RemoteProtocolError as e:
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            req = Request("GET", "/", [], remote_addr=remote)
            resp = error_response(BadRequest(f"malformed HTTP request: {e}"), req)
            try:
                await _send_response(conn, send, req, resp)
            except Exception:
                pass
    except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
        return
    except Exception:  # e.g. a streaming body that failed half-way: only this connection dies
        log.exception("connection from %s failed", remote)
        conn.send_failed()
    except BaseException:
        conn.send_failed()
        raise
    finally:
        with trio.CancelScope(shield=True):
            await stream.aclose()


async def _send_response(conn: h11.Connection, send: Callable[[Any], Awaitable[None]], req: Request,
                         resp: Response) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]
    names = {k.lower() for k, _ in resp.headers}
    streaming = not isinstance(resp.body, bytes | bytearray)
    if not streaming and "content-length" not in names:
        headers.append((b"Content-Length", str(len(resp.body)).encode()))
    elif streaming and "content-length" not in names and req.method != "HEAD":
        headers.append((b"Transfer-Encoding", b"chunked"))
    headers.append((b"Server", b"dld"))
    await send(h11.Response(status_code=resp.status, headers=headers, reason=_REASONS.get(resp.status, b"")))
    if req.method == "HEAD":
        if streaming:
            await resp.body.aclose()  # type: ignore[union-attr]
    elif streaming:
        it = resp.body
        try:
            async for chunk in it:  # type: ignore[union-attr]
                if chunk:
                    await send(h11.Data(data=chunk))
        finally:
            await it.aclose()  # type: ignore[union-attr]
    elif resp.body:
        await send(h11.Data(data=bytes(resp.body)))
    await send(h11.EndOfMessage())
