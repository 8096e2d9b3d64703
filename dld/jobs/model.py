"""A job's runtime state: its counters, its lifecycle, and the tasks it has in flight.

Rule 1: every change of a job's lifecycle state goes through ``Job.transition`` and the table below; an event the
table does not allow in the current state is a bug and raises ``InternalError`` naming both.

Lifecycle (AIS §2.8; ``aborted`` is a flag orthogonal to the state, as in AIS)::

    DISPATCHING --all_dispatched--> DRAINING --drained--> FINISHED
    DISPATCHING --abort-----------> DRAINING
    DRAINING    --abort-----------> DRAINING
    FINISHED    --abort-----------> FINISHED     (no-op: AIS would flip it to "Aborted", §2.15.8)

Counters follow AIS: ``finished_cnt`` counts successes + skips, ``scheduled_cnt`` every item the dispatcher
emitted, ``error_cnt`` failures. ``cursor`` is the index below which every item has an outcome (the low-water
mark a restarted daemon resumes from); outcomes arrive out of order, so the indices completed above it are kept
in a set that never holds more than the job's in-flight window.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any

import trio

from ..errors import InternalError
from ..transfer.fetch import Progress
from ..transfer.limits import TokenBucket
from ..wire import JobSpec, JobView, task_info


class AheadBitmap:
    """Indices completed above the cursor, one bit each (a set of ints costs ~60 bytes per entry: one slow object
    holding the cursor while a million small ones finish would cost 60 MB; here it costs 125 KB)."""

    __slots__ = ("base", "bits")

    def __init__(self) -> None:
        self.base = 0  # index of bit 0
        self.bits = bytearray()

    def add(self, idx: int) -> None:
        off = idx - self.base
        if off < 0:
            return
        need = off // 8 + 1
        if need > len(self.bits):
            self.bits.extend(bytes(need - len(self.bits)))
        self.bits[off // 8] |= 1 << (off % 8)

    def _has(self, idx: int) -> bool:
        off = idx - self.base
        return 0 <= off < len(self.bits) * 8 and bool(self.bits[off // 8] & (1 << (off % 8)))

    def advance(self, cursor: int) -> int:
        """The first index at or after ``cursor`` not completed; drops the bits below it."""
        while self._has(cursor):
            cursor += 1
        drop = (cursor - self.base) // 8
        if drop > 4096 or drop * 8 >= len(self.bits) * 8:  # compact now and then, or when emptied
            del self.bits[:drop]
            self.base += drop * 8
        return cursor


class State(enum.Enum):
    DISPATCHING = "dispatching"
    DRAINING = "draining"
    FINISHED = "finished"


class Event(enum.Enum):
    ALL_DISPATCHED = "all_dispatched"
    DRAINED = "drained"
    ABORT = "abort"


TRANSITIONS: dict[State, dict[Event, State]] = {
    State.DISPATCHING: {Event.ALL_DISPATCHED: State.DRAINING, Event.ABORT: State.DRAINING},
    State.DRAINING: {Event.DRAINED: State.FINISHED, Event.ABORT: State.DRAINING},
    State.FINISHED: {Event.ABORT: State.FINISHED},
}


@dataclass(slots=True, eq=False)
class Task:
    """One object of a job on its way through a jogger."""

    job: Job
    idx: int
    name: str
    link: str
    start_ns: int = 0
    progress: Progress = field(default_factory=Progress)
    scope: trio.CancelScope | None = None
    fd: int = -1  # the open temp file while transferring (the checkpointer fdatasyncs a dup of it)
    durable: int = 0  # bytes of the temp file known to be on disk


@dataclass(slots=True, eq=False, kw_only=True)
class Job:
    id: str
    spec: JobSpec
    xaction_id: str
    seq: int
    started_ns: int
    total: int
    finished_ns: int = 0
    aborted: bool = False
    all_dispatched: bool = False
    cursor: int = 0
    frontier: int = 0  # journaled reservation: no item at or above it has been dispatched
    finished_cnt: int = 0
    scheduled_cnt: int = 0
    skipped_cnt: int = 0
    error_cnt: int = 0
    state: State = State.DISPATCHING
    # runtime only
    running: dict[int, Task] = field(default_factory=dict)
    inflight: int = 0  # tasks queued in joggers or running
    done_ahead: AheadBitmap = field(default_factory=lambda: AheadBitmap())
    drained: trio.Event = field(default_factory=trio.Event)
    dispatch_scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    conn_sem: trio.Semaphore | None = None
    bucket: TokenBucket | None = None

    def __post_init__(self) -> None:
        if self.spec.connections > 0:
            self.conn_sem = trio.Semaphore(self.spec.connections)
        if self.spec.bytes_per_hour > 0:
            self.bucket = TokenBucket(self.spec.bytes_per_hour, trio.current_time())
        if self.finished_ns:
            self.state = State.FINISHED

    def transition(self, event: Event) -> None:
        try:
            self.state = TRANSITIONS[self.state][event]
        except KeyError:
            raise InternalError(f"job {self.id}: event {event.value} is not allowed in state {self.state.value} "
                                "(a bug in dld, please report it)") from None

    # ---- counters ----------------------------------------------------------------------------------------------

    def complete_index(self, idx: int) -> None:
        """Advance the cursor past ``idx`` once every index below it is complete."""
        if idx == self.cursor:
            self.cursor = self.done_ahead.advance(self.cursor + 1)
        elif idx > self.cursor:
            self.done_ahead.add(idx)

    def counters(self) -> dict[str, Any]:
        return {"finished_ns": self.finished_ns, "aborted": int(self.aborted), "total": self.total,
                "all_dispatched": int(self.all_dispatched), "cursor": self.cursor,
                "finished_cnt": self.finished_cnt, "scheduled_cnt": self.scheduled_cnt,
                "skipped_cnt": self.skipped_cnt, "error_cnt": self.error_cnt}

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "seq": self.seq, "spec": self.spec.to_json(), "description": self.spec.description,
                "xaction_id": self.xaction_id, "started_ns": self.started_ns, "frontier": self.frontier,
                **self.counters()}

    def mark_finished(self) -> None:
        self.transition(Event.DRAINED)
        self.finished_ns = time.time_ns()

    # ---- views -------------------------------------------------------------------------------------------------

    def view(self) -> JobView:
        return JobView(id=self.id, xaction_id=self.xaction_id, description=self.spec.description,
                       started_ns=self.started_ns, finished_ns=self.finished_ns, finished_cnt=self.finished_cnt,
                       scheduled_cnt=self.scheduled_cnt, skipped_cnt=self.skipped_cnt, error_cnt=self.error_cnt,
                       total=self.total, all_dispatched=self.all_dispatched, aborted=self.aborted)

    def current_tasks(self) -> list[dict[str, Any]]:
        return [task_info(t.name, t.progress.downloaded, t.progress.total, t.start_ns, 0)
                for t in sorted(self.running.values(), key=lambda t: t.name)]
