"""What the CLI prints, as pure functions of the daemon's JSON: job tables, status lines, sizes and durations.

Theory of operation
-------------------
Every string here is the AIS CLI's (``cmd/cli/cli/downloader.go``, ``job_do_hdlr.go``, ``teb/templates.go``;
reference §4.4-§4.7) with ``ais`` replaced by ``dld`` in command hints, so scripts that parse ``ais`` output parse
``dld`` output. Nothing here does I/O or reads a clock, so every message is table-testable.

Rules:

1. A job is *finished* when its ``finished_time`` is not Go's zero time (reference §1.5); ``aborted`` is separate.
2. ``TotalCnt = total if total > 0 else scheduled_cnt``, ``DoneCnt = finished_cnt + error_cnt`` (as AIS computes
   them client-side).
3. Tables are laid out as Go's ``text/tabwriter`` (min width 0, padding 2, pad with spaces) lays out AIS's
   ``"A\\t B\\t C\\n"`` templates: every cell but the last is padded to its column's width + 2, and every cell
   after the first starts with the template's space.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dld.duration import parse_go_duration
from dld.errors import BadRequest
from dld.names import go_quote
from dld.store.meta import SCHEMES
from dld.wire import ZERO_TIME, JobView, job_string

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "ais_cname", "done_cnt", "downloaded_msg", "failed_warning", "format_size", "is_finished", "job_list_lines",
    "job_row", "job_view", "list_json", "monitor_msg", "parse_duration_flag", "parse_go_time", "parse_size",
    "plural", "sort_jobs", "status_lines", "tab_lines", "total_cnt", "xaction_lines",
]

MIN_TOTAL_CNT = 10  # below this many files AIS always lists the current tasks and prints no percentage


def plural(n: int) -> str:
    """AIS ``cos.Plural``: ``"s"`` unless ``n == 1``."""
    return "" if n == 1 else "s"


def ais_cname(provider: str, bucket: str) -> str:
    """A bucket as the AIS CLI names it: ``ais://b``, ``gs://b``, ``s3://b``."""
    return f"{SCHEMES.get(provider, provider)}://{bucket}"


# ---- sizes -----------------------------------------------------------------------------------------------------

_IEC = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))
_SI = ((10**12, "TB"), (10**9, "GB"), (10**6, "MB"), (10**3, "KB"))
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*$")
_SUFFIX_POW = {"K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}


def format_size(n: int, units: str = "iec", digits: int = 2) -> str:
    """AIS ``cos.ToSizeIEC`` (``16.39MiB``, ``1000B``); ``si`` uses powers of 1000 (``17.19MB``); ``raw`` is bytes."""
    if units == "raw":
        return str(n)
    for mult, name in _SI if units == "si" else _IEC:
        if n >= mult:
            return f"{n / mult:.{digits}f}{name}"
    return f"{n}B"


def parse_size(s: str, units: str = "iec") -> int:
    """A size flag (``--limit-bph``) as AIS ``cos.ParseSize`` reads it.

    ``1073741824``, ``1GiB``, ``1G``, ``1GB``, ``1.5m``; with ``units="iec"`` (the default) every suffix is a power
    of 1024; with ``si`` a suffix without ``i`` (``GB``, ``G``) is a power of 1000; ``raw`` takes bytes only.

    Raises:
        BadRequest: unparsable value or unknown suffix.
    """
    m = _SIZE_RE.match(s)
    if not m:
        raise BadRequest(f"invalid size {go_quote(s)}")
    num, suffix = m.group(1), m.group(2).upper()
    if units == "raw" and suffix not in ("", "B"):
        raise BadRequest(f"invalid size {go_quote(s)}: '--units raw' takes a number of bytes")
    if suffix in ("", "B"):
        mult = 1
    else:
        letter, rest = suffix[0], suffix[1:]
        if letter not in _SUFFIX_POW or rest not in ("", "B", "IB"):
            raise BadRequest(f"invalid size {go_quote(s)}: unknown unit {go_quote(m.group(2))}")
        base = 1000 if units == "si" and rest != "IB" else 1024
        mult = base ** _SUFFIX_POW[letter]
    return int(float(num) * mult) if "." in num else int(num) * mult


def parse_duration_flag(s: str) -> int:
    """A duration flag in nanoseconds: a Go duration (``90s``, ``1m30s``) or a bare number of seconds (AIS CLI).

    Raises:
        BadRequest: Go's ``time: invalid duration ...`` message.
    """
    s = s.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]*)?", s):
        s += "s"
    return parse_go_duration(s)


# ---- jobs ------------------------------------------------------------------------------------------------------

def parse_go_time(s: str) -> int:
    """Nanoseconds since the epoch of a Go ``time.Time`` JSON value; the zero time (and junk) gives 0."""
    if not s or s == ZERO_TIME:
        return 0
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        return 0
    base = datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    frac = int((m.group(2) or "0").ljust(9, "0"))
    return int(base.timestamp()) * 1_000_000_000 + frac


def is_finished(job: dict[str, Any]) -> bool:
    return parse_go_time(job.get("finished_time", "")) > 0


def total_cnt(job: dict[str, Any]) -> int:
    total = int(job.get("total", 0))
    return total if total > 0 else int(job.get("scheduled_cnt", 0))


def done_cnt(job: dict[str, Any]) -> int:
    return int(job.get("finished_cnt", 0)) + int(job.get("error_cnt", 0))


def job_view(job: dict[str, Any]) -> JobView:
    """The daemon's job JSON as the ``dld.wire.JobView`` that ``job_string`` renders."""
    return JobView(id=job["id"], xaction_id=job.get("xaction_id", ""), description=job.get("description", ""),
                   started_ns=parse_go_time(job.get("started_time", "")),
                   finished_ns=parse_go_time(job.get("finished_time", "")),
                   finished_cnt=int(job.get("finished_cnt", 0)), scheduled_cnt=int(job.get("scheduled_cnt", 0)),
                   skipped_cnt=int(job.get("skipped_cnt", 0)), error_cnt=int(job.get("error_cnt", 0)),
                   total=int(job.get("total", 0)), all_dispatched=bool(job.get("all_dispatched", False)),
                   aborted=bool(job.get("aborted", False)))


def sort_jobs(jobs: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Running jobs first by start time, then finished (or aborted) ones by finish time (AIS list order)."""
    def key(j: dict[str, Any]) -> tuple[int, int, str]:
        done = is_finished(j) or bool(j.get("aborted"))
        when = parse_go_time(j.get("finished_time", "")) if done else parse_go_time(j.get("started_time", ""))
        return (1 if done else 0, when, j.get("id", ""))
    return sorted(jobs, key=key)


def tab_lines(rows: list[list[str]], padding: int = 2) -> list[str]:
    """Rows laid out as Go's tabwriter lays out an AIS ``"A\\t B\\t C\\n"`` template (see rule 3)."""
    if not rows:
        return []
    cells = [[c if i == 0 else " " + c for i, c in enumerate(r)] for r in rows]
    ncols = max(len(r) for r in cells)
    widths = [max((len(r[i]) for r in cells if i < len(r) - 1), default=0) for i in range(ncols)]
    out = []
    for r in cells:
        line = "".join(c.ljust(widths[i] + padding) if i < len(r) - 1 else c for i, c in enumerate(r))
        out.append(line)
    return out


_LIST_HEADER = ["JOB ID", "XACTION", "STATUS", "ERRORS", "DESCRIPTION"]


def _job_status_cell(job: dict[str, Any]) -> str:
    if job.get("aborted"):
        return "Aborted"
    if is_finished(job):
        return "Finished"
    return f"{total_cnt(job) - done_cnt(job)} pending"


def job_row(job: dict[str, Any]) -> list[str]:
    return [job["id"], job.get("xaction_id", ""), _job_status_cell(job), str(job.get("error_cnt", 0)),
            job.get("description", "")]


def job_list_lines(jobs: list[dict[str, Any]], headers: bool = True) -> list[str]:
    """The ``show job`` table (AIS ``DownloadListTmpl``): JOB ID, XACTION, STATUS, ERRORS, DESCRIPTION."""
    rows = [job_row(j) for j in jobs]
    return tab_lines(([_LIST_HEADER] if headers else []) + rows)


def _hms(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9).strftime("%H:%M:%S") if ns > 0 else "-"


def xaction_lines(job: dict[str, Any], headers: bool = True) -> list[str]:
    """The per-node xaction table ``show job -v`` adds under a job (one node: the daemon itself)."""
    state = "Aborted" if job.get("aborted") else "Finished" if is_finished(job) else "Running"
    row = ["dld", job.get("xaction_id", ""), "download", str(job.get("finished_cnt", 0)),
           _hms(parse_go_time(job.get("started_time", ""))), _hms(parse_go_time(job.get("finished_time", ""))),
           state]
    hdr = ["NODE", "ID", "KIND", "OBJECTS", "START", "END", "STATE"]
    return tab_lines(([hdr] if headers else []) + [row])


def list_json(doc: Any) -> str:
    """``--json``: a job list or status as AIS's ``teb`` prints JSON (4-space indent)."""
    return json.dumps(doc, indent=4)


# ---- one job's status ------------------------------------------------------------------------------------------

def _errors_block(status: dict[str, Any]) -> list[str]:
    return ["Errors:"] + [f"\t{e.get('name', '')}: {e.get('error', '')}" for e in status.get("download_errors") or []]


def status_lines(status: dict[str, Any], verbose: bool = False, units: str = "iec") -> list[str]:
    """``show job JOB_ID`` without ``--progress`` (AIS ``printDownloadStatus``).

    Args:
        status: the full StatusResp (``only_active_tasks=false``, so ``download_errors`` is present).
        verbose: ``-v``: list errors (finished) or current tasks and errors (running).
        units: how task sizes are printed (``iec``, ``si``, ``raw``).
    """
    if status.get("aborted"):
        return ["Download " + job_string(job_view(status))]
    out: list[str] = []
    errs = int(status.get("error_cnt", 0))
    if is_finished(status):
        fin, skipped = int(status.get("finished_cnt", 0)), int(status.get("skipped_cnt", 0))
        line = f"Done: {fin} file{plural(fin)} downloaded"
        if skipped > 0:
            line += f", skipped: {skipped}"
        if errs > 0:
            line += f", error{plural(errs)}: {errs}"
        out.append(line)
        if status.get("download_errors"):
            out += _errors_block(status) if verbose else ["Use '--verbose' option to list all errors."]
        return out
    done, total = done_cnt(status), total_cnt(status)
    if total < MIN_TOTAL_CNT:
        verbose = True
    if total == 0:
        out.append(f"Download {status['id']} progress: 0/?")
    else:
        msg = f"{status['id']} progress: downloaded {done} file{plural(done)} (out of {total}) "
        if total >= MIN_TOTAL_CNT:
            msg += f" ({100 * done / total:0.2f}%)"
        out.append(msg)
    if verbose:
        for t in sorted(status.get("current_tasks") or [], key=lambda t: t.get("name", "")):
            got, size = int(t.get("downloaded", 0)), int(t.get("total", 0))
            if size == 0:
                out.append(f"\t{t['name']}: {format_size(got, units)}")
            else:
                out.append(f"\t{t['name']}: {format_size(got, units)}/{format_size(size, units)} "
                           f"({100 * got / size:.2f}%)")
        if errs > 0:
            out += _errors_block(status)
    elif errs > 0:
        out.append(f"Encountered {errs} error{plural(errs)} during download {status['id']}")
        out.append(f"For details, run 'dld show job {status['id']} -v'")
    return out


# ---- after start -----------------------------------------------------------------------------------------------

def downloaded_msg(finished: int) -> str:
    """AIS ``actionDownloaded``."""
    return "File successfully downloaded" if finished == 1 else f"All {finished} files successfully downloaded"


def failed_warning(status: dict[str, Any]) -> str:
    """The warning (without ``Warning: ``) when a job has errors (AIS ``wtDownload``/``bgDownload``)."""
    return (f"{status.get('error_cnt', 0)} of {status.get('scheduled_cnt', 0)} download jobs failed. "
            f"For details, run 'dld show job {status['id']} -v'")


def monitor_msg(job_id: str) -> str:
    return f"To monitor the progress, run 'dld show job {job_id} --progress'"
