"""Run one task: from the stored object's validators, through the fetch, to a published object and an outcome.

Rules:

* A reader never sees a partial object: bytes go to a temp file owned by ``<job id>.<index>`` on the object's
  mountpath, which is renamed into place only when complete (``Store.publish``).
* Unless the job forces it, an object that is already stored is checked for change first:
  - a cloud link (GCS, S3, Azure by host) is HEADed and compared with AIS's ``CheckEq`` (generation/version,
    ETag, md5, crc32c); equal → skipped. A failed HEAD fails this object only (AIS stops the whole job, §2.15.2).
  - any other link is fetched with a conditional GET (``If-None-Match`` with the stored ETag, else
    ``If-Modified-Since``): a 304 leaves the object and its metadata untouched and counts as skipped, and costs
    no extra round trip. (AIS re-downloads web links every time.)
* An aborted task (the job's abort cancels the task's scope) removes its temp file and records the AIS error text
  ``…: context canceled``. A task cancelled because the daemon is shutting down records nothing and keeps its temp
  file with its resume state (``store/partial.py``), so after a restart the same task continues from those bytes.
* A published object carries ``job = "<job id>/<index>"`` in its metadata, so a job resumed after a crash
  recognizes objects it published just before the crash, whose outcome the journal had not yet committed.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import trio

from ..errors import OriginError, StoreError
from ..provider_headers import classify_link, compare_objects, custom_metadata_from_headers
from ..store import partial
from ..store.meta import ObjectMeta
from ..transfer.fetch import Fetcher, FetchRequest
from .journal import DONE, FAILED, SKIPPED, Outcome
from .model import Task

if TYPE_CHECKING:
    from ..config import Config
    from ..store.local import Store


async def run_task(task: Task, fetcher: Fetcher, store: Store, config: Config) -> Outcome | None:
    """Download one task's object. Returns its outcome, or None if the daemon is shutting down."""
    job, spec = task.job, task.job.spec
    task.start_ns = time.time_ns()
    outcome = Outcome(job_id=job.id, idx=task.idx, name=task.name, link=task.link, outcome=FAILED,
                      start_ns=task.start_ns)
    tmp = store.temp_path(spec.bck, task.name, f"{job.id}.{task.idx}")
    with trio.CancelScope() as scope:
        task.scope = scope
        try:
            stored = store.head(spec.bck, task.name)  # its version is bumped on replace, forced or not
            prev = None if spec.force else stored  # what change detection compares against
            cloud = prev is not None and classify_link(task.link) != "web"
            if cloud:
                remote_size, remote_headers = await fetcher.head(task.link)
                remote = custom_metadata_from_headers(task.link, remote_headers)
                if compare_objects(prev.size, prev.custom, remote_size, remote):
                    outcome.outcome, outcome.size, outcome.blake3 = SKIPPED, prev.size, prev.blake3
                    outcome.end_ns = time.time_ns()
                    return outcome
                prev = None  # changed: fetch it whole, unconditionally
            req = FetchRequest(
                link=task.link,
                headers=spec.header_lines(),
                timeout_s=spec.timeout_ns / 1e9 if spec.timeout_ns > 0 else config.default_timeout_s,
                if_none_match=prev.custom.get("ETag", "") if prev else "",
                if_modified_since=prev.custom.get("Last-Modified", "") if prev else "",
                bytes_per_hour=spec.bytes_per_hour,
                bucket=job.bucket,
            )
            if req.if_none_match and not req.if_none_match.startswith(("\"", "W/")):
                req.if_none_match = f'"{req.if_none_match}"'  # AIS stores ETags unquoted
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o644)
            keep_tmp = published = False
            try:
                offset, validator = partial.resumable_offset(fd, task.link)
                task.fd, task.durable = fd, offset
                try:
                    res = await fetcher.fetch(req, fd, task.progress, resume_offset=offset, resume_validator=validator)
                except BaseException as e:
                    # Cancelled (or a group of them, from the throttled fetch's nursery): when the daemon is
                    # shutting down, the bytes stay for the resumed job; an abort deletes them.
                    if not isinstance(e, Exception):
                        keep_tmp = not job.aborted
                    raise
                if res.not_modified:
                    outcome.outcome = SKIPPED
                    outcome.size = prev.size if prev else 0
                    outcome.blake3 = prev.blake3 if prev else ""
                else:
                    custom = custom_metadata_from_headers(task.link, res.headers)
                    custom["link"] = task.link
                    meta = ObjectMeta(size=res.size, blake3=res.blake3, atime_ns=task.start_ns, custom=custom,
                                      job=f"{job.id}/{task.idx}")
                    if task.progress.resumable:
                        partial.clear(fd)
                    store.publish(tmp, spec.bck, task.name, meta, fd=fd, prev=stored)
                    published = True
                    outcome.outcome = DONE
                    outcome.size = res.size
                    outcome.blake3 = res.blake3
                    outcome.etag = custom.get("ETag", "")
                    outcome.last_modified = custom.get("Last-Modified", "")
                outcome.total = task.progress.total or outcome.size
            finally:
                task.fd = -1
                os.close(fd)
                if not keep_tmp and not published:
                    _unlink(tmp)
        except OriginError as e:
            outcome.error = e.message
        except StoreError as e:
            outcome.error = e.message
        except OSError as e:
            outcome.error = f"{task.name}: local I/O error: {e}"
    if scope.cancelled_caught:
        # Only our own scope was cancelled: the job was aborted. (A daemon-wide cancel propagates past here.)
        outcome.outcome = FAILED
        outcome.error = f'download of "{task.link}" aborted: context canceled'
        _unlink(tmp)
    outcome.size = outcome.size or task.progress.downloaded
    outcome.end_ns = time.time_ns()
    return outcome


def _unlink(p: os.PathLike[str]) -> None:
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass
