"""Conformance tests for dld.template against AIS cmn/cos/template.go.

The vector tables are copied from /work/shared/reference/aistore-downloader.md §3.2-§3.6 (rows B1-B37, E1-E36,
the at-style, fmt-style and NewParsedTemplate/CheckCount tables), which in turn come from AIS
cmn/cos/template_test.go (U) and the Go conformance capture (C). Lists the reference elides ("…", "first 12")
are spelled out as comprehensions. Every expansion runs through both the pure-Python reference (``py``) and the
Cython expander (``cy``); the cy rows are skipped, with a reason, when the extension is not built.
"""

from __future__ import annotations

import itertools

import pytest

from dld import template as tpl
from dld.errors import BadRequest
from dld.template import (
    ParsedTemplate,
    TemplateRange,
    new_parsed_template,
    parse_at_template,
    parse_bash_template,
    parse_fmt_template,
)

MAX64 = 9223372036854775807
TOO_MANY = "parsed-template: too many values (more than 10000000 max)"
EXPECTING = "(expecting e.g. 'prefix-{0001..0010..1}-suffix')"


def R(start: int, end: int, step: int, width: int, gap: str = "") -> TemplateRange:  # noqa: N802 - table shorthand
    return TemplateRange(start=start, end=end, step=step, digit_count=width, gap=gap)


# §3.2 — (id, input, prefix or None, ranges or None, names, full, count)
# ``full`` says whether ``names`` is the whole expansion (True) or its first len(names) names (False).
BASH_VALID = [
    ("B1", "prefix-{0010..0111..2}-suffix", "prefix-", [R(10, 111, 2, 4, "-suffix")],
     [f"prefix-{v:04d}-suffix" for v in range(10, 33, 2)], False, 51),
    ("B2", "prefix-{0010..0111}", "prefix-", [R(10, 111, 1, 4)],
     [f"prefix-{v:04d}" for v in range(10, 22)], False, 102),
    ("B3", "{1..2}", "", [R(1, 2, 1, 1)], ["1", "2"], True, 2),
    ("B4", "{110..220..10}", "", [R(110, 220, 10, 3)], [str(v) for v in range(110, 221, 10)], True, 12),
    ("B5", "{1..02}", "", [R(1, 2, 1, 1)], ["1", "2"], True, 2),
    ("B6", "{1..02}}", "", [R(1, 2, 1, 1, "}")], ["1}", "2}"], True, 2),
    ("B7", "prefix-{0010..0111..2}-gap-{10..12}-gap2-{0040..0099..4}-suffix", "prefix-",
     [R(10, 111, 2, 4, "-gap-"), R(10, 12, 1, 2, "-gap2-"), R(40, 99, 4, 4, "-suffix")],
     ["prefix-0010-gap-10-gap2-0040-suffix", "prefix-0010-gap-10-gap2-0044-suffix",
      "prefix-0010-gap-10-gap2-0048-suffix"], False, 2295),
    ("B8", "prefix-{0010..0013..2}-suffix", None, None, ["prefix-0010-suffix", "prefix-0012-suffix"], True, 2),
    ("B9", "prefix-{0010..0013..2}-gap-{1..2}-suffix", None, None,
     ["prefix-0010-gap-1-suffix", "prefix-0010-gap-2-suffix", "prefix-0012-gap-1-suffix",
      "prefix-0012-gap-2-suffix"], True, 4),
    ("B10", "prefix-{0010..0013..2}-gap-{1..2..3}-suffix", None, None,
     ["prefix-0010-gap-1-suffix", "prefix-0012-gap-1-suffix"], True, 2),
    ("B11", "{0..9}", None, None, [str(v) for v in range(10)], True, 10),
    ("B12", "{0..9}{0..9}", None, None, [f"{v:02d}" for v in range(100)], True, 100),
    ("B13", "{0..3000000000}", None, None, ["0", "1", "2"], False, 3000000001),
    ("B14", "{0..9223372036854775806}", None, None, ["0", "1", "2"], False, 9223372036854775807),
    ("B15", "{1..2..3}", None, None, ["1"], True, 1),
    ("B16", "{5..5}", None, None, ["5"], True, 1),
    ("B17", "{0..10..3}", None, None, ["0", "3", "6", "9"], True, 4),
    ("B18", "{00..10}", "", [R(0, 10, 1, 2)], [f"{v:02d}" for v in range(11)], True, 11),
    ("B19", "{0..010}", "", [R(0, 10, 1, 1)], [str(v) for v in range(11)], True, 11),
    ("B20", "{001..10}", "", [R(1, 10, 1, 2)], [f"{v:02d}" for v in range(1, 11)], True, 10),
    ("B21", "{1..100}", "", [R(1, 100, 1, 1)], [str(v) for v in range(1, 101)], True, 100),
    ("B22", "{+1..3}", "", [R(1, 3, 1, 1)], ["1", "2", "3"], True, 3),
    ("B23", "{+01..+10}", "", [R(1, 10, 1, 3)], [f"{v:03d}" for v in range(1, 11)], True, 10),
    ("B24", "{-0..3}", "", [R(0, 3, 1, 1)], ["0", "1", "2", "3"], True, 4),
    ("B25", "{09..11}", "", [R(9, 11, 1, 2)], ["09", "10", "11"], True, 3),
    ("B26", "{9..11..1}", "", [R(9, 11, 1, 1)], ["9", "10", "11"], True, 3),
    ("B27", "{01..3}", "", [R(1, 3, 1, 1)], ["1", "2", "3"], True, 3),
    ("B28", "{0..2}{0..1}", None, None, ["00", "01", "10", "11", "20", "21"], True, 6),
    ("B29", "{0..1}{0..1}{0..1}", None, None, ["000", "001", "010", "011", "100", "101", "110", "111"], True, 8),
    ("B30", "x{0..1}y{0..1}z", "x", [R(0, 1, 1, 1, "y"), R(0, 1, 1, 1, "z")],
     ["x0y0z", "x0y1z", "x1y0z", "x1y1z"], True, 4),
    ("B31", "pre{1..2}mid{3..4}post", None, None,
     ["pre1mid3post", "pre1mid4post", "pre2mid3post", "pre2mid4post"], True, 4),
    ("B32", "{2..10..4}", None, None, ["2", "6", "10"], True, 3),
    ("B33", "{7..7..100}", None, None, ["7"], True, 1),
    ("B34", "{1..3}x}y", "", [R(1, 3, 1, 1, "x}y")], ["1x}y", "2x}y", "3x}y"], True, 3),
    ("B35", "{1..3}}}", "", [R(1, 3, 1, 1, "}}")], ["1}}", "2}}", "3}}"], True, 3),
    ("B36", "{1..3}..", "", [R(1, 3, 1, 1, "..")], ["1..", "2..", "3.."], True, 3),
    ("B37", "storage.googleapis.com/minikube/iso/minikube-v0.{23..25..2}.{0..1}.iso.sha256", None, None,
     [f"storage.googleapis.com/minikube/iso/minikube-v0.{a}.{b}.iso.sha256" for a in (23, 25) for b in (0, 1)],
     True, 4),
]

# §3.3 — (id, input, exact error of ParseBashTemplate)
BASH_ERRORS = [
    ("E1", "prefix-0010..0111..2}-suffix", "not a 'bash' template"),
    ("E2", "prefix-{001..009-suffix", "not a 'bash' template"),
    ("E3", "prefix-{002..001}-suffix",
     "invalid 'bash' template \"prefix-{002..001}-suffix\": 'start' cannot be greater than 'end'"),
    ("E4", "prefix-{-001..009}-suffix", "invalid 'bash' template \"prefix-{-001..009}-suffix\": 'start' is negative"),
    ("E5", "prefix-{001..009..-1}-suffix",
     "invalid 'bash' template \"prefix-{001..009..-1}-suffix\": 'step' is non-positive"),
    ("E6", "prefix-{0010..0111..2s}-suffix", 'strconv.ParseInt: parsing "2s": invalid syntax'),
    ("E7", "prefix-{0010..0111s..2}-suffix", 'strconv.ParseInt: parsing "0111s": invalid syntax'),
    ("E8", "prefix-{0010s..0111..2}-suffix", 'strconv.ParseInt: parsing "0010s": invalid syntax'),
    ("E9", "prefix-{00..10..0111..2}-suffix", f"invalid 'bash' template \"prefix-{{00..10..0111..2}}-suffix\" {EXPECTING}"),
    ("E10", "prefix-{010..}-suffix", 'strconv.ParseInt: parsing "": invalid syntax'),
    ("E11", "prefix-{..009}-suffix", 'strconv.ParseInt: parsing "": invalid syntax'),
    ("E12", "prefix-{..}-suffix", 'strconv.ParseInt: parsing "": invalid syntax'),
    ("E13", "prefix-{}-suffix", f"invalid 'bash' template \"prefix-{{}}-suffix\" {EXPECTING}"),
    ("E14", "{}", f"invalid 'bash' template \"{{}}\" {EXPECTING}"),
    ("E15", "{{}}", f"invalid 'bash' template \"{{{{}}}}\" {EXPECTING}"),
    ("E16", "{{1..2}}", 'strconv.ParseInt: parsing "{1": invalid syntax'),
    ("E17", "{1..2{3..4}}", 'strconv.ParseInt: parsing "2{3": invalid syntax'),
    ("E18", "{ 1..3}", 'strconv.ParseInt: parsing " 1": invalid syntax'),
    ("E19", "{1..3}{", f"invalid 'bash' template \"{{\" {EXPECTING}"),
    ("E20", "a}b{1..2}", f"invalid 'bash' template \"a}}b{{1..2}}\" {EXPECTING}"),
    ("E21", "}{1..2}", f"invalid 'bash' template \"}}{{1..2}}\" {EXPECTING}"),
    ("E22", "{1..2}}{3..4}", f"invalid 'bash' template \"}}{{3..4}}\" {EXPECTING}"),
    ("E23", "{1..3}-{a..c}", 'strconv.ParseInt: parsing "a": invalid syntax'),
    ("E24", "{a..z}", 'strconv.ParseInt: parsing "a": invalid syntax'),
    ("E25", "img-{0..2}.{jpg..png}", 'strconv.ParseInt: parsing "jpg": invalid syntax'),
    ("E26", "{1..-3}", "invalid 'bash' template \"{1..-3}\": 'start' cannot be greater than 'end'"),
    ("E27", "{0..0..0}", "invalid 'bash' template \"{0..0..0}\": 'step' is non-positive"),
    ("E28", "{1..2}-{5..3}", "invalid 'bash' template \"-{5..3}\": 'start' cannot be greater than 'end'"),
    ("E29", "{0..1}-{0..0..0}", "invalid 'bash' template \"-{0..0..0}\": 'step' is non-positive"),
    ("E30", "{1...3}", 'strconv.ParseInt: parsing ".3": invalid syntax'),
    ("E31", "{1..3..}", 'strconv.ParseInt: parsing "": invalid syntax'),
    ("E32", "{1..3..1..}", f"invalid 'bash' template \"{{1..3..1..}}\" {EXPECTING}"),
    ("E33a", "{1_0..20}", 'strconv.ParseInt: parsing "1_0": invalid syntax'),
    ("E33b", "{0x1..3}", 'strconv.ParseInt: parsing "0x1": invalid syntax'),
    ("E34", "{1..99999999999999999999}", 'strconv.ParseInt: parsing "99999999999999999999": value out of range'),
    ("E35", "{0..9223372036854775807}", "range [0..9223372036854775807..1] is too large to expand"),
    ("E36", "{0..4000000000}{0..4000000000}{0..4000000000}", "combined ranges are too large to expand"),
]
# E1 and E2 are "not a 'bash' template", so NewParsedTemplate falls through to a prefix-only template.
BASH_ERRORS_PREFIX_ONLY = {"E1", "E2"}

# §3.4 — (input, prefix, ranges, names, full, count)
AT_VALID = [
    ("prefix-@010-suffix", "prefix-", [R(0, 10, 1, 3, "-suffix")],
     [f"prefix-{v:03d}-suffix" for v in range(11)], True, 11),
    ("pref@9", "pref", [R(0, 9, 1, 1)], [f"pref{v}" for v in range(10)], True, 10),
    ("@0010", "", [R(0, 10, 1, 4)], [f"{v:04d}" for v in range(11)], True, 11),
    ("pref@9-gap-@0100-suffix", "pref", [R(0, 9, 1, 1, "-gap-"), R(0, 100, 1, 4, "-suffix")],
     ["pref0-gap-0000-suffix", "pref0-gap-0001-suffix"], False, 1010),
    ("@0", "", [R(0, 0, 1, 1)], ["0"], True, 1),
    ("@00", "", [R(0, 0, 1, 2)], ["00"], True, 1),
    ("a@3b@2", "a", [R(0, 3, 1, 1, "b"), R(0, 2, 1, 1)], [f"a{x}b{y}" for x in range(4) for y in range(3)], True, 12),
    ("@12ab", "", [R(0, 12, 1, 2, "ab")], [f"{v:02d}ab" for v in range(13)], True, 13),
    ("@1@1@1", "", [R(0, 1, 1, 1)] * 3, ["000", "001", "010", "011", "100", "101", "110", "111"], True, 8),
]
AT_ERRORS = [
    ("prefix-01-suffix", "not an 'at' template"),
    ("prefix-@-0001-suffix", 'strconv.ParseInt: parsing "": invalid syntax'),
    ("prefix-@@0010-suffix", 'strconv.ParseInt: parsing "": invalid syntax'),
    ("prefix-@d@0010-suffix", 'strconv.ParseInt: parsing "": invalid syntax'),
    ("abc@", 'strconv.ParseInt: parsing "": invalid syntax'),
    ("user@host", 'strconv.ParseInt: parsing "": invalid syntax'),
]

# §3.5 — (input, prefix, width, gap); every fmt range is 0..MaxInt64-1.
FMT_VALID = [
    ("%d", "", 0, ""),
    ("prefix-%d", "prefix-", 0, ""),
    ("prefix-%d-suffix", "prefix-", 0, "-suffix"),
    ("prefix-%00d-suffix", "prefix-", 0, "-suffix"),
    ("prefix-%06d-suffix", "prefix-", 6, "-suffix"),
    ("prefix-%0152d-suffix", "prefix-", 152, "-suffix"),
    ("%03d", "", 3, ""),
]
FMT_NOT_FMT = ["prefix-06d-suffix", "prefix-%06d-%", "prefix-%%06d-suffix", "prefix-%06d-%06d", "%d%"]
FMT_INVALID = ["prefix-%06-suffix", "prefix-d%06-suffix", "prefix-%0-6d-suffix", "prefix-%0d-suffix",
               "prefix-%6d-suffix", "%1d", "%x", "%5xd", "%0xd", "a%05-dd"]

# §3.6 CheckCount — (input, error or None); parsed with NewParsedTemplate.
CHECK_COUNT = [
    ("{0..9999999}", None),
    ("{0..10000000}", TOO_MANY),
    ("{0..9999}-{0..999}", None),
    ("{0..10000}-{0..999}", TOO_MANY),
    ("@9999999", None),
    ("@10000000", TOO_MANY),
    ("%0800000d", TOO_MANY),
]
# §3.6 NewParsedTemplate — (input, prefix, first names or [] for prefix-only, full)
DISPATCH = [
    ("abc", "abc", [], True),
    ("abc{", "abc{", [], True),
    ("prefix-{001..009-suffix", "prefix-{001..009-suffix", [], True),
    ("abc*", "abc", [], True),
    ("abc**", "abc*", [], True),
    ("img@3.jpg", "img", ["img0.jpg", "img1.jpg", "img2.jpg", "img3.jpg"], True),
    ("img-%03d.jpg", "img-", ["img-000.jpg", "img-001.jpg", "img-002.jpg"], False),
    ("file-{1..3}@2", "file-", ["file-1@2", "file-2@2", "file-3@2"], True),
    ("@2{1..3}", "@2", ["@21", "@22", "@23"], True),
    ("%d*", "", ["0*", "1*", "2*"], False),
]
DISPATCH_ERRORS = [
    ("", "empty range template"),
    ("*", "empty range template"),
    ("{2..1}", "invalid 'bash' template \"{2..1}\": 'start' cannot be greater than 'end'"),
    ("a}b{1..2}", f"invalid 'bash' template \"a}}b{{1..2}}\" {EXPECTING}"),
]
# §3.6 Count (no overflow)
COUNTS = [
    ("{0..9}", 10),
    ("prefix-{0010..0013..2}-suffix", 2),
    ("{0..9}{0..9}", 100),
    ("{0..3000000000}", 3000000001),
    ("{0..9223372036854775806}", 9223372036854775807),
]

# dld's own vectors (not in the reference): Go strconv.ParseInt edge cases, reached through _parse_int.
PARSE_INT = [
    ("0", 0), ("+0", 0), ("-0", 0), ("007", 7), ("9223372036854775807", MAX64),
    ("-9223372036854775808", -MAX64 - 1),
    ("9223372036854775808", 'strconv.ParseInt: parsing "9223372036854775808": value out of range'),
    ("-9223372036854775809", 'strconv.ParseInt: parsing "-9223372036854775809": value out of range'),
    ("99999999999999999999x", 'strconv.ParseInt: parsing "99999999999999999999x": value out of range'),
    ("9999999999999999999x", 'strconv.ParseInt: parsing "9999999999999999999x": invalid syntax'),
    ("+", 'strconv.ParseInt: parsing "+": invalid syntax'),
    ("-", 'strconv.ParseInt: parsing "-": invalid syntax'),
    ("+-1", 'strconv.ParseInt: parsing "+-1": invalid syntax'),
    ("١", 'strconv.ParseInt: parsing "١": invalid syntax'),
    ("1\t", 'strconv.ParseInt: parsing "1\\t": invalid syntax'),
]
# Go %q escaping in messages, and Go fmt's "%!(BADWIDTH)" for widths above 1e6.
QUOTING = [
    ('a"b\\{2..1}', "invalid 'bash' template \"a\\\"b\\\\{2..1}\": 'start' cannot be greater than 'end'"),
    ("\n{2..1}\x00\x7f", "invalid 'bash' template \"\\n{2..1}\\x00\\x7f\": 'start' cannot be greater than 'end'"),
    ("é\u200b{2..1}", "invalid 'bash' template \"é\\u200b{2..1}\": 'start' cannot be greater than 'end'"),
]
WIDE = [
    ("x%01000001d", ["x%!(BADWIDTH)0", "x%!(BADWIDTH)1"]),
    ("x@" + "0" * 1_000_001, ["x%!(BADWIDTH)0"]),
]


def _impl_params() -> list[object]:
    built = tpl._fast_expand is not None
    return [
        pytest.param(tpl._expand_py, id="py"),
        pytest.param(tpl._expand_cy, id="cy", marks=pytest.mark.skipif(
            not built, reason="dld._fast.expand not built: run `python setup.py build_ext --inplace`")),
    ]


@pytest.fixture(params=_impl_params())
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tpl.ExpandFn:
    """One expander, also installed as the one ParsedTemplate.expand uses."""
    monkeypatch.setattr(tpl, "_expand_batch", request.param)
    return request.param


def _ids(rows: list[tuple[object, ...]]) -> list[str]:
    return [str(r[0]) for r in rows]


def _all(pt: ParsedTemplate, start: int = 0, batch: int = 10_000) -> list[str]:
    return list(itertools.chain.from_iterable(pt.expand(start_index=start, batch=batch)))


def _assert_names(pt: ParsedTemplate, impl: tpl.ExpandFn, names: list[str], full: bool) -> None:
    ask = pt.count() + 3 if full else len(names)  # asking past the end must stop at the end
    assert impl(pt.prefix, pt.ranges, 0, ask) == names
    if full:
        assert _all(pt) == names
        assert _all(pt, batch=1) == names
    else:
        assert next(iter(pt.expand(batch=len(names)))) == names


# --------------------------------------------------------------------------------------------------------------
# bash


@pytest.mark.parametrize(("id_", "text", "prefix", "ranges", "names", "full", "count"), BASH_VALID, ids=_ids(BASH_VALID))
def test_parse_bash_template_valid(id_: str, text: str, prefix: str | None, ranges: list[TemplateRange] | None,
                                   names: list[str], full: bool, count: int) -> None:
    pt = parse_bash_template(text)
    if prefix is not None:
        assert pt.prefix == prefix
    if ranges is not None:
        assert pt.ranges == tuple(ranges)
    assert pt.count() == count
    assert new_parsed_template(text) == pt
    if count > tpl.MAX_TEMPLATE_EXPANSION:
        with pytest.raises(BadRequest, match=r"^parsed-template: too many values \(more than 10000000 max\)$"):
            pt.check_count()
    else:
        pt.check_count()


@pytest.mark.parametrize(("id_", "text", "prefix", "ranges", "names", "full", "count"), BASH_VALID, ids=_ids(BASH_VALID))
def test_ParsedTemplate_expand_bash(impl: tpl.ExpandFn, id_: str, text: str, prefix: str | None,
                                    ranges: list[TemplateRange] | None, names: list[str], full: bool,
                                    count: int) -> None:
    _assert_names(parse_bash_template(text), impl, names, full)


@pytest.mark.parametrize(("id_", "text", "message"), BASH_ERRORS, ids=_ids(BASH_ERRORS))
def test_parse_bash_template_errors(id_: str, text: str, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_bash_template(text)
    assert exc.value.message == message
    assert exc.value.status == 400
    if id_ in BASH_ERRORS_PREFIX_ONLY:
        assert new_parsed_template(text) == ParsedTemplate(prefix=text)
    else:
        with pytest.raises(BadRequest) as exc2:
            new_parsed_template(text)
        assert exc2.value.message == message


# --------------------------------------------------------------------------------------------------------------
# at, fmt


@pytest.mark.parametrize(("text", "prefix", "ranges", "names", "full", "count"), AT_VALID, ids=_ids(AT_VALID))
def test_parse_at_template_valid(impl: tpl.ExpandFn, text: str, prefix: str, ranges: list[TemplateRange],
                                 names: list[str], full: bool, count: int) -> None:
    pt = parse_at_template(text)
    assert pt == ParsedTemplate(prefix=prefix, ranges=tuple(ranges))
    assert pt.count() == count
    assert new_parsed_template(text) == pt
    pt.check_count()
    _assert_names(pt, impl, names, full)


@pytest.mark.parametrize(("text", "message"), AT_ERRORS, ids=_ids(AT_ERRORS))
def test_parse_at_template_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_at_template(text)
    assert exc.value.message == message


@pytest.mark.parametrize(("text", "prefix", "width", "gap"), FMT_VALID, ids=_ids(FMT_VALID))
def test_parse_fmt_template_valid(impl: tpl.ExpandFn, text: str, prefix: str, width: int, gap: str) -> None:
    pt = parse_fmt_template(text)
    assert pt == ParsedTemplate(prefix=prefix, ranges=(R(0, MAX64 - 1, 1, width, gap),))
    assert new_parsed_template(text) == pt
    assert pt.count() == MAX64
    with pytest.raises(BadRequest, match=r"^parsed-template: too many values"):
        pt.check_count()
    names = [f"{prefix}{v:0{width}d}{gap}" for v in range(3)]
    assert impl(pt.prefix, pt.ranges, 0, 3) == names
    last = f"{prefix}{MAX64 - 1:0{width}d}{gap}"
    assert impl(pt.prefix, pt.ranges, MAX64 - 1, 5) == [last]
    assert _all(pt, start=MAX64 - 1) == [last]
    assert pt.name_at(MAX64 - 1) == last


@pytest.mark.parametrize("text", FMT_NOT_FMT)
def test_parse_fmt_template_not_fmt(text: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_fmt_template(text)
    assert exc.value.message == "not an 'fmt' template"


@pytest.mark.parametrize("text", FMT_INVALID)
def test_parse_fmt_template_invalid(text: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_fmt_template(text)
    assert exc.value.message == f"invalid 'fmt' template \"{text}\" (expecting e.g. 'prefix-%06d-suffix)"


# --------------------------------------------------------------------------------------------------------------
# NewParsedTemplate, CheckCount, Count


@pytest.mark.parametrize(("text", "error"), CHECK_COUNT, ids=_ids(CHECK_COUNT))
def test_ParsedTemplate_check_count(text: str, error: str | None) -> None:
    pt = new_parsed_template(text)
    if error is None:
        pt.check_count()
    else:
        with pytest.raises(BadRequest) as exc:
            pt.check_count()
        assert exc.value.message == error


@pytest.mark.parametrize(("ranges", "message"), [
    ([R(0, 1, 0, 1)], "parsed-template: invalid range {0..1..0}"),
    ([R(-1, 1, 1, 1)], "parsed-template: invalid range {-1..1..1}"),
    ([R(0, 3, 1, 1), R(2, 1, 1, 1)], "parsed-template: invalid range {2..1..1}"),
    ([R(0, 20_000_000, 1, 1), R(0, 1, 0, 1)], TOO_MANY),  # left to right: the first range already fails
])
def test_ParsedTemplate_check_count_hand_built(ranges: list[TemplateRange], message: str) -> None:
    pt = ParsedTemplate(prefix="x", ranges=tuple(ranges))
    with pytest.raises(BadRequest) as exc:
        pt.check_count()
    assert exc.value.message == message
    if message != TOO_MANY:  # expansion refuses a corrupted template instead of looping on it
        with pytest.raises(BadRequest):
            pt.expand()
        with pytest.raises(BadRequest):
            pt.name_at(0)


@pytest.mark.parametrize(("text", "prefix", "names", "full"), DISPATCH, ids=_ids(DISPATCH))
def test_new_parsed_template_dispatch(impl: tpl.ExpandFn, text: str, prefix: str, names: list[str],
                                      full: bool) -> None:
    pt = new_parsed_template(text)
    assert pt.prefix == prefix
    if not names:
        assert pt.is_prefix_only
        assert pt.ranges == ()
        assert pt.count() == 1
        pt.check_count()
        assert list(pt.expand()) == []
        assert list(pt.expand(start_index=5)) == []
        with pytest.raises(IndexError):
            pt.name_at(0)
    else:
        assert not pt.is_prefix_only
        _assert_names(pt, impl, names, full)


@pytest.mark.parametrize(("text", "message"), DISPATCH_ERRORS, ids=_ids(DISPATCH_ERRORS))
def test_new_parsed_template_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        new_parsed_template(text)
    assert exc.value.message == message


def test_new_parsed_template_fmt_gap_star() -> None:
    assert new_parsed_template("%d*") == ParsedTemplate(prefix="", ranges=(R(0, MAX64 - 1, 1, 0, "*"),))


@pytest.mark.parametrize(("text", "count"), COUNTS, ids=_ids(COUNTS))
def test_ParsedTemplate_count(text: str, count: int) -> None:
    assert new_parsed_template(text).count() == count


# --------------------------------------------------------------------------------------------------------------
# expansion: resume from a cursor, name_at, batching, both implementations agree

SMALL = [row[1] for row in BASH_VALID if row[6] <= 3000] + [row[0] for row in AT_VALID] + [
    "{0..2}{0..0}{0..3}",  # a middle range of one value
    "{0..0}{0..9999..7}",  # one outer value, rightmost range longer than the batch
    "p%{8..12..2}%q{0..2}%%",  # '%' in prefix and gaps must stay literal in the printf-based expander
    "ü{9..11}€{1..2}\U0001f600",  # non-ASCII: the Cython path takes the UTF-8 decode branch
]


@pytest.mark.parametrize("text", SMALL)
def test_ParsedTemplate_expand_resume(impl: tpl.ExpandFn, text: str) -> None:
    pt = new_parsed_template(text)
    full = _all(pt)
    assert len(full) == pt.count()
    assert full == tpl._expand_py(pt.prefix, pt.ranges, 0, len(full))
    batch = 7
    cursors = {0, 1, batch - 1, batch, batch + 1, 2 * batch, len(full) // 2, len(full) - 1, len(full), len(full) + 1}
    for k in sorted(c for c in cursors if c >= 0):
        batches = list(pt.expand(start_index=k, batch=batch))
        assert list(itertools.chain.from_iterable(batches)) == full[k:], k
        assert all(len(b) == batch for b in batches[:-1])
        assert all(batches)
        assert impl(pt.prefix, pt.ranges, k, batch) == full[k : k + batch]
    for i in range(0, len(full), max(1, len(full) // 50)):
        assert pt.name_at(i) == full[i]
    assert pt.name_at(len(full) - 1) == full[-1]
    with pytest.raises(IndexError):
        pt.name_at(len(full))
    with pytest.raises(IndexError):
        pt.name_at(-1)


def test_ParsedTemplate_expand_huge_index(impl: tpl.ExpandFn) -> None:
    """Resuming near the end of a 2^63-name template costs nothing: no earlier name is produced."""
    pt = parse_bash_template("{0..9223372036854775806}")
    assert _all(pt, start=MAX64 - 2) == ["9223372036854775805", "9223372036854775806"]
    assert pt.name_at(MAX64 - 1) == "9223372036854775806"
    pt = parse_at_template("a@9223372036854775807b@99")  # 2^63 * 100 names: beyond int64 and uint64
    idx = pt.count() - 101
    assert impl(pt.prefix, pt.ranges, idx, 3) == ["a9223372036854775806b99", "a9223372036854775807b00",
                                                   "a9223372036854775807b01"]
    assert _all(pt, start=pt.count() - 1) == ["a9223372036854775807b99"]


def test_ParsedTemplate_expand_is_lazy() -> None:
    pt = parse_bash_template("{0..9999999}")
    it = pt.expand(start_index=9_999_990, batch=4)
    assert next(it) == ["9999990", "9999991", "9999992", "9999993"]
    assert next(iter(pt.expand(batch=2))) == ["0", "1"]


def test_ParsedTemplate_expand_bad_arguments() -> None:
    pt = parse_bash_template("{0..9}")
    with pytest.raises(ValueError, match="start_index"):
        pt.expand(start_index=-1)
    with pytest.raises(ValueError, match="batch"):
        pt.expand(batch=0)


def test_expand_uses_cython_when_built() -> None:
    """The .pyx smoke test: when the extension is importable, ParsedTemplate.expand runs on it."""
    if tpl._fast_expand is None:
        pytest.skip("dld._fast.expand not built: run `python setup.py build_ext --inplace`")
    assert tpl._expand_batch is tpl._expand_cy
    assert tpl._fast_expand.expand_batch("p", [0], [1], [3], [2], ["s"], [1], 5) == ["p01s", "p02s"]


# --------------------------------------------------------------------------------------------------------------
# private helpers: Go strconv and fmt details


@pytest.mark.parametrize(("text", "expected"), PARSE_INT, ids=_ids(PARSE_INT))
def test__parse_int(text: str, expected: int | str) -> None:
    if isinstance(expected, int):
        assert tpl._parse_int(text) == expected
    else:
        with pytest.raises(BadRequest) as exc:
            tpl._parse_int(text)
        assert exc.value.message == expected


@pytest.mark.parametrize(("text", "message"), QUOTING, ids=_ids(QUOTING))
def test__go_quote_in_messages(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        new_parsed_template(text)
    assert exc.value.message == message


def test__check_overflow_boundaries() -> None:
    assert parse_bash_template("{1..9223372036854775807}").count() == MAX64
    assert parse_bash_template("{0..9223372036854775807..2}").count() == 2**62
    assert parse_bash_template("{0..3037000498}{0..3037000498}").count() == 3037000499**2  # <= MaxInt64
    with pytest.raises(BadRequest, match="^combined ranges are too large to expand$"):
        parse_bash_template("{0..3037000499}{0..3037000499}")


@pytest.mark.parametrize(("text", "names"), WIDE, ids=["fmt", "at"])
def test_expand_bad_width(impl: tpl.ExpandFn, text: str, names: list[str]) -> None:
    pt = new_parsed_template(text)
    assert impl(pt.prefix, pt.ranges, 0, len(names)) == names
    assert pt.name_at(0) == names[0]
    edge = new_parsed_template("x%01000000d")  # exactly 1e6 is still a valid width
    assert impl(edge.prefix, edge.ranges, 7, 1) == ["x" + "7".zfill(1_000_000)]
