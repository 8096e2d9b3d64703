"""The job table and the tasks that move jobs forward.

Theory of operation:

* Every job lives here as a ``Job`` while the daemon runs (finished ones too: their header is a few hundred
  bytes); its history (finished tasks, errors, item lists) lives in the journal only.
* Each unfinished job has one dispatcher task: it enumerates the job's items lazily from the job's cursor, takes a
  slot of the job's ``limits.connections`` semaphore, and queues the task on the jogger of the mountpath HRW picks
  for the object. When everything is queued and drained, the job finishes.
* Each jogger has ``transfers_per_mountpath`` worker tasks, each owning one ``Fetcher`` (one curl easy handle).
* Abort (AIS §1.7): the dispatcher is cancelled, queued tasks are dropped without being counted, running transfers
  are cancelled and recorded as errors; the job finishes once they have let go.
* A finished job is removed on request (``remove``, 400 while running) or by the GC ``gc_after_s`` after it
  finished. Unfinished jobs are never GC'd (AIS would, §2.15.3).
* At start-up, jobs are loaded from the journal; unfinished, unaborted ones resume from their cursor. Items in
  ``[cursor, frontier)`` without a journaled outcome may have been published just before a crash: if the stored
  object says this job and index wrote it, it counts as done and is not fetched again. Temp files that belong to
  no resumable job are deleted.
* Shutdown (SIGTERM): dispatchers stop, queued tasks are dropped (they have no outcome, so they run after restart),
  running transfers get ``shutdown_grace_s`` to finish, then are cancelled with their temp files kept for resume.
* A checkpointer task fdatasyncs long transfers every ``CHECKPOINT_S`` so their resume state can name a durable
  offset: after a reboot (unlike a crash, which keeps the page cache) only that much of a temp file is trusted.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import time
from typing import TYPE_CHECKING

import trio

from ..errors import BadRequest, Conflict, JournalError, NotFound, OutOfSpace, StoreError
from ..store import hrw, partial
from ..transfer.fetch import Fetcher
from ..wire import JobSpec, StartRequest, new_job_id
from . import enumerate as enum_
from .jogger import Jogger
from .journal import DONE, FAILED, SKIPPED, Outcome
from .model import Event, Job, Task
from .runner import run_task

log = logging.getLogger("dld.jobs")

if TYPE_CHECKING:
    from ..config import Config
    from ..store.local import Store
    from ..transfer.curl_trio import CurlTrio
    from .journal import Journal


FRONTIER_STEP = 1000  # items reserved per frontier commit
RESERVE_RETRY_S = 1.0  # while the journal cannot move a frontier (disk full), dispatch retries this often
CHECKPOINT_S = 2.0
CHECKPOINT_BYTES = 64 * 1024 * 1024  # fdatasync a transfer's temp file once it has grown this much unsynced


# Journal columns a restored Job takes as they are.
_RESTORED_AS_IS = ("id", "xaction_id", "seq", "started_ns", "total", "finished_ns", "cursor", "frontier", "finished_cnt",
                  "scheduled_cnt", "skipped_cnt", "error_cnt")


class Registry:
    def __init__(self, config: Config, store: Store, journal: Journal, engine: CurlTrio, *, xaction_id: str,
                 cainfo: str = "") -> None:
        self.config = config
        self.store = store
        self.journal = journal
        self.engine = engine
        self.xaction_id = xaction_id
        self.cainfo = cainfo
        self.jobs: dict[str, Job] = {}
        self.joggers = [Jogger(config.transfers_per_mountpath) for _ in store.mountpaths]
        self._mp_ids = [m.id for m in store.mountpaths]
        self._nursery: trio.Nursery | None = None
        self._seq = journal.max_seq()
        self.stopping = False
        self._running = 0  # tasks being transferred, all jobs
        self._idle = trio.Event()

    # ---- lifetime ----------------------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for jogger in self.joggers:
                for _ in range(jogger.slots):
                    nursery.start_soon(self._worker, jogger)
            nursery.start_soon(self._flusher)
            nursery.start_soon(self._gc_loop)
            nursery.start_soon(self._checkpointer)
            self._restore()
            self._clean_temp()
            task_status.started()

    def _clean_temp(self) -> None:
        """Delete temp files no resumable job owns (finished, aborted, removed jobs; interrupted destroys)."""
        live = {j.id for j in self.jobs.values() if not j.finished_ns}
        for mp in self.store.mountpaths:
            for entry in mp.tmp.iterdir():
                if entry.name.startswith("destroy-"):
                    shutil.rmtree(entry, ignore_errors=True)
                elif entry.name.rsplit(".", 1)[0] not in live:
                    entry.unlink(missing_ok=True)

    async def shutdown(self, grace_s: float) -> None:
        """Stop dispatching, let running transfers finish for up to ``grace_s``, then cancel them (resumable)."""
        self.stopping = True
        for job in self.jobs.values():
            if not job.finished_ns:
                job.dispatch_scope.cancel()
        for jogger in self.joggers:
            jogger.drop_all()
        with trio.move_on_after(grace_s):
            while self._running > 0:
                self._idle = trio.Event()
                await self._idle.wait()
        self.journal.flush()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def _restore(self) -> None:
        for row in self.journal.jobs():
            spec = JobSpec.from_json(row["spec"])
            as_is = {k: row[k] for k in _RESTORED_AS_IS}
            job = Job(spec=spec, aborted=bool(row["aborted"]), all_dispatched=bool(row["all_dispatched"]), **as_is)
            self.jobs[job.id] = job
            if job.finished_ns:
                continue
            if job.aborted:
                job.transition(Event.ABORT)
                job.mark_finished()
                self.journal.update_job(job.id, job.counters())
                continue
            # Items dispatched but without an outcome were in flight when the daemon stopped: they run again.
            job.scheduled_cnt = job.finished_cnt + job.error_cnt
            job.all_dispatched = False
            self._start_dispatch(job)

    # ---- requests ----------------------------------------------------------------------------------------------

    def create(self, req: StartRequest) -> Job:
        """Register a validated job durably and start it. Creates a missing ``ais://`` destination bucket."""
        spec = req.spec
        try:
            # An ais:// destination, or the local cache of a remote bucket.
            if spec.bck.provider == "ais" or not self.store.bucket_exists(spec.bck):
                self.store.create_bucket(spec.bck)
        except OSError as e:
            cls = OutOfSpace if e.errno == errno.ENOSPC else StoreError
            raise cls(f'cannot create bucket "{spec.bck.cname}": {e.strerror}') from e
        total = enum_.count(spec, len(req.items or ()))
        self._seq += 1
        job = Job(id=new_job_id(), spec=spec, xaction_id=self.xaction_id, seq=self._seq, started_ns=time.time_ns(),
                  total=total)
        self.journal.insert_job(job.row(), req.items)
        self.jobs[job.id] = job
        self._start_dispatch(job)
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise NotFound(f"download job {job_id} does not exist")
        return job

    def list(self, regex: str = "", only_active: bool = False) -> list[Job]:
        pat = compile_posix_ere(regex) if regex else None
        out = [j for j in self.jobs.values()
               if (pat is None or pat.search(j.spec.description)) and not (only_active and j.finished_ns)]
        # The AIS Go client's order: running before finished; running by start, finished by finish time.
        out.sort(key=lambda j: (1, j.finished_ns, j.seq) if j.finished_ns else (0, j.started_ns, j.seq))
        return out

    def abort(self, job_id: str) -> None:
        """Abort a job. A job that has already finished is left as it is (AIS flips it to "Aborted", which
        misreports a job that completed: §2.15.8); the call still succeeds, so repeated aborts are harmless."""
        job = self.get(job_id)
        if job.finished_ns:
            return
        job.aborted = True
        job.transition(Event.ABORT)
        if not job.finished_ns:
            job.dispatch_scope.cancel()
            for jogger in self.joggers:
                for _ in jogger.drop(job.id):
                    self._release(job)
            for task in list(job.running.values()):
                if task.scope is not None:
                    task.scope.cancel()
        self.journal.update_job(job.id, job.counters())

    def remove(self, job_id: str) -> None:
        job = self.get(job_id)
        if not job.finished_ns:
            raise Conflict(f'job "{job_id}" is still running')
        self.journal.delete_job(job_id)
        del self.jobs[job_id]

    # ---- dispatch ----------------------------------------------------------------------------------------------

    def _start_dispatch(self, job: Job) -> None:
        assert self._nursery is not None, "registry is not running"
        self._nursery.start_soon(self._dispatch, job)

    async def _dispatch(self, job: Job) -> None:
        with job.dispatch_scope:
            done = self.journal.outcome_indices(job.id, job.cursor)  # ascending, merged with the enumeration
            next_done = next(done, None)
            uncertain_end = job.frontier  # [cursor, frontier) may hold objects published without an outcome
            for batch in enum_.items(job.spec, job.id, self.journal, job.cursor):
                for item in batch:
                    while next_done is not None and next_done < item.idx:
                        next_done = next(done, None)
                    if item.idx == next_done:
                        job.complete_index(item.idx)
                        continue
                    if item.idx >= job.frontier:
                        await self._reserve(job, item.idx + FRONTIER_STEP)
                    job.scheduled_cnt += 1
                    if item.idx < uncertain_end and not item.error and self._already_published(job, item):
                        continue
                    if item.error:
                        self._record(job, Outcome(job_id=job.id, idx=item.idx, name=item.name, link=item.link,
                                                  outcome=FAILED, error=item.error, start_ns=time.time_ns(),
                                                  end_ns=time.time_ns()))
                        continue
                    if job.conn_sem is not None:
                        await job.conn_sem.acquire()
                    job.inflight += 1
                    mp = hrw.pick(self._mp_ids, f"{job.spec.bck.uname}/{item.name}")
                    try:
                        await self.joggers[mp].put(Task(job, item.idx, item.name, item.link))
                    except BaseException:
                        self._release(job)
                        raise
                await trio.lowlevel.checkpoint()
            if job.state.name == "DISPATCHING" and not self.stopping:
                job.all_dispatched = True
                job.transition(Event.ALL_DISPATCHED)
                self.journal.update_job(job.id, job.counters())
        if self.stopping:
            return  # the job stays unfinished in the journal and resumes after restart
        # Drain: wait for queued and running tasks (an abort drops the queued ones and cancels the rest).
        while job.inflight > 0:
            job.drained = trio.Event()
            await job.drained.wait()
        job.mark_finished()
        self.journal.update_job(job.id, job.counters())
        self.journal.flush()

    async def _reserve(self, job: Job, frontier: int) -> None:
        """Move the job's frontier up; while the journal cannot take it (disk full), dispatch waits."""
        while True:
            try:
                self.journal.reserve_frontier(job.id, frontier)
            except JournalError as e:
                log.warning("job %s waits: %s", job.id, e.message)
                await trio.sleep(RESERVE_RETRY_S)
                continue
            job.frontier = frontier
            return

    def _already_published(self, job: Job, item: enum_.Item) -> bool:
        """A resumed item whose object this job already published (crash before the outcome was journaled)."""
        try:
            meta = self.store.head(job.spec.bck, item.name)
        except OSError:
            return False
        if meta is None or meta.job != f"{job.id}/{item.idx}":
            return False
        now = time.time_ns()
        self._record(job, Outcome(job_id=job.id, idx=item.idx, name=item.name, link=item.link, outcome=DONE,
                                  size=meta.size, total=meta.size, blake3=meta.blake3,
                                  etag=meta.custom.get("ETag", ""), last_modified=meta.custom.get("Last-Modified", ""),
                                  start_ns=meta.atime_ns, end_ns=now))
        return True

    def _release(self, job: Job) -> None:
        job.inflight -= 1
        if job.conn_sem is not None:
            job.conn_sem.release()
        if job.inflight == 0:
            job.drained.set()

    async def _worker(self, jogger: Jogger) -> None:
        fetcher = Fetcher(self.engine, self.config, cainfo=self.cainfo)
        try:
            while True:
                task = await jogger.get()
                job = task.job
                job.running[task.idx] = task
                self._running += 1
                try:
                    outcome = await run_task(task, fetcher, self.store, self.config)
                except Exception as e:  # a bug: fail this object, keep the daemon and the job going
                    log.exception("task %s/%d (%s) failed", job.id, task.idx, task.link)
                    outcome = Outcome(job_id=job.id, idx=task.idx, name=task.name, link=task.link, outcome=FAILED,
                                      error=f"internal error: {type(e).__name__}: {e} (a bug in dld, please report it)",
                                      start_ns=task.start_ns, end_ns=time.time_ns())
                    fetcher.close()
                    fetcher = Fetcher(self.engine, self.config, cainfo=self.cainfo)
                finally:
                    del job.running[task.idx]
                    self._running -= 1
                    if self._running == 0:
                        self._idle.set()
                if outcome is not None:
                    self._record(job, outcome)
                self._release(job)
        finally:
            fetcher.close()

    def _record(self, job: Job, o: Outcome) -> None:
        if o.outcome == FAILED:
            job.error_cnt += 1
        else:
            job.finished_cnt += 1
            if o.outcome == SKIPPED:
                job.skipped_cnt += 1
        job.complete_index(o.idx)
        self.journal.record(o, job.counters())

    # ---- background --------------------------------------------------------------------------------------------

    async def _flusher(self) -> None:
        from .journal import BATCH_INTERVAL_S

        while True:
            await trio.sleep(BATCH_INTERVAL_S)
            self.journal.flush()

    async def _checkpointer(self) -> None:
        while True:
            await trio.sleep(CHECKPOINT_S)
            for job in list(self.jobs.values()):
                for task in list(job.running.values()):
                    if task.fd >= 0 and task.progress.downloaded - task.durable >= CHECKPOINT_BYTES:
                        await self._checkpoint(task)

    async def _checkpoint(self, task: Task) -> None:
        fd, offset = task.fd, task.progress.written  # not downloaded: bytes still in the sink's batch are not on disk
        dup = os.dup(fd)  # our own reference: the task may close its fd while we sync
        try:
            await trio.to_thread.run_sync(os.fdatasync, dup)
            if task.fd == fd and task.idx in task.job.running:  # still the same transfer, not yet published
                st = partial.read(dup)
                if st is not None:
                    partial.write(dup, st.link, st.validator, offset)
                    task.durable = offset
        finally:
            os.close(dup)

    async def _gc_loop(self) -> None:
        while True:
            await trio.sleep(self.config.gc_interval_s)
            self.gc(time.time_ns())

    def gc(self, now_ns: int) -> list[str]:
        """Remove finished jobs that finished more than ``gc_after_s`` ago; never a running one."""
        cutoff = now_ns - int(self.config.gc_after_s * 1e9)
        doomed = [j.id for j in self.jobs.values() if j.finished_ns and j.finished_ns < cutoff]
        for job_id in doomed:
            self.remove(job_id)
        return doomed


_POSIX_CLASSES = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
                  "space": r" \t\n\r\f\v", "blank": r" \t", "punct": r"!-/:-@\[-`{-~", "xdigit": "0-9A-Fa-f",
                  "word": r"\w", "cntrl": r"\x00-\x1f\x7f", "print": r"\x20-\x7e", "graph": r"\x21-\x7e"}


def compile_posix_ere(regex: str) -> re.Pattern[str]:
    """Compile a POSIX ERE (AIS matches descriptions with Go's ``CompilePOSIX``) as a Python pattern.

    Only whether a description matches matters, so leftmost-longest vs leftmost-first makes no difference;
    bracket classes like ``[[:digit:]]`` are translated.

    Raises:
        BadRequest: the expression is invalid.
    """
    unknown = [c for c in re.findall(r"\[:([^]:]*):\]", regex) if c not in _POSIX_CLASSES]
    if unknown:
        raise BadRequest(f"error parsing regexp: invalid character class range: `[:{unknown[0]}:]`")
    translated = re.sub(r"\[:([a-z]+):\]", lambda m: _POSIX_CLASSES[m.group(1)], regex)
    try:
        return re.compile(translated)
    except re.error as e:
        raise BadRequest(f"error parsing regexp: {e}: `{regex}`") from e
