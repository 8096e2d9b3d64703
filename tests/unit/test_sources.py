"""CLI source/destination parsing, checked against the upstream CLI vectors (utils_internal_test.go)."""

from __future__ import annotations

import pytest

from dld.errors import BadRequest
from dld.sources import HF_FULL_REPO_MARKER, BackendSource, Source, parse_destination, parse_source

# aistore-downloader.md §5.1 source table [U], verbatim: (input, link, backend (provider, bucket, prefix) or None).
SOURCES = [
    ("http://www.googleapis.com/storage/v1/b/bucket?query=key#key",
     "http://www.googleapis.com/storage/v1/b/bucket?query=key#key", None),
    ("http://www.googleapis.com/storage/v1/b/bucket?query=key",
     "http://www.googleapis.com/storage/v1/b/bucket?query=key", None),
    ("http://www.googleapis.com/storage/v1/b/bucket", "http://www.googleapis.com/storage/v1/b/bucket", None),
    ("gs://bucket/very/long/prefix-", "https://storage.googleapis.com/bucket/very/long/prefix-",
     ("gcp", "bucket", "very/long/prefix-")),
    ("gcp://bucket", "https://storage.googleapis.com/bucket", ("gcp", "bucket", "")),
    ("gs://bucket/objname.tar", "https://storage.googleapis.com/bucket/objname.tar", ("gcp", "bucket", "objname.tar")),
    ("gs://bucket/subfolder/objname.tar", "https://storage.googleapis.com/bucket/subfolder/objname.tar",
     ("gcp", "bucket", "subfolder/objname.tar")),
    ("https://s3.amazonaws.com/bucket", "https://s3.amazonaws.com/bucket", None),
    ("http://s3.amazonaws.com/bucket/objname.tar", "http://s3.amazonaws.com/bucket/objname.tar", None),
    ("http://s3.amazonaws.com/bucket/subfolder/objname.tar", "http://s3.amazonaws.com/bucket/subfolder/objname.tar",
     None),
    ("s3.amazonaws.com/bucket", "https://s3.amazonaws.com/bucket", None),
    ("s3://bucket/very/long/prefix-", "http://s3.amazonaws.com/bucket/very/long/prefix-",
     ("aws", "bucket", "very/long/prefix-")),
    ("aws://bucket", "http://s3.amazonaws.com/bucket", ("aws", "bucket", "")),
    ("s3://bucket/objname.tar", "http://s3.amazonaws.com/bucket/objname.tar", ("aws", "bucket", "objname.tar")),
    ("s3://bucket/subfolder/objname.tar", "http://s3.amazonaws.com/bucket/subfolder/objname.tar",
     ("aws", "bucket", "subfolder/objname.tar")),
    ("az://bucket", "", ("azure", "bucket", "")),
    ("azure://bucket/subfolder/objname.tar", "", ("azure", "bucket", "subfolder/objname.tar")),
    ("src.com/image001.tar.gz", "https://src.com/image001.tar.gz", None),
    ("https://www.googleapis.com/storage/v1/b/nvdata-openimages/o/imagenet%2Fimagenet_train-{000000..000002}.tgz"
     "?alt=media",
     "https://www.googleapis.com/storage/v1/b/nvdata-openimages/o/imagenet/imagenet_train-{000000..000002}.tgz"
     "?alt=media", None),
    ("gs://bucket/obj{00..10}.tgz", "https://storage.googleapis.com/bucket/obj{00..10}.tgz",
     ("gcp", "bucket", "obj{00..10}.tgz")),
    ("ais://172.10.10.10/bucket", "http://172.10.10.10:8080/v1/objects/bucket", None),
    ("ais://172.10.10.10:4444/bucket", "http://172.10.10.10:4444/v1/objects/bucket", None),
]

# Further sources derived from the rules of §5.1 and parseURLToSource (not upstream test rows).
SOURCES_DERIVED = [
    ("oc://bucket/dir/obj", "oc://bucket/dir/obj", ("oci", "bucket", "dir/obj")),  # link keeps its scheme
    ("oci://bucket", "oci://bucket", ("oci", "bucket", "")),
    ("GS://bucket/a/", "https://storage.googleapis.com/bucket/a", ("gcp", "bucket", "a/")),  # path.Join cleans
    ("ais://host", "http://host:8080/v1/objects", None),
    ("https://h/a+b?x=1+2&s=%2B", "https://h/a b?x=1 2&s=+", None),  # QueryUnescape: '+' → ' ', as upstream
    ("https://user:pw@h/x", "https://user:pw@h/x", None),
    (HF_FULL_REPO_MARKER + ":org/model", HF_FULL_REPO_MARKER + ":org/model", None),
]

SOURCE_ERRORS = [
    ("ftp://host/file", "invalid scheme: ftp"),
    ("localhost:8080/file", "invalid scheme: localhost"),  # url.Parse sees scheme "localhost"
    ("2023:x/y", 'parse "2023:x/y": first path segment in URL cannot contain colon'),
    ("https://h/x?a=%zz", 'invalid URL escape "%zz"'),
    ("https://h/%ff", 'invalid download link "https://h/\\xff": not valid UTF-8 after unescaping'),
]

# aistore-downloader.md §5.1 destination parsing [U], verbatim: (input, provider, bucket, path).
DESTINATIONS = [
    ("ais://bucket/objname", "ais", "bucket", "objname"),
    ("ais://bucket//subfolder/objname.tar", "ais", "bucket", "subfolder/objname.tar"),
    ("ais://bucket/subfolder/objname.tar", "ais", "bucket", "subfolder/objname.tar"),
    ("ais://bucket", "ais", "bucket", ""),
    ("aws://bucket/something/", "aws", "bucket", "something"),
    ("az://bucket/something//", "azure", "bucket", "something"),
    ("gcp://bucket/one/two/", "gcp", "bucket", "one/two"),
    # aliases and the default provider (derived)
    ("s3://b", "aws", "b", ""),
    ("gs://b/x", "gcp", "b", "x"),
    ("oc://b", "oci", "b", ""),
    ("oci://b/", "oci", "b", ""),
    ("azure://b", "azure", "b", ""),
    ("bucket/dir/", "ais", "bucket", "dir"),
]

# aistore-downloader.md §5.1 invalid destinations [U] (inputs verbatim; messages are dld's).
DESTINATION_ERRORS = [
    ("ais://", '"ais://": missing bucket name'),
    ("ais:///", '"ais:///": missing bucket name'),
    ("http://", "http bucket is not supported as destination"),
    ("http://bucket", "http bucket is not supported as destination"),
    ("http://bucket/something", "http bucket is not supported as destination"),
    # derived
    ("https://bucket", "http bucket is not supported as destination"),
    ("ftp://bucket", 'invalid bucket provider "ftp"'),
    ("ais://bad name", 'bucket name "bad name" is invalid: may only contain letters, numbers, dashes (-), '
                       "underscores (_), and dots (.)"),
    ("ais://a..b/x", "bucket name \"a..b\" cannot contain '..'"),
    ("ais://./x", 'bucket name "." is invalid: may only contain letters, numbers, dashes (-), underscores (_), '
                  "and dots (.)"),
    ("ais://@uuid#ns/bucket", '"ais://@uuid#ns/bucket": bucket namespaces (@uuid#namespace) are not supported'),
    ("", '"": missing bucket name'),
]


def _backend(row: tuple[str, str, str] | None) -> BackendSource | None:
    if row is None:
        return None
    provider, bucket, prefix = row
    return BackendSource(provider=provider, bucket=bucket, prefix=prefix)


@pytest.mark.parametrize(("src", "link", "backend"), SOURCES + SOURCES_DERIVED)
def test_parse_source(src: str, link: str, backend: tuple[str, str, str] | None) -> None:
    assert parse_source(src) == Source(link=link, backend=_backend(backend))


@pytest.mark.parametrize(("src", "message"), SOURCE_ERRORS)
def test_parse_source_errors(src: str, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_source(src)
    assert exc.value.message == message


@pytest.mark.parametrize(("dst", "provider", "bucket", "path"), DESTINATIONS)
def test_parse_destination(dst: str, provider: str, bucket: str, path: str) -> None:
    assert parse_destination(dst) == (provider, bucket, path)


@pytest.mark.parametrize(("dst", "message"), DESTINATION_ERRORS)
def test_parse_destination_errors(dst: str, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_destination(dst)
    assert exc.value.message == message
