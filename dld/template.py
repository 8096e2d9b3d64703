"""Range templates: parse AIS object-name templates and expand them into names, lazily.

Theory of operation
-------------------
This module owns the template grammar of AIS ``cmn/cos/template.go`` (reference: aistore-downloader.md §3). It is
sans-IO: strings in, a frozen ``ParsedTemplate`` or a ``BadRequest`` out.

Rule 1: parsing reproduces Go exactly, including the order of checks and every error text, because the API shows
these messages to AIS clients verbatim. Go helpers whose output leaks into messages are re-created here:
``strconv.ParseInt`` (``_parse_int``) and ``%q`` (``dld.names.go_quote``).

Rule 2: expansion never materializes the whole name list. A template is a mixed-radix counter (odometer, the
rightmost range varies fastest); flat index ``i`` maps to one digit per range, so ``expand(start_index=k)`` jumps
straight to name ``k`` and a job resumes from its cursor without re-expanding the names before it.

Rule 3: names are formatted as Go's ``fmt.Sprintf("%0*d%s", DigitCount, value, Gap)``: zero-padded to the width,
never truncated, and a width above 1e6 prints ``%!(BADWIDTH)`` followed by the unpadded value (Go ``fmt``'s
``tooLarge``).

Invariant: ``_expand_py`` (reference, pure Python) and ``dld._fast.expand`` (Cython; 7x faster in 10k batches,
``bench/bench_template.py``) produce identical batches for identical arguments; the tests compare them on every
vector.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dld.errors import BadRequest
from dld.names import go_quote as _go_quote

__all__ = [
    "MAX_TEMPLATE_EXPANSION",
    "ParsedTemplate",
    "TemplateRange",
    "new_parsed_template",
    "parse_at_template",
    "parse_bash_template",
    "parse_fmt_template",
]

# AIS cmn/cos/template.go `maxTemplateExpansion`: the downloader refuses larger range jobs (CheckCount).
MAX_TEMPLATE_EXPANSION = 10_000_000
# Go int64 bounds; template arithmetic is int64 in AIS, so the overflow checks are phrased against these.
_MAX_INT64 = (1 << 63) - 1
_MAX_UINT64 = (1 << 64) - 1
# Go fmt `tooLarge`: a `*` width beyond +-1e6 is replaced by "%!(BADWIDTH)" and no padding.
_MAX_FMT_WIDTH = 1_000_000
_BAD_WIDTH = "%!(BADWIDTH)"

# Exact AIS error texts (cmn/cos/template.go).
_NOT_BASH = "not a 'bash' template"
_NOT_AT = "not an 'at' template"
_NOT_FMT = "not an 'fmt' template"
_EMPTY = "empty range template"
_INVALID_BASH = "invalid 'bash' template {} (expecting e.g. 'prefix-{{0001..0010..1}}-suffix')"
_INVALID_FMT = "invalid 'fmt' template {} (expecting e.g. 'prefix-%06d-suffix)"  # sic: no closing quote
_START_AFTER_END = "invalid '{}' template {}: 'start' cannot be greater than 'end'"
_NEGATIVE_START = "invalid '{}' template {}: 'start' is negative"
_NON_POSITIVE_STEP = "invalid '{}' template {}: 'step' is non-positive"
_TOO_MANY = f"parsed-template: too many values (more than {MAX_TEMPLATE_EXPANSION} max)"


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateRange:
    """One numeric range: values ``start, start+step, ... <= end``, each zero-padded to ``digit_count``.

    ``gap`` is the literal text after the range, up to the next range or the end of the template.
    """

    start: int
    end: int
    step: int = 1
    digit_count: int = 0
    gap: str = ""

    def count(self) -> int:
        """Number of values in the range, ``(end - start) / step + 1`` with Go's truncating division."""
        return _go_div(self.end - self.start, self.step) + 1

    def _invalid(self) -> bool:
        return self.start < 0 or self.start > self.end or self.step <= 0

    def _brace(self) -> str:
        return f"{{{self.start}..{self.end}..{self.step}}}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParsedTemplate:
    """A parsed template: ``prefix`` followed by each range's formatted value and gap.

    A template without ranges is *prefix-only* (``new_parsed_template`` fallback): it counts 1, as in AIS, but
    expands to nothing, because the caller is meant to list by prefix instead.
    """

    prefix: str
    ranges: tuple[TemplateRange, ...] = ()

    @property
    def is_prefix_only(self) -> bool:
        """True when the template has no ranges (AIS ``IsPrefixOnly``)."""
        return not self.ranges

    def count(self) -> int:
        """Number of names the template expands to, exact (Python ints; AIS's int64 ``Count`` may wrap).

        Returns:
            The product of the range counts; 1 for a prefix-only template (the empty product, as in AIS).
        """
        return math.prod(r.count() for r in self.ranges)

    def check_count(self) -> None:
        """Enforce the downloader's 10,000,000-name cap (AIS ``CheckCount``) before any expansion starts.

        Ranges are checked left to right; each is first validated (a hand-built or decoded template may be
        corrupted), then its count and the running product are compared with the cap.

        Raises:
            BadRequest: ``parsed-template: invalid range {S..E..ST}`` for start<0, start>end or step<=0;
                ``parsed-template: too many values (more than 10000000 max)`` above the cap.
        """
        total = 1
        for r in self.ranges:
            if r._invalid():
                raise BadRequest(f"parsed-template: invalid range {r._brace()}")
            n = r.count()
            if n > MAX_TEMPLATE_EXPANSION:
                raise BadRequest(_TOO_MANY)
            total *= n
            if total > MAX_TEMPLATE_EXPANSION:
                raise BadRequest(_TOO_MANY)

    def expand(self, start_index: int = 0, batch: int = 10_000) -> Iterator[list[str]]:
        """Yield the names in order, ``batch`` at a time, starting at flat index ``start_index``.

        Memory stays bounded by one batch, so a job can stream a 10M-name template and resume from a saved
        cursor: ``expand(start_index=k)`` yields exactly the tail of ``expand()`` after its first ``k`` names.
        Uses the Cython expander when it is built, else the pure-Python reference (same output).

        Args:
            start_index: Flat index of the first name to yield (odometer order, rightmost range fastest).
                An index at or past ``count()`` yields nothing.
            batch: Maximum number of names per yielded list; every list but the last has exactly this many.

        Returns:
            An iterator of non-empty lists of names. A prefix-only template yields nothing.

        Raises:
            ValueError: ``start_index`` is negative or ``batch`` is not positive (raised at the call, not lazily).
            BadRequest: a hand-built range is invalid (see ``check_count``).
        """
        if start_index < 0:
            raise ValueError(f"start_index must be >= 0, got {start_index}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self._check_ranges()
        total = self.count() if self.ranges else 0
        return _batches(_expand_batch, self.prefix, self.ranges, start_index, batch, total)

    def name_at(self, index: int) -> str:
        """Return the name at flat ``index``, without expanding the names before it.

        Raises:
            IndexError: ``index`` is outside ``[0, count())``, or the template is prefix-only (it has no names).
            BadRequest: a hand-built range is invalid (see ``check_count``).
        """
        self._check_ranges()
        if not self.ranges or not 0 <= index < self.count():
            raise IndexError(f"template name index {index} out of range")
        pos = _mixed_radix(index, [r.count() for r in self.ranges])
        return self.prefix + "".join(
            _format_value(r.digit_count, r.start + p * r.step) + r.gap for r, p in zip(self.ranges, pos, strict=True)
        )

    def _check_ranges(self) -> None:
        for r in self.ranges:
            if r._invalid():
                raise BadRequest(f"parsed-template: invalid range {r._brace()}")


# --------------------------------------------------------------------------------------------------------------
# parsing


def new_parsed_template(template: str) -> ParsedTemplate:
    """Parse any of the three AIS syntaxes (AIS ``NewParsedTemplate``), for multi-object jobs.

    Tries bash, then at, then fmt; each next syntax is tried only when the previous one said "not my syntax",
    so a malformed bash template reports its own error instead of falling through. Input with no syntax at all
    becomes a prefix-only template (one trailing ``*`` removed), which callers treat as a prefix listing.

    Raises:
        BadRequest: ``empty range template`` for ``""`` and ``"*"``, or the first syntax-specific error.
    """
    if template in ("", "*"):
        raise BadRequest(_EMPTY)
    for parse, not_mine in ((parse_bash_template, _NOT_BASH), (parse_at_template, _NOT_AT),
                            (parse_fmt_template, _NOT_FMT)):
        try:
            return parse(template)
        except BadRequest as e:
            if e.message != not_mine:
                raise
    return ParsedTemplate(prefix=template.removesuffix("*"))


def parse_bash_template(template: str) -> ParsedTemplate:
    """Parse ``prefix{START..END[..STEP]}gap...`` (AIS ``ParseBashTemplate``), the downloader's range syntax.

    Errors quote the *remaining* template at the point of failure, as AIS does (``{1..3}{`` reports ``"{"``),
    and number errors are Go's raw ``strconv.ParseInt`` messages.

    Raises:
        BadRequest: ``not a 'bash' template`` when there is no ``{`` or no ``}``; otherwise the exact AIS error,
            including ``range [S..E..ST] is too large to expand`` and ``combined ranges are too large to expand``
            when the count would overflow int64.
    """
    left = template.find("{")
    if left == -1:
        raise BadRequest(_NOT_BASH)
    right = template.rfind("}")
    if right == -1:
        raise BadRequest(_NOT_BASH)
    if right < left:
        raise BadRequest(_INVALID_BASH.format(_go_quote(template)))
    prefix = template[:left]
    ranges: list[TemplateRange] = []
    rest = template
    while (left := rest.find("{")) != -1:
        right = rest.find("}")
        if right == -1 or right < left:
            raise BadRequest(_INVALID_BASH.format(_go_quote(rest)))
        numbers = rest[left + 1 : right].split("..")
        if not 2 <= len(numbers) <= 3:
            raise BadRequest(_INVALID_BASH.format(_go_quote(rest)))
        start = _parse_int(numbers[0])
        end = _parse_int(numbers[1])
        step = _parse_int(numbers[2]) if len(numbers) == 3 else 1
        _validate_boundaries("bash", rest, start, end, step)
        rest = rest[right + 1 :]
        gap_end = rest.find("{")
        gap = rest if gap_end == -1 else rest[:gap_end]
        ranges.append(TemplateRange(start=start, end=end, step=step,
                                    digit_count=min(len(numbers[0]), len(numbers[1])), gap=gap))
    _check_overflow(ranges)
    return ParsedTemplate(prefix=prefix, ranges=tuple(ranges))


def parse_at_template(template: str) -> ParsedTemplate:
    """Parse ``prefix@NNN gap@MMM...`` (AIS ``ParseAtTemplate``): each ``@D`` is the range ``0..D``, width ``len(D)``.

    Raises:
        BadRequest: ``not an 'at' template`` without ``@``; ``strconv.ParseInt: parsing "": invalid syntax`` when an
            ``@`` is not followed by a digit (or ``value out of range`` for more than int64 digits).
    """
    left = template.find("@")
    if left == -1:
        raise BadRequest(_NOT_AT)
    prefix = template[:left]
    ranges: list[TemplateRange] = []
    rest = template
    while (left := rest.find("@")) != -1:
        i = left + 1
        while i < len(rest) and "0" <= rest[i] <= "9":  # Go: unicode.IsDigit(rune(byte)), i.e. ASCII digits only
            i += 1
        number = rest[left + 1 : i]
        end = _parse_int(number)
        _validate_boundaries("at", rest, 0, end, 1)
        rest = rest[i:]
        gap_end = rest.find("@")
        gap = rest if gap_end == -1 else rest[:gap_end]
        ranges.append(TemplateRange(start=0, end=end, step=1, digit_count=len(number), gap=gap))
    return ParsedTemplate(prefix=prefix, ranges=tuple(ranges))


def parse_fmt_template(template: str) -> ParsedTemplate:
    """Parse ``prefix%0Nd suffix`` (AIS ``ParseFmtTemplate``): one unbounded range ``0..MaxInt64-1``, width N.

    The range is unbounded on purpose (AIS): such a template always fails ``check_count``.

    Raises:
        BadRequest: ``not an 'fmt' template`` with zero or several ``%``; otherwise, for a malformed directive,
            ``invalid 'fmt' template "<T>" (expecting e.g. 'prefix-%06d-suffix)``.
    """
    percent = template.find("%")
    if percent == -1 or template.find("%", percent + 1) != -1:
        raise BadRequest(_NOT_FMT)
    d = template.find("d", percent)
    width = 0
    spec = template[percent + 1 : d] if d != -1 else ""
    if spec:
        try:
            # Go parses the width with ParseInt, so "%0+5d" is width 5 and "%0-0d" is width 0.
            width = _parse_int(spec[1:]) if len(spec) > 1 and spec[0] == "0" else -1
        except BadRequest:
            width = -1
    if d == -1 or width < 0:
        raise BadRequest(_INVALID_FMT.format(_go_quote(template)))
    return ParsedTemplate(prefix=template[:percent], ranges=(
        TemplateRange(start=0, end=_MAX_INT64 - 1, step=1, digit_count=width, gap=template[d + 1 :]),))


def _validate_boundaries(kind: str, template: str, start: int, end: int, step: int) -> None:
    # AIS validateBoundaries: this order decides which message wins ({-3..-5} is "start > end").
    if start > end:
        raise BadRequest(_START_AFTER_END.format(kind, _go_quote(template)))
    if start < 0:
        raise BadRequest(_NEGATIVE_START.format(kind, _go_quote(template)))
    if step <= 0:
        raise BadRequest(_NON_POSITIVE_STEP.format(kind, _go_quote(template)))


def _check_overflow(ranges: list[TemplateRange]) -> None:
    # AIS computes Count in int64: a range whose `(end-start)/step` is MaxInt64 cannot add its +1, and the
    # product must stay <= MaxInt64. Checked range by range, left to right, after all ranges parsed.
    total = 1
    for r in ranges:
        steps = (r.end - r.start) // r.step
        if steps == _MAX_INT64:
            raise BadRequest(f"range [{r.start}..{r.end}..{r.step}] is too large to expand")
        total *= steps + 1
        if total > _MAX_INT64:
            raise BadRequest("combined ranges are too large to expand")


def _parse_int(s: str) -> int:
    """Go ``strconv.ParseInt(s, 10, 64)``, with its exact error texts.

    Go scans left to right and reports overflow as soon as the accumulated uint64 overflows, before it sees any
    later invalid character ("99999999999999999999x" is out of range, not invalid syntax).
    """
    if not s:
        raise BadRequest(_num_error(s, "invalid syntax"))
    digits = s[1:] if s[0] in "+-" else s
    if not digits:
        raise BadRequest(_num_error(s, "invalid syntax"))
    cutoff = _MAX_UINT64 // 10 + 1
    n = 0
    for c in digits:
        if not "0" <= c <= "9":
            raise BadRequest(_num_error(s, "invalid syntax"))
        if n >= cutoff:
            raise BadRequest(_num_error(s, "value out of range"))
        n = n * 10 + (ord(c) - 48)
        if n > _MAX_UINT64:
            raise BadRequest(_num_error(s, "value out of range"))
    if s[0] == "-":
        if n > _MAX_INT64 + 1:
            raise BadRequest(_num_error(s, "value out of range"))
        return -n
    if n > _MAX_INT64:
        raise BadRequest(_num_error(s, "value out of range"))
    return n


def _num_error(s: str, why: str) -> str:
    return f"strconv.ParseInt: parsing {_go_quote(s)}: {why}"


def _go_div(a: int, b: int) -> int:
    # Go integer division truncates toward zero; Python's // floors. Differs only for hand-built invalid ranges.
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


# --------------------------------------------------------------------------------------------------------------
# expansion

ExpandFn = Callable[[str, tuple[TemplateRange, ...], int, int], list[str]]


def _format_value(width: int, value: int) -> str:
    """Go ``fmt.Sprintf("%0*d", width, value)`` for value >= 0."""
    return _value_format(width) % value


def _value_format(width: int) -> str:
    # A printf-style directive for one value, reproducing Go's "%0*d" (see Rule 3 at the top).
    if width > _MAX_FMT_WIDTH:
        return _BAD_WIDTH.replace("%", "%%") + "%d"
    return f"%0{width}d" if width > 0 else "%d"


def _mixed_radix(index: int, counts: list[int]) -> list[int]:
    """Digits of ``index`` in the odometer's mixed radix (last digit varies fastest)."""
    pos = [0] * len(counts)
    for j in range(len(counts) - 1, -1, -1):
        index, pos[j] = divmod(index, counts[j])
    return pos


def _window(ranges: tuple[TemplateRange, ...], start_index: int, n: int) -> tuple[list[int], int] | None:
    """Both expanders' bounds: each range's count and how many names from ``start_index`` exist (None: none)."""
    if not ranges or n <= 0:
        return None
    counts = [r.count() for r in ranges]
    total = math.prod(counts)
    if start_index >= total:
        return None
    return counts, min(n, total - start_index)


def _expand_py(prefix: str, ranges: tuple[TemplateRange, ...], start_index: int, n: int) -> list[str]:
    """Reference expander: up to ``n`` names beginning at flat index ``start_index`` (fewer at the end).

    For each combination of the outer ranges it builds one printf format (head with ``%`` escaped, then the
    rightmost range's directive and gap) and maps it over a ``range`` of values: one ``%`` per name, which is
    the fastest pure-Python form measured (engine-notes §5).
    """
    window = _window(ranges, start_index, n)
    if window is None:
        return []
    counts, n = window
    pos = _mixed_radix(start_index, counts)
    outer = ranges[:-1]
    last = ranges[-1]
    last_fmt = _value_format(last.digit_count) + last.gap.replace("%", "%%")
    out: list[str] = []
    while len(out) < n:
        head = prefix + "".join(
            _format_value(r.digit_count, r.start + p * r.step) + r.gap for r, p in zip(outer, pos, strict=False)
        )
        take = min(counts[-1] - pos[-1], n - len(out))
        first = last.start + pos[-1] * last.step
        out.extend(map((head.replace("%", "%%") + last_fmt).__mod__,
                       range(first, first + take * last.step, last.step)))
        # The rightmost range is exhausted (or we are done): carry into the outer ranges.
        pos[-1] = 0
        j = len(outer) - 1
        while j >= 0:
            pos[j] += 1
            if pos[j] < counts[j]:
                break
            pos[j] = 0
            j -= 1
    return out


def _expand_cy(prefix: str, ranges: tuple[TemplateRange, ...], start_index: int, n: int) -> list[str]:
    """Same contract as ``_expand_py``, computed by ``dld._fast.expand`` (raises ImportError if not built)."""
    if _fast_expand is None:
        raise ImportError("dld._fast.expand is not built (run: python setup.py build_ext --inplace)")
    window = _window(ranges, start_index, n)
    if window is None:
        return []
    counts, n = window
    return _fast_expand.expand_batch(
        prefix,
        [r.start for r in ranges],
        [r.step for r in ranges],
        counts,
        [r.digit_count for r in ranges],
        [r.gap for r in ranges],
        _mixed_radix(start_index, counts),
        n,
    )


def _batches(fn: ExpandFn, prefix: str, ranges: tuple[TemplateRange, ...], index: int, batch: int,
             total: int) -> Iterator[list[str]]:
    while index < total:
        n = min(batch, total - index)
        yield fn(prefix, ranges, index, n)
        index += n


try:
    from dld._fast import expand as _fast_expand
except ImportError:  # not built: the pure-Python reference gives the same names, only slower
    _fast_expand = None

_expand_batch: ExpandFn = _expand_py if _fast_expand is None else _expand_cy
