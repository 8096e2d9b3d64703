"""The user's document (``downloader-doc.txt``): every curl command, run with the real ``curl`` through ``bash -c``
exactly as printed, with only the gateway address replaced by the daemon's and the internet hosts by the test
origin. Two multi examples are malformed JSON as printed: dld must answer them with a 400 that says where the
JSON is broken; their corrected forms must work.

The commands use fixed bucket names (``ubuntu``, ``test``), so they run against a private daemon of this module.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from tests.daemon import DaemonProc, poll
from tests.integration.helpers import ZERO_TIME, assert_job_id, assert_stored, listing
from tests.origin.content import expected_bytes

GATEWAY = "http://localhost:8080"

# ---- the document's commands, verbatim (the leading "$ " prompt removed) ---------------------------------------

SINGLE = """curl -Li -H 'Content-Type: application/json' -d '{
  "type": "single",
  "bucket": {"name": "ubuntu"},
  "object_name": "ubuntu.iso",
  "link": "http://releases.ubuntu.com/18.04.1/ubuntu-18.04.1-desktop-amd64.iso"
}' -X POST 'http://localhost:8080/v1/download'"""

MULTI_MAP = """curl -Li -H 'Content-Type: application/json' -d '{
  "type": "multi",
  "bucket": {"name": "ubuntu"},
  "objects": {
    "train-labels.gz": "http://yann.lecun.com/exdb/mnist/train-labels-idx1-ubyte.gz",
    "t10k-labels-idx1.gz": "http://yann.lecun.com/exdb/mnist/t10k-labels-idx1-ubyte.gz",
    "train-images.gz": "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz"
}' -X POST 'http://localhost:8080/v1/download'"""

MULTI_LIST = """curl -Li -H 'Content-Type: application/json' -d '{
  "type": "multi",
  "bucket": {"name": "ubuntu"},
  "objects": [
}' -X POST 'http://localhost:8080/v1/download'"""

RANGE = """curl -Lig -H 'Content-Type: application/json' -d '{
  "type": "range",
  "bucket": {"name": "test"},
  "template": "randomwebsite.com/some_dir/object{200..300}log.txt"
}' -X POST 'http://localhost:8080/v1/download'"""

RANGE_SUBDIR = """curl -Lig -H 'Content-Type: application/json' -d '{
  "type": "range",
  "bucket": {"name": "test"},
  "template": "randomwebsite.com/some_dir/object{200..300}log.txt",
  "subdir": "some/subdir/"
}' -X POST 'http://localhost:8080/v1/download'"""

RANGE_STEP = """curl -Lig -H 'Content-Type: application/json' -d '{
  "type": "range",
  "bucket": {"name": "test"},
  "template": "randomwebsite.com/some_dir/object{1..1000..10}log.txt"
}' -X POST 'http://localhost:8080/v1/download'"""

BACKEND = """curl -Liv -H 'Content-Type: application/json' -d '{
  "type": "backend",
  "bucket": {"name": "lpr-vision", "provider": "gcp"},
  "prefix": "imagenet/imagenet_train-",
  "suffix": ".tgz"
}' -X POST 'http://localhost:8080/v1/download'"""

ABORT = """curl -Li -H 'Content-Type: application/json' -d '{"id": "5JjIuGemR"}' -X DELETE 'http://localhost:8080/v1/download/abort'"""

STATUS = """curl -Li -H 'Content-Type: application/json' -d '{"id": "5JjIuGemR"}' -X GET 'http://localhost:8080/v1/download'"""

LIST = """curl -Li -X GET 'http://localhost:8080/v1/download'"""

LIST_REGEX = """curl -Li -H 'Content-Type: application/json' -d '{"regex": "^[0-9]"}' -X GET 'http://localhost:8080/v1/download'"""

REMOVE = """curl -Li -H 'Content-Type: application/json' -d '{"id": "5JjIuGemR"}' -X DELETE 'http://localhost:8080/v1/download/remove'"""

DOC_ID = "5JjIuGemR"

MNIST = ("train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz")


# ---- running them --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def doc_daemon(tmp_path_factory):
    dp = DaemonProc(tmp_path_factory.mktemp("dld-doc")).start()
    yield dp
    dp.stop()


def _localize(cmd: str, daemon, origin) -> str:
    """Replace only hosts: the gateway by the daemon, the internet hosts by the origin's ``/obj/`` space."""
    assert GATEWAY in cmd
    out = cmd.replace(GATEWAY, daemon.url)
    out = out.replace("http://releases.ubuntu.com/", f"{origin.base_url}/obj/")
    out = out.replace("http://yann.lecun.com/", f"{origin.base_url}/obj/")
    # the range examples are scheme-less; keep them so (dld must prepend http:// as AIS does)
    out = out.replace("randomwebsite.com/", f"127.0.0.1:{origin.port}/obj/")
    return out


def curl(cmd: str, daemon, origin) -> tuple[int, dict[str, str], bytes]:
    """Run a doc command with bash; parse ``-i`` output into (status, headers, body) of the last response."""
    p = subprocess.run(["bash", "-c", _localize(cmd, daemon, origin)], capture_output=True, timeout=60)
    assert p.returncode == 0, f"curl failed ({p.returncode}): {p.stderr.decode(errors='replace')[-800:]}"
    out = p.stdout
    status, headers = 0, {}
    while out.startswith(b"HTTP/"):
        head, sep, out = out.partition(b"\r\n\r\n")
        assert sep, p.stdout[:500]
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    assert status, f"no HTTP response in curl output: {p.stdout[:300]!r}"
    return status, headers, out


def _json(resp):
    status, headers, body = resp
    assert headers.get("content-type", "").startswith("application/json"), headers
    return json.loads(body)


def _started(resp) -> str:
    status, _, body = resp
    assert status == 200, body[:400]
    jid = json.loads(body)["id"]
    assert_job_id(jid)
    return jid


def _fix(cmd: str, old: str, new: str) -> str:
    assert cmd.count(old) == 1, old
    return cmd.replace(old, new)


# ---- single, multi ---------------------------------------------------------------------------------------------------

def test_single_download(doc_daemon, origin):
    jid = _started(curl(SINGLE, doc_daemon, origin))
    st = doc_daemon.wait(jid)
    assert st["finished_cnt"] == 1 and st["error_cnt"] == 0, st
    assert_stored(doc_daemon, "ubuntu", "ubuntu.iso",
                  expected_bytes("18.04.1/ubuntu-18.04.1-desktop-amd64.iso", 1024))


@pytest.mark.parametrize("cmd", [MULTI_MAP, MULTI_LIST], ids=["map", "list"])
def test_malformed_multi_examples_say_where_json_is_broken(doc_daemon, origin, cmd):
    before = len(doc_daemon.api("GET", "/v1/download", {}))
    status, _, body = curl(cmd, doc_daemon, origin)
    assert status == 400, body[:400]
    err = json.loads(body)
    assert err["status"] == 400 and err["method"] == "POST" and err["url_path"] == "/v1/download"
    msg = err["message"]
    # where: the line and column of the first bad character (both examples break at the closing "}" line)
    m = re.search(r"line (\d+) column (\d+)", msg)
    assert m, f"the 400 does not say where the JSON is broken: {msg!r}"
    assert int(m.group(1)) >= 5, msg
    assert len(doc_daemon.api("GET", "/v1/download", {})) == before, "a malformed request must not create a job"


def test_corrected_multi_map(doc_daemon, origin):
    fixed = _fix(MULTI_MAP, '-images-idx3-ubyte.gz"\n}', '-images-idx3-ubyte.gz"\n  }\n}')
    jid = _started(curl(fixed, doc_daemon, origin))
    st = doc_daemon.wait(jid)
    assert (st["total"], st["finished_cnt"], st["error_cnt"]) == (3, 3, 0), st
    for name, src in (("train-labels.gz", MNIST[0]), ("t10k-labels-idx1.gz", MNIST[1]), ("train-images.gz", MNIST[2])):
        assert_stored(doc_daemon, "ubuntu", name, expected_bytes(f"exdb/mnist/{src}", 1024))


def test_corrected_multi_list(doc_daemon, origin):
    links = ",\n".join(f'    "http://yann.lecun.com/exdb/mnist/{n}"' for n in MNIST)
    fixed = _fix(MULTI_LIST, '"objects": [\n}', f'"objects": [\n{links}\n  ]\n}}')
    jid = _started(curl(fixed, doc_daemon, origin))
    st = doc_daemon.wait(jid)
    assert (st["total"], st["finished_cnt"], st["error_cnt"]) == (3, 3, 0), st
    for n in MNIST:
        assert_stored(doc_daemon, "ubuntu", n, expected_bytes(f"exdb/mnist/{n}", 1024))


# ---- range ---------------------------------------------------------------------------------------------------------------

def test_range_examples(doc_daemon, origin):
    j1 = _started(curl(RANGE, doc_daemon, origin))
    j2 = _started(curl(RANGE_SUBDIR, doc_daemon, origin))
    j3 = _started(curl(RANGE_STEP, doc_daemon, origin))
    s1, s2, s3 = (doc_daemon.wait(j, timeout=90) for j in (j1, j2, j3))
    assert (s1["total"], s1["finished_cnt"], s1["error_cnt"]) == (101, 101, 0), s1
    assert (s2["total"], s2["finished_cnt"], s2["error_cnt"]) == (101, 101, 0), s2
    assert (s3["total"], s3["finished_cnt"], s3["error_cnt"]) == (100, 100, 0), s3
    port = origin.port
    assert s1["description"] == f"127.0.0.1:{port}/obj/some_dir/object{{200..300}}log.txt -> ais://test"
    names = set(listing(doc_daemon, "test"))
    first = {f"object{i}log.txt" for i in range(200, 301)}
    sub = {f"some/subdir/object{i}log.txt" for i in range(200, 301)}
    step = {f"object{i}log.txt" for i in range(1, 1001, 10)}
    assert names == first | sub | step
    for i in (200, 250, 300):
        exp = expected_bytes(f"some_dir/object{i}log.txt", 1024)
        assert_stored(doc_daemon, "test", f"object{i}log.txt", exp)
        assert_stored(doc_daemon, "test", f"some/subdir/object{i}log.txt", exp)
    for i in (1, 11, 991):
        assert_stored(doc_daemon, "test", f"object{i}log.txt", expected_bytes(f"some_dir/object{i}log.txt", 1024))


# ---- backend ----------------------------------------------------------------------------------------------------------

def test_backend_example_is_a_clear_400(doc_daemon, origin):
    status, _, body = curl(BACKEND, doc_daemon, origin)
    assert status == 400, body[:400]
    msg = json.loads(body)["message"]
    assert "backend" in msg, msg


# ---- abort, status, list, remove -----------------------------------------------------------------------------------

def _with_id(cmd: str, jid: str) -> str:
    return _fix(cmd, DOC_ID, jid)


def test_status_abort_remove_with_doc_id_are_404(doc_daemon, origin):
    for cmd in (ABORT, STATUS, REMOVE):
        status, _, body = curl(cmd, doc_daemon, origin)
        assert status == 404, (cmd[-40:], body[:300])
        err = json.loads(body)
        assert DOC_ID in err["message"] and err["status"] == 404


def test_status_then_abort_then_remove(doc_daemon, origin):
    link = origin.obj_url("docs/stalled.bin", size=200_000, stall=500)
    jid = doc_daemon.start_job({"type": "single", "bucket": {"name": "ubuntu"}, "link": link})

    def running():
        st = _json(curl(_with_id(STATUS, jid), doc_daemon, origin))
        return st if st.get("current_tasks") else None

    st = poll(running, 15, what="the stalled job to run")
    assert st["id"] == jid and st["finished_time"] == ZERO_TIME

    status, _, body = curl(_with_id(REMOVE, jid), doc_daemon, origin)
    assert status == 400 and json.loads(body)["message"] == f'job "{jid}" is still running'

    status, _, body = curl(_with_id(ABORT, jid), doc_daemon, origin)
    assert status == 200 and body == b""
    st = doc_daemon.wait(jid, timeout=20)
    assert st["aborted"] is True

    status, _, body = curl(_with_id(REMOVE, jid), doc_daemon, origin)
    assert status == 200 and body == b""
    status, _, _ = curl(_with_id(STATUS, jid), doc_daemon, origin)
    assert status == 404


def test_list_and_list_by_regex(doc_daemon, origin):
    digit = doc_daemon.start_job({"type": "single", "bucket": {"name": "ubuntu"}, "description": "2024 imagenet",
                                  "link": origin.obj_url("docs/d1", size=10)})
    alpha = doc_daemon.start_job({"type": "single", "bucket": {"name": "ubuntu"}, "description": "imagenet 2024",
                                  "link": origin.obj_url("docs/d2", size=10)})
    doc_daemon.wait(digit)
    doc_daemon.wait(alpha)
    all_jobs = _json(curl(LIST, doc_daemon, origin))
    assert isinstance(all_jobs, list)
    ids = {j["id"] for j in all_jobs}
    assert {digit, alpha} <= ids
    by_regex = _json(curl(LIST_REGEX, doc_daemon, origin))
    rx_ids = {j["id"] for j in by_regex}
    assert digit in rx_ids and alpha not in rx_ids
    assert all(re.match(r"[0-9]", j["description"]) for j in by_regex)
