"""Tables for the source-checksum header parsers (dld.transfer.digests) and the Cython sink's hashing."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import google_crc32c
import pytest
from blake3 import blake3
from dld._fast.sink import Sink, crc32c_combine, hash_file

from dld.transfer.digests import expectations

BODY = b"The quick brown fox jumps over the lazy dog" * 1000
MD5 = hashlib.md5(BODY).digest()
SHA256 = hashlib.sha256(BODY).digest()
SHA512 = hashlib.sha512(BODY).digest()
CRC32C = google_crc32c.value(BODY).to_bytes(4, "big")
CRC32 = zlib.crc32(BODY).to_bytes(4, "big")


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


S3 = "https://bucket.s3.amazonaws.com/key"
WEB = "https://example.com/file"

# (link, headers, status, expected {algorithm: (hex, source)})
VECTORS = [
    # GCS x-goog-hash: comma-joined, repeated, malformed entries ignored
    (WEB, [("x-goog-hash", f"crc32c={b64(CRC32C)},md5={b64(MD5)}")], 200,
     {"crc32c": (CRC32C.hex(), "x-goog-hash"), "md5": (MD5.hex(), "x-goog-hash")}),
    (WEB, [("X-Goog-Hash", f"crc32c={b64(CRC32C)}"), ("x-goog-hash", f"md5={b64(MD5)}")], 200,
     {"crc32c": (CRC32C.hex(), "x-goog-hash"), "md5": (MD5.hex(), "x-goog-hash")}),
    (WEB, [("x-goog-hash", "crc32c=!!notbase64!!, md5, =, sha1=AAAA")], 200, {}),
    (WEB, [("x-goog-hash", f"crc32c={b64(b'abc')}")], 200, {}),  # wrong length for crc32c
    # S3: ETag is an MD5 only for S3 responses, and not multipart
    (S3, [("ETag", f'"{MD5.hex()}"')], 200, {"md5": (MD5.hex(), "ETag (S3 MD5)")}),
    (WEB, [("ETag", f'"{MD5.hex()}"'), ("x-amz-request-id", "X")], 200, {"md5": (MD5.hex(), "ETag (S3 MD5)")}),
    (WEB, [("ETag", f'"{MD5.hex()}"')], 200, {}),  # another server's ETag is opaque
    (S3, [("ETag", f'"{MD5.hex()}-3"')], 200, {}),  # multipart
    (S3, [("x-amz-checksum-crc32c", b64(CRC32C))], 200, {"crc32c": (CRC32C.hex(), "x-amz-checksum-crc32c")}),
    (S3, [("x-amz-checksum-crc32", b64(CRC32))], 200, {"crc32": (CRC32.hex(), "x-amz-checksum-crc32")}),
    (S3, [("x-amz-checksum-sha256", b64(SHA256))], 200, {"sha256": (SHA256.hex(), "x-amz-checksum-sha256")}),
    (S3, [("x-amz-checksum-crc32c", b64(CRC32C) + "-4")], 200, {}),  # composite: covers parts, not the object
    # Azure
    (WEB, [("Content-MD5", b64(MD5))], 200, {"md5": (MD5.hex(), "Content-MD5")}),
    # RFC 9530
    (WEB, [("Repr-Digest", f"sha-256=:{b64(SHA256)}:")], 200, {"sha256": (SHA256.hex(), "Repr-Digest")}),
    (WEB, [("Repr-Digest", f"sha-512=:{b64(SHA512)}:, sha-256=:{b64(SHA256)}:")], 206,
     {"sha512": (SHA512.hex(), "Repr-Digest"), "sha256": (SHA256.hex(), "Repr-Digest")}),
    (WEB, [("Content-Digest", f"sha-512=:{b64(SHA512)}:")], 200, {"sha512": (SHA512.hex(), "Content-Digest")}),
    (WEB, [("Content-Digest", f"sha-512=:{b64(SHA512)}:")], 206, {}),  # only this response's bytes
    (WEB, [("Repr-Digest", "unixsum=:AAAA:, sha-256=:bad!:")], 200, {}),
    # RFC 3230
    (WEB, [("Digest", f"SHA-256={b64(SHA256)}, MD5={b64(MD5)}")], 200,
     {"sha256": (SHA256.hex(), "Digest"), "md5": (MD5.hex(), "Digest")}),
    (WEB, [("Digest", f"sha-512={b64(SHA512)}")], 200, {"sha512": (SHA512.hex(), "Digest")}),
    (WEB, [("Digest", "UNIXsum=123")], 200, {}),
    # first source of an algorithm wins
    (WEB, [("x-goog-hash", f"md5={b64(MD5)}"), ("Content-MD5", b64(b"x" * 16))], 200,
     {"md5": (MD5.hex(), "x-goog-hash")}),
    (WEB, [], 200, {}),
]


@pytest.mark.parametrize(("link", "headers", "status", "want"), VECTORS)
def test_expectations(link, headers, status, want):
    got = {e.algorithm: (e.value, e.source) for e in expectations(link, headers, status=status)}
    assert got == want


def _sink_digests(chunks: list[bytes], algorithms: list[str]) -> tuple[str, dict[str, str]]:
    fd = os.open("/dev/null", os.O_WRONLY)
    try:
        s = Sink(fd)
        s.enable(algorithms)
        for c in chunks:
            assert s.write(c) is None  # P8: never a count
        return s.content_digest(), s.digests()
    finally:
        os.close(fd)


def test_sink_hashes_match_hashlib():
    chunks = [BODY[i:i + 7777] for i in range(0, len(BODY), 7777)]
    b3, d = _sink_digests(chunks, ["crc32c", "crc32", "md5", "sha256", "sha512"])
    assert b3 == blake3(BODY).hexdigest()
    assert d == {"crc32c": CRC32C.hex(), "crc32": CRC32.hex(), "md5": MD5.hex(), "sha256": SHA256.hex(),
                 "sha512": SHA512.hex()}


def test_sink_enable_after_a_resumed_prefix_covers_the_whole_object(tmp_path):
    path = tmp_path / "partial"
    head, tail = BODY[:12345], BODY[12345:]
    path.write_bytes(head)
    fd = os.open(path, os.O_RDWR)
    try:
        os.lseek(fd, len(head), os.SEEK_SET)
        s = Sink(fd, len(head), hash_file(fd, len(head)))
        s.enable(["md5", "crc32c"])  # headers arrive after the resume: the prefix is re-hashed
        for i in range(0, len(tail), 4096):
            s.write(tail[i:i + 4096])
        assert s.digests() == {"md5": MD5.hex(), "crc32c": CRC32C.hex()}
        assert s.content_digest() == blake3(BODY).hexdigest()
        s.flush()  # the sink writes in batches
        assert path.read_bytes() == BODY
        s.reset()
        assert os.fstat(fd).st_size == 0 and s.offset == 0
        s.write(b"abc")
        assert s.content_digest() == blake3(b"abc").hexdigest() and s.digests() == {}
    finally:
        os.close(fd)


def test_sink_abort_makes_a_short_write(null_fd):
    s = Sink(null_fd)
    s.abort = True
    assert s.write(b"data") == 0


@pytest.mark.parametrize("split", [0, 1, 1000, 20000, len(BODY) - 1, len(BODY)])
def test_crc32c_combine(split):
    a, b = BODY[:split], BODY[split:]
    assert crc32c_combine(google_crc32c.value(a), google_crc32c.value(b), len(b)) == google_crc32c.value(BODY)
