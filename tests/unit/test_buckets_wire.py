"""Table tests of the AIS wire shapes built by ``dld.api.buckets`` and ``dld.api.objects`` (no daemon, no disk).

Where the AIS SDK is installed, the built shapes are also decoded with the SDK's own types (``BucketList``,
``ObjectAttributes``), which is the compatibility that matters; see ``docs/ais-sdk-wire.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import msgpack
import pytest

from dld.api import buckets as B
from dld.api import objects as O
from dld.errors import BadRequest
from dld.store.meta import Bck, ObjectEntry, ObjectMeta

ATIME = 1_700_000_000_123_456_789  # 2023-11-14 22:13:20.123456789 UTC


def entry(name: str, size: int = 10, **kw) -> ObjectEntry:
    return ObjectEntry(name, ObjectMeta(size=size, blake3=kw.pop("blake3", "ab" * 32), atime_ns=kw.pop("atime", ATIME),
                                        version=kw.pop("version", 1), custom=kw.pop("custom", {})))


# ---- bucket identity ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value,want", [
    (None, "ais"), ("", "ais"), ("ais", "ais"), ("AIS", "ais"), ("s3", "aws"), ("aws", "aws"), ("gs", "gcp"),
    ("gcp", "gcp"), ("az", "azure"), ("azure", "azure"), ("oc", "oci"), ("oci", "oci"),
])
def test_parse_provider(value, want):
    assert B.parse_provider(value) == want


@pytest.mark.parametrize("value", ["ht", "hdfs", "nope"])
def test_parse_provider_rejects(value):
    with pytest.raises(BadRequest, match="invalid bucket provider"):
        B.parse_provider(value)


@pytest.mark.parametrize("value,want", [
    (None, ""), ("", ""), ("@#", ""), ("#ns1", "ns1"), ("@#ns1", "ns1"), ("@#a.b-c_d", "a.b-c_d"),
])
def test_parse_namespace(value, want):
    assert B.parse_namespace(value) == want


@pytest.mark.parametrize("value", ["@uuid#ns", "@remote", "#bad/ns", "#a b"])
def test_parse_namespace_rejects(value):
    with pytest.raises(BadRequest):
        B.parse_namespace(value)


@pytest.mark.parametrize("name,ok", [
    ("b1", True), ("my.bucket-1_x", True), ("A", True), ("", False), (".", False), ("..", False),
    ("a/b", False), ("a b", False), ("é", False), ("x" * 255, True), ("x" * 256, False), ("../etc", False),
])
def test_validate_bucket_name(name, ok):
    if ok:
        B.validate_bucket_name(name)
    else:
        with pytest.raises(BadRequest):
            B.validate_bucket_name(name)


# ---- list-objects message ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value,want", [
    (None, B.LsoMsg()),
    ({}, B.LsoMsg()),
    # exactly what the SDK sends (ListObjectsMsg.as_dict): flags as a string, props empty
    ({"prefix": "p/", "pagesize": 0, "uuid": "", "props": "", "continuation_token": "", "flags": "0", "target": ""},
     B.LsoMsg(prefix="p/")),
    ({"pagesize": 5, "props": "size,checksum", "flags": 16},
     B.LsoMsg(page_size=5, props=("name", "size", "checksum"), flags=16)),
    ({"pagesize": "7", "flags": "2048", "uuid": "u1", "continuation_token": "t", "start_after": "s"},
     B.LsoMsg(page_size=7, flags=2048, uuid="u1", continuation_token="t", start_after="s")),
    ({"pagesize": 10**9}, B.LsoMsg(page_size=B.DEFAULT_PAGE_SIZE)),
    ({"props": " name , size "}, B.LsoMsg(props=("name", "size"))),
    ({"time_format": "2006-01-02T15:04:05Z07:00"}, B.LsoMsg(time_format="2006-01-02T15:04:05Z07:00")),
])
def test_parse_lso_msg(value, want):
    assert B.parse_lso_msg(value) == want


@pytest.mark.parametrize("value,match", [
    ([], "must be a JSON object"),
    ({"pagesize": -1}, "non-negative"),
    ({"pagesize": "x"}, "non-negative"),
    ({"pagesize": True}, "non-negative"),
    ({"prefix": 3}, "must be a string"),
    ({"props": "name,bogus"}, "unknown property"),
    ({"flags": str(1 << 12)}, "diff"),
    ({"flags": str(1 << 15)}, "inventory"),
])
def test_parse_lso_msg_rejects(value, match):
    with pytest.raises(BadRequest, match=match):
        B.parse_lso_msg(value)


# ---- entry and page builders -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt,want", [
    ("", "14 Nov 23 22:13 UTC"),
    ("02 Jan 06 15:04 MST", "14 Nov 23 22:13 UTC"),
    ("2006-01-02T15:04:05Z07:00", "2023-11-14T22:13:20Z"),
    ("2006-01-02T15:04:05.000Z", "2023-11-14T22:13:20.123Z"),
    ("Mon, 17 Dec 2012 02:14:10 GMT", "Tue, 14 Nov 2023 22:13:20 GMT"),
    ("some unknown layout", "14 Nov 23 22:13 UTC"),
])
def test_format_atime(fmt, want):
    assert B.format_atime(ATIME, fmt) == want


def test_format_atime_zero_is_empty():
    assert B.format_atime(0) == ""


@pytest.mark.parametrize("md,want", [
    ({}, "[]"),
    ({"source": "web"}, "[source:web]"),
    ({"link": "https://x/y", "ETag": "e1", "source": "web", "Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT"},
     "[source:web ETag:e1 Last-Modified:Mon, 02 Jan 2006 15:04:05 GMT link:https://x/y]"),
    ({"zz": "1", "aa": "2", "orig_fntl": "hidden"}, "[aa:2 zz:1]"),
])
def test_custom_md_to_str(md, want):
    assert B.custom_md_to_str(md) == want


FULL = ("name", "size", "checksum", "atime", "version", "custom", "copies", "location")


@pytest.mark.parametrize("item,props,flags,want", [
    (B.LsoItem("a", entry("a")), B.PROPS_DEFAULT, 0,
     {"n": "a", "cs": "ab" * 32, "a": "14 Nov 23 22:13 UTC", "s": 10, "f": 64}),
    (B.LsoItem("a", entry("a")), ("name",), 0, {"n": "a", "f": 64}),
    (B.LsoItem("a", entry("a", size=0, blake3="", atime=0)), B.PROPS_DEFAULT, 0, {"n": "a", "f": 64}),
    (B.LsoItem("a", entry("a", version=3, custom={"ETag": "x"}), "dld:/mp1"), FULL, 0,
     {"n": "a", "cs": "ab" * 32, "a": "14 Nov 23 22:13 UTC", "v": "3", "t": "dld:/mp1", "m": "[ETag:x]", "s": 10,
      "c": 1, "f": 64}),
    (B.LsoItem("a", entry("a")), FULL, B.LS_NAME_ONLY, {"n": "a", "f": 64}),
    (B.LsoItem("a", entry("a")), FULL, B.LS_NAME_SIZE, {"n": "a", "s": 10, "f": 64}),
    (B.LsoItem("d/"), FULL, 0, {"n": "d/", "f": 256}),
])
def test_lso_entry(item, props, flags, want):
    assert B.lso_entry(item, props, flags) == want


@pytest.mark.parametrize("e,want", [
    ({"n": "a", "f": 64}, {"name": "a", "flags": 64}),
    ({"n": "a", "cs": "c", "a": "t", "v": "1", "t": "l", "m": "[k:v]", "s": 12, "c": 1, "f": 64},
     {"name": "a", "checksum": "c", "atime": "t", "version": "1", "location": "l", "custom-md": "[k:v]",
      "size": "12", "copies": 1, "flags": 64}),
])
def test_entry_to_json(e, want):
    assert B.entry_to_json(e) == want


PAGES = [
    ("u1", "", []),
    ("u1", "b", [{"n": "a", "s": 1, "f": 64}, {"n": "b", "cs": "ff", "a": "14 Nov 23 22:13 UTC", "s": 2, "f": 64}]),
    ("u2", "", [{"n": "d/", "f": 256}, {"n": "é/ü", "s": 2**40, "v": "7", "c": 1, "m": "[source:web]", "f": 64}]),
]


@pytest.mark.parametrize("uuid,token,entries", PAGES)
def test_lso_page_msgpack_shape(uuid, token, entries):
    d = msgpack.unpackb(B.lso_page_msgpack(uuid, token, entries), raw=False)
    assert d == {"UUID": uuid, "ContinuationToken": token, "Entries": entries, "Flags": 0}


@pytest.mark.parametrize("uuid,token,entries", PAGES)
def test_lso_page_msgpack_decodes_with_sdk_types(uuid, token, entries):
    """The SDK decodes list-objects with msgspec into ``BucketList``: typed, with UUID/token/Flags required."""
    msgspec = pytest.importorskip("msgspec")
    types = pytest.importorskip("aistore.sdk.types")
    bl = msgspec.msgpack.decode(B.lso_page_msgpack(uuid, token, entries), type=types.BucketList)
    assert (bl.uuid, bl.continuation_token, bl.flags) == (uuid, token, 0)
    assert [(x.name, x.size, x.checksum, x.atime, x.version, x.copies, x.flags) for x in bl.entries] == [
        (e["n"], e.get("s", 0), e.get("cs", ""), e.get("a", ""), e.get("v", ""), e.get("c", 0), e["f"])
        for e in entries]
    assert all(x.is_ok() for x in bl.entries)


@pytest.mark.parametrize("uuid,token,entries", PAGES)
def test_lso_page_json_shape(uuid, token, entries):
    d = json.loads(json.dumps(B.lso_page_json(uuid, token, entries)))
    assert set(d) == {"uuid", "continuation_token", "entries", "flags"}
    assert (d["uuid"], d["continuation_token"], d["flags"]) == (uuid, token, 0)
    assert d["entries"] == [B.entry_to_json(e) for e in entries]
    assert all(isinstance(e.get("size", ""), str) for e in d["entries"])


def test_new_lso_uuid():
    ids = {B.new_lso_uuid() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(u) == 10 and u.isalnum() and u[0].isalpha() for u in ids)


# ---- paging over a fake store ------------------------------------------------------------------------------------


@dataclass
class FakeStore:
    names: list[str]

    def iter_objects(self, bck, prefix="", start_after=""):
        return (entry(n) for n in sorted(self.names, key=str.encode) if n.startswith(prefix) and n > start_after)


STORE = FakeStore(["a.txt", "a/b", "a/c/d", "a/c/e", "a0", "b/x/y", "b/z", "z"])
BCK = Bck("ais", "b")


def _pages(msg: B.LsoMsg) -> list[tuple[list[str], str]]:
    out, token = [], ""
    while True:
        msg.continuation_token = token
        page, token = B.list_page(STORE, BCK, msg)
        out.append(([i.name for i in page], token))
        if not token:
            return out


@pytest.mark.parametrize("msg,want", [
    (B.LsoMsg(), [(STORE.names, "")]),
    (B.LsoMsg(page_size=3), [(["a.txt", "a/b", "a/c/d"], "a/c/d"), (["a/c/e", "a0", "b/x/y"], "b/x/y"),
                             (["b/z", "z"], "")]),
    (B.LsoMsg(page_size=4), [(STORE.names[:4], "a/c/e"), (STORE.names[4:], "")]),  # exact fit: no empty page
    (B.LsoMsg(prefix="a/"), [(["a/b", "a/c/d", "a/c/e"], "")]),
    (B.LsoMsg(prefix="nothing"), [([], "")]),
    (B.LsoMsg(start_after="a0"), [(["b/x/y", "b/z", "z"], "")]),
    (B.LsoMsg(flags=B.LS_NO_RECURSION), [(["a.txt", "a/", "a0", "b/", "z"], "")]),
    (B.LsoMsg(flags=B.LS_NO_RECURSION, page_size=2), [(["a.txt", "a/"], "a/"), (["a0", "b/"], "b/"), (["z"], "")]),
    (B.LsoMsg(flags=B.LS_NO_RECURSION, prefix="a/"), [(["a/b", "a/c/"], "")]),
    (B.LsoMsg(flags=B.LS_NO_RECURSION, prefix="b/x"), [(["b/x/"], "")]),
    (B.LsoMsg(flags=B.LS_NOT_CACHED), [([], "")]),
])
def test_list_page(msg, want):
    assert _pages(msg) == want


# ---- objects: names, ranges, headers -----------------------------------------------------------------------------


@pytest.mark.parametrize("name,ok", [
    ("a", True), ("a/b/c", True), ("/abs", True), ("a//b", True), ("sp ace", True), (".hidden", True),
    ("a..b", True), ("", False), ("a/", False), (".", False), ("..", False), ("a/../b", False), ("./a", False),
    ("a/.", False), ("a\x00b", False),
])
def test_validate_object_name(name, ok):
    if ok:
        O.validate_object_name(name)
    else:
        with pytest.raises(BadRequest):
            O.validate_object_name(name)


@pytest.mark.parametrize("header,size,want", [
    (None, 100, None),
    ("", 100, None),
    ("items=0-5", 100, None),
    ("bytes=0-9", 100, (0, 9)),
    ("bytes=10-", 100, (10, 99)),
    ("bytes=-10", 100, (90, 99)),
    ("bytes=-1000", 100, (0, 99)),
    ("bytes=90-1000", 100, (90, 99)),
    ("bytes=99-99", 100, (99, 99)),
    (" Bytes = 5-6 ", 100, (5, 6)),
])
def test_parse_range(header, size, want):
    assert O.parse_range(header, size) == want


@pytest.mark.parametrize("header,size", [
    ("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100), ("bytes=0-", 0), ("bytes=-5", 0),
    ("bytes=5-4", 100), ("bytes=0-1,5-6", 100), ("bytes=abc", 100), ("bytes=-", 100),
])
def test_parse_range_unsatisfiable(header, size):
    with pytest.raises(O.RangeNotSatisfiable) as ei:
        O.parse_range(header, size)
    assert ei.value.status == 416 and ei.value.headers == [("Content-Range", f"bytes */{size}")]


@pytest.mark.parametrize("value,want", [
    ("plain", "plain"), ("é", "%C3%A9"), ("a\r\nb", "a%0D%0Ab"), ("tab\t", "tab%09"), ("~ok ", "~ok "),
])
def test_header_safe(value, want):
    assert O.header_safe(value) == want


@pytest.mark.parametrize("value,want", [("abc", '"abc"'), ('"abc"', '"abc"'), ('W/"abc"', 'W/"abc"')])
def test_quote_etag(value, want):
    assert O.quote_etag(value) == want


def test_object_headers_decode_with_sdk():
    """Headers as the SDK sees them after urllib3 joins repeated ``Ais-Custom-Md`` lines with ", "."""
    attrs_mod = pytest.importorskip("aistore.sdk.obj.object_props")
    from urllib3._collections import HTTPHeaderDict

    meta = ObjectMeta(size=1234, blake3="cd" * 32, atime_ns=ATIME, version=2,
                      custom={"ETag": "e1", "source": "web", "link": "https://h/p?q=1"})
    hdrs = HTTPHeaderDict()
    for k, v in O.object_headers(Bck("ais", "bk"), "dir/o", meta):
        hdrs.add(k, v)
    p = attrs_mod.ObjectProps(hdrs)
    assert (p.size, p.checksum_type, p.checksum_value, p.obj_version, p.access_time) == (
        1234, "blake3", "cd" * 32, "2", str(ATIME))
    assert p.custom_metadata == {"ETag": "e1", "source": "web", "link": "https://h/p?q=1"}
    assert (p.present, p.etag, p.name, p.bucket_name, p.bucket_provider, p.mirror_copies) == (
        True, "e1", "dir/o", "bk", "ais", 1)


@pytest.mark.parametrize("meta,size,want_absent,want", [
    (ObjectMeta(size=5), None, ["Ais-Checksum-Type", "Ais-Atime", "ETag", "Last-Modified"],
     {"Content-Length": "5", "Ais-Version": "1", "Content-Type": "application/octet-stream"}),
    (ObjectMeta(size=5, custom={"Content-Type": "text/plain", "Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT"}),
     2, [], {"Content-Length": "2", "Content-Type": "text/plain", "Last-Modified": "Mon, 02 Jan 2006 15:04:05 GMT"}),
])
def test_object_headers_table(meta, size, want_absent, want):
    h = dict(O.object_headers(Bck("ais", "b"), "o", meta, size))
    for k in want_absent:
        assert k not in h
    for k, v in want.items():
        assert h[k] == v


def test_object_headers_skip_unsafe_name():
    names = [k for k, _ in O.object_headers(Bck("ais", "b"), "é", ObjectMeta(size=1))]
    assert "Ais-Name" not in names


async def _collect(agen) -> bytes:
    return b"".join([c async for c in agen])


@pytest.mark.parametrize("offset,length,chunk", [(0, 0, 4), (0, 10, 4), (3, 5, 2), (8, 10, 4)])
def test_stream_file(tmp_path, offset, length, chunk):
    import io

    import trio

    p = tmp_path / "f"
    p.write_bytes(b"0123456789")
    f = io.FileIO(p, "r")
    got = trio.run(_collect, O.stream_file(f, offset, length, chunk))
    assert got == b"0123456789"[offset: offset + length]  # a file shorter than asked ends the body early
    assert f.closed
