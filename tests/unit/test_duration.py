"""Go time.ParseDuration / Duration.String, checked against Go's own test tables."""

from __future__ import annotations

import pytest

from dld.duration import format_go_duration, parse_go_duration
from dld.errors import BadRequest

NS, US, MS, S, M, H = 1, 1_000, 1_000_000, 1_000_000_000, 60_000_000_000, 3_600_000_000_000

# Go src/time/time_test.go parseDurationTests, verbatim (Go constants written out).
PARSE_OK = [
    # simple
    ("0", 0),
    ("5s", 5 * S),
    ("30s", 30 * S),
    ("1478s", 1478 * S),
    # sign
    ("-5s", -5 * S),
    ("+5s", 5 * S),
    ("-0", 0),
    ("+0", 0),
    # decimal
    ("5.0s", 5 * S),
    ("5.6s", 5 * S + 600 * MS),
    ("5.s", 5 * S),
    (".5s", 500 * MS),
    ("1.0s", 1 * S),
    ("1.00s", 1 * S),
    ("1.004s", 1 * S + 4 * MS),
    ("1.0040s", 1 * S + 4 * MS),
    ("100.00100s", 100 * S + 1 * MS),
    # different units
    ("10ns", 10 * NS),
    ("11us", 11 * US),
    ("12\u00b5s", 12 * US),  # U+00B5
    ("12\u03bcs", 12 * US),  # U+03BC
    ("13ms", 13 * MS),
    ("14s", 14 * S),
    ("15m", 15 * M),
    ("16h", 16 * H),
    # composite durations
    ("3h30m", 3 * H + 30 * M),
    ("10.5s4m", 4 * M + 10 * S + 500 * MS),
    ("-2m3.4s", -(2 * M + 3 * S + 400 * MS)),
    ("1h2m3s4ms5us6ns", 1 * H + 2 * M + 3 * S + 4 * MS + 5 * US + 6 * NS),
    ("39h9m14.425s", 39 * H + 9 * M + 14 * S + 425 * MS),
    # large value
    ("52763797000ns", 52763797000 * NS),
    # more than 9 digits after decimal point, see https://golang.org/issue/6617
    ("0.3333333333333333333h", 20 * M),
    # 9007199254740993 = 1<<53+1 cannot be stored precisely in a float64
    ("9007199254740993ns", (1 << 53) + 1),
    # largest duration that can be represented by int64 in nanoseconds
    ("9223372036854775807ns", (1 << 63) - 1),
    ("9223372036854775.807us", (1 << 63) - 1),
    ("9223372036s854ms775us807ns", (1 << 63) - 1),
    ("-9223372036854775808ns", -(1 << 63)),
    ("-9223372036854775.808us", -(1 << 63)),
    ("-9223372036s854ms775us808ns", -(1 << 63)),
    # largest negative value
    ("-9223372036854775808ns", -(1 << 63)),
    # largest negative round trip value, see https://golang.org/issue/48629
    ("-2562047h47m16.854775808s", -(1 << 63)),
    # huge string; issue 15011.
    ("0.100000000000000000000h", 6 * M),
    # This value tests the first overflow check in leadingFraction.
    ("0.830103483285477580700h", 49 * M + 48 * S + 372539827 * NS),
]

# Go parseDurationErrorTests (inputs verbatim; Go only checks the quoted input, the full messages follow
# format.go). Invalid UTF-8 is written with surrogateescape, the str form of Go's raw bytes.
PARSE_ERR = [
    # invalid
    ("", 'time: invalid duration ""'),
    ("3", 'time: missing unit in duration "3"'),
    ("-", 'time: invalid duration "-"'),
    ("s", 'time: invalid duration "s"'),
    (".", 'time: invalid duration "."'),
    ("-.", 'time: invalid duration "-."'),
    (".s", 'time: invalid duration ".s"'),
    ("+.s", 'time: invalid duration "+.s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("\udc85\udc85", 'time: invalid duration "\\x85\\x85"'),
    ("\udcffff", 'time: invalid duration "\\xffff"'),
    ("hello \udcffff world", 'time: invalid duration "hello \\xffff world"'),
    ("\ufffd", 'time: invalid duration "\\xef\\xbf\\xbd"'),  # utf8.RuneError
    ("\ufffd hello \ufffd world", 'time: invalid duration "\\xef\\xbf\\xbd hello \\xef\\xbf\\xbd world"'),
    # overflow
    ("9223372036854775810ns", 'time: invalid duration "9223372036854775810ns"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("-9223372036854775809ns", 'time: invalid duration "-9223372036854775809ns"'),
    ("9223372036854776us", 'time: invalid duration "9223372036854776us"'),
    ("3000000h", 'time: invalid duration "3000000h"'),
    ("9223372036854775.808us", 'time: invalid duration "9223372036854775.808us"'),
    ("9223372036854ms775us808ns", 'time: invalid duration "9223372036854ms775us808ns"'),
    # dld additions, messages per format.go
    ("1\u00e9", 'time: unknown unit "\\xc3\\xa9" in duration "1\\xc3\\xa9"'),
    ('1"', 'time: unknown unit "\\"" in duration "1\\""'),
    ("1h 30m", 'time: unknown unit "h " in duration "1h 30m"'),
    (" 1s", 'time: invalid duration " 1s"'),
    ("1.5", 'time: missing unit in duration "1.5"'),
    ("00", 'time: missing unit in duration "00"'),
]

# Go src/time/time_test.go durationTests (Duration.String), verbatim; run both ways.
FORMAT = [
    ("0s", 0),
    ("1ns", 1 * NS),
    ("1.1\u00b5s", 1100 * NS),
    ("2.2ms", 2200 * US),
    ("3.3s", 3300 * MS),
    ("4m5s", 4 * M + 5 * S),
    ("4m5.001s", 4 * M + 5001 * MS),
    ("5h6m7.001s", 5 * H + 6 * M + 7001 * MS),
    ("8m0.000000001s", 8 * M + 1 * NS),
    ("2562047h47m16.854775807s", (1 << 63) - 1),
    ("-2562047h47m16.854775808s", -(1 << 63)),
    # the examples of the dld brief
    ("1h30m0s", 90 * M),
    ("1.5s", 1500 * MS),
    ("300ms", 300 * MS),
]


@pytest.mark.parametrize(("text", "ns"), PARSE_OK)
def test_parse_go_duration(text: str, ns: int) -> None:
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize(("text", "message"), PARSE_ERR)
def test_parse_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as exc:
        parse_go_duration(text)
    assert exc.value.message == message


@pytest.mark.parametrize(("text", "ns"), FORMAT)
def test_format_go_duration(text: str, ns: int) -> None:
    assert format_go_duration(ns) == text
    if ns > 0:
        assert format_go_duration(-ns) == "-" + text
    assert parse_go_duration(text) == ns  # the other direction


@pytest.mark.parametrize(("text", "ns"), PARSE_OK)
def test_format_round_trips_every_parsed_value(text: str, ns: int) -> None:
    assert parse_go_duration(format_go_duration(ns)) == ns


def test_parse_go_duration_uint64_wrap_quirk() -> None:
    # format.go adds segment values in a uint64; two 1<<63 segments wrap to exactly 0 and pass every check.
    assert parse_go_duration("9223372036854775808ns9223372036854775808ns") == 0


@pytest.mark.parametrize("ns", [1 << 63, -(1 << 63) - 1])
def test_format_go_duration_rejects_out_of_range(ns: int) -> None:
    with pytest.raises(ValueError, match="int64"):
        format_go_duration(ns)
