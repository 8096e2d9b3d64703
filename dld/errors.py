"""The one error tree of dld.

The core raises these; only ``dld.api`` turns them into HTTP statuses and the AIS ``ErrHTTP`` JSON
(``dld/api/errors.py``). Each class says how it differs from its siblings, so a caller can pick the one that
tells the client what to do next.
"""

from __future__ import annotations


class DldError(Exception):
    """Base of every error dld raises on purpose. ``status`` is the HTTP status the API answers with."""

    status = 500
    tcode = ""
    headers: list[tuple[str, str]] = []  # extra response headers (Allow, Content-Range)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(DldError):
    """The client's input is wrong and retrying the same request cannot succeed.

    The message is shown to the user verbatim; where AIS has an exact string for the condition, it is that string.
    """

    status = 400


class NotFound(DldError):
    """The thing named does not exist (a job ID, a bucket, an object)."""

    status = 404
    tcode = "ErrNotFound"


class Conflict(DldError):
    """The request is valid but the current state forbids it (remove a running job, destroy a busy bucket).

    AIS answers these with 400 (``job "<id>" is still running``), so the status stays 400 for compatibility.
    """

    status = 400


class AlreadyExists(DldError):
    """The thing to create exists (a bucket). AIS answers 409, and the AIS SDK's ``exist_ok`` keys on it."""

    status = 409
    tcode = "ErrBckAlreadyExists"


class RangeNotSatisfiable(DldError):
    """A ``Range`` that the object cannot serve (416); ``headers`` carries the ``Content-Range: bytes */size``."""

    status = 416

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.headers = [("Content-Range", f"bytes */{size}")]


class MethodNotAllowed(DldError):
    """The path exists but not with this method; the API adds the ``Allow`` header."""

    status = 405

    def __init__(self, message: str, allow: str) -> None:
        super().__init__(message)
        self.headers = [("Allow", allow)]


class TooBusy(DldError):
    """The daemon cannot take more work right now; the client should retry later (AIS: 429)."""

    status = 429


class OriginError(DldError):
    """A download from an origin failed.

    ``retryable`` says whether another attempt may succeed (timeouts, resets, 408/429/5xx); the cause, if any, is
    kept in ``__cause__``. ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    status = 502

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class StoreError(DldError):
    """The local store cannot do what was asked: a disk error, a name that cannot be a file, no space."""

    status = 500


class OutOfSpace(StoreError):
    """A mountpath has no room left (AIS: 507)."""

    status = 507


class JournalError(DldError):
    """The journal (SQLite) is unusable: corrupt, from a newer dld, or on a disk that refuses writes."""

    status = 500


class JournalFull(JournalError):
    """The journal's disk is full: nothing new can be recorded until space is freed (507, as ``OutOfSpace``)."""

    status = 507


class InternalError(DldError):
    """A bug in dld. The message asks the user to report it."""

    status = 500
