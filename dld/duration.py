"""Go ``time.Duration`` strings: parse and format exactly as Go does.

Theory of operation
-------------------
AIS request fields such as ``timeout`` and ``progress_interval`` are Go duration strings (reference §1.2), read
with ``time.ParseDuration`` and echoed back with ``Duration.String``. dld accepts and prints the same strings and
rejects the same inputs with the same messages, so this module follows ``src/time/format.go`` and ``time.go``
step by step, including their unsigned 64-bit arithmetic and overflow checks (values are ``int`` nanoseconds
within the int64 range).

Rules:

1. A duration is ``[-+]?([0-9]*(\\.[0-9]*)?unit)+`` with units ``ns``, ``us``, ``µs`` (U+00B5), ``μs`` (U+03BC),
   ``ms``, ``s``, ``m``, ``h``; the bare ``0`` (optionally signed) is the only unit-less value.
2. Fractions are added through a float64 (``uint64(float64(f) * (float64(unit) / scale))``), as Go does, so
   results agree with Go to the nanosecond.
3. Error messages quote the input with the ``time`` package's own quoting (bytes outside printable ASCII become
   ``\\xNN``), which equals ``strconv.Quote`` for printable ASCII.
"""

from __future__ import annotations

from dld.errors import BadRequest

__all__ = ["format_go_duration", "parse_go_duration"]

_NS, _US, _MS, _S = 1, 1_000, 1_000_000, 1_000_000_000
_UNITS = {"ns": _NS, "us": _US, "µs": _US, "μs": _US, "ms": _MS, "s": _S, "m": 60 * _S, "h": 3600 * _S}
_U63 = 1 << 63  # Go keeps the magnitude in a uint64 and bounds it by 1<<63 (the magnitude of MinInt64)
_U64_MASK = (1 << 64) - 1
_LOWERHEX = "0123456789abcdef"


def _time_quote(s: str) -> str:
    """The ``time`` package's private ``quote``: ``strconv.Quote`` for ASCII, ``\\xNN`` per byte otherwise."""
    out = ['"']
    for b in s.encode("utf-8", "surrogateescape"):
        if b >= 0x80 or b < 0x20:
            out.append("\\x" + _LOWERHEX[b >> 4] + _LOWERHEX[b & 0xF])
        elif b in (0x22, 0x5C):  # '"' and '\\'
            out.append("\\" + chr(b))
        else:
            out.append(chr(b))
    out.append('"')
    return "".join(out)


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def parse_go_duration(s: str) -> int:
    """Go ``time.ParseDuration``.

    Args:
        s: a duration string such as ``"300ms"``, ``"-1.5h"``, ``"1h30m"``, ``".5s"``, ``"1.s"`` or ``"0"``.

    Returns:
        The duration in nanoseconds, within ``[-2**63, 2**63 - 1]``.

    Raises:
        BadRequest: ``time: invalid duration "<s>"`` (bad syntax or overflow),
            ``time: missing unit in duration "<s>"``, or ``time: unknown unit "<u>" in duration "<s>"``.
    """
    orig = s
    invalid = BadRequest("time: invalid duration " + _time_quote(orig))
    d = 0
    neg = False
    if s and s[0] in "-+":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise invalid
    while s:
        if not (s[0] == "." or _is_digit(s[0])):
            raise invalid
        # leadingInt: [0-9]*
        v = 0
        i = 0
        while i < len(s) and _is_digit(s[i]):
            if v > _U63 // 10:
                raise invalid
            v = v * 10 + ord(s[i]) - 48
            if v > _U63:
                raise invalid
            i += 1
        pre = i > 0
        s = s[i:]
        # leadingFraction: (\.[0-9]*)?  Digits past uint64 precision are consumed but ignored.
        f, scale, post = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and _is_digit(s[i]):
                if not overflow:
                    if f > (_U63 - 1) // 10:
                        overflow = True
                    else:
                        y = f * 10 + ord(s[i]) - 48
                        if y > _U63:
                            overflow = True
                        else:
                            f = y
                            scale *= 10
                i += 1
            post = i > 0
            s = s[i:]
        if not pre and not post:  # no digits, e.g. ".s" or "-.s"
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or _is_digit(s[i])):
            i += 1
        if i == 0:
            raise BadRequest("time: missing unit in duration " + _time_quote(orig))
        u, s = s[:i], s[i:]
        unit = _UNITS.get(u)
        if unit is None:
            raise BadRequest(f"time: unknown unit {_time_quote(u)} in duration {_time_quote(orig)}")
        if v > _U63 // unit:
            raise invalid
        v *= unit
        if f > 0:
            # float64 keeps fractions of an hour nanosecond-accurate (Go's comment); truncation as uint64().
            v += int(float(f) * (float(unit) / scale))
            if v > _U63:
                raise invalid
        d = (d + v) & _U64_MASK  # uint64 addition; wraps only at exactly 2**64, as in Go
        if d > _U63:
            raise invalid
    if neg:
        return -d
    if d > _U63 - 1:
        raise invalid
    return d


def _fmt_frac(v: int, prec: int) -> tuple[str, int]:
    """Go ``fmtFrac``: the fraction ``v / 10**prec`` as ``".ddd"`` without trailing zeros, and the integer part."""
    digits: list[str] = []
    printing = False
    for _ in range(prec):
        digit = v % 10
        printing = printing or digit != 0
        if printing:
            digits.append(chr(48 + digit))
        v //= 10
    if not printing:
        return "", v
    return "." + "".join(reversed(digits)), v


def format_go_duration(ns: int) -> str:
    """Go ``Duration.String``: ``"1h30m0s"``, ``"1.5s"``, ``"300ms"``, ``"1.1µs"``, ``"0s"``.

    Below one second the largest fitting sub-second unit is used (``ns``, ``µs`` with U+00B5, ``ms``);
    otherwise ``[<h>h][<m>m]<s>[.<frac>]s`` with trailing zeros of the fraction dropped.

    Args:
        ns: nanoseconds; must fit in an int64.

    Returns:
        The Go rendering, which :func:`parse_go_duration` reads back to the same value.

    Raises:
        ValueError: if ``ns`` is outside the int64 range (a Go Duration cannot hold it).
    """
    if not -_U63 <= ns < _U63:
        raise ValueError(f"duration {ns}ns is outside the int64 range")
    neg = ns < 0
    u = -ns if neg else ns
    if u < _S:
        if u == 0:
            return "0s"
        if u < _US:
            out = f"{u}ns"
        elif u < _MS:
            frac, w = _fmt_frac(u, 3)
            out = f"{w}{frac}µs"
        else:
            frac, w = _fmt_frac(u, 6)
            out = f"{w}{frac}ms"
    else:
        frac, u = _fmt_frac(u, 9)
        out = f"{u % 60}{frac}s"
        u //= 60
        if u > 0:
            out = f"{u % 60}m{out}"
            u //= 60
            if u > 0:
                out = f"{u}h{out}"
    return "-" + out if neg else out
