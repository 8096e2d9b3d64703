"""The local store through a real daemon: HRW over several mountpaths, sorted merged listings, awkward names."""

from __future__ import annotations

import json
import os
import uuid

from tests.origin.content import expected_bytes


def _list(d, bucket: str, prefix: str = "") -> list[str]:
    names: list[str] = []
    token = ""
    while True:
        body = {"action": "list", "value": {"prefix": prefix, "continuation_token": token, "pagesize": 37}}
        status, _, data = d.request("GET", f"/v1/buckets/{bucket}?provider=ais", body)
        assert status == 200, data
        page = json.loads(data)
        names += [e["name"] for e in page["entries"] or []]
        token = page["continuation_token"]
        if not token:
            return names


def test_objects_spread_over_mountpaths_and_list_in_order(make_daemon, tmp_path, origin):
    mp1, mp2 = tmp_path / "disk1", tmp_path / "disk2"
    d = make_daemon("--mountpath", str(mp1), "--mountpath", str(mp2))
    tag = f"hrw{uuid.uuid4().hex[:8]}"
    st = d.wait(d.start_job({"type": "range", "bucket": {"name": tag},
                             "template": f"{origin.base_url}/obj/{tag}/x{{000..199}}?size=1000"}))
    assert st["finished_cnt"] == 200
    on1 = os.listdir(mp1 / "buckets" / "ais" / "_" / tag)
    on2 = os.listdir(mp2 / "buckets" / "ais" / "_" / tag)
    assert len(on1) + len(on2) == 200 and len(on1) > 40 and len(on2) > 40  # HRW spreads them
    names = _list(d, tag)
    assert names == sorted(names) == [f"x{i:03d}" for i in range(200)]
    assert _list(d, tag, prefix="x19") == [f"x19{i}" for i in range(10)]
    for name in ("x000", "x123", "x199"):
        status, _, data = d.request("GET", f"/v1/objects/{tag}/{name}")
        assert status == 200 and data == expected_bytes(f"{tag}/{name}", 1000)


def test_awkward_names_are_stored_and_listed_exactly(dld_daemon, origin):
    d = dld_daemon
    tag = f"names{uuid.uuid4().hex[:8]}"
    objects = {
        "/abs/leading-slash": origin.obj_url(f"{tag}-1", size=10),
        "a//double": origin.obj_url(f"{tag}-2", size=11),
        "with space+plus": origin.obj_url(f"{tag}-3", size=12),
        "dir/sub/file": origin.obj_url(f"{tag}-4", size=13),
        "dir-sibling": origin.obj_url(f"{tag}-5", size=14),
        "dir.x": origin.obj_url(f"{tag}-6", size=15),
    }
    st = d.wait(d.start_job({"type": "multi", "bucket": {"name": tag}, "objects": objects}))
    assert st["finished_cnt"] == 6, st.get("download_errors")
    assert _list(d, tag) == sorted(objects)  # byte order, as remote listings are
    for i, name in enumerate(objects, start=1):
        status, _, data = d.request("GET", f"/v1/objects/{tag}/{name}".replace(" ", "%20"))
        assert status == 200 and data == expected_bytes(f"{tag}-{i}", 9 + i), name


def test_name_that_collides_with_a_directory_fails_that_object_only(dld_daemon, origin):
    d = dld_daemon
    tag = f"clash{uuid.uuid4().hex[:8]}"
    d.wait(d.start_job({"type": "single", "bucket": {"name": tag}, "object_name": "a/b",
                        "link": origin.obj_url(f"{tag}-ab", size=100)}))
    st = d.wait(d.start_job({"type": "multi", "bucket": {"name": tag},
                             "objects": {"a": origin.obj_url(f"{tag}-a", size=100),
                                         "c": origin.obj_url(f"{tag}-c", size=100)}}))
    assert st["finished_cnt"] == 1 and st["error_cnt"] == 1
    assert st["download_errors"][0]["name"] == "a"
    assert "conflicts with existing objects under" in st["download_errors"][0]["error"]
    assert _list(d, tag) == ["a/b", "c"]
    assert os.listdir(d.mountpath / ".dld" / "tmp") == []
