"""Request and response values passed between the h11 connection loop and the route handlers.

Handlers never see h11 or sockets: they get a whole ``Request`` (body already read, bounded by the server) and
return a ``Response`` whose body is either bytes or an async iterator of bytes (sent chunked, so a status with a
million finished tasks or a 10 GiB object streams without being held in memory).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(slots=True)
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    remote_addr: str = ""
    path: str = field(init=False)
    query: dict[str, list[str]] = field(init=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)

    def header(self, name: str, default: str | None = None) -> str | None:
        """First value of a header, by case-insensitive name."""
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        vals = self.query.get(name)
        return vals[0] if vals else default

    def path_items(self, prefix: str) -> list[str]:
        """The URL-decoded path segments after ``prefix`` (e.g. ``/v1/objects``), empty ones dropped at the ends.

        An object name may contain ``/``; callers that need the rest of the path joined use ``"/".join(items[1:])``.
        """
        rest = self.path[len(prefix):].strip("/")
        return [unquote(s) for s in rest.split("/")] if rest else []

    def json(self) -> Any:
        """The body decoded as JSON; an empty body is ``None``.

        Raises:
            ValueError: malformed JSON, including nesting too deep to decode (which Python reports as a
                RecursionError: re-raised as ValueError so no caller turns it into a 500).
        """
        if not self.body.strip():
            return None
        try:
            return json.loads(self.body)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


Body = bytes | AsyncIterator[bytes]


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: Body = b""

    @classmethod
    def json(cls, obj: Any, status: int = 200) -> Response:
        data = json.dumps(obj, separators=(",", ":")).encode()
        return cls(status, [("Content-Type", "application/json")], data)

    @classmethod
    def empty(cls, status: int = 200) -> Response:
        return cls(status, [], b"")
