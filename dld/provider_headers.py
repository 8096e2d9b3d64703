"""Provider metadata from a link's response headers, and the local-vs-remote equality check built on it.

Theory of operation
-------------------
AIS records, for every object downloaded from a link, a few provider attributes as object custom metadata
(``attrsFromLink``, reference §2.4), and later decides whether a present object must be downloaded again by
comparing those with the attributes of a fresh ``HEAD`` (``CheckEq``, §2.3). Both halves live here, pure:
headers in, a ``dict`` out; two attribute sets in, a ``bool`` out.

Classification (:func:`classify_link`) uses Go's URL parser so hosts compare exactly as upstream (the port is
part of the host; ``www.googleapis.com`` counts only with ``/storage/v1`` in the path), and the S3 test is the
upstream *unanchored* regex, which matches ``.amazonaws.com`` anywhere in the link, even in its query.

Deliberate differences from upstream, all additive:

1. ``ETag`` and ``Last-Modified`` are recorded for every kind, web included, as the server sent them (S3's ETag
   is unquoted, as AIS stores it). dld uses them for conditional GETs. Consequence in :func:`compare_objects`:
   an ETag present on both sides counts as a match, so a web object whose server still returns the same ETag is
   considered unchanged, where AIS always re-downloads web objects (quirk §2.15-9).
2. Azure gets what upstream intended but never worked: version = unquoted ETag, md5 from ``Content-MD5``.
3. GCS ``x-goog-hash`` is read both as repeated headers (what Go sees) and comma-joined (what merging HTTP
   clients produce); malformed entries are skipped instead of failing an assertion.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Literal

from dld.errors import BadRequest
from dld.names import go_url_parse

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["CRC32C", "ETAG", "LAST_MODIFIED", "MD5", "SOURCE", "VERSION", "LinkKind", "classify_link",
           "compare_objects", "custom_metadata_from_headers"]

LinkKind = Literal["gcp", "aws", "azure", "web"]

# Custom metadata keys, spelled as AIS spells them (cmn.SourceObjMD, VersionObjMD, ETag, MD5ObjMD, CRC32CObjMD).
SOURCE, VERSION, ETAG, MD5, CRC32C, LAST_MODIFIED = "source", "version", "ETag", "md5", "crc32c", "Last-Modified"

_GS_STORAGE_HOST = "storage.googleapis.com"
_GS_API_HOST = "www.googleapis.com"
_GS_API_PATH = "/storage/v1"
_AZURE_HOST_PART = ".blob.core.windows.net"
# cos.s3UrlRegex, used with MatchString (unanchored): in effect "contains .amazonaws.com".
_S3_URL = re.compile(r"(s3-|s3\.)?(.*)\.amazonaws\.com")
# Go's base64.StdEncoding accepts only canonical, padded input; Python's decoder is laxer, so check first.
_STD_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def classify_link(link: str) -> LinkKind:
    """Which provider's headers a link's response carries (AIS ``attrsFromLink`` switch order).

    Args:
        link: the link as fetched, i.e. after ``prepend_protocol`` (a scheme-less link has no host).

    Returns:
        ``"gcp"`` for host ``storage.googleapis.com``, or ``www.googleapis.com`` with ``/storage/v1`` in the
        path; else ``"aws"`` if the whole link matches the unanchored S3 regex; else ``"azure"`` if the host
        contains ``.blob.core.windows.net``; else ``"web"``. An unparsable link has no host (upstream would
        crash) and can still be ``"aws"`` by the regex. The host is compared without its port (AIS compares
        ``url.Host``, port included, so ``storage.googleapis.com:443`` would be "web" there: a GCS link with an
        explicit port is still GCS).
    """
    low = link.lower()
    if "googleapis.com" not in low and ".amazonaws.com" not in low and ".blob.core.windows.net" not in low:
        return "web"  # fast path: no provider's host name anywhere in the link
    try:
        u = go_url_parse(link)
        host, path = u.host.lower(), u.path
        if host.startswith("["):
            host = host.split("]", 1)[0] + "]"
        else:
            host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    except BadRequest:
        host = path = ""
    if host == _GS_STORAGE_HOST or (host == _GS_API_HOST and _GS_API_PATH in path):
        return "gcp"
    if _S3_URL.search(link):
        return "aws"
    if _AZURE_HOST_PART in host:
        return "azure"
    return "web"


def _values(headers: Iterable[tuple[str, str]], name: str) -> list[str]:
    name = name.lower()
    return [v.strip() for k, v in headers if k.lower() == name]


def _first(headers: Iterable[tuple[str, str]], name: str) -> str:
    """Go ``Header.Get``: the first value, or ``""``."""
    vals = _values(headers, name)
    return vals[0] if vals else ""


def _b64_to_hex(value: str) -> str | None:
    """Go ``googleEncodeCksum``: standard base64 → lowercase hex; ``None`` if malformed or empty."""
    if not value or not _STD_BASE64.fullmatch(value):
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None


def custom_metadata_from_headers(link: str, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The custom metadata AIS records for an object fetched from ``link`` (reference §2.4).

    The same function serves the GET that stores an object and the HEAD that checks it (§2.3), so both sides
    of :func:`compare_objects` are built alike.

    Args:
        link: the link as fetched (after ``prepend_protocol``).
        headers: the response headers as ``(name, value)`` pairs; names match case-insensitively and repeated
            headers are all seen.

    Returns:
        ``source`` (``gcp``/``aws``/``azure``/``web``) always; per kind:

        * gcp: ``version`` = ``x-goog-generation``; ``md5``/``crc32c`` (hex) from ``x-goog-hash`` entries
          ``md5=<b64>``/``crc32c=<b64>``, whether repeated or comma-joined; malformed entries skipped.
        * aws: ``version`` = ``x-amz-version-id`` unless empty or ``"null"``; ``ETag`` unquoted; ``md5`` = that
          ETag unless it is a multipart ETag (contains ``-``).
        * azure: ``version`` = unquoted ``ETag``; ``md5`` (hex) from base64 ``Content-MD5``.

        Plus ``ETag`` verbatim for the other kinds, and ``Last-Modified`` for all, when present.
    """
    headers = list(headers)
    kind = classify_link(link)
    custom: dict[str, str] = {SOURCE: kind}
    etag = _first(headers, "ETag")
    if kind == "gcp":
        if generation := _first(headers, "x-goog-generation"):
            custom[VERSION] = generation
        for value in _values(headers, "x-goog-hash"):
            for entry in value.split(","):
                cksum_type, eq, encoded = entry.strip().partition("=")
                if not eq or cksum_type not in (MD5, CRC32C):
                    continue
                if (hexval := _b64_to_hex(encoded)) is not None:
                    custom[cksum_type] = hexval
    elif kind == "aws":
        version = _first(headers, "x-amz-version-id")
        if version not in ("", "null"):
            custom[VERSION] = version
        if unquoted := etag.strip('"'):
            custom[ETAG] = unquoted
            if "-" not in unquoted:  # a multipart ETag is not the MD5 of the content
                custom[MD5] = unquoted
    elif kind == "azure":
        if version := etag.strip('"'):
            custom[VERSION] = version
        if (md5 := _b64_to_hex(_first(headers, "Content-MD5"))) is not None:
            custom[MD5] = md5
    if etag and kind != "aws":
        custom[ETAG] = etag
    if last_modified := _first(headers, "Last-Modified"):
        custom[LAST_MODIFIED] = last_modified
    return custom


def _eq_ignore_quotes(a: str, b: str) -> bool:
    """AIS ``_eqIgnoreQuotes``: equal, or equal once one side's enclosing quotes are dropped.

    Only values of 16+ bytes whose first characters differ are unquoted (short values compare exactly), and a
    ``W/`` weak prefix is not ignored, both as upstream.
    """
    la, lb = len(a.encode("utf-8", "surrogateescape")), len(b.encode("utf-8", "surrogateescape"))
    if la < 16 or lb < 16 or a[0] == b[0]:
        return a == b
    if a[0] == '"' and a[-1] == '"':
        return b == a[1:-1]
    if b[0] == '"' and b[-1] == '"':
        return a == b[1:-1]
    return a == b


def compare_objects(local_size: int, local_custom: Mapping[str, str], remote_size: int | None,
                    remote_custom: Mapping[str, str]) -> bool:
    """AIS ``ObjAttrs.CheckEq`` for a link: is the local copy the same object as the remote one?

    Any mismatch of a value present (non-empty) on both sides means "changed". Otherwise matches are counted:
    version +1; ETag +1 and ``sameEtag`` unless it equals the version (against double counting); crc32c +1;
    md5 +1 only without ``sameEtag`` and unless it equals the ETag. Equal when two or more matched, or one
    matched and it was the ETag. Zero matches means *not* equal: with nothing to compare, download again.
    (Step 3 of §2.3, the AIS checksum, never applies to links: their responses carry none.)

    Args:
        local_size: size of the stored object.
        local_custom: its custom metadata (as :func:`custom_metadata_from_headers` produced at download time).
        remote_size: ``Content-Length`` of the HEAD, ``None`` or ``-1`` if unknown (which counts as different).
        remote_custom: :func:`custom_metadata_from_headers` of the HEAD response.

    Returns:
        ``True`` when the download can be skipped.
    """
    rsize = -1 if remote_size is None else remote_size
    if local_size != 0 and rsize != 0 and local_size != rsize:
        return False
    count, ver, etag, same_etag = 0, "", "", False
    # 2. version
    if (rv := remote_custom.get(VERSION, "")) and (lv := local_custom.get(VERSION, "")):
        if rv != lv:
            return False
        count, ver = count + 1, lv
    # 4. ETag, ignoring enclosing quotes
    if (re_ := remote_custom.get(ETAG, "")) and (le := local_custom.get(ETAG, "")):
        if not _eq_ignore_quotes(re_, le):
            return False
        etag = le
        if not _eq_ignore_quotes(ver, le):  # (upstream also skips a value equal to the AIS checksum: none here)
            count, same_etag = count + 1, True
    # 4.1. CRC32C
    if (rc := remote_custom.get(CRC32C, "")) and (lc := local_custom.get(CRC32C, "")):
        if rc != lc:
            return False
        count += 1
    # 4.2. MD5, unless the ETag already matched (an S3 ETag usually *is* the MD5)
    if not same_etag and (rm := remote_custom.get(MD5, "")) and (lm := local_custom.get(MD5, "")):
        if rm != lm:
            return False
        if not _eq_ignore_quotes(etag, lm):
            count += 1
    if count >= 2:
        return True
    return count == 1 and same_etag
