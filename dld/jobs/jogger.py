"""Joggers: one per mountpath, each with ``transfers_per_mountpath`` slots shared by all jobs.

AIS gives each disk one FIFO queue shared by all jobs, so a ten-million-object job starves a one-object job queued
after it. Here each jogger keeps one short queue per job and its slots take from the jobs in turn (round-robin),
so every running job progresses. A job's queue holds at most ``2 × slots`` tasks: the dispatcher blocks when it is
full, which is the back-pressure that keeps enumeration lazy and memory flat.
"""

from __future__ import annotations

from collections import deque

import trio

from .model import Task


class Jogger:
    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.per_job_cap = 2 * slots
        self._queues: dict[str, deque[Task]] = {}
        self._order: deque[str] = deque()  # job ids with queued tasks, in turn order
        self._getters = trio.lowlevel.ParkingLot()
        self._putters: dict[str, trio.lowlevel.ParkingLot] = {}

    async def put(self, task: Task) -> None:
        """Queue a task, waiting while its job already has a full queue here."""
        job_id = task.job.id
        while len(self._queues.get(job_id, ())) >= self.per_job_cap:
            await self._putters.setdefault(job_id, trio.lowlevel.ParkingLot()).park()
        q = self._queues.get(job_id)
        if q is None:
            q = self._queues[job_id] = deque()
        if not q:
            self._order.append(job_id)
        q.append(task)
        self._getters.unpark()
        await trio.lowlevel.checkpoint()

    async def get(self) -> Task:
        """The next task, taking from the jobs in turn."""
        while not self._order:
            await self._getters.park()
        job_id = self._order.popleft()
        q = self._queues[job_id]
        task = q.popleft()
        if q:
            self._order.append(job_id)
        else:
            del self._queues[job_id]
        lot = self._putters.get(job_id)
        if lot is not None:
            lot.unpark()
        return task

    def drop(self, job_id: str) -> list[Task]:
        """Remove and return every queued task of a job (abort)."""
        q = self._queues.pop(job_id, None)
        if q is None:
            return []
        try:
            self._order.remove(job_id)
        except ValueError:
            pass
        lot = self._putters.pop(job_id, None)
        if lot is not None:
            lot.unpark_all()
        return list(q)

    def drop_all(self) -> None:
        """Forget every queued task (shutdown: they have no outcome, so they run again after restart)."""
        for job_id in list(self._queues):
            self.drop(job_id)
