"""Tests of the test origin itself (``tests/origin``), against the real server process.

Everything else trusts this server: if it mislabels a range, sends a digest of the wrong bytes or resets at the
wrong offset, daemon tests would pass or fail for the wrong reason. So each behaviour is checked from the client
side with the stdlib (``http.client`` and raw sockets), and digests are recomputed here independently of the
server code. Object names are unique per test because the origin and its per-object fault counters are shared by
the whole session.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import http.client
import os
import socket
import ssl
import time
import uuid
from email.utils import formatdate

import google_crc32c
import pytest

from tests.origin.content import (
    PERIOD,
    etag_for,
    expected_bytes,
    expected_slice,
    iter_expected,
    last_modified_for,
    last_modified_ts,
)
from tests.origin.fixture import Origin, poll_until


def uniq(prefix: str = "o") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def get(origin: Origin, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
    return origin.request(method, path, headers)


class RawResponse:
    def __init__(
        self, status: int, headers: dict[str, str], body: bytes, error: BaseException | None
    ) -> None:
        self.status, self.headers, self.body, self.error = status, headers, body, error


def raw_get(origin: Origin, path: str, *, timeout: float = 10.0, extra: str = "") -> RawResponse:
    """GET on a raw socket (Connection: close), reading until EOF, error or timeout.

    Unlike http.client this shows exactly which bytes arrived before a reset, FIN or stall.
    """
    s = socket.create_connection(("127.0.0.1", origin.port), timeout=timeout)
    try:
        req = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{origin.port}\r\nConnection: close\r\n{extra}\r\n"
        s.sendall(req.encode())
        buf = bytearray()
        err: BaseException | None = None
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    break
                buf += d
        except (OSError, TimeoutError) as e:
            err = e
    finally:
        s.close()
    head, sep, body = bytes(buf).partition(b"\r\n\r\n")
    assert sep, f"no complete header block received ({len(buf)} bytes, error {err!r})"
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return RawResponse(status, hdrs, body, err)


# ---------------------------------------------------------------------------------------------- content model


def test_expected_bytes_is_a_pure_prefix_function():
    a = expected_bytes("alpha", 5000)
    assert len(a) == 5000
    assert expected_bytes("alpha", 100) == a[:100]
    assert expected_slice("alpha", 1234, 100) == a[1234:1334]
    assert expected_bytes("beta", 5000) != a
    assert expected_bytes("alpha", 5000, version=1) != a
    big = expected_bytes("alpha", 2 * PERIOD + 10)
    assert big[:5000] == a
    assert big[PERIOD : PERIOD + 5000] == a  # repeats with the (non power of two) period
    assert big[1 << 20 : (1 << 20) + 64] != big[:64]  # but not at 1 MiB
    assert b"".join(iter_expected("alpha", len(big), chunk_size=77777)) == big
    assert b"".join(iter_expected("alpha", len(big), offset=PERIOD - 3)) == big[PERIOD - 3 :]
    assert expected_bytes("alpha", 0) == b""


@pytest.mark.parametrize("size", [0, 1, 1000, 65536, 65537, PERIOD + 5000, 3 << 20])
def test_get_content_matches(origin, size):
    name = uniq("get")
    status, h, body = get(origin, origin.obj_path(name, size))
    assert status == 200
    assert int(h["Content-Length"]) == size
    assert body == expected_bytes(name, size)


def test_headers_and_reason_phrase(origin):
    name = uniq("hdr")
    raw = raw_get(origin, origin.obj_path(name, 10))
    assert raw.status == 200
    assert raw.headers["etag"] == etag_for(name, 0, 10)
    assert raw.headers["last-modified"] == last_modified_for(0)
    assert raw.headers["accept-ranges"] == "bytes"
    conn = origin.connection()
    conn.request("GET", origin.obj_path(name, 10))
    r = conn.getresponse()
    assert r.reason == "OK"  # h11 would send an empty reason phrase unless given one
    r.read()
    conn.close()


def test_names_with_special_characters(origin):
    name = f"dir/sub dir/{uniq('ü+%')}.bin"
    status, _, body = get(origin, origin.obj_path(name, 333))
    assert status == 200 and body == expected_bytes(name, 333)


def test_size_suffix(origin):
    name = uniq("sfx")
    status, h, _ = get(origin, f"/obj/{name}?size=2k", method="HEAD")
    assert status == 200 and h["Content-Length"] == "2048"


def test_head(origin):
    name = uniq("head")
    status, h, body = get(origin, origin.obj_path(name, 12345), method="HEAD")
    assert status == 200
    assert body == b""
    assert h["Content-Length"] == "12345"
    assert h["ETag"] == etag_for(name, 0, 12345)


def test_keep_alive_reuses_connection(origin):
    conn = origin.connection()
    sock = None
    for i in range(20):
        name = uniq(f"ka{i}")
        conn.request("GET", origin.obj_path(name, 100 + i))
        r = conn.getresponse()
        assert r.read() == expected_bytes(name, 100 + i)
        if sock is None:
            sock = conn.sock
        assert conn.sock is sock, "connection was not kept alive"
    conn.close()


def test_many_concurrent_connections(origin):
    names = [uniq(f"cc{i}") for i in range(64)]

    def fetch(name: str) -> bool:
        _, _, body = get(origin, origin.obj_path(name, 70000))
        return body == expected_bytes(name, 70000)

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        assert all(ex.map(fetch, names))


def test_large_body_streams_correctly(origin):
    name = uniq("big")
    size = 64 << 20
    conn = origin.connection(timeout=60)
    conn.request("GET", origin.obj_path(name, size))
    r = conn.getresponse()
    assert r.status == 200
    h = hashlib.sha256()
    n = 0
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    conn.close()
    assert n == size
    want = hashlib.sha256()
    for c in iter_expected(name, size):
        want.update(c)
    assert h.digest() == want.digest()


# -------------------------------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("10-19", 10, 19),
        ("990-", 990, 999),
        ("-50", 950, 999),
        ("0-0", 0, 0),
        ("900-5000", 900, 999),
        ("-5000", 0, 999),
    ],
)
def test_range(origin, spec, first, last):
    name = uniq("rng")
    status, h, body = get(origin, origin.obj_path(name, 1000), {"Range": f"bytes={spec}"})
    assert status == 206
    assert h["Content-Range"] == f"bytes {first}-{last}/1000"
    assert int(h["Content-Length"]) == last - first + 1
    assert body == expected_slice(name, first, last - first + 1)


def test_range_across_period_boundary(origin):
    name = uniq("rngp")
    size = 3 * PERIOD
    first, last = PERIOD - 100, 2 * PERIOD + 100
    status, _, body = get(origin, origin.obj_path(name, size), {"Range": f"bytes={first}-{last}"})
    assert status == 206
    assert body == expected_slice(name, first, last - first + 1)


@pytest.mark.parametrize("spec", ["1000-", "1000-2000", "-0"])
def test_range_unsatisfiable(origin, spec):
    status, h, _ = get(origin, origin.obj_path(uniq("416"), 1000), {"Range": f"bytes={spec}"})
    assert status == 416
    assert h["Content-Range"] == "bytes */1000"


@pytest.mark.parametrize("spec", ["bytes=0-1,5-6", "bytes=5-1", "items=0-1", "bytes=abc"])
def test_range_ignored_when_invalid_or_multi(origin, spec):
    name = uniq("rngi")
    status, _, body = get(origin, origin.obj_path(name, 100), {"Range": spec})
    assert status == 200 and body == expected_bytes(name, 100)


def test_if_range(origin):
    name = uniq("ifr")
    path = origin.obj_path(name, 1000)
    etag = etag_for(name, 0, 1000)
    rng = {"Range": "bytes=100-199"}
    assert get(origin, path, {**rng, "If-Range": etag})[0] == 206
    status, _, body = get(origin, path, {**rng, "If-Range": '"not-the-etag"'})
    assert status == 200 and body == expected_bytes(name, 1000)
    assert get(origin, path, {**rng, "If-Range": "W/" + etag})[0] == 200  # weak never matches If-Range
    assert get(origin, path, {**rng, "If-Range": last_modified_for(0)})[0] == 206
    assert get(origin, path, {**rng, "If-Range": formatdate(last_modified_ts(0) - 1, usegmt=True)})[0] == 200


# ------------------------------------------------------------------------------------------- conditionals


def test_conditional_304_and_412(origin):
    name = uniq("cond")
    path = origin.obj_path(name, 500)
    etag = etag_for(name, 0, 500)
    before = origin.stats()["conditional_304"]
    raw = raw_get(origin, path, extra=f"If-None-Match: {etag}\r\n")
    assert raw.status == 304 and raw.body == b"" and raw.headers["etag"] == etag
    assert get(origin, path, {"If-None-Match": f'"x", W/{etag}'})[0] == 304  # weak comparison
    assert get(origin, path, {"If-None-Match": "*"})[0] == 304
    assert get(origin, path, {"If-None-Match": '"other"'})[0] == 200
    assert get(origin, path, {"If-Modified-Since": last_modified_for(0)})[0] == 304
    assert (
        get(origin, path, {"If-Modified-Since": formatdate(last_modified_ts(0) - 10, usegmt=True)})[0] == 200
    )
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    assert (
        get(origin, path, {"If-None-Match": '"other"', "If-Modified-Since": last_modified_for(0)})[0] == 200
    )
    assert get(origin, path, {"If-None-Match": etag}, method="HEAD")[0] == 304
    assert origin.stats()["conditional_304"] - before == 5
    assert get(origin, path, {"If-Match": '"other"'})[0] == 412
    assert get(origin, path, {"If-Match": etag})[0] == 200


# ------------------------------------------------------------------------------------------------- faults


def test_reset_mid_body(origin):
    name = uniq("reset")
    raw = raw_get(origin, origin.obj_path(name, 1 << 20, reset=5000))
    assert raw.status == 200 and int(raw.headers["content-length"]) == 1 << 20
    assert isinstance(raw.error, ConnectionResetError), raw.error
    assert raw.body == expected_bytes(name, 5000)


def test_reset_large_offset_with_http_client(origin):
    name = uniq("resetb")
    conn = origin.connection()
    conn.request("GET", origin.obj_path(name, 8 << 20, reset=3 << 20))
    r = conn.getresponse()
    got = bytearray()
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        while True:
            chunk = r.read1(1 << 20)
            if not chunk:
                raise http.client.IncompleteRead(bytes(got))
            got += chunk
    conn.close()
    assert bytes(got) == expected_bytes(name, 3 << 20)


def test_reset_times_then_succeeds_and_range_resume(origin):
    name = uniq("resett")
    path = origin.obj_path(name, 100_000, reset=40_000, times=1)
    raw = raw_get(origin, path)
    assert isinstance(raw.error, ConnectionResetError) and len(raw.body) == 40_000
    # The client resumes with a Range request on the same URL: the fault budget is used up.
    status, h, body = get(origin, path, {"Range": "bytes=40000-"})
    assert status == 206 and body == expected_slice(name, 40_000, 60_000)
    st = origin.object_stats(name)
    assert st["faults"] == {"reset": 1}
    assert st["ranges"] == ["bytes=40000-"]


def test_short_body_then_fin(origin):
    name = uniq("short")
    raw = raw_get(origin, origin.obj_path(name, 200_000, short=1234))
    assert raw.status == 200 and int(raw.headers["content-length"]) == 200_000
    assert raw.error is None  # clean FIN, not a reset
    assert raw.body == expected_bytes(name, 1234)
    # http.client reports the truncation.
    conn = origin.connection()
    conn.request("GET", origin.obj_path(name, 200_000, short=1234))
    r = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as ei:
        r.read()
    assert len(ei.value.partial) == 1234
    conn.close()


def test_short_clamped_to_body(origin):
    name = uniq("shortc")
    raw = raw_get(origin, origin.obj_path(name, 100, short=5000))
    assert raw.body == expected_bytes(name, 99)


def test_stall(origin):
    name = uniq("stall")
    t0 = time.monotonic()
    raw = raw_get(origin, origin.obj_path(name, 1 << 20, stall=777), timeout=1.0)
    assert isinstance(raw.error, TimeoutError | socket.timeout), raw.error
    assert time.monotonic() - t0 >= 0.9
    assert raw.status == 200 and raw.body == expected_bytes(name, 777)
    assert origin.ping()  # the stalled connection does not block the server


def test_stall_connection_released_when_client_leaves(origin):
    """The stalled connection is held open until the client closes it, and then dropped by the server."""
    name = uniq("stall2")

    def stalls() -> int:
        return origin.stats()["stalls_open"]

    poll_until(lambda: stalls() == 0, what="no stalled connections left from earlier tests")
    opened = origin.stats()["connections_total"]
    s = socket.create_connection(("127.0.0.1", origin.port), timeout=1.0)
    s.sendall(f"GET {origin.obj_path(name, 1000, stall=10)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head or len(head.partition(b"\r\n\r\n")[2]) < 10:
        head += s.recv(4096)
    assert head.partition(b"\r\n\r\n")[2] == expected_bytes(name, 10)
    with pytest.raises(TimeoutError):
        s.recv(4096)
    assert stalls() == 1
    s.close()
    poll_until(lambda: stalls() == 0, what="stalled connection released")
    assert origin.stats()["connections_total"] > opened


@pytest.mark.parametrize("code", [503, 429, 404, 403, 500])
def test_status_with_retry_after(origin, code):
    name = uniq(f"st{code}")
    status, h, body = get(origin, origin.obj_path(name, 100, status=code, retry_after=7))
    assert status == code
    assert h["Retry-After"] == "7"
    assert str(code).encode() in body
    status, h, _ = get(origin, origin.obj_path(name, 100, status=code))
    assert status == code and "Retry-After" not in h


def test_status_times(origin):
    name = uniq("sttimes")
    path = origin.obj_path(name, 100, status=503, times=2)
    assert [get(origin, path)[0] for _ in range(4)] == [503, 503, 200, 200]
    assert origin.object_stats(name)["statuses"] == {"503": 2, "200": 2}


def test_redirect_chain(origin):
    name = uniq("redir")
    path = origin.obj_path(name, 321, redirect=3)
    hops = 0
    while True:
        status, h, body = get(origin, path)
        if status != 302:
            break
        hops += 1
        loc = h["Location"]
        assert loc.startswith(origin.base_url + "/obj/")
        path = loc[len(origin.base_url) :]
    assert hops == 3
    assert status == 200 and body == expected_bytes(name, 321)
    assert "redirect" not in path


def test_redirect_to(origin):
    name, other = uniq("rfrom"), uniq("rto")
    status, h, _ = get(origin, origin.obj_path(name, 10, redirect_to=origin.obj_path(other, 55)))
    assert status == 302
    assert h["Location"] == origin.obj_url(other, 55)
    status, h, _ = get(
        origin,
        origin.obj_path(name, 10, redirect=2, redirect_to=origin.obj_path(other, 55), redirect_status=307),
    )
    assert status == 307
    loc = h["Location"][len(origin.base_url) :]
    status, h, _ = get(origin, loc)
    assert status == 307 and h["Location"] == origin.obj_url(other, 55)
    status, _, body = get(origin, h["Location"][len(origin.base_url) :])
    assert status == 200 and body == expected_bytes(other, 55)


def test_norange(origin):
    name = uniq("norange")
    path = origin.obj_path(name, 1000, norange=1)
    status, h, body = get(origin, path, {"Range": "bytes=10-19", "If-Range": etag_for(name, 0, 1000)})
    assert status == 200 and body == expected_bytes(name, 1000)
    assert "Accept-Ranges" not in h and "Content-Range" not in h


def test_novalidators(origin):
    name = uniq("noval")
    path = origin.obj_path(name, 1000, novalidators=1)
    status, h, _ = get(origin, path, {"If-None-Match": etag_for(name, 0, 1000)})
    assert status == 200 and "ETag" not in h and "Last-Modified" not in h
    # If-Range cannot match without validators: full body.
    status, _, body = get(origin, path, {"Range": "bytes=0-9", "If-Range": last_modified_for(0)})
    assert status == 200 and len(body) == 1000


def test_delay(origin):
    name = uniq("delay")
    t0 = time.monotonic()
    status, _, _ = get(origin, origin.obj_path(name, 10, delay_ms=300))
    assert status == 200 and time.monotonic() - t0 >= 0.29


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _crc32c(data: bytes) -> bytes:
    return google_crc32c.value(data).to_bytes(4, "big")


def test_corrupt_body_with_correct_headers(origin):
    name = uniq("corrupt")
    size = 3 << 20
    status, h, body = get(origin, origin.obj_path(name, size, corrupt=1, digest="repr-digest-sha256,s3-etag"))
    good = expected_bytes(name, size)
    assert status == 200 and len(body) == size and body != good
    assert h["Repr-Digest"] == f"sha-256=:{_b64(hashlib.sha256(good).digest())}:"
    assert h["ETag"] == f'"{hashlib.md5(good).hexdigest()}"'
    # Small bodies are corrupted too.
    status, _, body = get(origin, origin.obj_path(name, 10, corrupt=1))
    assert len(body) == 10 and body != expected_bytes(name, 10)


@pytest.mark.parametrize("size", [1000, 5 << 20])
def test_digest_kinds_full(origin, size):
    name = uniq("dig")
    data = expected_bytes(name, size)
    md5, sha256, sha512, crc = (
        hashlib.md5(data).digest(),
        hashlib.sha256(data).digest(),
        hashlib.sha512(data).digest(),
        _crc32c(data),
    )
    expect = {
        "goog-hash": {"x-goog-hash": f"crc32c={_b64(crc)},md5={_b64(md5)}"},
        "s3-etag": {"ETag": f'"{md5.hex()}"'},
        "s3-crc32c": {"x-amz-checksum-crc32c": _b64(crc)},
        "azure-md5": {"Content-MD5": _b64(md5)},
        "repr-digest-sha256": {"Repr-Digest": f"sha-256=:{_b64(sha256)}:"},
        "content-digest-sha512": {"Content-Digest": f"sha-512=:{_b64(sha512)}:"},
        "digest-sha256": {"Digest": f"SHA-256={_b64(sha256)}"},
        "digest-md5": {"Digest": f"MD5={_b64(md5)}"},
    }
    for kind, headers in expect.items():
        status, h, body = get(origin, origin.obj_path(name, size, digest=kind))
        assert status == 200 and body == data
        for k, v in headers.items():
            assert h[k] == v, kind
    # HEAD carries the same values, and kinds combine.
    status, h, _ = get(
        origin, origin.obj_path(name, size, digest="digest-sha256,digest-md5,goog-hash"), method="HEAD"
    )
    assert h["Digest"] == f"SHA-256={_b64(sha256)},MD5={_b64(md5)}"
    assert h["x-goog-hash"] == expect["goog-hash"]["x-goog-hash"]


def test_digest_kinds_on_range(origin):
    name = uniq("digr")
    size = 100_000
    data = expected_bytes(name, size)
    part = data[1000:2000]
    path = origin.obj_path(
        name,
        size,
        digest=",".join(
            ["goog-hash", "s3-crc32c", "azure-md5", "repr-digest-sha256", "content-digest-sha512"]
        ),
    )
    status, h, body = get(origin, path, {"Range": "bytes=1000-1999"})
    assert status == 206 and body == part
    assert h["x-goog-hash"] == f"crc32c={_b64(_crc32c(data))},md5={_b64(hashlib.md5(data).digest())}"
    assert "x-amz-checksum-crc32c" not in h
    assert "Content-MD5" not in h and h["x-ms-blob-content-md5"] == _b64(hashlib.md5(data).digest())
    assert h["Repr-Digest"] == f"sha-256=:{_b64(hashlib.sha256(data).digest())}:"
    assert h["Content-Digest"] == f"sha-512=:{_b64(hashlib.sha512(part).digest())}:"


def test_s3_etag_drives_conditionals(origin):
    name = uniq("s3c")
    path = origin.obj_path(name, 1000, digest="s3-etag")
    md5 = f'"{hashlib.md5(expected_bytes(name, 1000)).hexdigest()}"'
    assert get(origin, path, {"If-None-Match": md5})[0] == 304
    assert get(origin, path, {"Range": "bytes=0-9", "If-Range": md5})[0] == 206


def test_bad_parameters(origin):
    assert get(origin, "/obj/x?size=abc")[0] == 400
    assert get(origin, "/obj/x?digest=sha3")[0] == 400
    assert get(origin, "/nope")[0] == 404
    assert get(origin, "/obj/x", method="POST")[0] == 405


# ------------------------------------------------------------------------------------- stats and versions


def test_stats_counting(origin):
    name = uniq("stats")
    path = origin.obj_path(name, 1000)
    get(origin, path)
    get(origin, path, {"Range": "bytes=0-99"})
    get(origin, path, {"If-None-Match": etag_for(name, 0, 1000)})
    get(origin, path, method="HEAD")
    st = origin.object_stats(name)
    assert st["requests"] == 4
    assert st["body_bytes"] == 1100
    assert st["statuses"] == {"200": 2, "206": 1, "304": 1}
    assert st["ranges"] == ["bytes=0-99"]
    total = origin.stats()
    assert total["requests"] >= 4 and total["body_bytes"] >= 1100
    origin.reset_stats()
    s = origin.stats()
    assert s["requests"] == 0 and s["body_bytes"] == 0 and s["per_object"] == {} and s["conditional_304"] == 0


def test_ranges_list_is_capped(origin):
    name = uniq("cap")
    conn = origin.connection()
    for i in range(110):
        conn.request("GET", origin.obj_path(name, 1000), headers={"Range": f"bytes={i}-{i}"})
        conn.getresponse().read()
    conn.close()
    st = origin.object_stats(name)
    assert st["requests"] == 110 and len(st["ranges"]) == 100 and st["ranges"][0] == "bytes=0-0"


def test_version_changes_content_and_validators(origin):
    name = uniq("ver")
    path = origin.obj_path(name, 4096)
    _, h0, b0 = get(origin, path)
    assert b0 == expected_bytes(name, 4096, 0)
    origin.set_version(name, 3)
    assert origin.get_version(name) == 3
    status, h1, b1 = get(origin, path)
    assert status == 200
    assert b1 == expected_bytes(name, 4096, 3) != b0
    assert h1["ETag"] == etag_for(name, 3, 4096) != h0["ETag"]
    assert h1["Last-Modified"] == last_modified_for(3) != h0["Last-Modified"]
    # A resume with the old validator must get the whole new object, not a spliced range.
    status, _, body = get(origin, path, {"Range": "bytes=100-", "If-Range": h0["ETag"]})
    assert status == 200 and body == b1
    assert get(origin, path, {"If-None-Match": h0["ETag"]})[0] == 200
    origin.set_version(name, 0)
    assert get(origin, path)[2] == b0


# ------------------------------------------------------------------------------------------------- files


def test_files(origin):
    d = origin.data_dir
    sub = d / uniq("sub")
    sub.mkdir()
    data = os.urandom(3 << 20)
    (sub / "f.bin").write_bytes(data)
    rel = f"{sub.name}/f.bin"
    status, h, body = get(origin, f"/files/{rel}")
    assert status == 200 and body == data
    etag = h["ETag"]
    status, h, body = get(origin, f"/files/{rel}", {"Range": "bytes=1000-1999", "If-Range": etag})
    assert status == 206 and body == data[1000:2000]
    assert get(origin, f"/files/{rel}", {"If-None-Match": etag})[0] == 304
    status, h, _ = get(origin, f"/files/{rel}?digest=goog-hash")
    assert h["x-goog-hash"] == f"crc32c={_b64(_crc32c(data))},md5={_b64(hashlib.md5(data).digest())}"
    raw = raw_get(origin, f"/files/{rel}?short=100000")
    assert raw.error is None and raw.body == data[:100000]
    status, _, body = get(origin, f"/files/{rel}?corrupt=1")
    assert len(body) == len(data) and body != data
    assert origin.object_stats(f"/files/{rel}")["requests"] == 6
    assert get(origin, "/files/../../etc/passwd")[0] == 404
    assert get(origin, "/files/%2e%2e/%2e%2e/etc/passwd")[0] == 404
    assert get(origin, f"/files/{sub.name}")[0] == 404  # directories are not served
    assert get(origin, "/files/does-not-exist")[0] == 404


# --------------------------------------------------------------------------------------------- TLS, process


def test_tls_origin(tls_origin):
    name = uniq("tls")
    assert tls_origin.base_url.startswith("https://127.0.0.1:")
    assert tls_origin.ca_path is not None and tls_origin.ca_path.exists()
    status, h, body = get(tls_origin, tls_origin.obj_path(name, 2 << 20))
    assert status == 200 and body == expected_bytes(name, 2 << 20)
    status, _, body = get(tls_origin, tls_origin.obj_path(name, 1000), {"Range": "bytes=5-9"})
    assert status == 206 and body == expected_slice(name, 5, 5)
    # Without the trustme CA the certificate is rejected.
    conn = http.client.HTTPSConnection(
        "127.0.0.1", tls_origin.port, timeout=5, context=ssl.create_default_context()
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/_ping")
    conn.close()


def test_tls_short_and_reset(tls_origin):
    name = uniq("tlsf")
    conn = tls_origin.connection()
    conn.request("GET", tls_origin.obj_path(name, 500_000, short=100_000))
    r = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as ei:
        r.read()
    assert ei.value.partial == expected_bytes(name, 100_000)
    conn.close()
    conn = tls_origin.connection()
    conn.request("GET", tls_origin.obj_path(name, 500_000, reset=100_000))
    r = conn.getresponse()
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead, ssl.SSLError)):
        r.read()
    conn.close()
    assert tls_origin.ping()


def test_process_lifecycle(tmp_path):
    o = Origin().start(tmp_path)
    assert o.ping()
    pid = o.pid
    assert o.stop() == 0  # SIGTERM → clean exit
    poll_until(lambda: not os.path.exists(f"/proc/{pid}") or _is_zombie(pid), timeout=5, what="origin exit")
    assert o.stop() is None  # idempotent


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_poll_until_times_out():
    with pytest.raises(TimeoutError):
        poll_until(lambda: False, timeout=0.05)
    assert poll_until(lambda: 42, timeout=0.05) == 42
