"""``dld download SOURCE DESTINATION`` (also ``dld start download``): build the start request, send it, follow it.

Theory of operation
-------------------
``plan_download`` is the AIS CLI's ``startDownloadHandler`` decision tree (reference §4.3) as a pure function:

1. ``--object-list``/``--from`` → a ``multi`` job over ``<source link>/<name>`` for every name in the file;
2. a source link with both ``{`` and ``}`` → a ``range`` job (``template`` = the link, ``subdir`` = DEST path);
3. a plain link (http, https, ais://host/..., no scheme → https) → a ``single`` job (``object_name`` = DEST path);
4. a cloud bucket URI: dld has no cloud backends, which is AIS's "provider not configured" branch: a bucket or
   prefix without an object (empty path) fails with ``cannot download remote bucket``; Azure (no public link can be
   built without the account) and OCI (the link keeps its ``oc://`` scheme) fail with ``cannot download bucket's
   objects``; ``gs://`` and ``s3://`` objects are fetched over their public HTTP link as a ``single`` job, with AIS's
   "does not have Cloud bucket ... as its *backend*" warning.

The command then warns when the destination bucket does not exist (the daemon creates it), starts the job, prints
``Started download job dnl-...`` and, per flags, follows it (``--progress``), waits (``--wait``/``--timeout``), or
polls for up to 5 s to report an early result (AIS ``bgDownload``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import click
from click.core import ParameterSource

from dld.duration import format_go_duration
from dld.errors import BadRequest
from dld.names import go_quote
from dld.sources import parse_destination, parse_source

from .context import DurationType, client, done, poll_intervals, refresh_seconds, warn
from .progress import PROGRESS_REFRESH_S, watch
from .render import ais_cname, downloaded_msg, failed_warning, is_finished, monitor_msg, parse_size

__all__ = ["DownloadOptions", "Plan", "download", "plan_download", "wait_for_job"]

DEFAULT_PROGRESS_INTERVAL_NS = 10_000_000_000  # AIS --progress-interval default, always sent
BG_POLL_S = 5.0  # AIS dloadStartedTime: how long a background start waits for an early result
BG_POLL_CAP_S = 1.0  # AIS refreshRateMinDur: its background poll step
RANGE_HINT = 'For range download, enclose source in quotation marks, e.g.: "gs://imagenet/train-{00..99}.tgz"'


@dataclass(frozen=True, slots=True, kw_only=True)
class DownloadOptions:
    """The flags of ``dld download`` that shape the start request."""

    description: str = ""
    timeout_ns: int = 0
    progress_interval_ns: int = DEFAULT_PROGRESS_INTERVAL_NS
    connections: int = 0
    bytes_per_hour: int = 0
    object_list: list[str] | None = None
    force: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """The start request to send, and warnings to print before sending it."""

    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def plan_download(src: str, dst: str, opts: DownloadOptions) -> Plan:
    """Turn ``SOURCE DESTINATION`` and flags into a ``POST /v1/download`` body (see the module docstring).

    Raises:
        BadRequest: an unparsable source or destination, or a cloud source dld cannot download.
    """
    source = parse_source(src)
    provider, bucket, path = parse_destination(dst)
    base: dict[str, Any] = {
        "bucket": {"name": bucket, "provider": provider, "namespace": {"uuid": "", "name": ""}},
        "description": opts.description,
        "timeout": format_go_duration(opts.timeout_ns),
        "progress_interval": format_go_duration(opts.progress_interval_ns),
        "limits": {"connections": opts.connections, "bytes_per_hour": opts.bytes_per_hour},
    }
    if opts.force:
        base["force"] = True
    link, backend = source.link, source.backend
    fetchable = bool(link) and not (backend is not None and backend.provider == "oci")
    if fetchable and opts.object_list is not None:
        return Plan({"type": "multi", **base, "objects": [link + "/" + name for name in opts.object_list]})
    if fetchable and "{" in link and "}" in link:
        return Plan({"type": "range", **base, "template": link, "subdir": path})
    if fetchable and backend is None:
        return Plan({"type": "single", **base, "link": link, "object_name": path})
    assert backend is not None or not link  # only cloud sources (or no link at all) get here
    prov = backend.provider if backend is not None else ""
    if backend is None or (backend.prefix == "" and opts.object_list is None):
        raise BadRequest(f'cluster is not configured with "{prov}" provider: cannot download remote bucket')
    if not fetchable:
        raise BadRequest(f'cluster is not configured with "{prov}" provider: cannot download bucket\'s objects')
    warning = (f"{ais_cname(provider, bucket)} does not have Cloud bucket {ais_cname(prov, backend.bucket)} "
               "as its *backend* - proceeding to download anyway.")
    return Plan({"type": "single", **base, "link": link, "object_name": path}, [warning])


def read_object_list(path: str) -> list[str]:
    """The ``--object-list`` file: a JSON array of strings (AIS's error message otherwise)."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise click.ClickException(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    except ValueError as e:
        raise click.ClickException(f"file {go_quote(path)} doesn't seem to contain JSON array of strings: {e}") from None
    if not isinstance(doc, list) or not all(isinstance(x, str) for x in doc):
        raise click.ClickException(f"file {go_quote(path)} doesn't seem to contain JSON array of strings: "
                                   f"got {type(doc).__name__}")
    return doc


def wait_for_job(job_id: str, cap: float, timeout_s: float | None) -> dict[str, Any]:
    """Block until the job finishes (AIS ``waitDownloadHandler``); prints ``\\ndownload[ID] finished``.

    Returns:
        The last ``only_active_tasks`` status.

    Raises:
        click.ClickException: ``download[ID] was aborted`` or ``timed out waiting for download[ID]``.
    """
    cl = client()
    qn = f"download[{job_id}]"
    deadline = time.monotonic() + timeout_s if timeout_s else None
    for _ in poll_intervals(cap, deadline):
        st = cl.status(job_id, only_active=True)
        if st.get("aborted"):
            raise click.ClickException(f"{qn} was aborted")
        if is_finished(st):
            done("\n" + qn + " finished")
            return st
    raise click.ClickException(f"timed out waiting for {qn}")


def _background(job_id: str) -> None:
    """AIS ``bgDownload``: report an early result, or how to monitor the job. Stops early on errors or finish."""
    cl = client()
    st: dict[str, Any] = {}
    for _ in poll_intervals(BG_POLL_CAP_S, time.monotonic() + BG_POLL_S):
        st = cl.status(job_id, only_active=True)
        if int(st.get("error_cnt", 0)) or is_finished(st):
            break
    if int(st.get("error_cnt", 0)):
        warn(failed_warning(st))
    elif is_finished(st):
        done(downloaded_msg(int(st.get("finished_cnt", 0))))
    else:
        done(monitor_msg(job_id))


@click.command("download")
@click.argument("args", nargs=-1, metavar="SOURCE DESTINATION")
@click.option("--description", "--desc", default="", help="Job description (list and --regex match it).")
@click.option("--download-timeout", type=DurationType(),
              help="Per-file request timeout sent to the daemon (e.g. 30s, 1h); also the --wait limit.")
@click.option("--max-conns", type=click.IntRange(min=0), default=0,
              help="Maximum concurrent downloads for this job (0: bounded by the daemon's slots).")
@click.option("--limit-bph", default="0", help="Bytes per hour for this job, e.g. 1GiB (0: unlimited).")
@click.option("--object-list", "--from", "object_list", type=click.Path(dir_okay=False),
              help="File with a JSON array of object names; downloads SOURCE/<name> for each.")
@click.option("--sync", is_flag=True, help="Synchronize (backend jobs only; dld has none, so it has no effect).")
@click.option("--progress", is_flag=True, help="Show progress bars until the job ends.")
@click.option("--progress-interval", type=DurationType(), default="10s", show_default=True,
              help="How often the daemon refreshes progress; if given, also the CLI's poll interval.")
@click.option("--wait", is_flag=True, help="Wait until the job ends.")
@click.option("--timeout", type=DurationType(), help="With --wait: the longest to wait (implies --wait).")
@click.option("--units", type=click.Choice(["iec", "si", "raw"]), default="iec", show_default=True,
              help="How --limit-bph suffixes are read (iec: powers of 1024).")
@click.option("--force", is_flag=True, help="Re-download objects even when the stored copy is unchanged.")
@click.pass_context
def download(ctx: click.Context, args: tuple[str, ...], description: str, download_timeout: int | None,
             max_conns: int, limit_bph: str, object_list: str | None, sync: bool, progress: bool,
             progress_interval: int, wait: bool, timeout: int | None, units: str, force: bool) -> None:
    """Download files and objects from SOURCE into the bucket DESTINATION.

    \b
    SOURCE: a URL (https://host/path, scheme-less means https), a range template
            ("https://host/shard-{0000..0099}.tar", quoted), gs://bucket/object, s3://bucket/object,
            or ais://host:port/bucket/object.
    DESTINATION: ais://bucket[/object-name-or-subdir] (or just bucket[/...]).
    """
    del sync  # only meaningful for backend jobs, which dld cannot run (AIS ignores it for the others too)
    if len(args) == 0:
        raise click.UsageError('missing arguments "SOURCE DESTINATION"', ctx)
    if len(args) == 1:
        raise click.UsageError('missing "DESTINATION" argument', ctx)
    if len(args) > 2:
        raise click.UsageError(f"too many arguments - expected 2, got {len(args)}.\n{RANGE_HINT}", ctx)
    src, dst = args
    try:
        bph = parse_size(limit_bph, units)
        opts = DownloadOptions(description=description, timeout_ns=download_timeout or 0,
                               progress_interval_ns=progress_interval, connections=max_conns,
                               bytes_per_hour=bph,
                               object_list=read_object_list(object_list) if object_list else None, force=force)
        plan = plan_download(src, dst, opts)
    except BadRequest as e:
        raise click.ClickException(e.message) from None
    for w in plan.warnings:
        warn(w)
    cl = client()
    bck = plan.body["bucket"]
    if not cl.head_bucket(bck["name"], bck["provider"]):
        warn(f"destination bucket {ais_cname(bck['provider'], bck['name'])} doesn't exist. "
             "Bucket with default properties will be created.")
    job_id = cl.start(plan.body)
    done(f"Started download job {job_id}")

    explicit_pi = ctx.get_parameter_source("progress_interval") != ParameterSource.DEFAULT
    if progress:
        interval = refresh_seconds(progress_interval if explicit_pi else None, PROGRESS_REFRESH_S)
        done(str(watch(cl, job_id, interval)))
        return
    if wait or timeout:
        limit_ns = timeout or download_timeout or 0
        cap = refresh_seconds(progress_interval if explicit_pi else None, 5.0)
        st = wait_for_job(job_id, cap, limit_ns / 1e9 if limit_ns else None)
        if int(st.get("error_cnt", 0)):
            warn(failed_warning(st))
        else:
            done(downloaded_msg(int(st.get("finished_cnt", 0))))
        return
    _background(job_id)
