"""The real AIS Python SDK (``aistore``), unchanged, against a running ``dld serve``.

Theory of operation: the daemon comes from the ``dld_daemon`` fixture (``tests/conftest.py``: ``.url``, ``.data_dir``).
Buckets are created through the SDK; objects are put on disk with the store's own publish API (dld has no PUT), on
the daemon's mountpaths, found under ``data_dir`` by their ``.dld/tmp`` marker. The daemon reads the disk on every
request, so what is published here is what the SDK sees next. Wire facts these tests pin down are in
``docs/ais-sdk-wire.md``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

aistore = pytest.importorskip("aistore")
requests = pytest.importorskip("requests")

from aistore.sdk import Client  # noqa: E402
from aistore.sdk.errors import AISError, ErrBckAlreadyExists, ErrBckNotFound, ErrObjNotFound  # noqa: E402
from aistore.sdk.retry_config import RetryConfig  # noqa: E402
from urllib3.util.retry import Retry  # noqa: E402

from dld.store.local import Store  # noqa: E402
from dld.store.meta import Bck, ObjectMeta  # noqa: E402


def _no_retry() -> RetryConfig:
    """Fail fast: the SDK's default retries 5xx for ~90 s, which would hide a daemon bug behind a long hang."""
    cfg = RetryConfig.default()
    import tenacity

    return RetryConfig(http_retry=Retry(total=0, connect=0, read=0, status=0, redirect=0),
                       network_retry=tenacity.Retrying(stop=tenacity.stop_after_attempt(1), reraise=True),
                       cold_get_conf=cfg.cold_get_conf)


@pytest.fixture
def client(dld_daemon) -> Client:
    return Client(dld_daemon.url, retry_config=_no_retry(), timeout=(5, 30))


@pytest.fixture
def store(dld_daemon) -> Store:
    """A second ``Store`` over the daemon's mountpaths, used only to publish test objects."""
    data_dir = Path(dld_daemon.data_dir)
    mountpaths = sorted({p.parent.parent for p in data_dir.rglob("tmp") if p.parent.name == ".dld"})
    assert mountpaths, f"no dld mountpath (a dir with .dld/tmp) under {data_dir}"
    return Store(mountpaths)


@pytest.fixture
def bucket(client):
    b = client.bucket(f"sdk-{uuid.uuid4().hex[:10]}")
    b.create()
    yield b
    b.delete(missing_ok=True)


def put(store: Store, bck_name: str, name: str, data: bytes, **custom: str) -> ObjectMeta:
    """Publish ``data`` as object ``name`` exactly as a finished download would be."""
    bck = Bck("ais", bck_name)
    tmp = store.temp_path(bck, name, f"test.{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    meta = ObjectMeta(size=len(data), blake3=hashlib.blake2b(data).hexdigest()[:64], atime_ns=1_700_000_000_123_456_789,
                      custom=custom)
    store.publish(tmp, bck, name, meta)
    return meta


# ---- buckets -----------------------------------------------------------------------------------------------------


def test_create_list_head_destroy_bucket(client):
    name = f"sdk-{uuid.uuid4().hex[:10]}"
    b = client.bucket(name)
    b.create()
    with pytest.raises(ErrBckAlreadyExists):
        b.create()
    b.create(exist_ok=True)

    names = {(m.name, m.provider) for m in client.cluster().list_buckets()}
    assert (name, "ais") in names
    assert any(m.name == name for m in client.cluster().list_buckets(provider=""))

    hdrs = b.head()  # HEAD /v1/buckets/<name>: existence check
    assert json.loads(hdrs["Ais-Bucket-Props"])["provider"] == "ais"

    b.delete()
    with pytest.raises(ErrBckNotFound):
        b.delete()
    b.delete(missing_ok=True)
    with pytest.raises(AISError) as ei:
        b.head()
    assert ei.value.status_code == 404
    assert name not in {m.name for m in client.cluster().list_buckets()}


def test_list_objects_of_missing_bucket(client):
    with pytest.raises(ErrBckNotFound):
        client.bucket(f"nope-{uuid.uuid4().hex[:8]}").list_objects()


# ---- listing -----------------------------------------------------------------------------------------------------

NAMES = ["a.txt", "a/b", "a/c/d", "a0", "b/x", "z"]


def test_list_objects_pages_and_prefix(bucket, store):
    for n in NAMES:
        put(store, bucket.name, n, n.encode() * 2)
    page = bucket.list_objects(page_size=2)
    assert [e.name for e in page.entries] == NAMES[:2]
    assert page.uuid and page.continuation_token == "a/b"
    page2 = bucket.list_objects(page_size=2, uuid=page.uuid, continuation_token=page.continuation_token)
    assert [e.name for e in page2.entries] == NAMES[2:4]

    everything = bucket.list_objects()
    assert [e.name for e in everything.entries] == NAMES
    assert everything.continuation_token == ""
    e = everything.entries[1]
    assert e.size == 6 and e.is_cached() and e.is_ok() and len(e.checksum) == 64 and e.atime

    assert [e.name for e in bucket.list_objects(prefix="a/").entries] == ["a/b", "a/c/d"]
    assert [e.name for e in bucket.list_all_objects(page_size=1)] == NAMES
    assert [e.name for e in bucket.list_objects_iter(page_size=4)] == NAMES  # terminates
    assert [e.name for e in bucket.list_objects_iter(prefix="a", page_size=1)] == NAMES[:4]
    assert [e.name for e in bucket.list_objects_iter(start_after="a0")] == ["b/x", "z"]
    assert [o.name for o in bucket.list_all_objects_iter(prefix="b/")] == ["b/x"]


def test_list_objects_empty_bucket(bucket):
    page = bucket.list_objects()
    assert page.entries == [] and page.continuation_token == ""
    assert list(bucket.list_objects_iter()) == []


def test_list_objects_props(bucket, store):
    put(store, bucket.name, "o", b"data", ETag="abc", source="web")
    e = bucket.list_objects(props="name,size,version,custom,copies").entries[0]
    assert (e.name, e.size, e.version, e.copies, e.checksum) == ("o", 4, "1", 1, "")
    props = e.generate_object_props()
    assert props.size == 4


def test_list_objects_json_for_plain_clients(bucket, store, dld_daemon):
    put(store, bucket.name, "j/1", b"12345")
    r = requests.get(f"{dld_daemon.url}/v1/buckets/{bucket.name}", params={"provider": "ais"},
                     json={"action": "list", "value": {"prefix": "j/", "props": "name,size"}}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["continuation_token"] == "" and body["uuid"]
    assert body["entries"] == [{"name": "j/1", "size": "5", "flags": 64}]


def test_unknown_action_is_400(bucket, dld_daemon):
    r = requests.post(f"{dld_daemon.url}/v1/buckets/{bucket.name}", json={"action": "copy-bck"}, timeout=10)
    assert r.status_code == 400 and "copy-bck" in r.text


# ---- objects -----------------------------------------------------------------------------------------------------


def test_head_object(bucket, store):
    meta = put(store, bucket.name, "dir/obj.bin", b"x" * 1000, ETag="etag1", source="web",
               link="https://example.com/obj.bin")
    attrs = bucket.object("dir/obj.bin").head()
    assert attrs.size == 1000
    assert attrs.checksum_type == "blake3" and attrs.checksum_value == meta.blake3
    assert attrs.obj_version == "1"
    assert attrs.access_time == "1700000000123456789"
    assert attrs.present
    assert attrs.custom_metadata == {"ETag": "etag1", "source": "web", "link": "https://example.com/obj.bin"}
    assert attrs.etag == "etag1"
    assert attrs.name == "dir/obj.bin" and attrs.bucket_name == bucket.name and attrs.bucket_provider == "ais"


def test_head_missing_object(bucket):
    with pytest.raises(AISError) as ei:
        bucket.object("missing").head()
    assert ei.value.status_code == 404


def test_get_whole_and_ranges(bucket, store):
    data = bytes(range(256)) * 40  # 10240 bytes
    put(store, bucket.name, "r", data)
    obj = bucket.object("r")
    assert obj.get_reader().read_all() == data
    assert obj.get_reader(byte_range="bytes=10-19").read_all() == data[10:20]
    assert obj.get_reader(byte_range="bytes=10000-").read_all() == data[10000:]
    assert obj.get_reader(byte_range="bytes=-16").read_all() == data[-16:]
    assert obj.get_reader(byte_range="bytes=10200-99999").read_all() == data[10200:]
    with pytest.raises(AISError) as ei:
        obj.get_reader(byte_range="bytes=20000-").read_all()
    assert ei.value.status_code == 416
    reader = obj.get_reader()
    assert b"".join(reader) == data
    assert reader.attributes.size == len(data)


def test_get_streams_large_object(bucket, store):
    data = hashlib.sha256(b"seed").digest() * (3 * 2**20 // 32 + 7)  # a bit over 3 MiB: several 1 MiB chunks
    put(store, bucket.name, "big", data)
    assert bucket.object("big").get_reader().read_all() == data
    with bucket.object("big").get_reader(chunk_size=65536).as_file() as f:
        assert f.read() == data


def test_get_missing_object(bucket):
    with pytest.raises(ErrObjNotFound):
        bucket.object("nope/x").get_reader().read_all()


def test_delete_object(bucket, store):
    put(store, bucket.name, "gone/soon", b"bye")
    bucket.object("gone/soon").delete()
    with pytest.raises(ErrObjNotFound):
        bucket.object("gone/soon").get_reader().read_all()
    with pytest.raises(ErrObjNotFound):
        bucket.object("gone/soon").delete()
    assert bucket.list_objects().entries == []


def test_object_names_with_odd_characters(bucket, store):
    for n in ["sp ace", "pct%41", "uni-é", "q?x#y"]:
        put(store, bucket.name, n, n.encode())
        assert bucket.object(n).get_reader().read_all() == n.encode()
        assert bucket.object(n).head().size == len(n.encode())
    assert sorted(e.name for e in bucket.list_objects_iter()) == sorted(["sp ace", "pct%41", "uni-é", "q?x#y"])
