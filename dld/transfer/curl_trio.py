"""One ``pycurl.CurlMulti`` driven from the trio loop with the socket-action API.

Theory of operation (engine-notes §2 "trio2", P2–P6):

* libcurl tells us which sockets to watch through ``M_SOCKETFUNCTION`` and when to call it back through
  ``M_TIMERFUNCTION``. Both callbacks run *inside* ``socket_action``/``add_handle`` and are synchronous (P2): they
  only flip flags, set events and move a deadline, never call libcurl.
* Each socket gets at most one reader task and one writer task while libcurl watches it (trio allows one waiter
  per direction, P4). When libcurl changes direction, the idle direction waits on an event instead of being
  cancelled and respawned.
* ``POLL_REMOVE`` ends the socket's watchers with ``notify_closing(fd)``: libcurl sends it before it closes a
  socket and when it parks a connection in its pool, so a reused fd number never meets a stale waiter (P5). A
  pooled connection that is taken again is simply registered anew. We deliberately do not use
  ``CLOSESOCKETFUNCTION``: pycurl can run it only while the easy handle that opened the connection is attached to
  the multi, and pooled connections outlive that (the callback then fails, and the process may crash).
* One timer task sleeps in a cancel scope whose deadline the timer callback moves in place; when it fires it resets
  the deadline to infinity *before* calling ``socket_action(SOCKET_TIMEOUT)``, which may re-arm it (P3).
* ``perform(easy)`` adds the handle and waits for ``info_read`` to report it done. A cancelled ``perform`` does not
  remove the handle from outside libcurl (pycurl cannot run the close-socket callback there, P5): it raises the
  handle's abort flag, which its progress callback turns into ``CURLE_ABORTED_BY_CALLBACK`` inside the next
  ``socket_action`` (at most about a second later, curl calls progress at least once a second), and waits for that.
* ``perform(easy, stall_s=N)`` ends a transfer whose body has stopped for N seconds, through the same progress
  callback: libcurl's own ``LOW_SPEED_*`` check averages over a 5-second window, so it fired ~5 s late (7–8 s for
  a 2 s limit). Time spent paused by the throttle does not count.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import pycurl
import trio

_IN = 1
_OUT = 2


@dataclass(slots=True, eq=False)
class _Watch:
    fd: int
    want: int = 0
    closed: bool = False
    readers: int = 0  # 0/1: is a reader task alive
    writers: int = 0
    idle: dict[int, trio.Event] = field(default_factory=dict)

    def wake(self, direction: int) -> None:
        ev = self.idle.pop(direction, None)
        if ev is not None:
            ev.set()


@dataclass(slots=True, eq=False)
class _Pending:
    done: trio.Event = field(default_factory=trio.Event)
    code: int = 0
    message: str = ""
    abort: bool = False
    paused: bool = False  # set by a throttling write callback that returned WRITEFUNC_PAUSE
    stall_s: float = 0.0  # end the transfer when its body stops this long (0: never)
    stalled: bool = False
    seen: int = 0  # body bytes at the last change, and when (time.monotonic) it changed
    since: float = 0.0


class CurlTrio:
    """The transfer engine's driver. Create it, ``await run()`` it in a nursery, then ``await perform(easy)``."""

    def __init__(self, *, max_host_connections: int = 0, max_total_connections: int = 0) -> None:
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._on_socket)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._on_timer)
        if max_host_connections:
            self.multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, max_host_connections)
        if max_total_connections:
            self.multi.setopt(pycurl.M_MAX_TOTAL_CONNECTIONS, max_total_connections)
        self._watches: dict[int, _Watch] = {}
        self._pending: dict[int, _Pending] = {}  # id(easy) -> waiter
        self._handles: dict[int, pycurl.Curl] = {}
        self._deadline = math.inf
        self._timer_cs: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None
        self._closed = False

    # ---- lifetime ----------------------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve transfers until cancelled. Cancelling it aborts every transfer still running."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await self._timer_loop()
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for easy in list(self._handles.values()):
            try:
                self.multi.remove_handle(easy)
            except pycurl.error:
                pass
        for w in list(self._watches.values()):
            self._forget(w)
        self.multi.close()  # before the easy handles: pooled connections reference their callbacks (P5)
        for p in self._pending.values():
            p.code, p.message = pycurl.E_ABORTED_BY_CALLBACK, "engine shut down"
            p.done.set()

    def prepare(self, easy: pycurl.Curl) -> None:
        """Install the engine's per-handle callbacks. Call once per easy handle, after ``reset()`` too."""
        easy.setopt(pycurl.NOPROGRESS, False)
        pending_key = id(easy)

        def progress(_dt: int, dn: int, _ut: int, _un: int) -> int:
            p = self._pending.get(pending_key)
            if p is None:
                return 0
            if p.abort:
                return 1
            if p.stall_s:
                if dn != p.seen or p.paused:
                    p.seen, p.since = dn, time.monotonic()
                elif dn and time.monotonic() - p.since >= p.stall_s:
                    # Only once the body started: before it, connect_timeout and libcurl's LOW_SPEED_* check apply.
                    p.stalled = True
                    return 1
            return 0

        easy.setopt(pycurl.XFERINFOFUNCTION, progress)

    async def perform(self, easy: pycurl.Curl, *, stall_s: float = 0.0) -> tuple[int, str]:
        """Run one transfer to its end. Returns ``(curl error code, message)``; ``(0, "")`` is success.

        ``stall_s``: once the body has started, a transfer that receives nothing for this long ends with
        ``CURLE_OPERATION_TIMEDOUT`` ("no data for N s").

        If the calling task is cancelled, the transfer is aborted and ``Cancelled`` propagates once libcurl has let
        go of the handle (so the caller may reuse or close it).
        """
        if self._closed or self._nursery is None:
            raise RuntimeError("engine is not running")
        key = id(easy)
        p = _Pending(stall_s=stall_s, since=time.monotonic())
        self._pending[key] = p
        self._handles[key] = easy
        try:
            self.multi.add_handle(easy)
        except BaseException:
            self._pending.pop(key, None)
            self._handles.pop(key, None)
            raise
        try:
            await p.done.wait()
        except BaseException:
            p.abort = True
            with trio.CancelScope(shield=True):
                self._nudge(easy, p)
                await p.done.wait()
            raise
        finally:
            self._pending.pop(key, None)
            self._handles.pop(key, None)
        if p.stalled and p.code == pycurl.E_ABORTED_BY_CALLBACK:
            return pycurl.E_OPERATION_TIMEDOUT, f"no data for {stall_s:g} s"
        return p.code, p.message

    def is_aborting(self, easy: pycurl.Curl) -> bool:
        """Whether the handle's transfer is being aborted (its write callback should end it)."""
        p = self._pending.get(id(easy))
        return p is not None and p.abort

    def mark_paused(self, easy: pycurl.Curl) -> None:
        """Record that the handle's write callback is returning ``WRITEFUNC_PAUSE`` (so an abort unpauses it)."""
        p = self._pending.get(id(easy))
        if p is not None:
            p.paused = True

    def unpause(self, easy: pycurl.Curl) -> None:
        """Resume a handle whose write callback returned ``WRITEFUNC_PAUSE`` (throttling).

        Only for handles known to be paused: pycurl 7.49 aborts the process when ``pause`` is called on a running
        handle from outside a callback.
        """
        p = self._pending.get(id(easy))
        if p is not None and p.paused:
            p.paused = False
            p.since = time.monotonic()  # the pause was ours, not the origin's
            try:
                easy.pause(pycurl.PAUSE_CONT)
            except pycurl.error:
                pass  # the redelivered chunk was refused (abort): the transfer ends on the next action
            self._set_deadline(trio.current_time())

    def _nudge(self, easy: pycurl.Curl, p: _Pending) -> None:
        """Make libcurl run an aborted handle now, so its progress callback can end it.

        A stalled transfer has no timer of its own; acting on its socket runs its state machine, which calls the
        progress callback. A handle without a socket yet (resolving, connecting) is reached by its own timers.
        """
        if p.paused:
            p.paused = False
            try:
                # libcurl redelivers the parked chunk inside this call; the write callback refuses it (abort),
                # which pause() reports as an error. The transfer then ends through the normal path.
                easy.pause(pycurl.PAUSE_CONT)
            except pycurl.error:
                pass
        try:
            fd = easy.getinfo(pycurl.ACTIVESOCKET)
        except pycurl.error:
            fd = -1
        if fd is not None and fd >= 0 and not p.done.is_set():
            self._action(fd, pycurl.CSELECT_IN | pycurl.CSELECT_OUT)
        self._set_deadline(trio.current_time())

    # ---- libcurl callbacks (synchronous, re-entrant: P2) -------------------------------------------------------

    def _on_timer(self, timeout_ms: int) -> None:
        self._set_deadline(math.inf if timeout_ms < 0 else trio.current_time() + timeout_ms / 1000)

    def _set_deadline(self, deadline: float) -> None:
        self._deadline = deadline
        if self._timer_cs is not None:
            self._timer_cs.deadline = deadline

    def _on_socket(self, what: int, fd: int, _multi: object, _socketp: object) -> None:
        w = self._watches.get(fd)
        if what == pycurl.POLL_REMOVE:
            if w is not None:
                self._forget(w)
            return
        want = {pycurl.POLL_IN: _IN, pycurl.POLL_OUT: _OUT, pycurl.POLL_INOUT: _IN | _OUT}.get(what, 0)
        if w is None:
            w = self._watches[fd] = _Watch(fd)
        w.want = want
        assert self._nursery is not None
        for direction in (_IN, _OUT):
            if want & direction:
                if direction == _IN and not w.readers:
                    w.readers = 1
                    self._nursery.start_soon(self._watch, w, _IN)
                elif direction == _OUT and not w.writers:
                    w.writers = 1
                    self._nursery.start_soon(self._watch, w, _OUT)
                else:
                    w.wake(direction)

    def _forget(self, w: _Watch) -> None:
        w.closed = True
        w.want = 0
        if self._watches.get(w.fd) is w:
            del self._watches[w.fd]
        try:
            trio.lowlevel.notify_closing(w.fd)
        except (OSError, ValueError):
            pass
        for ev in w.idle.values():
            ev.set()
        w.idle.clear()

    # ---- tasks -------------------------------------------------------------------------------------------------

    async def _watch(self, w: _Watch, direction: int) -> None:
        wait = trio.lowlevel.wait_readable if direction == _IN else trio.lowlevel.wait_writable
        select = pycurl.CSELECT_IN if direction == _IN else pycurl.CSELECT_OUT
        try:
            while not w.closed:
                if not (w.want & direction):
                    ev = w.idle[direction] = trio.Event()
                    await ev.wait()
                    continue
                await wait(w.fd)
                # Woken but maybe no longer wanted, or closed and its number reused (P4).
                if w.closed or not (w.want & direction):
                    continue
                self._action(w.fd, select)
        except trio.ClosedResourceError:
            pass
        finally:
            if direction == _IN:
                w.readers = 0
            else:
                w.writers = 0

    async def _timer_loop(self) -> None:
        while True:
            with trio.CancelScope(deadline=self._deadline) as cs:
                self._timer_cs = cs
                await trio.sleep_forever()
            self._timer_cs = None
            self._deadline = math.inf  # one-shot: socket_action below may re-arm it (P3)
            self._action(pycurl.SOCKET_TIMEOUT, 0)
            await trio.lowlevel.checkpoint()

    def _action(self, fd: int, select: int) -> None:
        try:
            self.multi.socket_action(fd, select)
        except pycurl.error:
            pass
        self._drain()

    def _drain(self) -> None:
        while True:
            queued, ok, failed = self.multi.info_read()
            for easy in ok:
                self._finish(easy, 0, "")
            for easy, code, msg in failed:
                self._finish(easy, code, msg)
            if not queued:
                return

    def _finish(self, easy: pycurl.Curl, code: int, msg: str) -> None:
        self.multi.remove_handle(easy)
        p = self._pending.get(id(easy))
        if p is not None:
            p.code, p.message = code, msg
            p.done.set()
