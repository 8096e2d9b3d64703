"""``--progress``: follow one download job until it ends, with rich bars on a terminal and plain lines elsewhere.

Theory of operation
-------------------
The model is AIS's ``downloaderPB`` (``cmd/cli/cli/downloader.go``, reference §4.5): poll the job's status with
``only_active_tasks=true`` every interval and mirror it on screen —

* a total bar ``Files downloaded:`` (`` (total estimated)`` when the job's ``total`` is unknown and the
  scheduled count stands in), counter ``%d/%d``, only when the job has more than one file;
* one bar per entry of ``current_tasks``: name, ``%.1f/%.1f`` IEC sizes, ETA ``HH:MM:SS``, speed; an unknown size
  shows as downloaded + 2048 so the bar keeps moving; a bar whose task left ``current_tasks`` is removed; a bar
  whose byte count went down (a retry restarted the file) is reset;
* at the end the bars disappear and one result line is printed (``Result.__str__``, AIS's exact strings).

Rich draws only when stdout is a terminal; otherwise (a pipe, a log file) each poll that changed something prints
plain lines, so CI logs show progress without escape codes. Differences from AIS, on purpose: the counters in the
result are refreshed on every poll (AIS keeps the first poll's counts for a one-file job, so a failed single
download reported success), and Ctrl-C ends the watch with the "interrupted" result instead of killing the CLI.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from .client import DaemonError
from .render import done_cnt, is_finished, total_cnt

if TYPE_CHECKING:
    from .client import Client

__all__ = ["TOTAL_BAR_TEXT", "Result", "watch"]

TOTAL_BAR_TEXT = "Files downloaded:"
UNKNOWN_TOTAL_INCREMENT = 2048  # AIS unknownTotalIncrement: fake headroom for a file of unknown size
BAR_WIDTH = 40  # characters of the bar itself; AIS's mpb uses 64 for bar + decorators
PROGRESS_REFRESH_S = 1.0  # default poll interval while bars are shown (AIS: 5 s, which looks frozen)


@dataclass
class Result:
    """How a watched job ended, rendered as AIS ``downloadingResult.String()``."""

    total_files: int = 0
    finished_files: int = 0
    err_files: int = 0
    finished: bool = False
    aborted: bool = False
    timed_out: bool = False
    errors: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        if self.aborted:
            return "Download was aborted."
        if self.finished:
            if self.err_files == 0:
                return "All files successfully downloaded."
            return (f"Download jobs finished with errors.\n"
                    f"Objects downloaded: {self.finished_files}, failed downloads: {self.err_files}.")
        if self.total_files > 0:
            s = f"Downloaded {self.finished_files} out of {self.total_files} files."
        else:
            s = f"Downloaded {self.finished_files} files."
        if self.errors:
            s += "\nFollowing files caused downloading errors:" + "".join(f"\n\t{n}: {e}" for n, e in self.errors)
        return s

    def absorb(self, st: dict[str, Any]) -> None:
        self.total_files = int(st.get("total", 0))
        self.finished_files = int(st.get("finished_cnt", 0))
        self.err_files = int(st.get("error_cnt", 0))
        self.aborted = bool(st.get("aborted", False))
        self.finished = is_finished(st)


# ---- displays --------------------------------------------------------------------------------------------------

def iec1(n: float) -> str:
    """mpb ``decor.Counters(UnitKiB, "%.1f")``: one decimal and the largest fitting IEC unit (``192.7MiB``)."""
    for mult, unit in ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if n >= mult:
            return f"{n / mult:.1f}{unit}"
    return f"{n:.1f}B"


def _hhmmss(seconds: float | None) -> str:
    if seconds is None:
        return "--:--:--"
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _task_lines(st: dict[str, Any]) -> list[str]:
    lines = []
    tc = total_cnt(st)
    if tc > 1:
        label = TOTAL_BAR_TEXT + ("" if int(st.get("total", 0)) > 0 else " (total estimated)")
        lines.append(f"{label} {done_cnt(st)}/{tc}")
    for t in st.get("current_tasks") or []:
        got, size = int(t.get("downloaded", 0)), int(t.get("total", 0))
        lines.append(f"{t.get('name', '')} {iec1(got)}/{iec1(size) if size else '?'}")
    return lines


class _PlainLines:
    """Not a terminal: print the state after each poll that changed it."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.last: list[str] = []

    def update(self, st: dict[str, Any]) -> None:
        lines = _task_lines(st)
        if lines and lines != self.last:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()
        self.last = lines

    def close(self) -> None:
        pass


class _RichBars:
    """A terminal: rich bars, one Progress for the total and every current file, erased when closed."""

    def __init__(self, out: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, ProgressColumn, Task
        from rich.text import Text

        class Name(ProgressColumn):
            def render(self, task: Task) -> Text:
                return Text(task.description)

        class Counter(ProgressColumn):
            def render(self, task: Task) -> Text:
                if task.fields.get("kind") == "total":
                    return Text(f"{int(task.completed)}/{int(task.total or 0)}")
                return Text(f"{iec1(task.completed)}/{iec1(task.total or 0)}")

        class Tail(ProgressColumn):
            def render(self, task: Task) -> Text:
                if task.fields.get("kind") == "total":
                    return Text(f"{task.percentage:3.0f} % {_hhmmss(task.elapsed)}")
                speed = task.speed
                rate = f"{iec1(speed)}/s" if speed else "-"
                return Text(f"{_hhmmss(task.time_remaining)} ] {rate:>10}")

        self.console = Console(file=out)
        self.progress = Progress(Name(), Counter(), BarColumn(bar_width=BAR_WIDTH), Tail(), console=self.console,
                                 transient=True, refresh_per_second=4, redirect_stdout=False,
                                 redirect_stderr=False)
        self.total_id: Any = None
        self.tasks: dict[str, Any] = {}
        self.seen: dict[str, int] = {}
        self.progress.start()

    def update(self, st: dict[str, Any]) -> None:
        p = self.progress
        tc = total_cnt(st)
        if tc > 1:
            label = TOTAL_BAR_TEXT + ("" if int(st.get("total", 0)) > 0 else " (total estimated)")
            if self.total_id is None:
                self.total_id = p.add_task(label, total=tc, completed=done_cnt(st), kind="total")
            else:
                p.update(self.total_id, description=label, total=tc, completed=done_cnt(st))
        current = {t["name"]: t for t in st.get("current_tasks") or [] if "name" in t}
        for name in [n for n in self.tasks if n not in current]:
            p.remove_task(self.tasks.pop(name))
            self.seen.pop(name, None)
        for name, t in current.items():
            got, size = int(t.get("downloaded", 0)), int(t.get("total", 0))
            total = size or got + UNKNOWN_TOTAL_INCREMENT
            if name not in self.tasks:
                self.tasks[name] = p.add_task(name, total=total, completed=got, kind="file")
            elif got < self.seen[name]:
                p.reset(self.tasks[name], total=total, completed=got)
            else:
                p.update(self.tasks[name], total=total, completed=got)
            self.seen[name] = got

    def close(self) -> None:
        self.progress.stop()


# ---- the watch loop --------------------------------------------------------------------------------------------

def watch(cl: Client, job_id: str, interval: float = PROGRESS_REFRESH_S, timeout: float | None = None,
          out: IO[str] | None = None) -> Result:
    """Show a job's progress until it finishes, is aborted, ``timeout`` seconds pass, or the user hits Ctrl-C.

    Args:
        cl: the daemon client.
        job_id: the job to follow.
        interval: seconds between status polls.
        timeout: give up after this many seconds (``Result.timed_out``); None waits forever.
        out: where bars or lines go (stdout by default); rich bars only if it is a terminal.

    Returns:
        The final counts; when the watch ended early, with the job's download errors so far.

    Raises:
        DaemonError, DaemonUnreachable: from the status calls (the display is closed first).
    """
    out = out or sys.stdout
    result = Result()
    st = cl.status(job_id, only_active=True)
    result.absorb(st)
    if result.finished or result.aborted:
        return result
    deadline = time.monotonic() + timeout if timeout else None
    display: _RichBars | _PlainLines = _RichBars(out) if out.isatty() else _PlainLines(out)
    interrupted = False
    try:
        display.update(st)
        while True:
            pause = interval if deadline is None else min(interval, deadline - time.monotonic())
            if pause <= 0:
                result.timed_out = True
                break
            time.sleep(pause)
            st = cl.status(job_id, only_active=True)
            result.absorb(st)
            if result.aborted or result.finished:
                break
            display.update(st)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        display.close()
    if interrupted or result.timed_out:
        try:
            full = cl.status(job_id)
            result.errors = [(e.get("name", ""), e.get("error", "")) for e in full.get("download_errors") or []]
            result.absorb(full)
            if interrupted:
                result.finished = result.aborted = False  # report what was seen, as AIS does on Ctrl-C
            elif result.finished or result.aborted:
                result.timed_out = False  # it ended just as time ran out
        except DaemonError:
            pass
    return result
