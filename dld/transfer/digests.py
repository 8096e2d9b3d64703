"""What the source says the object's checksums are: parse integrity headers into expectations. Pure.

Sources and their headers (values are base64 of the raw digest unless noted):

* GCS ``x-goog-hash: crc32c=<b64>,md5=<b64>`` — repeated headers or comma-joined values (a Python client joins
  repeated headers with ``, ``); malformed entries are ignored, as AIS does after its panic fix.
* S3: ``ETag: "<md5 hex>"`` when it is an MD5 (a multipart ETag ``…-N`` is not), and only when the response is
  S3's (an ``amazonaws.com`` link or ``x-amz-*`` response headers: other servers' ETags are opaque);
  ``x-amz-checksum-crc32c`` / ``-crc32`` / ``-sha256`` (only full-object values: a composite checksum ``…-N``
  covers parts, not the object).
* Azure ``Content-MD5``.
* RFC 9530 ``Repr-Digest`` (the whole representation) and ``Content-Digest`` (this response's bytes, so it
  cannot be checked against a resumed object), structured-field dictionaries ``sha-256=:<b64>:``; RFC 3230
  ``Digest: SHA-256=<b64>, MD5=<b64>`` (legacy, still sent by some mirrors).

Each expectation names the algorithm and the expected value as lowercase hex; the sink computes the algorithms
asked for while streaming, and a mismatch fails the attempt.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Algorithms dld can compute while streaming, by their RFC 9530 / IANA names.
ALGORITHMS = ("crc32c", "crc32", "md5", "sha256", "sha512")
_RFC_NAMES = {"sha-256": "sha256", "sha-512": "sha512", "md5": "md5", "crc32c": "crc32c"}
_DIGEST_SIZES = {"crc32c": 4, "crc32": 4, "md5": 16, "sha256": 32, "sha512": 64}


@dataclass(frozen=True, slots=True)
class Expectation:
    algorithm: str  # one of ALGORITHMS
    value: str  # lowercase hex
    source: str  # the header it came from, for the error message
    whole_object: bool = True  # False: covers only this response's bytes (Content-Digest)


def _b64hex(value: str, algorithm: str) -> str | None:
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == _DIGEST_SIZES[algorithm] else None


def _values(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    """All comma-separated values of a header, across repeated header lines."""
    name = name.lower()
    out: list[str] = []
    for k, v in headers:
        if k.lower() == name:
            out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def _first(headers: Iterable[tuple[str, str]], name: str) -> str:
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v.strip()
    return ""


_SF_ITEM = re.compile(r"^\s*([a-z0-9_.*-]+)\s*=\s*:([A-Za-z0-9+/=]*):")


def _is_s3(link: str, headers: list[tuple[str, str]]) -> bool:
    return ".amazonaws.com" in link or any(k.lower().startswith("x-amz-") for k, _ in headers)


def expectations(link: str, headers: Iterable[tuple[str, str]], *, status: int = 200) -> list[Expectation]:
    """Every checksum the response's headers promise for the object, at most one per algorithm.

    Args:
        link: the download link (tells an S3 ETag from an opaque one).
        headers: the final response's headers, in order, repeated names kept.
        status: 206 drops ``Content-Digest`` (it covers only the partial body) and the per-response S3
            checksums, which S3 sends only for whole objects.
    """
    headers = list(headers)
    found: dict[str, Expectation] = {}

    def add(algorithm: str, hex_value: str | None, source: str, whole: bool = True) -> None:
        if hex_value and algorithm not in found:
            found[algorithm] = Expectation(algorithm, hex_value.lower(), source, whole)

    for v in _values(headers, "x-goog-hash"):
        k, sep, b64 = v.partition("=")
        k = k.strip().lower()
        if sep and k in ("crc32c", "md5"):
            add(k, _b64hex(b64, k), "x-goog-hash")
    for algo in ("crc32c", "crc32", "sha256"):
        v = _first(headers, f"x-amz-checksum-{algo}")
        if v and "-" not in v:
            add(algo, _b64hex(v, algo), f"x-amz-checksum-{algo}")
    etag = _first(headers, "etag").strip('"')
    if etag and re.fullmatch(r"[0-9a-fA-F]{32}", etag) and _is_s3(link, headers):
        add("md5", etag, "ETag (S3 MD5)")
    v = _first(headers, "content-md5")
    if v:
        add("md5", _b64hex(v, "md5"), "Content-MD5")
    for header, whole in (("repr-digest", True), ("content-digest", status != 206)):
        for item in _values(headers, header):
            m = _SF_ITEM.match(item)
            if m and m.group(1).lower() in _RFC_NAMES:
                algo = _RFC_NAMES[m.group(1).lower()]
                if whole:
                    add(algo, _b64hex(m.group(2), algo), header.title())
    for item in _values(headers, "digest"):
        k, sep, b64 = item.partition("=")
        algo = {"sha-256": "sha256", "sha-512": "sha512", "md5": "md5"}.get(k.strip().lower())
        if sep and algo:
            add(algo, _b64hex(b64, algo), "Digest")
    return list(found.values())
