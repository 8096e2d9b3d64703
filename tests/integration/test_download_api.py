"""``/v1/download`` against a real ``dld serve`` and the real test origin: the AIS Internet Downloader API (§1).

Covers the start envelope (single/multi/range; backend refused), every validation error with its exact AIS message
and the ``ErrHTTP`` body, the common fields (bucket, description, timeout, progress_interval, limits, headers), the
status and list shapes (key order and types), the admin calls' errors, object naming, and byte-exact storage.
Everything runs on the session daemon; each test uses its own bucket and object names.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime

import pytest

from tests.daemon import poll
from tests.integration.helpers import (
    GO_TIME_RE,
    ZERO_TIME,
    HeaderRecorder,
    assert_err,
    assert_job_id,
    assert_stored,
    is_finished,
    listing,
    post,
    post_raw,
    uniq,
)
from tests.origin.content import expected_bytes

STATUS_KEYS = ["id", "xaction_id", "description", "started_time", "finished_time", "finished_cnt", "scheduled_cnt",
               "skipped_cnt", "error_cnt", "total", "all_dispatched", "aborted"]
TASK_KEYS = ["name", "downloaded", "total", "start_time", "end_time"]
BAD_TYPE = "input does not match any of the supported formats (single, range, multi, backend)"
EXPECTING = "(expecting e.g. 'prefix-{0001..0010..1}-suffix')"


@pytest.fixture
def d(dld_daemon):
    return dld_daemon


@pytest.fixture(scope="module")
def recorder():
    r = HeaderRecorder().start()
    yield r
    r.stop()


def _job(d, body):
    code, _, data = post(d, body)
    assert code == 200, f"POST {json.dumps(body)[:300]} -> {code}: {data[:400]!r}"
    return json.loads(data)["id"]


# ---- validation: every 400 of §1.2 / §1.8, exact message ------------------------------------------------------

H = "http://127.0.0.1:9/obj"  # never contacted: every request below is rejected before a job exists


def _b(**kw):
    return {"bucket": {"name": "vbkt"}, **kw}


VALIDATION = [
    ("no-type", {}, "'type' field is empty"),
    ("empty-type", {"type": ""}, "'type' field is empty"),
    ("unknown-type", _b(type="bogus"), BAD_TYPE),
    ("type-case", _b(type="Single", link=f"{H}/x"), BAD_TYPE),
    ("no-bucket", {"type": "single", "link": f"{H}/x"}, "missing 'bucket.name'"),
    ("empty-bucket-name", {"type": "single", "bucket": {"name": ""}, "link": f"{H}/x"}, "missing 'bucket.name'"),
    ("bucket-no-name", {"type": "single", "bucket": {"provider": "ais"}, "link": f"{H}/x"}, "missing 'bucket.name'"),
    # single
    ("single-nothing", _b(type="single"), "can not extract a valid 'object_name' from the provided download 'link'"),
    ("single-link-slash", _b(type="single", link="/"),
     "can not extract a valid 'object_name' from the provided download 'link'"),
    ("single-name-no-link", _b(type="single", object_name="x"), "missing 'link' in the request body"),
    ("single-bad-name-dotdot", _b(type="single", link=f"{H}/x", object_name="../x"), 'invalid object name "../x"'),
    ("single-bad-name-dir", _b(type="single", link=f"{H}/x", object_name="dir/../outside"),
     'invalid object name "dir/../outside"'),
    ("single-bad-escape", _b(type="single", link=f"{H}/x", object_name="bad%zz"),
     'parse "bad%zz": invalid URL escape "%zz"'),
    ("single-encoded-dotdot", _b(type="single", link=f"{H}/x", object_name="..%2Foutside"),
     'invalid object name "../outside"'),
    ("single-trailing-slash", _b(type="single", link=f"{H}/x", object_name="dir/"), 'invalid object name "dir/"'),
    # multi
    ("multi-missing", _b(type="multi"), "body should not be empty"),
    ("multi-null", _b(type="multi", objects=None), "body should not be empty"),
    ("multi-list-float", _b(type="multi", objects=[1.5]), "expected download link to be a string, got: float64"),
    ("multi-list-mixed", _b(type="multi", objects=[f"{H}/a", 7]), "expected download link to be a string, got: float64"),
    ("multi-list-bool", _b(type="multi", objects=[True]), "expected download link to be a string, got: bool"),
    ("multi-map-bool", _b(type="multi", objects={"a": True}), "values in map should be strings, found: bool"),
    ("multi-map-float", _b(type="multi", objects={"a": 3}), "values in map should be strings, found: float64"),
    ("multi-string", _b(type="multi", objects="http://x/y"),
     "JSON body should be map (string -> string) or array of strings, found: string"),
    ("multi-number", _b(type="multi", objects=12),
     "JSON body should be map (string -> string) or array of strings, found: float64"),
    ("multi-bool", _b(type="multi", objects=False),
     "JSON body should be map (string -> string) or array of strings, found: bool"),
    ("multi-list-slash", _b(type="multi", objects=["/"]), 'failed to extract object name from the download "/"'),
    ("multi-list-empty-link", _b(type="multi", objects=[""]), 'failed to extract object name from the download ""'),
    ("multi-map-bad-name", _b(type="multi", objects={"../evil": f"{H}/x"}), 'invalid object name "../evil"'),
    # range
    ("range-missing", _b(type="range"), "missing 'template' in the request body"),
    ("range-empty", _b(type="range", template=""), "missing 'template' in the request body"),
    ("range-not-bash", _b(type="range", template=f"{H}/obj.tgz"), "not a 'bash' template"),
    ("range-at-style", _b(type="range", template=f"{H}/obj@010.tgz"), "not a 'bash' template"),
    ("range-fmt-style", _b(type="range", template=f"{H}/obj%03d.tgz"), "not a 'bash' template"),
    ("range-start-gt-end", _b(type="range", template=f"{H}/p-{{002..001}}-s"),
     f"invalid 'bash' template \"{H}/p-{{002..001}}-s\": 'start' cannot be greater than 'end'"),
    ("range-negative-start", _b(type="range", template=f"{H}/p-{{-001..009}}-s"),
     f"invalid 'bash' template \"{H}/p-{{-001..009}}-s\": 'start' is negative"),
    ("range-step", _b(type="range", template=f"{H}/p-{{001..009..-1}}-s"),
     f"invalid 'bash' template \"{H}/p-{{001..009..-1}}-s\": 'step' is non-positive"),
    ("range-parseint", _b(type="range", template=f"{H}/p-{{0010..0111..2s}}-s"),
     'strconv.ParseInt: parsing "2s": invalid syntax'),
    ("range-four-arms", _b(type="range", template=f"{H}/p-{{00..10..0111..2}}-s"),
     f"invalid 'bash' template \"{H}/p-{{00..10..0111..2}}-s\" {EXPECTING}"),
    ("range-letters", _b(type="range", template=f"{H}/p-{{a..z}}"), 'strconv.ParseInt: parsing "a": invalid syntax'),
    ("range-remainder-quoted", _b(type="range", template=f"{H}/{{1..2}}-{{5..3}}"),
     "invalid 'bash' template \"-{5..3}\": 'start' cannot be greater than 'end'"),
    ("range-10M-cap", _b(type="range", template=f"{H}/o{{0..10000000}}"),
     "parsed-template: too many values (more than 10000000 max)"),
    ("range-10M-product", _b(type="range", template=f"{H}/o{{0..10000}}-{{0..999}}"),
     "parsed-template: too many values (more than 10000000 max)"),
    ("range-too-large", _b(type="range", template=f"{H}/o{{0..9223372036854775807}}"),
     "range [0..9223372036854775807..1] is too large to expand"),
    ("range-subdir-dotdot", _b(type="range", template=f"{H}/o{{0..3}}", subdir=".."), 'invalid object name "../o0"'),
    ("range-subdir-escape", _b(type="range", template=f"{H}/o{{0..3}}", subdir="a/../.."),
     'invalid object name "../o0"'),
    # common fields
    ("timeout-garbage", _b(type="single", link=f"{H}/x", timeout="abc"),
     'failed to parse timeout field: time: invalid duration "abc"'),
    ("timeout-no-unit", _b(type="single", link=f"{H}/x", timeout="5"),
     'failed to parse timeout field: time: missing unit in duration "5"'),
    ("timeout-bad-unit", _b(type="single", link=f"{H}/x", timeout="1x"),
     'failed to parse timeout field: time: unknown unit "x" in duration "1x"'),
    ("progress-garbage", _b(type="single", link=f"{H}/x", progress_interval="abc"), "invalid progress interval"),
    ("progress-no-unit", _b(type="single", link=f"{H}/x", progress_interval="10"), "invalid progress interval"),
    ("limit-conns", _b(type="single", link=f"{H}/x", limits={"connections": -1}),
     "'limit.connections' must be non-negative (got: -1)"),
    ("limit-bph", _b(type="single", link=f"{H}/x", limits={"bytes_per_hour": -5120}),
     "'limit.bytes_per_hour' must be non-negative (got: -5120)"),
    # backend into an ais:// bucket
    ("backend-ais", _b(type="backend"), "bucket download requires a remote bucket"),
]


@pytest.mark.parametrize("body,message", [v[1:] for v in VALIDATION], ids=[v[0] for v in VALIDATION])
def test_start_validation_errors(d, body, message):
    assert_err(post(d, body), 400, message, method="POST", path="/v1/download")


def test_rejected_start_creates_no_job_and_no_bucket(d):
    bucket = uniq("rej")
    assert_err(post(d, {"type": "single", "bucket": {"name": bucket}, "link": f"{H}/x", "timeout": "zz"}), 400)
    after = d.api("GET", "/v1/download", {})
    assert all(bucket not in j["description"] for j in after)
    code, _, _ = d.request("HEAD", f"/v1/buckets/{bucket}")
    assert code == 404


def test_backend_on_cloud_bucket_is_a_clear_400(d):
    resp = post(d, {"type": "backend", "bucket": {"name": uniq("gcp"), "provider": "gcp"}, "prefix": "p/"})
    body = assert_err(resp, 400)
    assert "backend" in body["message"] and len(body["message"]) > 40, body["message"]


# Inputs that are wrong in ways AIS would answer with a JSON-unmarshal or validation 400; dld must never 500.
GARBAGE = [
    ("empty", b""),
    ("blank", b"   "),
    ("null", b"null"),
    ("string", b'"string"'),
    ("array", b"[1,2]"),
    ("truncated", b"{"),
    ("trailing-comma", b'{"type": "single",}'),
    ("not-utf8", b"\xff\xfe\x00"),
    ("type-number", b'{"type": 5}'),
    ("type-list", b'{"type": ["single"]}'),
    ("bucket-string", b'{"type":"single","bucket":"b","link":"http://h/x"}'),
    ("bucket-name-number", b'{"type":"single","bucket":{"name":5},"link":"http://h/x"}'),
    ("bad-provider", b'{"type":"single","bucket":{"name":"b","provider":"nope"},"link":"http://h/x"}'),
    ("link-number", b'{"type":"single","bucket":{"name":"b"},"link":5}'),
    ("limits-string", b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","limits":"x"}'),
    ("conns-string", b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","limits":{"connections":"2"}}'),
    ("conns-float", b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","limits":{"connections":1.5}}'),
    ("conns-1e400", b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","limits":{"connections":1e400}}'),
    ("bph-neg-1e400", b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","limits":{"bytes_per_hour":-1e400}}'),
    ("headers-string", b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","headers":"x"}'),
    ("header-value-number", b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","headers":{"A":5}}'),
    ("timeout-number", b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","timeout":5}'),
    ("name-nul", b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","object_name":"a\\u0000b"}'),
    ("template-list", b'{"type":"range","bucket":{"name":"b"},"template":["x"]}'),
    ("map-null-value", b'{"type":"multi","bucket":{"name":"b"},"objects":{"a":null}}'),
    ("nested-arrays-50k", b"[" * 50000),
    ("nested-objects-50k", b'{"a":' * 50000),
]


@pytest.mark.parametrize("raw", [g[1] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_bad_input_is_400_never_500(d, raw):
    code, _, data = post_raw(d, raw)
    assert code == 400, f"POST {raw[:80]!r} -> {code}: {data[:300]!r}"
    assert_err((code, {"content-type": "application/json"}, data), 400)


@pytest.mark.parametrize("name", ["a b", "a\u0000b", "x" * 300, "semi;colon", "ünïcode"],
                         ids=["space", "nul", "300-chars", "semicolon", "non-ascii"])
def test_invalid_bucket_name_is_400_never_500(d, name):
    """AIS validates the destination bucket's name (letters, digits, ``-``, ``_``, ``.``); dld's own bucket API does
    too, so a download into a bucket it then cannot address is wrong, and a filesystem error must not be a 500."""
    resp = post(d, {"type": "single", "bucket": {"name": name}, "link": f"{H}/x"})
    body = assert_err(resp, 400)
    assert "invalid" in body["message"], body["message"]


def test_admin_get_bad_json_is_400_never_500(d):
    for raw in (b"{", b"[" * 50000, b'"x"', b"[]"):
        code, _, data = d.request("GET", "/v1/download", raw=raw)
        assert code == 400, f"GET /v1/download with {raw[:20]!r} -> {code}: {data[:200]!r}"


# ---- success: ID shape, bucket creation, descriptions, common fields ------------------------------------------

def test_post_returns_ais_shortid_job_ids(d, origin):
    bucket = uniq("ids")
    seen = set()
    for i in range(12):
        code, headers, data = post(d, {"type": "single", "bucket": {"name": bucket},
                                       "link": origin.obj_url(f"{bucket}/o{i}", size=10)})
        assert code == 200, data
        assert headers["content-type"].startswith("application/json")
        body = json.loads(data)
        assert list(body) == ["id"]
        assert_job_id(body["id"])
        seen.add(body["id"])
    assert len(seen) == 12
    for jid in seen:
        d.wait(jid)


def test_missing_ais_bucket_is_created_by_the_request(d, origin):
    bucket = uniq("auto")
    code, _, _ = d.request("HEAD", f"/v1/buckets/{bucket}")
    assert code == 404
    link = origin.obj_url(f"{bucket}/slow", size=2000, delay_ms=300)
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": link})
    code, _, _ = d.request("HEAD", f"/v1/buckets/{bucket}")
    assert code == 200, "the ais:// bucket must exist as soon as the start request is answered"
    names = [b["name"] for b in d.api("GET", "/v1/buckets")]
    assert bucket in names
    st = d.wait(jid)
    assert st["finished_cnt"] == 1 and st["error_cnt"] == 0, st
    assert_stored(d, bucket, "slow", expected_bytes(f"{bucket}/slow", 2000))


def test_explicit_provider_and_namespace(d, origin):
    bucket = uniq("ns")
    link = origin.obj_url(f"{bucket}/n1", size=321)
    jid = _job(d, {"type": "single", "bucket": {"name": bucket, "provider": "ais",
                                                "namespace": {"uuid": "", "name": "myns"}}, "link": link})
    st = d.wait(jid)
    assert st["finished_cnt"] == 1, st
    code, _, data = d.request("GET", f"/v1/objects/{bucket}/n1?namespace=%23myns")
    assert code == 200 and data == expected_bytes(f"{bucket}/n1", 321)
    # and not in the bucket of the same name without namespace
    code, _, _ = d.request("GET", f"/v1/objects/{bucket}/n1")
    assert code == 404


def test_default_descriptions(d, origin):
    bucket = uniq("desc")
    link = origin.obj_url(f"{bucket}/file.bin", size=10)
    j1 = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": link, "object_name": "named.bin"})
    j2 = _job(d, {"type": "multi", "bucket": {"name": bucket}, "objects": [link]})
    tpl = origin.url(f"/obj/{bucket}/r{{0..1}}?size=10")
    j3 = _job(d, {"type": "range", "bucket": {"name": bucket}, "template": tpl})
    j4 = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": link, "description": "my own words"})
    j5 = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": link})
    assert d.status(j1)["description"] == f"{link} -> ais://{bucket}/named.bin"
    assert d.status(j2)["description"] == f"multi-download -> ais://{bucket}"
    assert d.status(j3)["description"] == f"{tpl} -> ais://{bucket}"
    assert d.status(j4)["description"] == "my own words"
    assert d.status(j5)["description"] == f"{link} -> ais://{bucket}/file.bin"
    for j in (j1, j2, j3, j4, j5):
        d.wait(j)


@pytest.mark.parametrize("timeout", ["1h30m", "1.5s", "300ms", "0s", "", "1h", "2m3.5s", "+5s"])
def test_go_duration_timeouts_accepted(d, origin, timeout):
    bucket = uniq("to")
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "timeout": timeout,
                   "link": origin.obj_url(f"{bucket}/t", size=50)})
    st = d.wait(jid)
    assert st["finished_cnt"] == 1 and st["error_cnt"] == 0, st


def test_timeout_field_is_the_per_attempt_request_timeout(d, origin):
    """timeout=300ms against an origin that answers the first request after 1.5 s: that attempt times out, the
    second (answered at once) succeeds. With the 1 h default the first attempt would simply have waited."""
    bucket = uniq("tmo")
    name = f"{bucket}/slowfirst"
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "timeout": "300ms",
                   "link": origin.obj_url(name, size=4000, delay_ms=1500, times=1)})
    st = d.wait(jid, timeout=30)
    assert st["error_cnt"] == 0 and st["finished_cnt"] == 1, st
    assert origin.object_stats(name)["requests"] == 2
    assert_stored(d, bucket, "slowfirst", expected_bytes(name, 4000))


@pytest.mark.parametrize("pi", ["10s", "1m", "500ms", ""])
def test_progress_interval_accepted(d, origin, pi):
    bucket = uniq("pi")
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "progress_interval": pi,
                   "link": origin.obj_url(f"{bucket}/p", size=50)})
    assert d.wait(jid)["finished_cnt"] == 1


def test_zero_limits_accepted(d, origin):
    bucket = uniq("lim0")
    jid = _job(d, {"type": "multi", "bucket": {"name": bucket}, "limits": {"connections": 0, "bytes_per_hour": 0},
                   "objects": [origin.obj_url(f"{bucket}/a", size=70_000), origin.obj_url(f"{bucket}/b", size=10)]})
    st = d.wait(jid)
    assert st["finished_cnt"] == 2, st
    assert_stored(d, bucket, "a", expected_bytes(f"{bucket}/a", 70_000))


# ---- headers: sent on every GET to the origin, never shown back -------------------------------------------------

def test_headers_sent_to_origin_and_never_echoed(d, recorder):
    bucket = uniq("hdr")
    secret = "sekrit-" + uniq("tok")
    paths = [f"/plain/{bucket}/a", f"/plain/{bucket}/b"]
    jid = _job(d, {"type": "multi", "bucket": {"name": bucket},
                   "objects": [recorder.url(p + "?size=300") for p in paths],
                   "headers": {"Authorization": [f"Bearer {secret}"], "X-Dld-Test": ["one", "two"]}})
    st = d.wait(jid)
    assert st["finished_cnt"] == 2 and st["error_cnt"] == 0, st
    for p in paths:
        got = recorder.headers_of(p)
        assert got, f"origin saw no request for {p}"
        hdrs = got[-1]
        assert ("Authorization", f"Bearer {secret}") in hdrs, hdrs
        assert [v for k, v in hdrs if k.lower() == "x-dld-test"] == ["one", "two"], hdrs
    # never echoed: status (both forms), list, list by regex, manifest
    bodies = [
        d.request("GET", "/v1/download", {"id": jid})[2],
        d.request("GET", "/v1/download", {"id": jid, "only_active_tasks": True})[2],
        d.request("GET", "/v1/download", {})[2],
        d.request("GET", "/v1/download", {"regex": bucket})[2],
        d.request("GET", f"/v1/download/manifest?id={jid}")[2],
    ]
    for b in bodies:
        assert secret.encode() not in b and b"X-Dld-Test" not in b and b"Bearer" not in b, b[:500]
    assert secret.encode() not in d.log_path.read_bytes(), "the daemon's log must not show job headers"


def test_headers_reach_the_test_origin(d, origin):
    """``If-Match`` with a wrong ETag is only seen by the origin if dld forwards the job's headers: it answers 412,
    which is a fatal (non-retried) error."""
    bucket = uniq("hdr2")
    name = f"{bucket}/im"
    link = origin.obj_url(name, size=100)
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": link,
                   "headers": {"If-Match": ['"not-the-etag"']}})
    st = d.wait(jid)
    assert st["error_cnt"] == 1, st
    assert st["download_errors"] == [{"name": "im", "error": f'failed to download "{link}": status 412'}]
    assert origin.object_stats(name)["statuses"] == {"412": 1}


# ---- status shape ------------------------------------------------------------------------------------------------

def _check_task(t, running):
    keys = [k for k in TASK_KEYS if k in t]
    assert list(t) == keys, f"task keys/order {list(t)}"
    assert {"name", "downloaded", "start_time", "end_time"} <= set(t)
    assert isinstance(t["downloaded"], str) and t["downloaded"].isdigit()
    if "total" in t:
        assert isinstance(t["total"], str) and t["total"].isdigit() and t["total"] != "0"
    assert GO_TIME_RE.match(t["start_time"]) and t["start_time"] != ZERO_TIME
    if running:
        assert t["end_time"] == ZERO_TIME
    else:
        assert GO_TIME_RE.match(t["end_time"]) and t["end_time"] != ZERO_TIME


def test_status_shape_while_running_and_after(d, origin):
    bucket = uniq("shape")
    name = f"{bucket}/stalls"
    link = origin.obj_url(name, size=100_000, stall=1000)
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": link})

    def running():
        st = d.status(jid)
        cur = st.get("current_tasks") or []
        return st if cur and cur[0]["downloaded"] == "1000" else None

    st = poll(running, 15, what="the stalled task to show 1000 bytes")
    assert list(st)[:12] == STATUS_KEYS
    assert list(st)[12] == "current_tasks"
    assert st["id"] == jid
    assert isinstance(st["xaction_id"], str) and st["xaction_id"]
    assert GO_TIME_RE.match(st["started_time"]) and st["started_time"] != ZERO_TIME
    assert st["finished_time"] == ZERO_TIME
    for k in ("finished_cnt", "scheduled_cnt", "skipped_cnt", "error_cnt", "total"):
        assert type(st[k]) is int, k
    assert type(st["all_dispatched"]) is bool and type(st["aborted"]) is bool
    assert st["total"] == 1 and st["scheduled_cnt"] == 1 and st["finished_cnt"] == 0 and st["aborted"] is False
    (task,) = st["current_tasks"]
    _check_task(task, running=True)
    assert task["name"] == "stalls" and task["downloaded"] == "1000"
    assert "finished_tasks" not in st and "download_errors" not in st  # omitempty

    act = d.status(jid, only_active=True)
    assert "finished_tasks" not in act and "download_errors" not in act
    assert act["current_tasks"][0]["name"] == "stalls"

    d.api("DELETE", "/v1/download/abort", {"id": jid})
    st = d.wait(jid)
    assert st["aborted"] is True and is_finished(st)
    assert GO_TIME_RE.match(st["finished_time"]) and st["finished_time"] >= st["started_time"]
    assert list(st)[:12] == STATUS_KEYS
    # finished: only_active_tasks omits finished_tasks and download_errors even when there are some
    assert "download_errors" in st
    act = d.status(jid, only_active=True)
    assert "finished_tasks" not in act and "download_errors" not in act
    # last, so that the checks above run even when this one fails: a running task shows the Content-Length
    assert task.get("total") == "100000", f"running task must show Content-Length as total: {task}"


def test_status_counters_and_task_lists_after_finish(d, origin):
    bucket = uniq("cnt")
    ok = [origin.obj_url(f"{bucket}/ok{i}", size=100 * (i + 1)) for i in range(3)]
    bad = origin.obj_url(f"{bucket}/missing", status=404)
    jid = _job(d, {"type": "multi", "bucket": {"name": bucket}, "objects": [*ok, bad]})
    st = d.wait(jid)
    assert list(st) == [*STATUS_KEYS, "current_tasks", "finished_tasks", "download_errors"] or \
        list(st) == [*STATUS_KEYS, "finished_tasks", "download_errors"], list(st)
    assert st["total"] == 4 and st["scheduled_cnt"] == 4
    assert st["finished_cnt"] == 3 and st["error_cnt"] == 1 and st["skipped_cnt"] == 0
    assert st["all_dispatched"] is True and st["aborted"] is False
    assert st["scheduled_cnt"] == st["finished_cnt"] + st["error_cnt"]
    assert not st.get("current_tasks")
    fin = {t["name"]: t for t in st["finished_tasks"]}
    assert set(fin) == {"ok0", "ok1", "ok2", "missing"}
    for i in range(3):
        t = fin[f"ok{i}"]
        _check_task(t, running=False)
        assert t["downloaded"] == str(100 * (i + 1))
        assert t.get("total") == str(100 * (i + 1))
    assert st["download_errors"] == [{"name": "missing", "error": f"ErrNotFound: {bad} does not exist"}]


def test_unknown_content_length_omits_task_total(d, recorder):
    bucket = uniq("chunk")
    path = f"/chunked/{bucket}/c"
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": recorder.url(path + "?size=20480&slow_ms=100")})

    def running():
        cur = d.status(jid).get("current_tasks") or []
        return cur[0] if cur and int(cur[0]["downloaded"]) > 0 else None

    task = poll(running, 15, what="chunked task to start")
    assert "total" not in task, task
    _check_task(task, running=True)
    st = d.wait(jid, timeout=30)
    assert st["finished_cnt"] == 1, st
    assert d.request("GET", f"/v1/objects/{bucket}/c")[2] == b"y" * 20480


# ---- list --------------------------------------------------------------------------------------------------------

def test_list_forms(d, origin):
    bucket = uniq("lst")
    tok = uniq("zq").replace("-", "")
    j_digit = _job(d, {"type": "single", "bucket": {"name": bucket}, "description": f"123 {tok} digits",
                       "link": origin.obj_url(f"{bucket}/a", size=10)})
    j_alpha = _job(d, {"type": "single", "bucket": {"name": bucket}, "description": f"abc {tok} letters",
                       "link": origin.obj_url(f"{bucket}/b", size=10)})
    d.wait(j_digit)
    d.wait(j_alpha)

    def ids(resp):
        code, headers, data = resp
        assert code == 200, data[:300]
        arr = json.loads(data)
        assert isinstance(arr, list)
        for j in arr:
            assert list(j) == STATUS_KEYS, list(j)
        return {j["id"] for j in arr}

    everything = [
        d.request("GET", "/v1/download", {}),
        d.request("GET", "/v1/download", {"id": "", "regex": "", "only_active_tasks": False}),
        d.request("GET", "/v1/download", raw=b""),
        d.request("GET", "/v1/download", None, headers={"Content-Type": "text/plain"}),
        d.request("GET", "/v1/download?id="),
        d.request("GET", "/v1/download?regex="),
    ]
    for resp in everything:
        assert {j_digit, j_alpha} <= ids(resp)

    assert ids(d.request("GET", "/v1/download", {"regex": tok})) == {j_digit, j_alpha}
    assert ids(d.request("GET", "/v1/download", {"regex": f"^[0-9]+ {tok}"})) == {j_digit}
    got = ids(d.request("GET", "/v1/download", {"regex": "^[0-9]"}))
    assert j_digit in got and j_alpha not in got
    assert ids(d.request("GET", "/v1/download", {"regex": f"^[[:digit:]]{{3}} {tok}"})) == {j_digit}
    assert ids(d.request("GET", "/v1/download", {"regex": f"^[[:alpha:]]+ {tok}"})) == {j_alpha}
    assert ids(d.request("GET", f"/v1/download?regex=%5E%5B0-9%5D%2B%20{tok}")) == {j_digit}
    assert ids(d.request("GET", "/v1/download", {"regex": f"(abc|xyz) {tok}"})) == {j_alpha}
    assert ids(d.request("GET", "/v1/download", {"regex": f"{tok}-nothing-matches"})) == set()
    # ?id=<id> is a status, not a list
    code, _, data = d.request("GET", f"/v1/download?id={j_digit}")
    assert code == 200 and json.loads(data)["id"] == j_digit


def test_list_only_active_and_finished_order(d, origin):
    bucket = uniq("act")
    stall = _job(d, {"type": "single", "bucket": {"name": bucket}, "description": f"{bucket} running",
                     "link": origin.obj_url(f"{bucket}/stall", size=50_000, stall=100)})
    done = _job(d, {"type": "single", "bucket": {"name": bucket}, "description": f"{bucket} done",
                    "link": origin.obj_url(f"{bucket}/ok", size=10)})
    d.wait(done)
    active = d.api("GET", "/v1/download", {"regex": bucket, "only_active_tasks": True})
    assert [j["id"] for j in active] == [stall]
    allj = d.api("GET", "/v1/download", {"regex": bucket})
    assert [j["id"] for j in allj] == [stall, done]  # running first, then finished
    d.api("DELETE", "/v1/download/abort", {"id": stall})
    d.wait(stall)


def test_list_empty_is_array_on_fresh_regex(d):
    code, headers, data = d.request("GET", "/v1/download", {"regex": "^no job has this description " + uniq()})
    assert code == 200 and data.strip() == b"[]"
    assert headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("rx", ["(", "a**", "[[:nosuchclass:]]", "x{2,1}", "[z-a]"])
def test_invalid_regex_is_400(d, rx):
    """Go's ``regexp.CompilePOSIX`` rejects all of these; AIS answers 400."""
    assert_err(d.request("GET", "/v1/download", {"regex": rx}), 400, method="GET")


def test_id_and_regex_together_is_400(d):
    resp = d.request("GET", "/v1/download", {"id": "dnl-abcdefghi", "regex": "^x"})
    assert_err(resp, 400, 'regex "^x" and job ID "dnl-abcdefghi" cannot be defined together '
                          "(choose one or the other)", method="GET", path="/v1/download")


# ---- status / abort / remove errors, methods, paths --------------------------------------------------------------

def test_unknown_job_is_404_everywhere(d):
    jid = "dnl-" + "NoSuchJob1"
    for method, path in (("GET", "/v1/download"), ("DELETE", "/v1/download/abort"),
                         ("DELETE", "/v1/download/remove")):
        body = assert_err(d.request(method, path, {"id": jid}), 404, method=method, path=path)
        assert f"download job {jid} does not exist" in body["message"], body["message"]


def test_delete_without_id_is_400(d):
    for path in ("/v1/download/abort", "/v1/download/remove"):
        assert_err(d.request("DELETE", path, {}), 400, "UUID not specified", method="DELETE", path=path)
        assert_err(d.request("DELETE", path, raw=b""), 400, "UUID not specified")
        assert_err(d.request("DELETE", path, {"id": ""}), 400, "UUID not specified")


def test_remove_running_job_is_400(d, origin):
    bucket = uniq("rmrun")
    jid = _job(d, {"type": "single", "bucket": {"name": bucket},
                   "link": origin.obj_url(f"{bucket}/stall", size=50_000, stall=10)})
    assert_err(d.request("DELETE", "/v1/download/remove", {"id": jid}), 400, f'job "{jid}" is still running')
    d.api("DELETE", "/v1/download/abort", {"id": jid})
    d.wait(jid)
    code, _, data = d.request("DELETE", "/v1/download/remove", {"id": jid})
    assert code == 200 and data == b""
    assert_err(d.request("GET", "/v1/download", {"id": jid}), 404)
    assert_err(d.request("DELETE", "/v1/download/remove", {"id": jid}), 404)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_other_methods_are_405(d, method):
    for path in ("/v1/download", "/v1/download/abort"):
        resp = d.request(method, path, {})
        assert_err(resp, 405, method=method)
        assert resp[1].get("allow") == "DELETE, GET, POST"


def test_post_with_extra_path_is_400(d, origin):
    bucket = uniq("px")
    for path in ("/v1/download/x", "/v1/download/abort", "/v1/download/x/y"):
        resp = d.request("POST", path, {"type": "single", "bucket": {"name": bucket}, "link": origin.obj_url("x")})
        assert_err(resp, 400, method="POST", path=path)
    code, _, _ = d.request("HEAD", f"/v1/buckets/{bucket}")
    assert code == 404


def test_delete_other_action_is_400(d):
    assert_err(d.request("DELETE", "/v1/download/bogus", {"id": "dnl-x"}), 400, method="DELETE")
    assert_err(d.request("DELETE", "/v1/download", {"id": "dnl-x"}), 400, method="DELETE")


# ---- naming and bytes ----------------------------------------------------------------------------------------------

def test_single_names(d, origin):
    bucket = uniq("nm")
    cases = {
        # link -> (stored name, origin object name, size)
        "explicit": (origin.obj_url(f"{bucket}/src.bin", size=500), "dir/custom.bin", f"{bucket}/src.bin", 500),
        "base": (origin.obj_url(f"{bucket}/deep/x1.bin", size=600), None, f"{bucket}/deep/x1.bin", 600),
        "query-slash": (origin.obj_url(f"{bucket}/q.bin", size=700) + "&x=/y/zname", None, f"{bucket}/q.bin", 700),
        "escaped": (origin.url(f"/obj/{bucket}/sp%20ace.bin?size=800"), None, f"{bucket}/sp ace.bin", 800),
    }
    expect_name = {"explicit": "dir/custom.bin", "base": "x1.bin", "query-slash": "zname", "escaped": "sp ace.bin"}
    jobs = {}
    for k, (link, oname, _, _) in cases.items():
        body = {"type": "single", "bucket": {"name": bucket}, "link": link}
        if oname:
            body["object_name"] = oname
        jobs[k] = _job(d, body)
    for k, jid in jobs.items():
        st = d.wait(jid)
        assert st["finished_cnt"] == 1, (k, st)
        _, _, src, size = cases[k]
        assert_stored(d, bucket, expect_name[k], expected_bytes(src, size))
    assert listing(d, bucket) == sorted(expect_name.values())


def test_multi_map_and_list_names_and_duplicates(d, origin):
    bucket = uniq("mm")
    m = {"m/one.bin": origin.obj_url(f"{bucket}/src1", size=111), "two": origin.obj_url(f"{bucket}/src2", size=222)}
    j1 = _job(d, {"type": "multi", "bucket": {"name": bucket}, "objects": m})
    lst = [origin.obj_url(f"{bucket}/l/a.bin", size=333), origin.obj_url(f"{bucket}/l/b.bin", size=444)]
    j2 = _job(d, {"type": "multi", "bucket": {"name": bucket}, "objects": lst})
    dup = [origin.obj_url(f"{bucket}/d1/dup.bin", size=555), origin.obj_url(f"{bucket}/d2/dup.bin", size=556)]
    j3 = _job(d, {"type": "multi", "bucket": {"name": bucket}, "objects": dup})
    s1, s2, s3 = d.wait(j1), d.wait(j2), d.wait(j3)
    assert (s1["total"], s1["finished_cnt"]) == (2, 2)
    assert (s2["total"], s2["finished_cnt"]) == (2, 2)
    assert (s3["total"], s3["finished_cnt"], s3["scheduled_cnt"]) == (1, 1, 1), s3  # duplicates collapse
    assert_stored(d, bucket, "m/one.bin", expected_bytes(f"{bucket}/src1", 111))
    assert_stored(d, bucket, "two", expected_bytes(f"{bucket}/src2", 222))
    assert_stored(d, bucket, "a.bin", expected_bytes(f"{bucket}/l/a.bin", 333))
    assert_stored(d, bucket, "b.bin", expected_bytes(f"{bucket}/l/b.bin", 444))
    assert_stored(d, bucket, "dup.bin", expected_bytes(f"{bucket}/d2/dup.bin", 556))  # last wins
    assert listing(d, bucket) == ["a.bin", "b.bin", "dup.bin", "m/one.bin", "two"]


def test_range_names_with_and_without_subdir(d, origin):
    bucket = uniq("rg")
    tpl = origin.url(f"/obj/{bucket}/r-{{08..11}}.bin?size=300")
    j1 = _job(d, {"type": "range", "bucket": {"name": bucket}, "template": tpl})
    j2 = _job(d, {"type": "range", "bucket": {"name": bucket}, "template": tpl, "subdir": "some/subdir/"})
    tpl3 = origin.url(f"/obj/{bucket}/s{{0..9..4}}-{{1..2}}?size=64")
    j3 = _job(d, {"type": "range", "bucket": {"name": bucket}, "template": tpl3, "subdir": "x"})
    s1, s2, s3 = d.wait(j1), d.wait(j2), d.wait(j3)
    assert (s1["total"], s1["finished_cnt"], s1["error_cnt"]) == (4, 4, 0), s1
    assert (s2["total"], s2["finished_cnt"]) == (4, 4), s2
    assert (s3["total"], s3["finished_cnt"]) == (6, 6), s3
    for i in ("08", "09", "10", "11"):
        exp = expected_bytes(f"{bucket}/r-{i}.bin", 300)
        assert_stored(d, bucket, f"r-{i}.bin", exp)
        assert_stored(d, bucket, f"some/subdir/r-{i}.bin", exp)
    for a in (0, 4, 8):
        for b in (1, 2):
            assert_stored(d, bucket, f"x/s{a}-{b}", expected_bytes(f"{bucket}/s{a}-{b}", 64))
    assert len(listing(d, bucket)) == 14


def test_big_object_bytes_exact(d, origin):
    bucket = uniq("big")
    size = 5 * 1024 * 1024 + 12345
    name = f"{bucket}/big.bin"
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": origin.obj_url(name, size=size)})
    st = d.wait(jid)
    assert st["finished_cnt"] == 1, st
    assert st["finished_tasks"][0]["downloaded"] == str(size)
    assert_stored(d, bucket, "big.bin", expected_bytes(name, size))


def test_scheme_less_link_gets_http(d, origin):
    bucket = uniq("nosch")
    link = origin.obj_url(f"{bucket}/plain", size=99).removeprefix("http://")
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": link})
    st = d.wait(jid)
    assert st["finished_cnt"] == 1, st
    assert_stored(d, bucket, "plain", expected_bytes(f"{bucket}/plain", 99))


def test_started_time_is_recent(d, origin):
    bucket = uniq("tm")
    before = time.time()
    jid = _job(d, {"type": "single", "bucket": {"name": bucket}, "link": origin.obj_url(f"{bucket}/t", size=10)})
    st = d.wait(jid)
    started = datetime.fromisoformat(st["started_time"][:26].rstrip("Z") + "+00:00").timestamp()
    assert before - 2 < started < time.time() + 2


def test_a_jobs_headers_never_leak_into_the_next_jobs_requests(recorder, make_daemon):
    """Regression: easy handles are reused across jobs; one slot (so one handle) makes the reuse certain."""
    d = make_daemon("--transfers-per-mountpath", "1")
    tag = uuid.uuid4().hex[:8]
    d.wait(_job(d, {"type": "single", "bucket": {"name": f"hl{tag}"}, "object_name": "a",
                    "link": recorder.url(f"/plain/{tag}-a?size=10"),
                    "headers": {"Authorization": ["Bearer secret-of-job-a"], "If-Match": ['"x"']}}))
    d.wait(_job(d, {"type": "single", "bucket": {"name": f"hl{tag}"}, "object_name": "b",
                    "link": recorder.url(f"/plain/{tag}-b?size=10")}))
    (first,), (second,) = recorder.headers_of(f"/plain/{tag}-a"), recorder.headers_of(f"/plain/{tag}-b")
    assert ("Authorization", "Bearer secret-of-job-a") in first
    assert not any(k.lower() in ("authorization", "if-match") for k, _ in second), second
