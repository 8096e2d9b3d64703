"""HTTP/2 when the origin offers it: dld over TLS to a real nginx with ``http2`` enabled, with a private CA."""

from __future__ import annotations

import os
import uuid

import pytest
import trustme

from bench.nginx import Nginx, available

pytestmark = pytest.mark.skipif(not available(), reason="nginx is not installed (make test installs it)")


@pytest.fixture(scope="module")
def h2_nginx(tmp_path_factory):
    work = tmp_path_factory.mktemp("h2nginx")
    data = work / "data"
    data.mkdir()
    for i in range(20):
        (data / f"f{i:02d}.bin").write_bytes(os.urandom(100_000 + i))
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    cert.private_key_pem.write_to_path(str(work / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(work / "cert.pem"))
    ng = Nginx(work / "ng", data, tls_cert=work / "cert.pem", tls_key=work / "key.pem", access_log=work / "access.log")
    ng.start()
    yield ng, work
    ng.stop()


def test_https_origin_offering_h2_is_fetched_over_http2(h2_nginx, make_daemon):
    ng, work = h2_nginx
    d = make_daemon("--ca-file", str(work / "ca.pem"))
    bucket = f"h2{uuid.uuid4().hex[:8]}"
    st = d.wait(d.start_job({"type": "range", "bucket": {"name": bucket},
                             "template": f"https://127.0.0.1:{ng.tls_port}/f{{00..19}}.bin"}))
    assert st["finished_cnt"] == 20 and st["error_cnt"] == 0, st.get("download_errors")
    for i in range(20):
        assert d.object_file(bucket, f"f{i:02d}.bin").read_bytes() == (ng.data_dir / f"f{i:02d}.bin").read_bytes()
    lines = (work / "access.log").read_text().splitlines()
    assert len(lines) >= 20 and all(line.startswith("HTTP/2.0 200 ") for line in lines), lines[:3]
