"""Job commands: ``show job``, ``stop``, ``job rm``, ``wait`` (each also accepts AIS's ``download`` word).

Theory of operation
-------------------
AIS spells these ``ais show job download [JOB_ID]``, ``ais stop download JOB_ID``, ``ais job rm download ...``,
``ais wait download JOB_ID``, and also lets the ``download`` word be left out when a ``dnl-`` ID is given. dld only
has download jobs, so every command takes ``[download] [JOB_ID]``: a leading ``download`` is dropped and at most one
ID may follow. Messages are AIS's (reference §4.6, §4.7); see ``render`` for the formats.

Shell completion of job IDs asks the daemon (running jobs for ``stop``/``wait``, finished ones for ``job rm``, all
for ``show job``) with a short timeout and yields nothing when it cannot: completion must never print errors.
"""

from __future__ import annotations

import os
import sys

import click
from click.shell_completion import CompletionItem

from dld.names import go_quote

from .client import CHUNK, DEFAULT_ENDPOINT, Client, DaemonError
from .context import DurationType, client, confirm, done, refresh_seconds, warn
from .progress import PROGRESS_REFRESH_S, watch
from .render import (
    is_finished,
    job_list_lines,
    list_json,
    sort_jobs,
    status_lines,
    xaction_lines,
)
from .start import wait_for_job

__all__ = ["remove_job", "show_job", "stop_job", "wait_job"]

NO_RUNNING = ("No running 'download' jobs. Use '--all' to show all, '--all' <TAB-TAB> to select, "
              "'--help' for details.")
_COMPLETION_TIMEOUT_S = 2.0  # a TAB press must not hang when the daemon is slow or gone


def _job_arg(args: tuple[str, ...]) -> str:
    """The JOB_ID of ``[download] [JOB_ID]`` ("" when absent)."""
    rest = list(args)
    if rest and rest[0] == "download":
        rest.pop(0)
    if len(rest) > 1:
        raise click.UsageError(f"too many arguments: expecting at most one JOB_ID, got {' '.join(rest)}")
    return rest[0] if rest else ""


# ---- completion ------------------------------------------------------------------------------------------------

def _complete(ctx: click.Context, incomplete: str, which: str) -> list[CompletionItem]:
    try:
        endpoint = ctx.find_root().params.get("endpoint") or os.environ.get("DLD_ENDPOINT") or DEFAULT_ENDPOINT
        cl = Client(endpoint, timeout=_COMPLETION_TIMEOUT_S)
        jobs = cl.jobs(only_active=which == "running")
        if which == "finished":
            jobs = [j for j in jobs if is_finished(j)]
        return [CompletionItem(j["id"], help=j.get("description", "")) for j in sort_jobs(jobs)
                if j["id"].startswith(incomplete)]
    except Exception:  # noqa: BLE001 - completion fails silently by design
        return []


def complete_running(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _complete(ctx, incomplete, "running")


def complete_finished(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _complete(ctx, incomplete, "finished")


def complete_any(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    return _complete(ctx, incomplete, "any")


# ---- show job --------------------------------------------------------------------------------------------------

def _show_list(all_: bool, regex: str, verbose: bool, as_json: bool, no_headers: bool) -> None:
    jobs = sort_jobs(client().jobs(regex=regex, only_active=not all_))
    if as_json:
        done(list_json(jobs))
        return
    if not jobs:
        if not all_:
            done(NO_RUNNING)
        return
    if not no_headers:
        done(click.style("download", fg="cyan") + " jobs" + ("" if not all_ else " including finished"))
    if not verbose:
        for line in job_list_lines(jobs, headers=not no_headers):
            done(line)
        return
    for i, job in enumerate(jobs):
        if i:
            done("")
        for line in job_list_lines([job], headers=not no_headers) + xaction_lines(job, headers=not no_headers):
            done(line)


def _stream_manifest(job_id: str) -> None:
    """``--manifest``: the job's JSONL manifest, copied to stdout chunk by chunk."""
    out = sys.stdout.buffer
    with client().stream("GET", "/v1/download/manifest", query={"id": job_id}) as resp:
        while chunk := resp.read(CHUNK):
            out.write(chunk)
    out.flush()


@click.command("job")
@click.argument("args", nargs=-1, metavar="[download] [JOB_ID]", shell_complete=complete_any)
@click.option("--all", "all_", is_flag=True, help="Include finished and aborted jobs.")
@click.option("--regex", default="", help="Only jobs whose description matches this POSIX regular expression.")
@click.option("-v", "--verbose", is_flag=True, help="More detail: errors, current files, per-node table.")
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output.")
@click.option("-H", "--no-headers", is_flag=True, help="No caption and no table header.")
@click.option("--progress", is_flag=True, help="With JOB_ID: show progress bars until the job ends.")
@click.option("--refresh", type=DurationType(), help="With --progress: poll interval (default 1s, min 1s).")
@click.option("--units", type=click.Choice(["iec", "si", "raw"]), default="iec", show_default=True,
              help="How sizes are shown.")
@click.option("--manifest", is_flag=True, help="With JOB_ID: print the job's JSONL manifest.")
def show_job(args: tuple[str, ...], all_: bool, regex: str, verbose: bool, as_json: bool, no_headers: bool,
             progress: bool, refresh: int | None, units: str, manifest: bool) -> None:
    """List download jobs, or show one job's status."""
    job_id = _job_arg(args)
    if not job_id:
        _show_list(all_, regex, verbose, as_json, no_headers)
        return
    cl = client()
    if manifest:
        _stream_manifest(job_id)
        return
    if progress:
        done(str(watch(cl, job_id, refresh_seconds(refresh, PROGRESS_REFRESH_S))))
        return
    st = cl.status(job_id, only_active=not (as_json or verbose))
    if int(st.get("error_cnt", 0)) and "download_errors" not in st:
        st = cl.status(job_id)  # the error list is needed (and only the full status carries it)
    if as_json:
        done(list_json(st))
        return
    for line in status_lines(st, verbose=verbose, units=units):
        done(line)


# ---- stop ------------------------------------------------------------------------------------------------------

@click.command("stop")
@click.argument("args", nargs=-1, metavar="[download] [JOB_ID]", shell_complete=complete_running)
@click.option("--all", "all_", is_flag=True, help="Stop all running download jobs (no confirmation).")
@click.option("--regex", default="", help="Only jobs whose description matches this POSIX regular expression.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def stop_job(args: tuple[str, ...], all_: bool, regex: str, yes: bool) -> None:
    """Stop (abort) a download job, or all running ones."""
    job_id = _job_arg(args)
    cl = client()
    if job_id:
        what = " and ".join(x for x in ("flag '--all'" if all_ else "", "option '--regex'" if regex else "") if x)
        if what:
            warn(f"ignoring {what} in presence of JOB_ID argument ('{job_id}')")
        cl.abort(job_id)
        done(f"Stopped download job {job_id}")
        return
    if not yes and not all_ and not confirm("Stop all 'download' jobs?"):
        return
    cnt = 0
    for job in cl.jobs(regex=regex, only_active=True):
        try:
            cl.abort(job["id"])
        except DaemonError as e:  # one failure must not stop the others
            warn(f"failed to stop download job {go_quote(job['id'])}: {e}")
            continue
        done(f"Stopped download job {job['id']}")
        cnt += 1
    if cnt == 0:
        done("No running download jobs, nothing to do")


# ---- job rm ----------------------------------------------------------------------------------------------------

@click.command("rm")
@click.argument("args", nargs=-1, metavar="[download] [JOB_ID]", shell_complete=complete_finished)
@click.option("--all", "all_", is_flag=True, help="Remove all finished download jobs.")
@click.option("--regex", default="", help="Remove finished jobs whose description matches this regex.")
def remove_job(args: tuple[str, ...], all_: bool, regex: str) -> None:
    """Remove finished download job(s) from the daemon's list."""
    job_id = _job_arg(args)
    cl = client()
    if all_ or regex:
        cnt = 0
        for job in cl.jobs(regex=regex, only_active=False):
            if not is_finished(job):
                continue
            try:
                cl.remove(job["id"])
            except DaemonError as e:  # one failure must not stop the others
                warn(f"failed to remove download job {go_quote(job['id'])}: {e}")
                continue
            done(f"Removed download job {go_quote(job['id'])}")
            cnt += 1
        if cnt == 0:
            done("No finished download jobs, nothing to do")
        return
    if not job_id:
        raise click.ClickException(
            "Expecting either JOB_ID argument or '--all' option (with or without regular expression)")
    cl.remove(job_id)
    done(f"Removed finished download job {go_quote(job_id)}")


# ---- wait ------------------------------------------------------------------------------------------------------

@click.command("wait")
@click.argument("args", nargs=-1, metavar="[download] JOB_ID", shell_complete=complete_running)
@click.option("--refresh", type=DurationType(), help="Poll interval (default: back off up to 5s; min 1s).")
@click.option("--progress", is_flag=True, help="Show progress bars while waiting.")
@click.option("--timeout", type=DurationType(), help="Give up after this long (e.g. 10m).")
def wait_job(args: tuple[str, ...], refresh: int | None, progress: bool, timeout: int | None) -> None:
    """Wait for a download job to finish."""
    job_id = _job_arg(args)
    if not job_id:
        raise click.UsageError('missing "JOB_ID" argument')
    limit = timeout / 1e9 if timeout else None
    if progress:
        result = watch(client(), job_id, refresh_seconds(refresh, PROGRESS_REFRESH_S), timeout=limit)
        done(str(result))
        if result.timed_out:
            raise click.ClickException(f"timed out waiting for download[{job_id}]")
        return
    wait_for_job(job_id, refresh_seconds(refresh, 5.0), limit)
