"""Object naming: Go path/url behaviour and AIS NormalizeObjName, checked against upstream vectors."""

from __future__ import annotations

import pytest

from dld.errors import BadRequest
from dld.names import (
    GoURL,
    GoUserinfo,
    go_path_base,
    go_path_clean,
    go_path_join,
    go_path_unescape,
    go_query_unescape,
    go_quote,
    go_url_parse,
    go_url_string,
    normalize_obj_name,
    object_name_from_link,
    prepend_protocol,
    validate_obj_name,
)

# aistore-downloader.md §3.7 (NormalizeObjName), rows copied verbatim; [U] rows are upstream normalizeObjTests
# (ext/dload/utils_test.go), [C] rows were computed with the upstream source.
NORMALIZE_OK = [
    ("?objname", "?objname"),  # U
    ("filename", "filename"),  # U
    ("dir/file", "dir/file"),  # U
    ("dir%2Ffile", "dir/file"),  # U
    ("path1/path2/path3%2Fpath4%2Ffile", "path1/path2/path3/path4/file"),  # U
    ("file?arg1=a&arg2=b", "file"),  # U
    ("imagenet%2Fimagenet_train-000000.tgz?alt=media", "imagenet/imagenet_train-000000.tgz"),  # U
    ("a:b", "a:b"),  # C
    ("dir/file#frag", "dir/file"),  # C
    ("http://x/y", "/y"),  # C
    ("a b", "a b"),  # C
    ("a+b", "a+b"),  # C
    ("a%20b", "a b"),  # C
    (".hidden", ".hidden"),  # C
]
NORMALIZE_ERR = [
    ("..%2Foutside", 'invalid object name "../outside"'),  # U/C
    ("dir/../outside", 'invalid object name "dir/../outside"'),  # U/C
    ("bad%zz", 'parse "bad%zz": invalid URL escape "%zz"'),  # U/C
    ("2023:data.txt", 'parse "2023:data.txt": first path segment in URL cannot contain colon'),  # C
    ("~/x", 'invalid object name "~/x"'),  # C
    ("./x", 'invalid object name "./x"'),  # C
    ("x/.", 'invalid object name "x/."'),  # C
    ("dir/", 'invalid object name "dir/"'),  # C
    ("", 'invalid object name ""'),  # C
    ("%", 'parse "%": invalid URL escape "%"'),  # C
]

# Further NormalizeObjName cases derived by following Go's net/url source (url.go: getScheme, parse,
# parseAuthority, parseHost, unescape) by hand; not run against Go.
NORMALIZE_DERIVED_OK = [
    ("HTTP://x/y", "/y"),  # the scheme is case-insensitive
    ("mailto:a@b", "mailto:a@b"),  # opaque: empty path, raw name kept
    ("//host/x", "/x"),  # a leading // is an authority even without a scheme
    ("///x", "///x"),  # ... but not a triple slash
    ("dir/file?", "dir/file"),  # ForceQuery
    ("%2525zz", "%zz"),  # Path is "%25zz", PathUnescape decodes a second time
    ("caf%C3%A9", "café"),
    ("a//b", "a//b"),
    ("/abs/obj", "/abs/obj"),
    ("a/~/b", "a/~/b"),
    ("~x", "~x"),
    ("*", "*"),
    ("..x/y..", "..x/y.."),
]
NORMALIZE_DERIVED_ERR = [
    (":x", 'parse ":x": missing protocol scheme'),
    ("a\nb", 'parse "a\\nb": net/url: invalid control character in URL'),
    ("http://[::1/y", 'parse "http://[::1/y": missing \']\' in host'),
    ("http://a:b/c", 'parse "http://a:b/c": invalid port ":b" after host'),
    ("http://a b/c", 'parse "http://a b/c": invalid character " " in host name'),
    ("http://u\u00e9@h/c", 'parse "http://u\u00e9@h/c": net/url: invalid userinfo'),
    ("a#%zz", 'parse "a#%zz": invalid URL escape "%zz"'),
    ("%25zz", 'invalid URL escape "%zz"'),  # the second (PathUnescape) decoding fails: no "parse" prefix
    ("a%2F..%2Fb", 'invalid object name "a/../b"'),
    ("x/..", 'invalid object name "x/.."'),
    ("%ff", 'invalid object name "\\xff"'),  # dld rule: names must be UTF-8 (Go would accept the byte)
]

# aistore-downloader.md §3.8 (name derivation from links, path.Base → Join(subdir) → Normalize) [C].
FROM_LINK_OK = [
    ("https://host/a/b/c.tar", "", "c.tar"),
    ("https://host/a/b/", "", "b"),
    ("https://host", "", "host"),
    ("https://raw.githubusercontent.com/kubernetes/kubernetes/master/LICENSE?query=values", "", "LICENSE"),
    ("https://www.googleapis.com/storage/v1/b/nvdata-openimages/o/imagenet%2Fimagenet_train-000000.tgz?alt=media",
     "", "imagenet/imagenet_train-000000.tgz"),
    ("https://host/obj0001.tgz", "some/subdir/", "some/subdir/obj0001.tgz"),
    ("https://host/obj0001.tgz", "/abs/", "/abs/obj0001.tgz"),
    ("https://host/dir/file?x=/y/z", "", "z"),
]
FROM_LINK_ERR = [
    ("https://host/obj0001.tgz", "..", 'invalid object name "../obj0001.tgz"'),
    ("", "", 'invalid object name "."'),  # base "."
    ("/", "", 'invalid object name "/"'),  # base "/"
]

# Go src/path/path_test.go: cleantests, basetests, jointests (subset, verbatim).
CLEAN = [
    ("", "."), ("abc", "abc"), ("abc/def", "abc/def"), ("a/b/c", "a/b/c"), (".", "."), ("..", ".."),
    ("../..", "../.."), ("../../abc", "../../abc"), ("/abc", "/abc"), ("/", "/"),
    ("abc/", "abc"), ("abc/def/", "abc/def"), ("a/b/c/", "a/b/c"), ("./", "."), ("../", ".."),
    ("../../", "../.."), ("/abc/", "/abc"),
    ("abc//def//ghi", "abc/def/ghi"), ("//abc", "/abc"), ("///abc", "/abc"), ("//abc//", "/abc"), ("abc//", "abc"),
    ("abc/./def", "abc/def"), ("/./abc/def", "/abc/def"), ("abc/.", "abc"),
    ("abc/def/ghi/../jkl", "abc/def/jkl"), ("abc/def/../ghi/../jkl", "abc/jkl"), ("abc/def/..", "abc"),
    ("abc/def/../..", "."), ("/abc/def/../..", "/"), ("abc/def/../../..", ".."), ("/abc/def/../../..", "/"),
    ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
    ("abc/./../def", "def"), ("abc//./../def", "def"), ("abc/../../././../def", "../../def"),
]
BASE = [
    ("", "."), (".", "."), ("/.", "."), ("/", "/"), ("////", "/"), ("x/", "x"), ("abc", "abc"), ("abc/def", "def"),
    ("a/b/.x", ".x"), ("a/b/c.", "c."), ("a/b/c.x", "c.x"),
]
JOIN = [
    ((), ""), (("",), ""), (("a",), "a"), (("a", "b"), "a/b"), (("a", ""), "a"), (("", "b"), "b"), (("/", "a"), "/a"),
    (("/", ""), "/"), (("a/", "b"), "a/b"), (("a/", ""), "a"), (("", ""), ""),
    # from the brief / §3.8
    (("..", "obj"), "../obj"), (("/abs/", "x"), "/abs/x"),
]

# strconv.Quote behaviour (Go src/strconv/quote_test.go style cases).
QUOTE = [
    ("abc", '"abc"'),
    ('a"b\\', '"a\\"b\\\\"'),
    ("\a\b\f\n\r\t\v", '"\\a\\b\\f\\n\\r\\t\\v"'),
    ("\x00\x1f\x7f", '"\\x00\\x1f\\x7f"'),
    ("caf\u00e9 \u263a", '"caf\u00e9 \u263a"'),
    ("\u00ad", '"\\u00ad"'),
    ("\U000e0001", '"\\U000e0001"'),
    (b"\xffab", '"\\xffab"'),
    (b"\xe4\xb8", '"\\xe4\\xb8"'),
]

PREPEND = [
    ("host/x", "http://host/x"),
    ("https://h/x", "https://h/x"),
    ("ftp://h/x", "ftp://h/x"),
    ("", ""),
]

# url.Parse followed by URL.String (derived from the Go source; the CLI relies on this pair).
URL_ROUND_TRIP = [
    ("http://www.google.com/?q=go+language", "http://www.google.com/?q=go+language"),
    ("http://user:pa%20ss@h:80/p%20q#f%20g", "http://user:pa%20ss@h:80/p%20q#f%20g"),
    ("https://h/a%2Fb", "https://h/a/b"),
    ("https://h/{0..9}", "https://h/%7B0..9%7D"),
    ("mailto:a@b", "mailto:a@b"),
    ("src.com/x", "src.com/x"),
]


@pytest.mark.parametrize(("name", "expected"), NORMALIZE_OK + NORMALIZE_DERIVED_OK)
def test_normalize_obj_name(name: str, expected: str) -> None:
    assert normalize_obj_name(name) == expected


@pytest.mark.parametrize(("name", "message"), NORMALIZE_ERR + NORMALIZE_DERIVED_ERR)
def test_normalize_obj_name_errors(name: str, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        normalize_obj_name(name)
    assert exc.value.message == message


def test_normalize_obj_name_rejects_lone_surrogates() -> None:
    with pytest.raises(BadRequest, match="invalid object name"):
        normalize_obj_name("a\ud800b")


@pytest.mark.parametrize(("link", "subdir", "expected"), FROM_LINK_OK)
def test_object_name_from_link(link: str, subdir: str, expected: str) -> None:
    assert object_name_from_link(link, subdir) == expected


@pytest.mark.parametrize(("link", "subdir", "message"), FROM_LINK_ERR)
def test_object_name_from_link_errors(link: str, subdir: str, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        object_name_from_link(link, subdir)
    assert exc.value.message == message


@pytest.mark.parametrize(("path", "expected"), CLEAN)
def test_go_path_clean(path: str, expected: str) -> None:
    assert go_path_clean(path) == expected
    assert go_path_clean(expected) == expected  # idempotent, as Go's test checks


@pytest.mark.parametrize(("path", "expected"), BASE)
def test_go_path_base(path: str, expected: str) -> None:
    assert go_path_base(path) == expected


@pytest.mark.parametrize(("elems", "expected"), JOIN)
def test_go_path_join(elems: tuple[str, ...], expected: str) -> None:
    assert go_path_join(*elems) == expected


@pytest.mark.parametrize(("value", "expected"), QUOTE)
def test_go_quote(value: str | bytes, expected: str) -> None:
    assert go_quote(value) == expected


@pytest.mark.parametrize(("link", "expected"), PREPEND)
def test_prepend_protocol(link: str, expected: str) -> None:
    assert prepend_protocol(link) == expected


@pytest.mark.parametrize(("raw", "expected"), URL_ROUND_TRIP)
def test_go_url_parse_then_string(raw: str, expected: str) -> None:
    assert go_url_string(go_url_parse(raw)) == expected


def test_go_url_parse_fields() -> None:
    u = go_url_parse("HTTPS://us%40er:pw@[fe80::1%25en0]:8080/a%2Fb?x=1&y=%zz#fr%20ag")
    assert u == GoURL(scheme="https", user=GoUserinfo("us@er", "pw", True), host="[fe80::1%en0]:8080",
                      path="/a/b", raw_query="x=1&y=%zz", fragment="fr ag")


def test_go_unescape_modes() -> None:
    assert go_path_unescape("a+b%2Fc") == "a+b/c"
    assert go_query_unescape("a+b%2Fc") == "a b/c"
    with pytest.raises(BadRequest, match='^invalid URL escape "%z"$'):
        go_query_unescape("x%z")


@pytest.mark.parametrize("name", ["a", "a/b", "/a", "a//b", "...", "a/.b", "~", "a~/b"])
def test_validate_obj_name_accepts(name: str) -> None:
    validate_obj_name(name)
