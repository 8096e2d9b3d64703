"""What every client command shares: the daemon client, AIS-style output helpers, prompts and polling.

Theory of operation
-------------------
The root group stores a ``CliState`` in ``click.Context.obj`` (endpoint from ``--endpoint`` / ``DLD_ENDPOINT``);
commands get the client through ``client()``. Output follows the AIS CLI's split: results on stdout
(``actionDone``), ``Warning: ...`` on stderr (``actionWarn``), errors as ``Error: ...`` on stderr with exit code 1
(raised as ``click.ClickException`` and printed by click).

Polling (``poll_intervals``): AIS sleeps a full refresh interval (default 5 s) before its first status call, which
makes ``--wait`` on a 50 ms job take 5 s. dld asks at once and then backs off (50 ms, doubling) up to the
interval, so short jobs return quickly and long ones cost the daemon no more than AIS's fixed-rate polling.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from dld.errors import BadRequest

from .client import DEFAULT_ENDPOINT, Client
from .render import parse_duration_flag

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["CliState", "DurationType", "client", "confirm", "done", "poll_intervals", "refresh_seconds", "warn"]

REFRESH_MIN_S = 1.0  # AIS refreshRateMinDur: a user-given poll interval below this is raised to it
REFRESH_DEFAULT_S = 5.0  # AIS refreshRateDefault: the poll cap for --wait / wait
FIRST_POLL_S = 0.05  # first back-off step: a local daemon answers a status call in about a millisecond


@dataclass
class CliState:
    """Per-invocation state kept in ``click.Context.obj``."""

    endpoint: str = DEFAULT_ENDPOINT
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        if self._client is None:
            try:
                self._client = Client(self.endpoint)
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="'--endpoint'") from None
        return self._client


def client(ctx: click.Context | None = None) -> Client:
    """The daemon client of the running command."""
    ctx = ctx or click.get_current_context()
    state = ctx.find_object(CliState)
    if state is None:  # a command invoked without the root group (tests of a single command)
        state = ctx.ensure_object(CliState)
    return state.client()


def done(msg: str) -> None:
    """A result line on stdout (AIS ``actionDone``)."""
    click.echo(msg)


def warn(msg: str) -> None:
    """``Warning: <msg>`` on stderr (AIS ``actionWarn``), the prefix in cyan on a terminal."""
    click.echo(click.style("Warning: ", fg="cyan") + msg.rstrip("\n"), err=True)


def confirm(prompt: str) -> bool:
    """AIS ``confirm``: ask ``<prompt> [Y/N]: `` until the answer is y/yes/n/no; end of input means no."""
    while True:
        click.echo(prompt + " [Y/N]: ", nl=False)
        line = sys.stdin.readline()
        if not line:
            click.echo()
            return False
        answer = line.strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        click.echo("Invalid input! Choose 'Y' for 'Yes' or 'N' for 'No'")


class DurationType(click.ParamType):
    """A duration flag: Go syntax (``1m30s``, ``500ms``) or a bare number of seconds; the value is nanoseconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration_flag(str(value))
        except BadRequest as e:
            self.fail(e.message, param, ctx)


def refresh_seconds(ns: int | None, default: float) -> float:
    """A poll interval from a ``--refresh``-like flag: the default when unset, never below ``REFRESH_MIN_S``."""
    if not ns:
        return default
    return max(ns / 1e9, REFRESH_MIN_S)


def poll_intervals(cap: float, deadline: float | None = None) -> Iterator[float]:
    """Sleep between polls: yields after each sleep, backing off from ``FIRST_POLL_S`` to ``cap`` seconds.

    Yields once immediately (no sleep) so the caller polls first. Stops when ``deadline`` (a
    ``time.monotonic()`` value) has passed; the last sleep is cut short to end at the deadline.
    """
    step = FIRST_POLL_S
    yield 0.0
    while True:
        pause = min(step, cap)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            pause = min(pause, left)
        time.sleep(pause)
        yield pause
        step *= 2
