"""Integrity and change detection against the real origin: verify while streaming, skip what did not change."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from tests.origin.content import expected_bytes

ZERO = "0001-01-01T00:00:00Z"

# digest kind → the algorithm the error names (the first expectation dld checks)
DIGEST_KINDS = [
    ("goog-hash", "crc32c", "x-goog-hash"),
    ("s3-etag", "md5", "ETag (S3 MD5)"),
    ("s3-crc32c", "crc32c", "x-amz-checksum-crc32c"),
    ("azure-md5", "md5", "Content-MD5"),
    ("repr-digest-sha256", "sha256", "Repr-Digest"),
    ("content-digest-sha512", "sha512", "Content-Digest"),
    ("digest-sha256", "sha256", "Digest"),
    ("digest-md5", "md5", "Digest"),
]


def _u(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def strict_daemon(tmp_path_factory):
    """A daemon with 2 attempts per object, so persistent corruption fails fast."""
    from tests.daemon import DaemonProc

    d = DaemonProc(tmp_path_factory.mktemp("strict"), env={"DLD_MAX_ATTEMPTS": "2"}).start()
    yield d
    d.stop()


@pytest.mark.parametrize(("kind", "algo", "source"), DIGEST_KINDS)
def test_corrupt_body_fails_with_precise_error_and_nothing_published(strict_daemon, origin, kind, algo, source):
    d = strict_daemon
    name = _u(f"corrupt-{kind}")
    bucket = _u("integ")
    job = d.start_job({"type": "single", "bucket": {"name": bucket}, "object_name": name,
                       "link": origin.obj_url(name, size=300_000, corrupt=1, digest=kind)})
    st = d.wait(job)
    assert st["error_cnt"] == 1 and st["finished_cnt"] == 0
    err = st["download_errors"][0]["error"]
    assert f"checksum mismatch: {algo} from {source} expected " in err, err
    assert ", got " in err and "(after 2 attempts)" in err
    assert origin.object_stats(name)["requests"] == 2  # retried, bounded
    status, _, _ = d.request("HEAD", f"/v1/objects/{bucket}/{name}")
    assert status == 404  # never published
    assert os.listdir(d.mountpath / ".dld" / "tmp") == []


@pytest.mark.parametrize(("kind", "algo", "source"), DIGEST_KINDS)
def test_transient_corruption_is_retried_and_verified(dld_daemon, origin, kind, algo, source):
    d = dld_daemon
    name = _u(f"flaky-{kind}")
    bucket = _u("integ")
    job = d.start_job({"type": "single", "bucket": {"name": bucket}, "object_name": name,
                       "link": origin.obj_url(name, size=300_000, corrupt=1, times=1, digest=kind)})
    st = d.wait(job)
    assert st["finished_cnt"] == 1 and st["error_cnt"] == 0, st.get("download_errors")
    assert d.object_file(bucket, name).read_bytes() == expected_bytes(name, 300_000)
    assert origin.object_stats(name)["requests"] == 2


def test_mismatch_with_resumed_range_verifies_whole_object(dld_daemon, origin):
    """A reset mid-body resumes with Range; the whole-object digest still verifies across both responses."""
    d = dld_daemon
    name = _u("resume-digest")
    size = 3_000_000
    job = d.start_job({"type": "single", "bucket": {"name": "integ-resume"}, "object_name": name,
                       "link": origin.obj_url(name, size=size, reset=1_000_000, times=1,
                                              digest="goog-hash,repr-digest-sha256")})
    st = d.wait(job)
    assert st["finished_cnt"] == 1, st.get("download_errors")
    assert any(r.startswith("bytes=") for r in origin.object_stats(name)["ranges"])
    assert d.object_file("integ-resume", name).read_bytes() == expected_bytes(name, size)


def _range_job(d, origin, bucket, tag, n, **extra):
    body = {"type": "range", "bucket": {"name": bucket},
            "template": f"{origin.base_url}/obj/{tag}/f{{00..{n - 1:02d}}}?size=70000"}
    body.update(extra)
    return d.wait(d.start_job(body))


def _served(origin, tag):
    per = origin.stats()["per_object"]
    return sum(v["body_bytes"] for k, v in per.items() if k.startswith(f"{tag}/")), sum(
        v["requests"] for k, v in per.items() if k.startswith(f"{tag}/"))


def test_rerun_unchanged_is_all_304_then_only_changed_is_fetched(dld_daemon, origin):
    d = dld_daemon
    tag, bucket, n = _u("cond"), _u("cond"), 20
    st = _range_job(d, origin, bucket, tag, n)
    assert st["finished_cnt"] == n and st["skipped_cnt"] == 0
    bytes1, reqs1 = _served(origin, tag)
    assert bytes1 == n * 70000
    atime = d.request("HEAD", f"/v1/objects/{bucket}/f03")[1]["ais-atime"]

    st = _range_job(d, origin, bucket, tag, n)
    assert st["finished_cnt"] == n and st["skipped_cnt"] == n and st["error_cnt"] == 0
    bytes2, reqs2 = _served(origin, tag)
    assert bytes2 == bytes1  # zero body bytes served
    assert reqs2 == reqs1 + n  # one conditional GET each, no separate HEAD
    assert d.request("HEAD", f"/v1/objects/{bucket}/f03")[1]["ais-atime"] == atime  # untouched

    origin.set_version(f"{tag}/f07", 1)
    st = _range_job(d, origin, bucket, tag, n)
    assert st["skipped_cnt"] == n - 1 and st["finished_cnt"] == n
    bytes3, _ = _served(origin, tag)
    assert bytes3 == bytes1 + 70000
    assert d.object_file(bucket, "f07").read_bytes() == expected_bytes(f"{tag}/f07", 70000, version=1)
    assert d.request("HEAD", f"/v1/objects/{bucket}/f07")[1]["ais-version"] == "2"


def test_no_validators_means_always_fetched(dld_daemon, origin):
    d = dld_daemon
    tag, bucket, n = _u("noval"), _u("noval"), 5
    body = {"type": "range", "bucket": {"name": bucket},
            "template": f"{origin.base_url}/obj/{tag}/f{{0..{n - 1}}}?size=5000&novalidators=1"}
    d.wait(d.start_job(body))
    st = d.wait(d.start_job(body))
    assert st["skipped_cnt"] == 0 and st["finished_cnt"] == n
    assert _served(origin, tag)[0] == 2 * n * 5000


def test_force_redownloads_unchanged(dld_daemon, origin):
    d = dld_daemon
    tag, bucket, n = _u("force"), _u("force"), 4
    _range_job(d, origin, bucket, tag, n)
    st = _range_job(d, origin, bucket, tag, n, force=True)
    assert st["skipped_cnt"] == 0 and st["finished_cnt"] == n
    assert _served(origin, tag)[0] == 2 * n * 70000
    assert d.request("HEAD", f"/v1/objects/{bucket}/f01")[1]["ais-version"] == "2"  # replaced: version bumped


@pytest.fixture(scope="module")
def cloud_daemon(tmp_path_factory, origin):
    """Public-bucket host names pinned to the local origin (the daemon's ``resolve`` setting, as curl --resolve)."""
    from tests.daemon import DaemonProc

    port = origin.port
    pins = f"storage.googleapis.com:{port}:127.0.0.1,mybucket.s3.amazonaws.com:{port}:127.0.0.1"
    d = DaemonProc(tmp_path_factory.mktemp("cloud"), env={"DLD_RESOLVE": pins}).start()
    yield d
    d.stop()


def test_gcs_link_compare_objects_skips_by_generation_and_hash(cloud_daemon, origin):
    d = cloud_daemon
    name = _u("gcs")
    link = f"http://storage.googleapis.com:{origin.port}/obj/{name}?size=40000&digest=goog-hash&goog_generation=1"
    body = {"type": "single", "bucket": {"name": "gcs-cache"}, "object_name": name, "link": link}
    st = d.wait(d.start_job(body))
    assert st["finished_cnt"] == 1 and st["skipped_cnt"] == 0, st.get("download_errors")
    _, hdrs, _ = d.request("HEAD", f"/v1/objects/gcs-cache/{name}")
    md = hdrs["ais-custom-md"]
    assert "source=gcp" in md and "version=" in md and "crc32c=" in md
    before = origin.object_stats(name)
    st = d.wait(d.start_job(body))
    assert st["skipped_cnt"] == 1 and st["finished_cnt"] == 1
    after = origin.object_stats(name)
    assert after["requests"] == before["requests"] + 1 and after["body_bytes"] == before["body_bytes"]  # one HEAD
    origin.set_version(name, 1)
    st = d.wait(d.start_job(body))
    assert st["skipped_cnt"] == 0 and st["finished_cnt"] == 1
    assert d.object_file("gcs-cache", name).read_bytes() == expected_bytes(name, 40000, version=1)
    assert d.request("HEAD", f"/v1/objects/gcs-cache/{name}")[1]["ais-version"] == "2"


def test_s3_link_compare_objects_skips_by_etag(cloud_daemon, origin):
    d = cloud_daemon
    name = _u("s3")
    link = f"http://mybucket.s3.amazonaws.com:{origin.port}/obj/{name}?size=40000&digest=s3-etag"
    body = {"type": "single", "bucket": {"name": "s3-cache"}, "object_name": name, "link": link}
    assert d.wait(d.start_job(body))["finished_cnt"] == 1
    md = d.request("HEAD", f"/v1/objects/s3-cache/{name}")[1]["ais-custom-md"]
    assert "source=aws" in md and "md5=" in md
    st = d.wait(d.start_job(body))
    assert st["skipped_cnt"] == 1


def test_head_error_fails_one_object_and_the_job_goes_on(cloud_daemon, origin):
    """AIS stops dispatching the whole job when a HEAD fails (§2.15.2); dld records the one object and continues."""
    d = cloud_daemon
    tag = _u("headerr")
    names = [f"{tag}-{i}" for i in range(3)]

    def links(bad: str | None) -> dict[str, str]:
        out = {}
        for nm in names:
            extra = "&status=500" if nm == bad else ""
            out[nm] = (f"http://storage.googleapis.com:{origin.port}/obj/{nm}?size=1000&digest=goog-hash"
                       f"&goog_generation=1{extra}")
        return out

    assert d.wait(d.start_job({"type": "multi", "bucket": {"name": tag}, "objects": links(None)}))["finished_cnt"] == 3
    st = d.wait(d.start_job({"type": "multi", "bucket": {"name": tag}, "objects": links(names[0])}))
    assert st["error_cnt"] == 1 and st["skipped_cnt"] == 2 and st["finished_cnt"] == 2
    assert st["all_dispatched"] and st["scheduled_cnt"] == 3
    err = st["download_errors"][0]
    assert err["name"] == names[0] and err["error"].startswith("HEAD failed to download") and "status 500" in err["error"]


def test_object_verify_detects_a_flipped_byte(dld_daemon, origin):
    d = dld_daemon
    tag, bucket = _u("rot"), _u("rot")
    _range_job(d, origin, bucket, tag, 4)
    path = d.object_file(bucket, "f02")
    with open(path, "r+b") as f:  # bit rot: one byte changes in place, metadata stays
        f.seek(12345)
        b = f.read(1)
        f.seek(12345)
        f.write(bytes([b[0] ^ 0x01]))
    status, _, data = d.request("GET", f"/v1/verify/{bucket}")
    assert status == 200
    rows = [json.loads(line) for line in data.decode().splitlines()]
    by_name = {r["name"]: r for r in rows if "name" in r}
    assert by_name["f02"]["status"] == "mismatch" and by_name["f02"]["expected"] != by_name["f02"]["actual"]
    assert all(by_name[f"f0{i}"]["status"] == "ok" for i in (0, 1, 3))
    assert rows[-1] == {"summary": {"checked": 4, "ok": 3, "mismatch": 1, "no_checksum": 0}}
    status, _, _ = d.request("GET", "/v1/verify/no-such-bucket")
    assert status == 404


@pytest.mark.parametrize("kind", ["goog-hash", "s3-crc32c"])
def test_big_objects_hashed_by_the_sink_thread_verify_and_store_the_right_blake3(dld_daemon, origin, kind):
    """Past its first MiB an object is hashed by the sink's C thread (dld/_fast/csrc/offload.c): the source's
    crc32c must still verify, and the blake3 stored with the object must be that of its bytes."""
    from blake3 import blake3

    d = dld_daemon
    name, bucket, size = _u(f"big-{kind}"), _u("integ-big"), 5_000_000 + 4321
    job = d.start_job({"type": "single", "bucket": {"name": bucket}, "object_name": name,
                       "link": origin.obj_url(name, size=size, digest=kind)})
    st = d.wait(job)
    assert st["finished_cnt"] == 1 and st["error_cnt"] == 0, st.get("download_errors")
    assert origin.object_stats(name)["requests"] == 1  # verified the first time
    status, headers, _ = d.request("HEAD", f"/v1/objects/{bucket}/{name}")
    assert status == 200
    stored = headers["ais-checksum-value"]
    assert stored == blake3(expected_bytes(name, size)).hexdigest()


def test_hash_threads_bound_the_hashing_pool(make_daemon, origin):
    """Four big objects at once with ``hash_threads = 1``: one pool thread hashes for all of them (the trio thread
    catches up when it lags), and every stored blake3 is right."""
    from blake3 import blake3

    d = make_daemon(env={"DLD_HASH_THREADS": "1"})
    bucket, size = _u("integ-pool"), 3_000_000 + 777
    objs = {_u(f"p{i}"): size + i for i in range(4)}
    job = d.start_job({"type": "multi", "bucket": {"name": bucket},
                       "objects": {n: origin.obj_url(n, size=sz, digest="s3-crc32c") for n, sz in objs.items()}})
    st = d.wait(job)
    assert st["finished_cnt"] == 4 and st["error_cnt"] == 0, st.get("download_errors")
    for n, sz in objs.items():
        _, headers, _ = d.request("HEAD", f"/v1/objects/{bucket}/{n}")
        assert headers["ais-checksum-value"] == blake3(expected_bytes(n, sz)).hexdigest()
    names = [p.read_text().strip() for p in Path(f"/proc/{d.proc.pid}/task").glob("*/comm")]
    assert names.count("dld-hash") == 1


def test_big_corrupt_object_fails_through_the_sink_thread(strict_daemon, origin):
    d = strict_daemon
    name, bucket = _u("big-corrupt"), _u("integ-big")
    job = d.start_job({"type": "single", "bucket": {"name": bucket}, "object_name": name,
                       "link": origin.obj_url(name, size=5_000_000, corrupt=1, digest="s3-crc32c")})
    st = d.wait(job)
    assert st["error_cnt"] == 1
    assert "checksum mismatch: crc32c from x-amz-checksum-crc32c expected " in st["download_errors"][0]["error"]
    status, _, _ = d.request("HEAD", f"/v1/objects/{bucket}/{name}")
    assert status == 404
