"""dld against its peers on loopback: the numbers the closing notes report. Never run by CI (``make bench``).

Scenarios (``--only`` picks some; default all):

* ``small``  5,000 × 64 KiB from nginx: dld range job vs ``curl --parallel --parallel-max 16`` (and aria2c).
* ``big``    4 × 1 GiB from nginx: dld multi job vs curl (4 transfers).
* ``rerun``  the small set again into the same bucket: every object unchanged, all 304s. Objects/s vs ``small``.
* ``hash``   4 × 1 GiB from the test origin with ``x-amz-checksum-crc32c``: dld with blake3 + crc32c
  verification vs dld with content checksums and verification off (same URLs). Target ≥ 0.85×.
* ``hash-nginx`` the same from nginx (``add_header x-amz-checksum-crc32c`` per file): a cheaper origin leaves
  dld's own costs more exposed on this 2-core VM.
* ``journal`` µs per object that the journal costs (record + batched commit), against dld's per-object time.

Method (engine-notes §3, P1, P15): every scenario runs ``--runs`` times (default 3) and the tools are interleaved
run by run, so the VM's page-cache moods hit both alike; each run writes into a fresh directory (no deletes between
runs: a mass delete makes the next creates ~10× slower on this ext4); the median is reported. dld's time is the job's
own started→finished time (no process start-up), curl's is its wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.nginx import Nginx  # noqa: E402
from tests.daemon import DaemonProc, poll  # noqa: E402
from tests.origin.fixture import Origin  # noqa: E402

SMALL_N, SMALL_SIZE = 5000, 64 * 1024
BIG_N, BIG_SIZE = 4, 1 << 30


def _gen(data: Path) -> None:
    small, big = data / "small", data / "big"
    if not (small / f"f{SMALL_N - 1:05d}.bin").exists():
        small.mkdir(parents=True, exist_ok=True)
        blob = os.urandom(SMALL_SIZE * 16)
        for i in range(SMALL_N):
            off = (i * 4099) % (len(blob) - SMALL_SIZE)
            (small / f"f{i:05d}.bin").write_bytes(blob[off:off + SMALL_SIZE])
    if not (big / f"g{BIG_N - 1}.bin").exists():
        big.mkdir(parents=True, exist_ok=True)
        block = os.urandom(8 << 20)
        for i in range(BIG_N):
            with open(big / f"g{i}.bin", "wb") as f:
                for k in range(BIG_SIZE // len(block)):
                    f.write(block[k % 7:] + block[:k % 7])


def _crc32c_b64(path: Path) -> str:
    import base64

    from dld._fast.sink import crc32c

    c = 0
    with open(path, "rb") as f:
        while b := f.read(1 << 22):
            c = crc32c(b, c)
    return base64.b64encode(c.to_bytes(4, "big")).decode()


def _parse_go_time(s: str) -> float:
    from datetime import datetime

    base, _, frac = s.rstrip("Z").partition(".")
    t = datetime.fromisoformat(base + "+00:00").timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def _dld_job(d: DaemonProc, body: dict) -> float:
    job = d.start_job(body)
    poll(lambda: d.status(job, True)["finished_time"] != "0001-01-01T00:00:00Z", 600, interval=0.02)
    st = d.status(job, True)
    assert st["error_cnt"] == 0, d.status(job)["download_errors"][:3]
    return _parse_go_time(st["finished_time"]) - _parse_go_time(st["started_time"])


def _curl(urls: list[str], out: Path, conns: int) -> float:
    out.mkdir(parents=True)
    cfg = out / "urls.cfg"
    cfg.write_text("".join(f'url = "{u}"\noutput = "{out}/{Path(u).name}"\n' for u in urls))
    t0 = time.perf_counter()
    subprocess.run(["curl", "-sS", "--no-progress-meter", "--parallel", "--parallel-max", str(conns), "-K", str(cfg)],
                   check=True)
    return time.perf_counter() - t0


def _aria2(urls: list[str], out: Path, conns: int) -> float:
    out.mkdir(parents=True)
    lst = out / "urls.txt"
    lst.write_text("\n".join(urls) + "\n")
    t0 = time.perf_counter()
    subprocess.run(["aria2c", "-i", str(lst), "-d", str(out), "-j", str(conns), "-x", "1", "--console-log-level=warn",
                    "--summary-interval=0", "--download-result=hide", "--file-allocation=none",
                    "--auto-save-interval=0", "--disk-cache=0"], check=True)
    return time.perf_counter() - t0


def _same_files(src_dir: Path, dst_dir: Path, names: list[str]) -> None:
    """Byte-compare dld's objects with the files nginx served (the issue asks for byte-identical results)."""
    for n in names:
        a, b = src_dir / n, dst_dir / n
        with open(a, "rb") as fa, open(b, "rb") as fb:
            while True:
                x, y = fa.read(1 << 22), fb.read(1 << 22)
                if x != y:
                    raise SystemExit(f"MISMATCH: {b} differs from {a}")
                if not x:
                    break
    print(f"verified {len(names)} objects byte-identical to the source", flush=True)


def _median(xs: list[float]) -> float:
    return statistics.median(xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="small,big,rerun,hash,hash-nginx,journal")
    ap.add_argument("--work", default=os.environ.get("DLD_BENCH_DIR", "/var/tmp/dld-bench"))
    args = ap.parse_args()
    only = set(args.only.split(","))
    work = Path(args.work)
    data = work / "data"
    _gen(data)
    runs_dir = Path(tempfile.mkdtemp(prefix="runs-", dir=work))
    nginx = Nginx(runs_dir / "nginx", data)
    base = nginx.start()
    origin = Origin().start(runs_dir / "origin", data_dir=data)
    origin.hash_base, origin.hash_query = f"{origin.base_url}/files", "?digest=s3-crc32c"
    hash_nginx = None
    if "hash-nginx" in only:
        # nginx sends what S3 would for these files: x-amz-checksum-crc32c, base64 of the big-endian value.
        locs = "".join(f'        location = /big/g{i}.bin {{ add_header x-amz-checksum-crc32c "{_crc32c_b64(data / "big" / f"g{i}.bin")}"; }}\n'
                       for i in range(BIG_N))
        hash_nginx = Nginx(runs_dir / "nginx-hash", data, locations=locs)
        hash_nginx.hash_base, hash_nginx.hash_query = hash_nginx.start(), ""
    results: dict[str, dict[str, list[float]]] = {}

    def rec(scenario: str, tool: str, value: float) -> None:
        results.setdefault(scenario, {}).setdefault(tool, []).append(value)
        print(f"{scenario:8s} {tool:22s} {value:8.3f} s", flush=True)

    small_urls = [f"{base}/small/f{i:05d}.bin" for i in range(SMALL_N)]
    big_urls = [f"{base}/big/g{i}.bin" for i in range(BIG_N)]
    try:
        for r in range(args.runs):
            d = DaemonProc(runs_dir / f"dld-{r}").start()
            try:
                if "small" in only or "rerun" in only:
                    body = {"type": "range", "bucket": {"name": "small"},
                            "template": f"{base}/small/f{{00000..{SMALL_N - 1:05d}}}.bin"}
                    rec("small", "dld", _dld_job(d, body))
                    if r == 0:
                        _same_files(data / "small", d.object_file("small", "x").parent,
                                    [f"f{i:05d}.bin" for i in range(SMALL_N)])
                    if "rerun" in only:
                        rec("rerun", "dld (all 304)", _dld_job(d, body))
                    rec("small", "curl --parallel 16", _curl(small_urls, runs_dir / f"curl-small-{r}", 16))
                    if shutil.which("aria2c"):
                        rec("small", "aria2c -j16 (tuned)", _aria2(small_urls, runs_dir / f"aria-small-{r}", 16))
                if "big" in only:
                    body = {"type": "multi", "bucket": {"name": "big"}, "objects": big_urls}
                    rec("big", "dld", _dld_job(d, body))
                    if r == 0:
                        _same_files(data / "big", d.object_file("big", "x").parent, [f"g{i}.bin" for i in range(BIG_N)])
                    rec("big", "curl --parallel 4", _curl(big_urls, runs_dir / f"curl-big-{r}", 4))
                    shutil.rmtree(d.mountpath / "buckets" / "ais" / "_" / "big", ignore_errors=True)
                    shutil.rmtree(runs_dir / f"curl-big-{r}", ignore_errors=True)
            finally:
                d.stop()
            for scen, src in (("hash", origin), ("hash-nginx", hash_nginx)):
                if scen not in only:
                    continue
                # The same URLs (same origin work) both times; only what dld computes differs. The order flips
                # every run, run 0 is a warm-up (not recorded), and each run's objects are deleted right after
                # it: four big files, cheap to delete, and it keeps the page cache from growing run by run.
                modes = [("blake3+crc32c", {}), ("no checksums", {"DLD_CONTENT_CHECKSUM": "0",
                                                                  "DLD_VERIFY_CHECKSUMS": "0"})]
                for mode, env in modes if r % 2 == 0 else modes[::-1]:
                    d = DaemonProc(runs_dir / f"dld-{scen}-{mode[:2]}-{r}", env=env).start()
                    try:
                        objs = {f"g{i}": f"{src.hash_base}/big/g{i}.bin{src.hash_query}" for i in range(BIG_N)}
                        t = _dld_job(d, {"type": "multi", "bucket": {"name": "h"}, "objects": objs})
                        if r > 0 or args.runs == 1:
                            rec(scen, mode, t)
                    finally:
                        d.stop()
                        shutil.rmtree(d.mountpath / "buckets", ignore_errors=True)
        if "journal" in only:
            from bench.bench_journal import per_object_us

            results["journal"] = {"us_per_object": [per_object_us(runs_dir / f"journal-{i}") for i in range(3)]}
    finally:
        origin.stop()
        nginx.stop()
        if hash_nginx is not None:
            hash_nginx.stop()

    print("\n== medians ==")
    summary: dict[str, dict[str, float]] = {}
    for scen, tools in results.items():
        summary[scen] = {t: _median(v) for t, v in tools.items()}
        for t, v in summary[scen].items():
            extra = ""
            if scen in ("small", "rerun"):
                extra = f"  {SMALL_N / v:8.0f} files/s  {SMALL_N * SMALL_SIZE / v / 1e6:7.0f} MB/s"
            elif scen in ("big", "hash", "hash-nginx"):
                extra = f"  {BIG_N * BIG_SIZE / v / 1e6:7.0f} MB/s"
            elif scen == "journal":
                extra = "  µs/object"
            print(f"{scen:8s} {t:22s} {v:8.3f}{extra}")
    s = summary
    if "small" in s and "curl --parallel 16" in s["small"]:
        print(f"ratio small dld/curl (throughput): {s['small']['curl --parallel 16'] / s['small']['dld']:.2f}")
    if "big" in s:
        print(f"ratio big dld/curl (throughput): {s['big']['curl --parallel 4'] / s['big']['dld']:.2f}")
    if "rerun" in s and "small" in s:
        print(f"ratio 304 re-run / first download (objects/s): {s['small']['dld'] / s['rerun']['dld (all 304)']:.2f}")
    for scen in ("hash", "hash-nginx"):
        if scen in s:
            pairs = zip(results[scen]["no checksums"], results[scen]["blake3+crc32c"], strict=True)
            print(f"ratio {scen} blake3+crc32c / no checksums (throughput): "
                  f"{s[scen]['no checksums'] / s[scen]['blake3+crc32c']:.2f} of medians, "
                  f"{_median([off / on for off, on in pairs]):.2f} median of run pairs")
    if "journal" in s and "small" in s:
        per_obj_us = s["small"]["dld"] / SMALL_N * 1e6
        print(f"journal: {s['journal']['us_per_object']:.1f} µs/object = "
              f"{100 * s['journal']['us_per_object'] / per_obj_us:.1f}% of dld's {per_obj_us:.0f} µs/object")
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    (out / f"run-{stamp}.json").write_text(json.dumps({"raw": results, "median": summary}, indent=1))
    shutil.rmtree(runs_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
