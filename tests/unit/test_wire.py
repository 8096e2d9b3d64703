"""Tables for ``dld.wire``: the start envelope (accepted forms and every AIS error message), the admin body, Go
time formatting, the streamed status JSON, and job IDs. No daemon, no I/O.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from dld import wire
from dld.errors import BadRequest
from dld.store.meta import Bck

L = "http://h.example/dir/obj.tgz"
BAD_TYPE = "input does not match any of the supported formats (single, range, multi, backend)"
EXPECTING = "(expecting e.g. 'prefix-{0001..0010..1}-suffix')"
ALPHABET = "-5nZJDft6LuzsjGNpPwY7rQa39vehq4i1cV2FROo8yHSlC0BUEdWbIxMmTgKXAk_"


def start(body) -> wire.StartRequest:
    return wire.parse_start(json.dumps(body).encode() if not isinstance(body, bytes) else body)


def b(**kw):
    return {"bucket": {"name": "bkt"}, **kw}


# ---- parse_start: accepted forms ----------------------------------------------------------------------------------


def test_single_minimal():
    r = start(b(type="single", link=L))
    s = r.spec
    assert r.items is None
    assert (s.kind, s.bck, s.link, s.object_name) == ("single", Bck("ais", "bkt", ""), L, "obj.tgz")
    assert s.description == f"{L} -> ais://bkt/obj.tgz"
    assert (s.timeout_ns, s.progress_interval_ns, s.connections, s.bytes_per_hour, s.headers) == (
        0, 10_000_000_000, 0, 0, {})


@pytest.mark.parametrize("link,name", [
    ("https://host/a/b/c.tar", "c.tar"),
    ("https://host/a/b/", "b"),
    ("https://host", "host"),
    ("https://raw.githubusercontent.com/kubernetes/kubernetes/master/LICENSE?query=values", "LICENSE"),
    ("https://www.googleapis.com/storage/v1/b/nvdata-openimages/o/imagenet%2Fimagenet_train-000000.tgz?alt=media",
     "imagenet/imagenet_train-000000.tgz"),
    ("https://host/dir/file?x=/y/z", "z"),
    ("https://host/dir/file#frag", "file"),
])
def test_single_name_from_link(link, name):
    assert start(b(type="single", link=link)).spec.object_name == name


def test_single_explicit_name_and_scheme_less_link():
    s = start(b(type="single", link="host/x.bin", object_name="d/n.bin", description="mine")).spec
    assert (s.link, s.object_name, s.description) == ("http://host/x.bin", "d/n.bin", "mine")


@pytest.mark.parametrize("provider,canonical", [("", "ais"), ("ais", "ais"), ("aws", "aws"), ("gcp", "gcp"),
                                                ("azure", "azure")])
def test_bucket_provider(provider, canonical):
    s = start({"type": "single", "bucket": {"name": "x", "provider": provider}, "link": L}).spec
    assert s.bck.provider == canonical and s.bck.name == "x"


def test_bucket_namespace():
    s = start({"type": "single", "bucket": {"name": "x", "namespace": {"uuid": "", "name": "ns"}}, "link": L}).spec
    assert s.bck == Bck("ais", "x", "ns")


@pytest.mark.parametrize("text,ns", [
    ("1h30m", 5_400_000_000_000), ("1.5s", 1_500_000_000), ("300ms", 300_000_000), ("0s", 0), ("", 0),
    ("1ms", 1_000_000), ("2h45m30.5s", 9_930_500_000_000), ("+5s", 5_000_000_000), ("1us", 1000), ("1µs", 1000),
    ("7ns", 7), ("-1s", -1_000_000_000),
])
def test_timeout_go_durations(text, ns):
    assert start(b(type="single", link=L, timeout=text)).spec.timeout_ns == ns


@pytest.mark.parametrize("text,ns", [("10s", 10_000_000_000), ("", 10_000_000_000), ("1m", 60_000_000_000),
                                     ("250ms", 250_000_000)])
def test_progress_interval(text, ns):
    assert start(b(type="single", link=L, progress_interval=text)).spec.progress_interval_ns == ns


def test_limits_and_headers():
    s = start(b(type="single", link=L, limits={"connections": 3, "bytes_per_hour": 5120},
                headers={"Authorization": ["Bearer t"], "X-One": "v"})).spec
    assert (s.connections, s.bytes_per_hour) == (3, 5120)
    assert s.headers == {"Authorization": ["Bearer t"], "X-One": ["v"]}
    assert sorted(s.header_lines()) == ["Authorization: Bearer t", "X-One: v"]


def test_multi_list_and_map_items():
    r = start(b(type="multi", objects=["http://h/a/x.bin", "h2/y.bin?q=1"]))
    assert r.items == [("x.bin", "http://h/a/x.bin"), ("y.bin", "http://h2/y.bin?q=1")]
    assert r.spec.description == "multi-download -> ais://bkt"
    r = start(b(type="multi", objects={"n/1": "http://h/1", "two": "http://h/2"}))
    assert r.items == [("n/1", "http://h/1"), ("two", "http://h/2")]


def test_multi_duplicates_collapse_last_wins():
    r = start(b(type="multi", objects=["http://h/d1/dup", "http://h/x", "http://h/d2/dup"]))
    assert dict(r.items) == {"dup": "http://h/d2/dup", "x": "http://h/x"}
    assert len(r.items) == 2


def test_range_spec():
    tpl = "http://h/obj{0..9}.tgz"
    s = start(b(type="range", template=tpl, subdir="sub/")).spec
    assert (s.kind, s.template, s.subdir, s.description) == ("range", tpl, "sub/", f"{tpl} -> ais://bkt")


def test_range_ten_million_exactly_is_accepted():
    assert start(b(type="range", template="http://h/o{0..9999}-{0..999}")).spec.kind == "range"


def test_jobspec_json_round_trip():
    s = start(b(type="single", link=L, timeout="2s", limits={"connections": 2},
                headers={"A": ["1", "2"]})).spec
    assert wire.JobSpec.from_json(s.to_json()) == s


# ---- parse_start: errors (status 400, exact AIS text) -----------------------------------------------------------

ERRORS = [
    ({}, "'type' field is empty"),
    ({"type": ""}, "'type' field is empty"),
    ({"type": None}, "'type' field is empty"),
    (b(type="bogus"), BAD_TYPE),
    (b(type="SINGLE"), BAD_TYPE),
    ({"type": "single", "link": L}, "missing 'bucket.name'"),
    ({"type": "single", "bucket": {}, "link": L}, "missing 'bucket.name'"),
    ({"type": "single", "bucket": {"name": ""}, "link": L}, "missing 'bucket.name'"),
    (b(type="single"), "can not extract a valid 'object_name' from the provided download 'link'"),
    (b(type="single", link="/"), "can not extract a valid 'object_name' from the provided download 'link'"),
    (b(type="single", link="", object_name=""), "can not extract a valid 'object_name' from the provided download 'link'"),
    (b(type="single", object_name="x"), "missing 'link' in the request body"),
    (b(type="single", link=L, object_name="../x"), 'invalid object name "../x"'),
    (b(type="single", link=L, object_name="~/x"), 'invalid object name "~/x"'),
    (b(type="single", link=L, object_name="./x"), 'invalid object name "./x"'),
    (b(type="single", link=L, object_name="bad%zz"), 'parse "bad%zz": invalid URL escape "%zz"'),
    (b(type="single", link=L, object_name="2023:data.txt"),
     'parse "2023:data.txt": first path segment in URL cannot contain colon'),
    (b(type="multi"), "body should not be empty"),
    (b(type="multi", objects=None), "body should not be empty"),
    (b(type="multi", objects=[1.5]), "expected download link to be a string, got: float64"),
    (b(type="multi", objects=[None]), "expected download link to be a string, got: <nil>"),
    (b(type="multi", objects=[{}]), "expected download link to be a string, got: map[string]interface {}"),
    (b(type="multi", objects=[[]]), "expected download link to be a string, got: []interface {}"),
    (b(type="multi", objects={"a": True}), "values in map should be strings, found: bool"),
    (b(type="multi", objects={"a": 1}), "values in map should be strings, found: float64"),
    (b(type="multi", objects={"a": ["x"]}), "values in map should be strings, found: []interface {}"),
    (b(type="multi", objects="str"), "JSON body should be map (string -> string) or array of strings, found: string"),
    (b(type="multi", objects=7), "JSON body should be map (string -> string) or array of strings, found: float64"),
    (b(type="multi", objects=True), "JSON body should be map (string -> string) or array of strings, found: bool"),
    (b(type="multi", objects=["/"]), 'failed to extract object name from the download "/"'),
    (b(type="multi", objects=[""]), 'failed to extract object name from the download ""'),
    (b(type="range"), "missing 'template' in the request body"),
    (b(type="range", template=""), "missing 'template' in the request body"),
    (b(type="range", template="http://h/obj.tgz"), "not a 'bash' template"),
    (b(type="range", template="http://h/obj@9"), "not a 'bash' template"),
    (b(type="range", template="http://h/prefix-{001..009-suffix"), "not a 'bash' template"),
    (b(type="range", template="p-{002..001}-s"), "invalid 'bash' template \"p-{002..001}-s\": 'start' cannot be greater than 'end'"),
    (b(type="range", template="p-{-001..009}-s"), "invalid 'bash' template \"p-{-001..009}-s\": 'start' is negative"),
    (b(type="range", template="p-{001..009..-1}-s"),
     "invalid 'bash' template \"p-{001..009..-1}-s\": 'step' is non-positive"),
    (b(type="range", template="p-{0010..0111..2s}-s"), 'strconv.ParseInt: parsing "2s": invalid syntax'),
    (b(type="range", template="p-{}-s"), f"invalid 'bash' template \"p-{{}}-s\" {EXPECTING}"),
    (b(type="range", template="{1..2}}{3..4}"), f"invalid 'bash' template \"}}{{3..4}}\" {EXPECTING}"),
    (b(type="range", template="{0..10000000}"), "parsed-template: too many values (more than 10000000 max)"),
    (b(type="range", template="{0..10000}-{0..999}"), "parsed-template: too many values (more than 10000000 max)"),
    (b(type="range", template="{0..9223372036854775807}"), "range [0..9223372036854775807..1] is too large to expand"),
    (b(type="range", template="{1..99999999999999999999}"),
     'strconv.ParseInt: parsing "99999999999999999999": value out of range'),
    (b(type="range", template="http://h/o{0..3}", subdir=".."), 'invalid object name "../o0"'),
    (b(type="range", template="http://h/o{0..3}", subdir="~"), 'invalid object name "~/o0"'),
    (b(type="single", link=L, timeout="abc"), 'failed to parse timeout field: time: invalid duration "abc"'),
    (b(type="single", link=L, timeout="10"), 'failed to parse timeout field: time: missing unit in duration "10"'),
    (b(type="single", link=L, timeout="1d"), 'failed to parse timeout field: time: unknown unit "d" in duration "1d"'),
    (b(type="single", link=L, progress_interval="abc"), "invalid progress interval"),
    (b(type="single", link=L, progress_interval="5"), "invalid progress interval"),
    (b(type="single", link=L, limits={"connections": -1}), "'limit.connections' must be non-negative (got: -1)"),
    (b(type="single", link=L, limits={"bytes_per_hour": -7}), "'limit.bytes_per_hour' must be non-negative (got: -7)"),
    (b(type="backend"), "bucket download requires a remote bucket"),
    # dld: stricter than AIS where AIS would accept input that can only fail later
    (b(type="single", link="ftp://h/x"), 'unsupported link "ftp://h/x": dld downloads http:// and https:// links only'),
    (b(type="multi", objects=["file:///etc/passwd"]),
     'unsupported link "file:///etc/passwd": dld downloads http:// and https:// links only'),
    (b(type="range", template="gopher://h/{0..3}"),
     'unsupported link "gopher://h/0": dld downloads http:// and https:// links only'),
    (b(type="single", link=L, force="yes"), "failed to unmarshal: 'force' must be true or false, got string"),
    (b(type="single", link=L, limits=[]),
     "failed to unmarshal: 'limits' must be an object {\"connections\": N, \"bytes_per_hour\": M}"),
    ({"type": "single", "bucket": {"name": "b", "namespace": "x"}, "link": L},
     "failed to unmarshal: 'bucket.namespace' must be an object {\"uuid\": ..., \"name\": ...}"),
]


@pytest.mark.parametrize("body,message", ERRORS, ids=[f"e{i:02d}" for i in range(len(ERRORS))])
def test_parse_start_errors(body, message):
    with pytest.raises(BadRequest) as ei:
        start(body)
    assert ei.value.status == 400
    assert ei.value.message == message


@pytest.mark.parametrize("raw", [
    b"", b"  ", b"null", b"[]", b'"x"', b"{", b"\xff", b'{"type":"single",}',
    b'{"type":"single","bucket":{"name":"b"},"link":"http://h/x","limits":{"connections":1e400}}',
    b"[" * 50000,
], ids=["empty", "blank", "null", "array", "string", "truncated", "not-utf8", "trailing-comma", "1e400", "deep"])
def test_parse_start_bad_json_is_bad_request(raw):
    """Anything a client can send is a BadRequest (400), never another exception (500)."""
    with pytest.raises(BadRequest):
        wire.parse_start(raw)


def test_malformed_json_says_where():
    raw = b'{\n  "type": "multi",\n  "objects": [\n}'
    with pytest.raises(BadRequest) as ei:
        wire.parse_start(raw)
    assert re.search(r"line 4 column 1", ei.value.message), ei.value.message


# ---- parse_admin ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw,query,expected", [
    (b"", {}, wire.AdminRequest("", "", False)),
    (b"{}", {}, wire.AdminRequest("", "", False)),
    (b'{"id":"dnl-x"}', {}, wire.AdminRequest("dnl-x", "", False)),
    (b'{"id":"dnl-x","regex":"","only_active_tasks":true}', {}, wire.AdminRequest("dnl-x", "", True)),
    (b'{"id":"","regex":"^[0-9]","only_active_tasks":false}', {}, wire.AdminRequest("", "^[0-9]", False)),
    (b"", {"id": ["dnl-q"]}, wire.AdminRequest("dnl-q", "", False)),
    (b"", {"id": [""]}, wire.AdminRequest("", "", False)),
    (b"", {"regex": ["^a"], "only_active_tasks": ["true"]}, wire.AdminRequest("", "^a", True)),
    (b"", {"only_active_tasks": ["false"]}, wire.AdminRequest("", "", False)),
    (b'{"id":"dnl-body"}', {"id": ["dnl-query"]}, wire.AdminRequest("dnl-query", "", False)),
])
def test_parse_admin(raw, query, expected):
    assert wire.parse_admin(raw, query) == expected


def test_parse_admin_id_and_regex_together():
    with pytest.raises(BadRequest) as ei:
        wire.parse_admin(b'{"id":"dnl-abc","regex":"^x"}', {})
    assert ei.value.message == ('regex "^x" and job ID "dnl-abc" cannot be defined together '
                                "(choose one or the other)")
    with pytest.raises(BadRequest):
        wire.parse_admin(b"", {"id": ["dnl-abc"], "regex": ["^x"]})


@pytest.mark.parametrize("raw", [b"{", b"[]", b'"x"', b"null", b'{"id":5}', b'{"regex":["a"]}', b"[" * 50000],
                         ids=["truncated", "array", "string", "null", "id-number", "regex-list", "deep"])
def test_parse_admin_bad_bodies(raw):
    with pytest.raises(BadRequest):
        wire.parse_admin(raw, {})


# ---- go_time ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ns,text", [
    (0, "0001-01-01T00:00:00Z"),
    (-5, "0001-01-01T00:00:00Z"),
    (1_000_000_000, "1970-01-01T00:00:01Z"),
    (1_500_000_000, "1970-01-01T00:00:01.5Z"),
    (1_000_000_001, "1970-01-01T00:00:01.000000001Z"),
    (1_120_000_000, "1970-01-01T00:00:01.12Z"),
    (1_123_456_789, "1970-01-01T00:00:01.123456789Z"),
    (1_123_456_780, "1970-01-01T00:00:01.12345678Z"),
    (1_100_000_000, "1970-01-01T00:00:01.1Z"),
    (1_787_133_600_123_456_789, "2026-08-19T10:00:00.123456789Z"),
    (1_787_133_600_000_000_000, "2026-08-19T10:00:00Z"),
    (1_787_133_600_100_000_000, "2026-08-19T10:00:00.1Z"),
    (1_709_164_800_000_000_000, "2024-02-29T00:00:00Z"),
])
def test_go_time(ns, text):
    assert wire.go_time(ns) == text


# ---- task_info / render_status ---------------------------------------------------------------------------------


def test_task_info_shape():
    t = wire.task_info("o", 12, 34, 1_000_000_000, 0)
    assert list(t) == ["name", "downloaded", "total", "start_time", "end_time"]
    assert t == {"name": "o", "downloaded": "12", "total": "34", "start_time": "1970-01-01T00:00:01Z",
                 "end_time": "0001-01-01T00:00:00Z"}
    t = wire.task_info("o", 0, 0, 1_000_000_000, 2_000_000_000)
    assert "total" not in t and t["downloaded"] == "0" and t["end_time"] == "1970-01-01T00:00:02Z"


VIEW = wire.JobView(id="dnl-c7nsf2UG9", xaction_id="Ab3xYz9Qk", description="https://example.com/obj{0..3}.tgz -> "
                    "ais://imagenet", started_ns=1_787_133_600_123_456_789, finished_ns=0, finished_cnt=1,
                    scheduled_cnt=3, skipped_cnt=0, error_cnt=1, total=4, all_dispatched=False, aborted=False)
HEADER_KEYS = ["id", "xaction_id", "description", "started_time", "finished_time", "finished_cnt", "scheduled_cnt",
               "skipped_cnt", "error_cnt", "total", "all_dispatched", "aborted"]


def _render(current, finished, errors) -> tuple[bytes, int]:
    chunks = list(wire.render_status(VIEW, current, finished, errors))
    assert all(isinstance(c, bytes) for c in chunks)
    return b"".join(chunks), len(chunks)


def test_render_status_reference_example():
    cur = [wire.task_info("obj2.tgz", 1048576, 4194304, 1_787_133_600_123_456_789, 0)]
    fin = [wire.task_info("obj0.tgz", 100, 0, 1_787_133_600_123_456_789, 1_787_133_601_123_456_789)]
    errs = [{"name": "obj1.tgz", "error": "ErrNotFound: https://example.com/obj1.tgz does not exist"}]
    data, _ = _render(cur, iter(fin), iter(errs))
    whole = {**VIEW.header(), "current_tasks": cur, "finished_tasks": fin, "download_errors": errs}
    assert data == json.dumps(whole, separators=(",", ":")).encode()
    got = json.loads(data)
    assert list(got) == [*HEADER_KEYS, "current_tasks", "finished_tasks", "download_errors"]
    assert got["finished_time"] == "0001-01-01T00:00:00Z"
    assert got["started_time"] == "2026-08-19T10:00:00.123456789Z"
    assert got["current_tasks"][0] == {"name": "obj2.tgz", "downloaded": "1048576", "total": "4194304",
                                       "start_time": "2026-08-19T10:00:00.123456789Z",
                                       "end_time": "0001-01-01T00:00:00Z"}
    assert "total" not in got["finished_tasks"][0]


@pytest.mark.parametrize("finished,errors,keys", [
    (None, None, []),
    (iter(()), iter(()), []),
    (iter([wire.task_info("a", 1, 1, 1, 2)]), None, ["finished_tasks"]),
    (None, iter([{"name": "a", "error": "x"}]), ["download_errors"]),
])
def test_render_status_omits_empty_and_only_active(finished, errors, keys):
    data, _ = _render([], finished, errors)
    got = json.loads(data)
    assert list(got) == [*HEADER_KEYS, "current_tasks", *keys]


@pytest.mark.parametrize("n", [1, 999, 1000, 1001, 2500])
def test_render_status_streamed_equals_whole(n):
    fin = [wire.task_info(f"obj{i:05d}", i, i + 1, 10 + i, 20 + i) for i in range(n)]
    errs = [{"name": f"e{i:05d}", "error": f'failed to download "http://h/{i}": status 503 "quoted" \u00e9'}
            for i in range(n // 2 + 1)]
    data, chunks = _render([], iter(fin), iter(errs))
    whole = {**VIEW.header(), "current_tasks": [], "finished_tasks": fin, "download_errors": errs}
    assert data == json.dumps(whole, separators=(",", ":")).encode()
    assert json.loads(data) == whole
    if n >= 2500:
        assert chunks > 3, "a large status must stream in pieces"


def test_job_string():
    assert wire.job_string(VIEW) == ("dnl-c7nsf2UG9 (https://example.com/obj{0..3}.tgz -> ais://imagenet): "
                                     "2 file(s) still being downloaded")
    assert wire.job_string(dataclasses.replace(VIEW, finished_ns=5)).endswith(": finished")
    assert wire.job_string(dataclasses.replace(VIEW, aborted=True)).endswith(": aborted")


# ---- job IDs ----------------------------------------------------------------------------------------------------

ID_RE = re.compile(r"^dnl-[A-Za-z][" + re.escape(ALPHABET) + r"]{8,10}$")


def test_job_id_shape():
    ids = [wire.new_job_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for jid in ids:
        assert ID_RE.match(jid), jid
        assert jid[-1] not in "-_", jid
        assert 13 <= len(jid) <= 15
    # every alphabet character shows up somewhere (a real shortid, not hex)
    assert set("".join(i[4:] for i in ids)) == set(ALPHABET)


def test_xaction_id_shape():
    for _ in range(500):
        x = wire.new_xaction_id()
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]{8}", x), x
