"""The ``dld`` command line, end to end: a real ``dld serve`` daemon, the real test origin, the CLI as a subprocess.

Theory of operation: every CLI call is ``sys.executable -m dld --endpoint <daemon> ...`` with stdin given (so a
prompt never reads the terminal); outputs are compared with the AIS CLI's exact strings (reference §4.4-§4.7).
Tests that list, stop or remove *all* jobs use a private daemon (``make_daemon``) so they cannot disturb jobs of
other tests; the rest share the session daemon and keep apart by unique bucket and object names. A job that stays
running until stopped fetches an origin object with ``stall=`` (the origin sends a few bytes and then nothing), and
the ``--progress`` test throttles its job with ``--limit-bph`` so the bars have time to show. Nothing sleeps a
fixed time: waits poll with deadlines (``tests.daemon.poll``).

The pure parts of the CLI (``plan_download``'s decision tree, size and duration flags) are table-tested at the top.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import subprocess
import sys
import time
import uuid

import pytest

from dld.cli.render import format_size, parse_duration_flag, parse_size, tab_lines
from dld.cli.start import DownloadOptions, plan_download
from dld.errors import BadRequest
from tests.daemon import REPO, poll
from tests.origin.content import expected_bytes

# ---- pure vectors ------------------------------------------------------------------------------------------------

# (source, destination, object list, expected type, expected fields, expected warning substring or None)
PLAN_CASES = [
    ("https://h/dir/f.tar", "ais://b", None, "single", {"link": "https://h/dir/f.tar", "object_name": ""}, None),
    ("h.com/f.tar", "b/sub/name.tar", None, "single", {"link": "https://h.com/f.tar", "object_name": "sub/name.tar"},
     None),
    ("https://h/s-{00..09}.tgz", "ais://b/dir/", None, "range", {"template": "https://h/s-{00..09}.tgz",
                                                                  "subdir": "dir"}, None),
    ("gs://pub/x-{0..3}.tar", "ais://b", None, "range",
     {"template": "https://storage.googleapis.com/pub/x-{0..3}.tar"}, None),
    ("gs://pub/obj.tar", "ais://b", None, "single", {"link": "https://storage.googleapis.com/pub/obj.tar"},
     "ais://b does not have Cloud bucket gs://pub as its *backend* - proceeding to download anyway."),
    ("s3://pub/a/b.bin", "ais://b", None, "single", {"link": "http://s3.amazonaws.com/pub/a/b.bin"},
     "does not have Cloud bucket s3://pub"),
    ("gs://pub", "ais://b", ["a", "d/c"], "multi",
     {"objects": ["https://storage.googleapis.com/pub/a", "https://storage.googleapis.com/pub/d/c"]}, None),
    ("ais://10.0.0.1/src/o", "ais://b", None, "single", {"link": "http://10.0.0.1:8080/v1/objects/src/o"}, None),
]

PLAN_ERRORS = [
    ("gs://pub", 'cluster is not configured with "gcp" provider: cannot download remote bucket'),
    ("s3://pub/", 'cluster is not configured with "aws" provider: cannot download remote bucket'),
    ("az://pub/obj", 'cluster is not configured with "azure" provider: cannot download bucket\'s objects'),
    ("oci://pub/obj", 'cluster is not configured with "oci" provider: cannot download bucket\'s objects'),
    ("ftp://h/f", "invalid scheme: ftp"),
]

SIZE_CASES = [("0", "iec", 0), ("1073741824", "iec", 1 << 30), ("1GiB", "iec", 1 << 30), ("1G", "iec", 1 << 30),
              ("1GB", "si", 10**9), ("1GiB", "si", 1 << 30), ("1.5m", "iec", 3 << 19), ("450MiB", "iec", 450 << 20)]


@pytest.mark.parametrize(("src", "dst", "objects", "kind", "fields", "warning"), PLAN_CASES)
def test_plan_download(src, dst, objects, kind, fields, warning):
    plan = plan_download(src, dst, DownloadOptions(object_list=objects))
    assert plan.body["type"] == kind
    for k, v in fields.items():
        assert plan.body[k] == v
    assert plan.body["timeout"] == "0s" and plan.body["progress_interval"] == "10s"
    assert "force" not in plan.body
    if warning is None:
        assert plan.warnings == []
    else:
        assert len(plan.warnings) == 1 and warning in plan.warnings[0]


@pytest.mark.parametrize(("src", "message"), PLAN_ERRORS)
def test_plan_download_errors(src, message):
    with pytest.raises(BadRequest) as e:
        plan_download(src, "ais://b", DownloadOptions())
    assert e.value.message == message


def test_plan_download_flags():
    opts = DownloadOptions(description="d", timeout_ns=90_000_000_000, progress_interval_ns=2_000_000_000,
                           connections=3, bytes_per_hour=1 << 30, force=True)
    body = plan_download("https://h/f", "ais://b", opts).body
    assert body["description"] == "d" and body["timeout"] == "1m30s" and body["progress_interval"] == "2s"
    assert body["limits"] == {"connections": 3, "bytes_per_hour": 1 << 30} and body["force"] is True
    assert body["bucket"] == {"name": "b", "provider": "ais", "namespace": {"uuid": "", "name": ""}}


@pytest.mark.parametrize(("text", "units", "value"), SIZE_CASES)
def test_parse_size(text, units, value):
    assert parse_size(text, units) == value


def test_flags_and_layout():
    assert parse_duration_flag("5") == 5_000_000_000 and parse_duration_flag("1m30s") == 90_000_000_000
    assert format_size(1000) == "1000B" and format_size(17180000) == "16.38MiB"
    assert format_size(17180000, "si") == "17.18MB" and format_size(5, "raw") == "5"
    # Go tabwriter on "JOB ID\t XACTION\t ...": padding 2 plus the template's leading space.
    assert tab_lines([["JOB ID", "XACTION", "D"], ["dnl-c7nsf2UG9", "Ab3xYz9Qk", "x"]]) == [
        "JOB ID          XACTION     D", "dnl-c7nsf2UG9   Ab3xYz9Qk   x"]


# ---- helpers -----------------------------------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
JOB_ID = re.compile(r"Started download job (dnl-\S+)")


def dld(daemon, *args: str, input: str = "", env: dict[str, str] | None = None,  # noqa: A002
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the CLI against ``daemon`` (anything with ``.url``, or a URL string)."""
    url = daemon if isinstance(daemon, str) else daemon.url
    return subprocess.run([sys.executable, "-m", "dld", "--endpoint", url, *args], input=input, text=True,
                          capture_output=True, timeout=timeout, cwd=REPO, env={**os.environ, **(env or {})})


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, f"rc={r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    return r.stdout


def started(r: subprocess.CompletedProcess[str]) -> str:
    m = JOB_ID.search(ok(r))
    assert m, r.stdout
    return m.group(1)


def uniq(prefix: str = "cli") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def finished(daemon, job_id: str) -> dict:
    return daemon.wait(job_id, timeout=30)


def stalled_job(daemon, origin, bucket: str) -> str:
    """A job that keeps running until stopped: the origin sends 1000 bytes of 1 MiB and then nothing."""
    link = origin.obj_url(uniq("stall"), size=1 << 20, stall=1000)
    job_id = daemon.start_job({"type": "single", "bucket": {"name": bucket}, "link": link, "timeout": "1h"})
    poll(lambda: daemon.status(job_id, only_active=True)["current_tasks"], 10, what="the stalled task to start")
    return job_id


# ---- download ----------------------------------------------------------------------------------------------------


def test_download_range_skip_and_force(dld_daemon, origin):
    bucket, p = uniq(), uniq("r")
    # One of the three objects is already there: the range then skips it (conditional GET → 304).
    r = dld(dld_daemon, "download", origin.obj_url(f"{p}-1", size=1000), f"ais://{bucket}")
    assert "File successfully downloaded" in ok(r)
    assert f"Warning: destination bucket ais://{bucket} doesn't exist." in r.stderr
    template = origin.url(f"/obj/{p}-{{0..2}}?size=1000")
    first = started(r := dld(dld_daemon, "download", template, bucket))
    assert "All 3 files successfully downloaded" in r.stdout
    assert ok(dld(dld_daemon, "show", "job", first)) == "Done: 3 files downloaded, skipped: 1\n"
    for i in range(3):
        assert dld_daemon.object_file(bucket, f"{p}-{i}").read_bytes() == expected_bytes(f"{p}-{i}", 1000)
    # Unchanged origin: everything is skipped; --force downloads again.
    again = started(dld(dld_daemon, "start", "download", template, f"ais://{bucket}", "--wait"))
    assert ok(dld(dld_daemon, "show", "job", "download", again)) == "Done: 3 files downloaded, skipped: 3\n"
    forced = started(r := dld(dld_daemon, "download", template, bucket, "--force", "--wait"))
    assert f"\ndownload[{forced}] finished\nAll 3 files successfully downloaded\n" in r.stdout
    assert ok(dld(dld_daemon, "show", "job", forced)) == "Done: 3 files downloaded\n"


def test_download_single_wait_get_and_ls(dld_daemon, origin, tmp_path):
    bucket, name = uniq(), uniq("one")
    r = dld(dld_daemon, "download", origin.obj_url(name, size=70_000), f"ais://{bucket}/dir/{name}.bin", "--wait",
            "--desc", "one file")
    job_id = started(r)
    assert r.stdout.endswith(f"\ndownload[{job_id}] finished\nFile successfully downloaded\n")
    want = expected_bytes(name, 70_000)
    out = tmp_path / "out.bin"
    assert ok(dld(dld_daemon, "get", f"{bucket}/dir/{name}.bin", str(out))) == (
        f'GET dir/{name}.bin from ais://{bucket} as "{out}" (68.36KiB)\n')
    assert out.read_bytes() == want
    raw = subprocess.run([sys.executable, "-m", "dld", "--endpoint", dld_daemon.url, "get",
                          f"ais://{bucket}/dir/{name}.bin", "-"], capture_output=True, timeout=60, cwd=REPO)
    assert raw.returncode == 0 and raw.stdout == want
    assert ok(dld(dld_daemon, "ls", f"ais://{bucket}")).splitlines()[1].split() == [f"dir/{name}.bin", "68.36KiB"]
    entries = json.loads(ok(dld(dld_daemon, "ls", f"{bucket}/dir/", "--json")))
    assert [(e["name"], e["size"]) for e in entries] == [(f"dir/{name}.bin", "70000")]
    r = dld(dld_daemon, "get", f"{bucket}/nope", str(tmp_path / "x"))
    assert r.returncode == 1 and f"Error: ais://{bucket}/nope does not exist" in r.stderr
    assert not (tmp_path / "x").exists()


def test_download_object_list(dld_daemon, origin, tmp_path):
    bucket, p = uniq(), uniq("l")
    lst = tmp_path / "list.json"
    lst.write_text(json.dumps([f"{p}-a", f"{p}-b"]))
    job_id = started(r := dld(dld_daemon, "download", origin.url("/obj"), bucket, "--from", str(lst), "--wait"))
    assert "All 2 files successfully downloaded" in r.stdout
    assert ok(dld(dld_daemon, "show", "job", job_id)) == "Done: 2 files downloaded\n"
    assert dld_daemon.object_file(bucket, f"{p}-b").read_bytes() == expected_bytes(f"{p}-b", 1024)
    lst.write_text('{"not": "a list"}')
    r = dld(dld_daemon, "download", origin.url("/obj"), bucket, "--object-list", str(lst))
    assert r.returncode == 1 and f'file "{lst}" doesn\'t seem to contain JSON array of strings' in r.stderr


def test_download_errors_and_usage(dld_daemon, origin):
    bucket = uniq()
    r = dld(dld_daemon, "download", origin.url("/obj/t{3..1}"), bucket)
    assert r.returncode == 1
    assert "'start' cannot be greater than 'end'" in r.stderr and r.stderr.rstrip().endswith(
        "'start' cannot be greater than 'end'") and "Error: invalid 'bash' template" in r.stderr
    r = dld(dld_daemon, "download", "https://h/a-0.tgz", "https://h/a-1.tgz", bucket)
    assert r.returncode == 2
    assert ("Error: too many arguments - expected 2, got 3.\nFor range download, enclose source in quotation "
            'marks, e.g.: "gs://imagenet/train-{00..99}.tgz"') in r.stderr
    r = dld(dld_daemon, "download", "https://h/a.tgz")
    assert r.returncode == 2 and 'missing "DESTINATION" argument' in r.stderr
    r = dld(dld_daemon, "download", "az://container/blob", bucket)
    assert r.returncode == 1 and "cannot download bucket's objects" in r.stderr
    r = dld(dld_daemon, "show", "job", "dnl-doesnotexist")
    assert (r.returncode, r.stderr) == (1, "Error: download job dnl-doesnotexist does not exist\n")
    r = dld(dld_daemon, "download", origin.obj_url("x"), bucket, "--limit-bph", "12parsecs")
    assert r.returncode == 1 and "invalid size" in r.stderr


def test_unreachable_daemon_message():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = dld(f"http://127.0.0.1:{port}", "show", "job")
    assert r.returncode == 1
    assert f"http://127.0.0.1:{port}" in r.stderr and "connection refused" in r.stderr
    assert "dld serve" in r.stderr and "make run" in r.stderr
    r = subprocess.run([sys.executable, "-m", "dld", "bucket", "ls"], capture_output=True, text=True, timeout=60,
                       cwd=REPO, env={**os.environ, "DLD_ENDPOINT": f"http://127.0.0.1:{port}"})
    assert r.returncode == 1 and f"http://127.0.0.1:{port}" in r.stderr


def test_download_failures_and_verbose_status(dld_daemon, origin):
    bucket, name = uniq(), uniq("gone")
    r = dld(dld_daemon, "download", origin.obj_url(name, status=404), bucket)
    job_id = started(r)
    assert f"Warning: 1 of 1 download jobs failed. For details, run 'dld show job {job_id} -v'" in r.stderr
    finished(dld_daemon, job_id)
    out = ok(dld(dld_daemon, "show", "job", job_id))
    assert out == "Done: 0 files downloaded, error: 1\nUse '--verbose' option to list all errors.\n"
    lines = ok(dld(dld_daemon, "show", "job", job_id, "-v")).splitlines()
    assert lines[:2] == ["Done: 0 files downloaded, error: 1", "Errors:"] and lines[2].startswith(f"\t{name}: ")


def test_manifest(dld_daemon, origin):
    bucket, p = uniq(), uniq("m")
    job_id = started(dld(dld_daemon, "download", origin.url(f"/obj/{p}-{{0..1}}?size=10"), bucket, "--wait"))
    rows = [json.loads(line) for line in ok(dld(dld_daemon, "show", "job", job_id, "--manifest")).splitlines()]
    assert sorted((r["name"], r["outcome"], r["size"]) for r in rows) == [(f"{p}-0", "done", 10),
                                                                           (f"{p}-1", "done", 10)]


# ---- jobs: list, stop, rm, wait, completion (private daemon) -------------------------------------------------------


def test_job_list_stop_rm_and_completion(make_daemon, origin):
    d = make_daemon()
    assert ok(dld(d, "show", "job")) == ("No running 'download' jobs. Use '--all' to show all, '--all' <TAB-TAB> "
                                         "to select, '--help' for details.\n")
    assert ok(dld(d, "show", "job", "--all")) == ""
    assert json.loads(ok(dld(d, "show", "job", "--json"))) == []
    done_id = started(dld(d, "download", origin.obj_url(uniq("f")), "b1", "--wait", "--desc", "quick one"))
    run_id = stalled_job(d, origin, "b2")

    lines = ok(dld(d, "show", "job")).splitlines()
    assert lines[0] == "download jobs"
    assert lines[1].split() == ["JOB", "ID", "XACTION", "STATUS", "ERRORS", "DESCRIPTION"]
    assert lines[2].startswith(run_id) and " 1 pending " in lines[2] and len(lines) == 3
    lines = ok(dld(d, "show", "job", "--all", "-H")).splitlines()
    assert [ln.split()[0] for ln in lines] == [run_id, done_id]  # running first
    assert lines[1].split()[2:] == ["Finished", "0", "quick", "one"]
    assert [j["id"] for j in json.loads(ok(dld(d, "show", "job", "--all", "-j", "--regex", "^quick")))] == [done_id]
    verbose = ok(dld(d, "show", "job", "--all", "-v"))
    assert verbose.count("NODE") == 2 and "Finished" in verbose and "Running" in verbose
    status = ok(dld(d, "show", "job", run_id))
    assert status.startswith(f"{run_id} progress: downloaded 0 files (out of 1) \n\t")

    # Completion: running jobs for stop, finished ones for rm.
    env = {"_DLD_COMPLETE": "bash_complete", "COMP_WORDS": f"dld --endpoint {d.url} stop ", "COMP_CWORD": "4"}
    comp = subprocess.run([sys.executable, "-m", "dld"], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, **env})
    assert comp.stdout.split() == [f"plain,{run_id}"]
    env["COMP_WORDS"] = f"dld --endpoint {d.url} job rm dnl-"
    env["COMP_CWORD"] = "5"
    comp = subprocess.run([sys.executable, "-m", "dld"], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, **env})
    assert comp.stdout.split() == [f"plain,{done_id}"]

    # rm of a running job: the daemon's 400.
    r = dld(d, "job", "rm", run_id)
    assert (r.returncode, r.stderr) == (1, f'Error: job "{run_id}" is still running\n')
    # stop without an ID asks first.
    r = dld(d, "stop", input="n\n")
    assert ok(r) == "Stop all 'download' jobs? [Y/N]: "
    assert not d.status(run_id, only_active=True)["aborted"]
    r = dld(d, "stop", "download", input="maybe\ny\n")
    assert ok(r) == ("Stop all 'download' jobs? [Y/N]: Invalid input! Choose 'Y' for 'Yes' or 'N' for 'No'\n"
                     f"Stop all 'download' jobs? [Y/N]: Stopped download job {run_id}\n")
    finished(d, run_id)
    assert ok(dld(d, "stop", "--yes")) == "No running download jobs, nothing to do\n"
    assert ok(dld(d, "show", "job", run_id)) == f"Download {run_id} ({d.status(run_id)['description']}): aborted\n"

    r = dld(d, "job", "rm")
    assert r.returncode == 1
    assert "Expecting either JOB_ID argument or '--all' option (with or without regular expression)" in r.stderr
    assert ok(dld(d, "job", "rm", "download", done_id)) == f'Removed finished download job "{done_id}"\n'
    r = dld(d, "job", "rm", done_id)
    assert (r.returncode, r.stderr) == (1, f"Error: download job {done_id} does not exist\n")
    assert ok(dld(d, "job", "rm", "--all")) == f'Removed download job "{run_id}"\n'
    assert ok(dld(d, "job", "rm", "--regex", ".")) == "No finished download jobs, nothing to do\n"


def test_stop_and_wait_flows(dld_daemon, origin):
    bucket = uniq()
    quick = started(dld(dld_daemon, "download", origin.obj_url(uniq("w")), bucket, "--wait"))
    assert ok(dld(dld_daemon, "wait", quick)) == f"\ndownload[{quick}] finished\n"
    run_id = stalled_job(dld_daemon, origin, bucket)
    r = dld(dld_daemon, "wait", "download", run_id, "--timeout", "300ms")
    assert (r.returncode, r.stderr) == (1, f"Error: timed out waiting for download[{run_id}]\n")
    waiter = subprocess.Popen([sys.executable, "-m", "dld", "--endpoint", dld_daemon.url, "job", "wait", run_id,
                               "--refresh", "1s"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        r = dld(dld_daemon, "job", "stop", "download", run_id, "--all")
        assert r.stdout == f"Stopped download job {run_id}\n"
        assert f"Warning: ignoring flag '--all' in presence of JOB_ID argument ('{run_id}')" in r.stderr
        out, err = waiter.communicate(timeout=30)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert (waiter.returncode, err) == (1, f"Error: download[{run_id}] was aborted\n")
    r = dld(dld_daemon, "wait")
    assert r.returncode == 2 and 'missing "JOB_ID" argument' in r.stderr


# ---- buckets and objects -----------------------------------------------------------------------------------------


def test_bucket_and_object_commands(dld_daemon, origin):
    b1, b2, p = uniq(), uniq(), uniq("o")
    assert ok(dld(dld_daemon, "bucket", "create", f"ais://{b1}", b2)) == (f'"ais://{b1}" created\n'
                                                                          f'"ais://{b2}" created\n')
    r = dld(dld_daemon, "bucket", "create", b1)
    assert (r.returncode, r.stderr) == (1, f'Error: bucket "ais://{b1}" already exists\n')
    listed = ok(dld(dld_daemon, "bucket", "ls")).split()
    assert f"ais://{b1}" in listed and f"ais://{b2}" in listed
    assert f"ais://{b2}" in ok(dld(dld_daemon, "ls")).split()

    started(dld(dld_daemon, "download", origin.url(f"/obj/{p}-{{0..4}}?size=100"), b1, "--wait"))
    names = [ln.split()[0] for ln in ok(dld(dld_daemon, "ls", b1, "--page-size", "2", "-H")).splitlines()]
    assert names == [f"{p}-{i}" for i in range(5)]  # five objects over three pages
    entries = json.loads(ok(dld(dld_daemon, "ls", f"ais://{b1}/{p}-", "--json", "--page-size", "2")))
    assert [e["name"] for e in entries] == names
    assert ok(dld(dld_daemon, "object", "rm", f"{b1}/{p}-0")) == f'deleted "{p}-0" from ais://{b1}\n'
    r = dld(dld_daemon, "object", "rm", f"ais://{b1}/{p}-0")
    assert (r.returncode, r.stderr) == (1, f"Error: ais://{b1}/{p}-0 does not exist\n")
    assert ok(dld(dld_daemon, "bucket", "rm", b1, b2)) == f'"ais://{b1}" destroyed\n"ais://{b2}" destroyed\n'
    r = dld(dld_daemon, "bucket", "rm", b1)
    assert (r.returncode, r.stderr) == (1, f'Error: bucket "ais://{b1}" does not exist\n')
    r = dld(dld_daemon, "ls", b1)
    assert (r.returncode, r.stderr) == (1, f'Error: bucket "ais://{b1}" does not exist\n')


def test_serve_still_serves_help():
    r = subprocess.run([sys.executable, "-m", "dld", "serve", "--help"], capture_output=True, text=True,
                       timeout=60, cwd=REPO)
    for opt in ("--listen", "--data-dir", "--mountpath", "--config", "--ca-file", "--transfers-per-mountpath"):
        assert opt in r.stdout


# ---- --progress --------------------------------------------------------------------------------------------------


def _run_in_pty(argv: list[str], timeout: float = 40) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as stdin/stdout/stderr; return (exit code, everything it wrote)."""
    master, slave = os.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return rc, b"".join(chunks).decode("utf-8", "replace")


def test_progress_bars_on_a_terminal(dld_daemon, origin):
    bucket, p = uniq(), uniq("pb")
    # 3 x 128 KiB at 128 KiB/s, one at a time: about two seconds of bars.
    rc, out = _run_in_pty([sys.executable, "-m", "dld", "--endpoint", dld_daemon.url, "download",
                           origin.url(f"/obj/{p}-{{0..2}}?size=128k"), bucket, "--limit-bph", "450MiB",
                           "--max-conns", "1", "--progress"])
    text = ANSI.sub("", out).replace("\r", "")
    assert rc == 0, text
    assert "Started download job dnl-" in text
    assert "Files downloaded:" in text or f"{p}-0" in text
    assert text.rstrip().endswith("All files successfully downloaded.")
    for i in range(3):
        assert dld_daemon.object_file(bucket, f"{p}-{i}").read_bytes() == expected_bytes(f"{p}-{i}", 128 << 10)


def test_progress_without_a_terminal(dld_daemon, origin):
    bucket, p = uniq(), uniq("pp")
    job_id = started(dld(dld_daemon, "download", origin.url(f"/obj/{p}-{{0..1}}?size=10"), bucket, "--wait"))
    assert ok(dld(dld_daemon, "show", "job", job_id, "--progress")) == "All files successfully downloaded.\n"
    r = dld(dld_daemon, "wait", job_id, "--progress")
    assert ok(r) == "All files successfully downloaded.\n" and "\x1b[" not in r.stdout


def test_shell_completion_script():
    r = subprocess.run([sys.executable, "-m", "dld"], capture_output=True, text=True, timeout=60, cwd=REPO,
                       env={**os.environ, "_DLD_COMPLETE": "bash_source"})
    assert "_dld_completion" in r.stdout



def test_object_verify_reports_a_flipped_byte_and_exits_1(dld_daemon, origin):
    import uuid as _uuid

    from tests.daemon import poll as _poll

    tag = f"vrfy{_uuid.uuid4().hex[:8]}"
    job = dld_daemon.start_job({"type": "range", "bucket": {"name": tag},
                                "template": f"{origin.base_url}/obj/{tag}/o{{0..2}}?size=20000"})
    _poll(lambda: dld_daemon.status(job, True)["finished_time"] != "0001-01-01T00:00:00Z", 30)
    ok = subprocess.run([sys.executable, "-m", "dld", "--endpoint", dld_daemon.url, "object", "verify", f"ais://{tag}"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert f"Checked 3 object(s) in ais://{tag}: 3 ok, 0 mismatched" in ok.stdout
    with open(dld_daemon.object_file(tag, "o1"), "r+b") as f:
        f.seek(100)
        b = f.read(1)
        f.seek(100)
        f.write(bytes([b[0] ^ 0xFF]))
    bad = subprocess.run([sys.executable, "-m", "dld", "--endpoint", dld_daemon.url, "object", "verify", tag],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1
    assert "MISMATCH o1: blake3 expected " in bad.stdout and "2 ok, 1 mismatched" in bad.stdout
