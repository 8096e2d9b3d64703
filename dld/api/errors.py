"""Turning dld's errors into HTTP: the AIS ``ErrHTTP`` JSON body, the status, and extra headers.

The one place where an exception becomes a status code (style rule: raise typed errors, translate once).
"""

from __future__ import annotations

import json

from ..errors import DldError, InternalError
from .http import Request, Response

NODE = "dld"


def error_response(err: BaseException, req: Request) -> Response:
    """The response for ``err`` raised while handling ``req``. Unknown exceptions become a 500 "bug" error."""
    if not isinstance(err, DldError):
        err = InternalError(f"internal error: {type(err).__name__}: {err} (a bug in dld, please report it)")
    body = {"message": err.message, "method": req.method, "url_path": req.path, "remote_addr": req.remote_addr,
            "caller": "", "node": NODE, "status": err.status}
    if err.tcode:
        body = {"tcode": err.tcode, **body}
    data = json.dumps(body, separators=(",", ":"))
    headers = list(err.headers)
    if req.method == "HEAD":
        # No body on HEAD: AIS puts the error into a header instead, which its CLI reads.
        headers.append(("Ais-Error", data))
        return Response(err.status, headers, b"")
    headers.append(("Content-Type", "application/json"))
    return Response(err.status, headers, data.encode())
