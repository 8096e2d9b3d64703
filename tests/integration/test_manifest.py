"""The manifest and the status of a huge job stream from the journal: the daemon's memory stays flat."""

from __future__ import annotations

import http.client
import json
import sqlite3

from dld.jobs.journal import DONE, FAILED, Journal
from dld.store.meta import Bck
from dld.wire import JobSpec

N = 300_000  # ~90 MB of manifest JSON: holding it would show in RSS


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _stream(d, path: str, body: bytes | None = None) -> tuple[int, bytes, bytes]:
    """GET ``path``, reading the body in pieces; returns (bytes read, first 4 KiB, last 4 KiB)."""
    host, port = d.addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    conn.request("GET", path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 200
    total, head, tail = 0, b"", b""
    while chunk := r.read(1 << 16):
        if len(head) < 4096:
            head += chunk[: 4096 - len(head)]
        tail = (tail + chunk)[-4096:]
        total += len(chunk)
    conn.close()
    return total, head, tail


def test_manifest_and_status_of_300k_objects_stream_with_flat_memory(tmp_path, make_daemon):
    data = tmp_path / "dld"
    data.mkdir()
    spec = JobSpec(kind="range", bck=Bck("ais", "huge"), description="huge job", template="http://h/o{0..1}")
    j = Journal(data / "journal.sqlite")
    j.insert_job({"id": "dnl-HugeJob01", "seq": 1, "spec": spec.to_json(), "description": "huge job",
                  "xaction_id": "X", "started_ns": 1_700_000_000_000_000_000, "finished_ns": 1_700_000_100_000_000_000,
                  "aborted": 0, "total": N, "all_dispatched": 1, "cursor": N, "frontier": N, "finished_cnt": N - 1000,
                  "scheduled_cnt": N, "skipped_cnt": 0, "error_cnt": 1000})
    j.close()
    db = sqlite3.connect(data / "journal.sqlite")
    db.executemany(
        "INSERT INTO outcomes VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (("dnl-HugeJob01", i, f"shard-{i:07d}.tar", f"http://host/shards/shard-{i:07d}.tar",
          FAILED if i % 300 == 0 else DONE, 65536, 65536, "ab" * 32, '"etag"', "Tue, 24 Nov 2026 22:00:00 GMT",
          "ErrNotFound: gone" if i % 300 == 0 else "", 1_700_000_000_000_000_000 + i, 1_700_000_000_000_000_100 + i)
         for i in range(N)))
    db.commit()
    db.close()

    d = make_daemon(data_dir=data)
    pid = d.proc.pid
    d.status("dnl-HugeJob01", only_active=True)  # warm up code paths
    before = _rss_kb(pid)

    total, head, tail = _stream(d, "/v1/download/manifest?id=dnl-HugeJob01")
    first = json.loads(head.split(b"\n", 1)[0])
    assert first["index"] == 0 and first["name"] == "shard-0000000.tar" and first["outcome"] == "error"
    assert json.loads(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1])["index"] == N - 1
    assert total > 60_000_000
    after_manifest = _rss_kb(pid)

    total, head, tail = _stream(d, "/v1/download", json.dumps({"id": "dnl-HugeJob01"}).encode())
    assert head.startswith(b'{"id":"dnl-HugeJob01"') and tail.endswith(b"}]}")
    assert total > 30_000_000
    after_status = _rss_kb(pid)

    # Holding either body would add 30–90 MB; streaming adds page-sized buffers and SQLite's cache.
    assert after_manifest - before < 30_000, (before, after_manifest)
    assert after_status - before < 30_000, (before, after_status)
