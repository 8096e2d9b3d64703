"""Provider classification, custom metadata from response headers, and AIS CheckEq."""

from __future__ import annotations

import pytest

from dld.provider_headers import classify_link, compare_objects, custom_metadata_from_headers

# aistore-downloader.md §2.4 host classification (rules applied to concrete links; derived).
CLASSIFY = [
    ("https://storage.googleapis.com/minikube/iso/minikube-v0.23.2.iso.sha256", "gcp"),
    ("https://www.googleapis.com/storage/v1/b/nvdata-openimages/o/imagenet%2Fx.tgz?alt=media", "gcp"),
    ("https://www.googleapis.com/drive/v3/files", "web"),  # googleapis host without /storage/v1
    ("https://storage.googleapis.com:443/b/o", "gcp"),  # dld: port ignored (AIS compares url.Host with it)
    ("https://STORAGE.googleapis.com/b/o", "gcp"),  # dld: host names are case-insensitive
    ("http://s3.amazonaws.com/bucket/objname.tar", "aws"),
    ("https://bucket.s3.us-west-2.amazonaws.com/obj", "aws"),
    ("https://example.com/f?next=x.amazonaws.com", "aws"),  # the S3 regex is unanchored
    ("https://acct.blob.core.windows.net/container/blob", "azure"),
    ("https://raw.githubusercontent.com/kubernetes/kubernetes/master/LICENSE", "web"),
    ("storage.googleapis.com/b/o", "web"),  # no scheme: no host (pass links after prepend_protocol)
    ("2023:x.amazonaws.com", "aws"),  # unparsable, but the regex still sees it
]

MINIKUBE = "https://storage.googleapis.com/minikube/iso/minikube-v0.23.2.iso.sha256"
LM = "Mon, 21 Aug 2017 21:09:10 GMT"

# aistore-downloader.md §2.4 metadata per kind: (link, headers, expected custom metadata).
CUSTOM = [
    # GCS: repeated x-goog-hash headers (what Go sees)
    (MINIKUBE,
     [("x-goog-generation", "1503349750687573"), ("x-goog-hash", "crc32c=MKmRvQ=="),
      ("x-goog-hash", "md5=ewHT6sxYadtuuRN/FTNdJw=="), ("ETag", '"7b01d3eacc5869db6eb9137f15335d27"'),
      ("Last-Modified", LM), ("Content-Length", "65")],
     {"source": "gcp", "version": "1503349750687573", "crc32c": "30a991bd",
      "md5": "7b01d3eacc5869db6eb9137f15335d27", "ETag": '"7b01d3eacc5869db6eb9137f15335d27"',
      "Last-Modified": LM}),
    # GCS: one comma-joined header (what merging clients produce), names in any case
    (MINIKUBE,
     [("X-Goog-Generation", "1503349750687573"), ("X-Goog-Hash", "crc32c=MKmRvQ==, md5=ewHT6sxYadtuuRN/FTNdJw==")],
     {"source": "gcp", "version": "1503349750687573", "crc32c": "30a991bd",
      "md5": "7b01d3eacc5869db6eb9137f15335d27"}),
    # GCS: malformed entries ignored (bad base64, no '=', unpadded, empty, unknown type)
    (MINIKUBE,
     [("x-goog-hash", "crc32c=!!!!, md5, md5=ewHT6sxYadtuuRN/FTNdJw, crc32c=, sha1=MKmRvQ==")],
     {"source": "gcp"}),
    # S3: version, unquoted ETag, md5 from ETag
    ("http://s3.amazonaws.com/bucket/obj",
     [("x-amz-version-id", "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"), ("ETag", '"d41d8cd98f00b204e9800998ecf8427e"')],
     {"source": "aws", "version": "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", "ETag": "d41d8cd98f00b204e9800998ecf8427e",
      "md5": "d41d8cd98f00b204e9800998ecf8427e"}),
    # S3: "null" version (unversioned bucket), multipart ETag (not an MD5)
    ("http://s3.amazonaws.com/bucket/obj",
     [("x-amz-version-id", "null"), ("ETag", '"d41d8cd98f00b204e9800998ecf8427e-3"'), ("Last-Modified", LM)],
     {"source": "aws", "ETag": "d41d8cd98f00b204e9800998ecf8427e-3", "Last-Modified": LM}),
    # S3: empty version, no ETag
    ("https://b.s3.amazonaws.com/obj", [("x-amz-version-id", "")], {"source": "aws"}),
    ("https://b.s3.amazonaws.com/obj", [("ETag", '""')], {"source": "aws"}),  # nothing left once unquoted
    # Azure: version = unquoted ETag, md5 from Content-MD5 (upstream's intent)
    ("https://acct.blob.core.windows.net/c/b",
     [("ETag", '"0x8DC5B8E2A0F7E4A"'), ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
     {"source": "azure", "version": "0x8DC5B8E2A0F7E4A", "md5": "d41d8cd98f00b204e9800998ecf8427e",
      "ETag": '"0x8DC5B8E2A0F7E4A"'}),
    ("https://acct.blob.core.windows.net/c/b", [("Content-MD5", "not base64")], {"source": "azure"}),
    # web: only source, plus ETag and Last-Modified verbatim (dld addition)
    ("https://raw.githubusercontent.com/kubernetes/kubernetes/master/LICENSE",
     [("ETag", 'W/"abc"'), ("Last-Modified", LM), ("x-goog-generation", "1")],
     {"source": "web", "ETag": 'W/"abc"', "Last-Modified": LM}),
    ("https://example.com/f", [], {"source": "web"}),
]

# aistore-downloader.md §2.3 upstream CompareObjects vectors [U] (ext/dload TestCompareObject): the remote is
# the HEAD of MINIKUBE (size 65, generation, md5, crc32c); each row changes the local object further.
REMOTE_MINIKUBE = {"source": "gcp", "version": "1503349750687573", "md5": "7b01d3eacc5869db6eb9137f15335d27",
                   "crc32c": "30a991bd"}
COMPARE_UPSTREAM = [
    (10, {"source": "aws", "version": "none", "crc32c": "bad", "md5": "worse"}, False),
    (65, {"source": "aws", "version": "none", "crc32c": "bad", "md5": "worse"}, False),  # version mismatch
    (65, {"source": "aws", "version": "none", "crc32c": "30a991bd", "md5": "worse"}, False),
    (65, {"source": "gcp", "version": "none", "crc32c": "30a991bd", "md5": "worse"}, False),
    (65, {"source": "gcp", "version": "1503349750687573", "crc32c": "30a991bd",
          "md5": "7b01d3eacc5869db6eb9137f15335d27"}, True),
]

ETAG32 = "d41d8cd98f00b204e9800998ecf8427e"
# Further CheckEq cases derived from cmn/objattrs.go: (local size, local, remote size, remote, equal).
COMPARE_DERIVED = [
    (5, {"source": "web"}, 5, {"source": "web"}, False),  # zero matches: not equal
    (5, {"ETag": ETAG32}, 5, {"ETag": f'"{ETAG32}"'}, True),  # one ETag match suffices (sameEtag)
    (5, {"ETag": ETAG32, "md5": "x"}, 5, {"ETag": ETAG32, "md5": "y"}, True),  # md5 not checked after sameEtag
    (5, {"ETag": ETAG32}, 5, {"ETag": "e" * 32}, False),  # ETag mismatch
    (5, {"ETag": "abc"}, 5, {"ETag": '"abc"'}, False),  # under 16 bytes: quotes are not ignored
    (5, {"ETag": 'W/"abc"'}, 5, {"ETag": 'W/"abc"'}, True),  # web ETag kept by dld: equal (see module notes)
    (5, {"version": "1"}, 5, {"version": "1"}, False),  # a single non-ETag match is not enough
    (5, {"crc32c": "a", "md5": "b"}, 5, {"crc32c": "a", "md5": "b"}, True),
    (5, {"crc32c": "a", "md5": "b"}, 5, {"crc32c": "a", "md5": "c"}, False),
    (5, {"version": "1", "crc32c": "a"}, 5, {"version": "2", "crc32c": "a"}, False),
    (5, {"version": "1", "crc32c": "a"}, None, {"version": "1", "crc32c": "a"}, False),  # unknown remote size
    (5, {"version": "1", "crc32c": "a"}, -1, {"version": "1", "crc32c": "a"}, False),
    (5, {"version": "1", "crc32c": "a"}, 0, {"version": "1", "crc32c": "a"}, True),  # size 0: not compared
    (0, {"version": "1", "crc32c": "a"}, 7, {"version": "1", "crc32c": "a"}, True),
    (5, {"version": "1", "crc32c": ""}, 5, {"version": "1", "crc32c": "a"}, False),  # empty values are absent
    # Azure: ETag equal to the version is not counted twice; md5 makes the second match
    (5, {"version": "0x8DC5B8E2A0F7E4A", "ETag": '"0x8DC5B8E2A0F7E4A"'}, 5,
     {"version": "0x8DC5B8E2A0F7E4A", "ETag": '"0x8DC5B8E2A0F7E4A"'}, False),
    (5, {"version": "0x8DC5B8E2A0F7E4A", "ETag": '"0x8DC5B8E2A0F7E4A"', "md5": "m"}, 5,
     {"version": "0x8DC5B8E2A0F7E4A", "ETag": '"0x8DC5B8E2A0F7E4A"', "md5": "m"}, True),
    # S3 multipart: version + ETag
    (5, {"version": "v", "ETag": "abc-2"}, 5, {"version": "v", "ETag": "abc-2"}, True),
]


@pytest.mark.parametrize(("link", "kind"), CLASSIFY)
def test_classify_link(link: str, kind: str) -> None:
    assert classify_link(link) == kind


@pytest.mark.parametrize(("link", "headers", "expected"), CUSTOM)
def test_custom_metadata_from_headers(link: str, headers: list[tuple[str, str]], expected: dict[str, str]) -> None:
    assert custom_metadata_from_headers(link, headers) == expected


@pytest.mark.parametrize(("local_size", "local", "equal"), COMPARE_UPSTREAM)
def test_compare_objects_upstream(local_size: int, local: dict[str, str], equal: bool) -> None:
    assert compare_objects(local_size, local, 65, REMOTE_MINIKUBE) is equal


@pytest.mark.parametrize(("local_size", "local", "equal"), COMPARE_UPSTREAM)
def test_compare_objects_upstream_remote_from_headers(local_size: int, local: dict[str, str], equal: bool) -> None:
    # The same rows with the remote side built the way dld builds it: from the HEAD's headers.
    remote = custom_metadata_from_headers(MINIKUBE, CUSTOM[0][1])
    assert compare_objects(local_size, local, 65, remote) is equal


@pytest.mark.parametrize(("local_size", "local", "remote_size", "remote", "equal"), COMPARE_DERIVED)
def test_compare_objects(local_size: int, local: dict[str, str], remote_size: int | None,
                         remote: dict[str, str], equal: bool) -> None:
    assert compare_objects(local_size, local, remote_size, remote) is equal


def test_same_link_twice_is_skipped() -> None:
    # Integration expectation of §2.3 in miniature: a GCS object fetched then HEADed unchanged is equal.
    custom = custom_metadata_from_headers(MINIKUBE, CUSTOM[0][1])
    assert compare_objects(65, custom, 65, dict(custom))
