"""Object names derived from links, byte-for-byte as AIS derives them.

Theory of operation
-------------------
AIS names a downloaded object with Go's standard library: ``path.Base`` of the link, ``path.Join`` with the
job's ``subdir``, then ``NormalizeObjName`` (``url.Parse`` → ``url.PathUnescape(u.Path)``) and ``ValidateOname``
(reference §2.1, §3.7, §3.8). Python's ``posixpath`` and ``urllib.parse`` disagree with Go on enough inputs
(``..`` handling, schemes, opaque URLs, ``%`` errors) that this module re-implements the few Go functions
involved, following the Go source rule by rule, and nothing else.

Rules:

1. Go strings are byte strings. Here a "Go string" is a ``str`` whose undecodable bytes are carried as
   ``surrogateescape`` code points (U+DC80..U+DCFF), so every byte-level rule (``%XX`` decoding, ``%q`` quoting)
   behaves exactly as in Go while ordinary text stays ordinary ``str``.
2. Every error a user can trigger is a :class:`dld.errors.BadRequest` whose message is the Go/AIS error text,
   because AIS returns these texts verbatim in its 400 bodies.
3. The one deliberate difference: a final object name must be valid UTF-8 (Go accepts any bytes). dld stores
   names in JSON and on filesystems that expect text; such names are rejected as ``invalid object name``.

The URL parser (:func:`go_url_parse`) and serializer (:func:`go_url_string`) are public because the CLI's source
parsing (``dld.sources``) and the provider classification (``dld.provider_headers``) must see URLs exactly as Go
does too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dld.errors import BadRequest

__all__ = [
    "GoURL",
    "GoUserinfo",
    "go_path_base",
    "go_path_clean",
    "go_path_join",
    "go_path_unescape",
    "go_query_unescape",
    "go_quote",
    "go_url_parse",
    "go_url_string",
    "normalize_obj_name",
    "object_name_from_link",
    "prepend_protocol",
    "validate_obj_name",
]

_LOWERHEX = "0123456789abcdef"
_UPPERHEX = b"0123456789ABCDEF"


def _to_bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _to_str(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------------------------------------------
# strconv.Quote (the %q verb), used in every Go error message that names an input.


def go_quote(s: str | bytes) -> str:
    """Quote ``s`` as Go's ``strconv.Quote`` does (the ``%q`` verb).

    AIS error messages embed user input with ``%q``; reproducing it keeps dld's 400 bodies identical to AIS's.

    Args:
        s: a Go string (``str`` with surrogate-escaped bytes) or raw bytes.

    Returns:
        The double-quoted, escaped form: printable runes kept, ``\\x`` for invalid bytes and ASCII controls,
        ``\\u``/``\\U`` for other non-printable runes.
    """
    text = _to_str(s) if isinstance(s, bytes) else s
    out = ['"']
    for ch in text:
        cp = ord(ch)
        if 0xDC80 <= cp <= 0xDCFF:  # an undecodable byte (surrogateescape): Go prints it as \xNN
            out.append("\\x" + _LOWERHEX[(cp - 0xDC00) >> 4] + _LOWERHEX[cp & 0xF])
        elif ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable() and not 0xD800 <= cp <= 0xDFFF:
            out.append(ch)
        elif ch in _CTRL_ESCAPES:
            out.append(_CTRL_ESCAPES[ch])
        elif cp < 0x20 or cp == 0x7F:
            out.append(f"\\x{cp:02x}")
        elif 0xD800 <= cp <= 0xDFFF:  # not a valid rune: Go substitutes U+FFFD
            out.append("\\ufffd")
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


_CTRL_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


# ---------------------------------------------------------------------------------------------------------------
# Go package "path"


def go_path_clean(p: str) -> str:
    """Go ``path.Clean``: the shortest equivalent slash path, purely lexically.

    Args:
        p: any path.

    Returns:
        ``"."`` for an empty result; ``..`` that would climb above a rooted path are dropped, leading ``..`` of
        a relative path are kept (``Clean("../a")`` is ``"../a"``).
    """
    if p == "":
        return "."
    rooted = p.startswith("/")
    out: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(seg)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def go_path_base(p: str) -> str:
    """Go ``path.Base``: the last element of ``p``.

    AIS applies it to the *whole link string*, query included, so ``https://h/f?x=/y/z`` has base ``z``.

    Args:
        p: any string.

    Returns:
        ``"."`` for ``""``; trailing slashes are stripped first; ``"/"`` if nothing but slashes remain.
    """
    if p == "":
        return "."
    p = p.rstrip("/")
    if p == "":
        return "/"
    return p[p.rfind("/") + 1 :]


def go_path_join(*elems: str) -> str:
    """Go ``path.Join``: join the non-empty elements with ``/`` and ``Clean`` the result.

    Args:
        *elems: path elements; empty ones are ignored.

    Returns:
        ``""`` when every element is empty, otherwise the cleaned joined path (``Join("..", "obj")`` is
        ``"../obj"``, ``Join("/abs/", "x")`` is ``"/abs/x"``).
    """
    parts = [e for e in elems if e]
    if not parts:
        return ""
    return go_path_clean("/".join(parts))


# ---------------------------------------------------------------------------------------------------------------
# Go package "net/url" (the subset url.Parse, URL.String, PathUnescape and QueryUnescape need)

# Encoding modes, as in net/url.
_PATH, _PATH_SEGMENT, _HOST, _ZONE, _USER_PASSWORD, _QUERY_COMPONENT, _FRAGMENT = range(1, 8)


class _URLError(Exception):
    """A net/url error text, before the ``parse "<url>": `` wrapper is added."""


def _is_hex(c: int) -> bool:
    return 48 <= c <= 57 or 97 <= c <= 102 or 65 <= c <= 70


def _unhex(c: int) -> int:
    if c <= 57:
        return c - 48
    if c >= 97:
        return c - 87
    return c - 55


def _should_escape(c: int, mode: int) -> bool:
    if 97 <= c <= 122 or 65 <= c <= 90 or 48 <= c <= 57:
        return False
    if mode in (_HOST, _ZONE) and c in b"!$&'()*+,;=:[]<>\"":
        return False
    if c in b"-_.~":
        return False
    if c in b"$&+,/:;=?@":
        if mode == _PATH:
            return c == 0x3F  # '?'
        if mode == _PATH_SEGMENT:
            return c in b"/;,?"
        if mode == _USER_PASSWORD:
            return c in b"@/?:"
        if mode == _QUERY_COMPONENT:
            return True
        if mode == _FRAGMENT:
            return False
    # The fragment may keep these sub-delims (golang.org/issue/19917); everything else is escaped.
    return not (mode == _FRAGMENT and c in b"!()*")


def _escape_error(b: bytes) -> _URLError:
    return _URLError("invalid URL escape " + go_quote(b))


def _unescape(s: str, mode: int) -> str:
    """net/url ``unescape``: decode ``%XX`` (and ``+`` in query mode), validating as Go does."""
    if "%" not in s and not (mode == _QUERY_COMPONENT and "+" in s) and mode not in (_HOST, _ZONE):
        return s
    b = _to_bytes(s)
    n = len(b)
    i = 0
    while i < n:
        c = b[i]
        if c == 0x25:  # '%'
            if i + 2 >= n or not _is_hex(b[i + 1]) or not _is_hex(b[i + 2]):
                raise _escape_error(b[i : i + 3])
            if mode == _HOST and _unhex(b[i + 1]) < 8 and b[i : i + 3] != b"%25":
                raise _escape_error(b[i : i + 3])
            if mode == _ZONE:
                v = _unhex(b[i + 1]) << 4 | _unhex(b[i + 2])
                if b[i : i + 3] != b"%25" and v != 0x20 and _should_escape(v, _HOST):
                    raise _escape_error(b[i : i + 3])
            i += 3
        else:
            if mode in (_HOST, _ZONE) and c < 0x80 and _should_escape(c, mode):
                raise _URLError("invalid character " + go_quote(b[i : i + 1]) + " in host name")
            i += 1
    out = bytearray()
    i = 0
    while i < n:
        c = b[i]
        if c == 0x25:
            out.append(_unhex(b[i + 1]) << 4 | _unhex(b[i + 2]))
            i += 3
            continue
        if c == 0x2B and mode == _QUERY_COMPONENT:  # '+'
            out.append(0x20)
        else:
            out.append(c)
        i += 1
    return _to_str(bytes(out))


def _escape(s: str, mode: int) -> str:
    """net/url ``escape``: ``%XX`` every byte ``shouldEscape`` names (space becomes ``+`` in query mode)."""
    out = bytearray()
    for c in _to_bytes(s):
        if c == 0x20 and mode == _QUERY_COMPONENT:
            out.append(0x2B)
        elif _should_escape(c, mode):
            out += bytes((0x25, _UPPERHEX[c >> 4], _UPPERHEX[c & 15]))
        else:
            out.append(c)
    return _to_str(bytes(out))


def go_path_unescape(s: str) -> str:
    """Go ``url.PathUnescape``: decode ``%XX``; ``+`` stays ``+``.

    Raises:
        BadRequest: ``invalid URL escape "%zz"`` for a ``%`` not followed by two hex digits.
    """
    try:
        return _unescape(s, _PATH_SEGMENT)
    except _URLError as e:
        raise BadRequest(str(e)) from None


def go_query_unescape(s: str) -> str:
    """Go ``url.QueryUnescape``: decode ``%XX`` and turn ``+`` into a space.

    Raises:
        BadRequest: ``invalid URL escape "%zz"`` for a ``%`` not followed by two hex digits.
    """
    try:
        return _unescape(s, _QUERY_COMPONENT)
    except _URLError as e:
        raise BadRequest(str(e)) from None


@dataclass(frozen=True, slots=True)
class GoUserinfo:
    """Go ``url.Userinfo``: a user name and an optional password (``password_set`` tells "empty" from "absent")."""

    username: str
    password: str = ""
    password_set: bool = False

    def __str__(self) -> str:
        s = _escape(self.username, _USER_PASSWORD)
        if self.password_set:
            s += ":" + _escape(self.password, _USER_PASSWORD)
        return s


@dataclass(slots=True, kw_only=True)
class GoURL:
    """The fields of Go's ``url.URL`` that dld reads. ``path`` and ``fragment`` are decoded, as in Go.

    ``RawPath``/``RawFragment`` are not kept: dld only serializes URLs it built from fields, for which Go leaves
    them empty too.
    """

    scheme: str = ""
    opaque: str = ""
    user: GoUserinfo | None = None
    host: str = ""
    path: str = ""
    force_query: bool = False
    raw_query: str = ""
    fragment: str = ""


def _get_scheme(raw: str) -> tuple[str, str]:
    """net/url ``getScheme``: ``[a-zA-Z][a-zA-Z0-9+-.]*`` followed by ``:``, else no scheme."""
    for i, c in enumerate(raw):
        if "a" <= c <= "z" or "A" <= c <= "Z":
            continue
        if "0" <= c <= "9" or c in "+-.":
            if i == 0:
                return "", raw
            continue
        if c == ":":
            if i == 0:
                raise _URLError("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return "", raw  # any other character: there is no scheme
    return "", raw


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    if port[0] != ":":
        return False
    return all("0" <= c <= "9" for c in port[1:])


def _parse_host(host: str) -> str:
    if host.startswith("["):
        i = host.rfind("]")
        if i < 0:
            raise _URLError("missing ']' in host")
        colon_port = host[i + 1 :]
        if not _valid_optional_port(colon_port):
            raise _URLError(f"invalid port {go_quote(colon_port)} after host")
        zone = host[:i].find("%25")
        if zone >= 0:
            return _unescape(host[:zone], _HOST) + _unescape(host[zone:i], _ZONE) + _unescape(host[i:], _HOST)
    else:
        i = host.rfind(":")
        if i != -1:
            colon_port = host[i:]
            if not _valid_optional_port(colon_port):
                raise _URLError(f"invalid port {go_quote(colon_port)} after host")
    return _unescape(host, _HOST)


_USERINFO_OK = re.compile(r"[A-Za-z0-9\-._:~!$&'()*+,;=%@]*")


def _parse_authority(authority: str) -> tuple[GoUserinfo | None, str]:
    i = authority.rfind("@")
    host = _parse_host(authority if i < 0 else authority[i + 1 :])
    if i < 0:
        return None, host
    userinfo = authority[:i]
    if not _USERINFO_OK.fullmatch(userinfo):
        raise _URLError("net/url: invalid userinfo")
    if ":" not in userinfo:
        return GoUserinfo(_unescape(userinfo, _USER_PASSWORD)), host
    username, _, password = userinfo.partition(":")
    return GoUserinfo(_unescape(username, _USER_PASSWORD), _unescape(password, _USER_PASSWORD), True), host


_CTL = re.compile(r"[\x00-\x1f\x7f]")


def _parse(raw: str) -> GoURL:
    """net/url ``parse(rawURL, viaRequest=false)``."""
    if _CTL.search(raw):
        raise _URLError("net/url: invalid control character in URL")
    u = GoURL()
    if raw == "*":
        u.path = "*"
        return u
    scheme, rest = _get_scheme(raw)
    u.scheme = scheme.lower()
    if rest.endswith("?") and rest.count("?") == 1:
        u.force_query = True
        rest = rest[:-1]
    else:
        rest, _, u.raw_query = rest.partition("?")
    if not rest.startswith("/"):
        if u.scheme:
            u.opaque = rest  # a rootless path after a scheme is opaque (RFC 3986)
            return u
        # RFC 3986 §3.3: a relative-path reference cannot have a colon in its first segment (golang.org/issue/16822)
        if ":" in rest.partition("/")[0]:
            raise _URLError("first path segment in URL cannot contain colon")
    if (u.scheme or not rest.startswith("///")) and rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        rest = slash + tail
        u.user, u.host = _parse_authority(authority)
    u.path = _unescape(rest, _PATH)
    return u


def go_url_parse(raw: str) -> GoURL:
    """Go ``url.Parse``: split a URL (or URL reference) into its parts.

    Args:
        raw: the URL; a Go string (see the module notes).

    Returns:
        The parsed URL. ``#fragment`` and ``?query`` are split off first; a scheme is recognised only when it is
        ``[a-zA-Z][a-zA-Z0-9+-.]*`` followed by ``:``; ``scheme:rootless`` is opaque (empty ``path``).

    Raises:
        BadRequest: with Go's message, e.g. ``parse "bad%zz": invalid URL escape "%zz"`` or
            ``parse "2023:data.txt": first path segment in URL cannot contain colon``.
    """
    u_part, hash_, frag = raw.partition("#")
    try:
        url = _parse(u_part)
    except _URLError as e:
        raise BadRequest(f"parse {go_quote(u_part)}: {e}") from None
    if hash_ and frag:
        try:
            url.fragment = _unescape(frag, _FRAGMENT)
        except _URLError as e:
            raise BadRequest(f"parse {go_quote(raw)}: {e}") from None
    return url


def go_url_string(u: GoURL) -> str:
    """Go ``URL.String`` for a URL built from fields (no ``RawPath``/``RawFragment``).

    The path and fragment are re-escaped with Go's rules (``{`` becomes ``%7B``, ``/`` stays), the query is
    copied raw. This is what the AIS CLI feeds to ``url.QueryUnescape`` when it normalizes a source.
    """
    buf = []
    if u.scheme:
        buf.append(u.scheme + ":")
    if u.opaque:
        buf.append(u.opaque)
    else:
        if u.scheme or u.host or u.user is not None:
            if u.host or u.path or u.user is not None:
                buf.append("//")
            if u.user is not None:
                buf.append(str(u.user) + "@")
            if u.host:
                buf.append(_escape(u.host, _HOST))
        path = "*" if u.path == "*" else _escape(u.path, _PATH)
        if path and path[0] != "/" and u.host:
            buf.append("/")
        if not buf and ":" in path.partition("/")[0]:
            buf.append("./")  # RFC 3986 §4.2: keep a colon in the first segment from reading as a scheme
        buf.append(path)
    if u.force_query or u.raw_query:
        buf.append("?" + u.raw_query)
    if u.fragment:
        buf.append("#" + _escape(u.fragment, _FRAGMENT))
    return "".join(buf)


# ---------------------------------------------------------------------------------------------------------------
# AIS object naming

# A name with none of these characters, not starting with "//", parses to a URL whose path is the name itself and
# which PathUnescape leaves alone; this lets range jobs with millions of names skip the full parser.
_NEEDS_PARSE = re.compile(r"[%:?#\x00-\x1f\x7f\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _invalid(name: str) -> BadRequest:
    return BadRequest(f"invalid object name {go_quote(name)}")


def validate_obj_name(name: str) -> None:
    """AIS ``ValidateOname``: refuse names that are empty or could escape or alias a bucket directory.

    Rejects ``""``, a trailing ``/``, a leading ``~/``, and any ``/``-separated component equal to ``.`` or
    ``..``. Empty components (``a//b``, a leading ``/``) are allowed, as in AIS.

    Raises:
        BadRequest: ``invalid object name "<name>"``.
    """
    if name == "" or name.endswith("/") or name.startswith("~/"):
        raise _invalid(name)
    if "." in name:
        for comp in name.split("/"):
            if comp in (".", ".."):
                raise _invalid(name)


def normalize_obj_name(name: str) -> str:
    """AIS ``NormalizeObjName`` followed by ``ValidateOname``.

    The name is parsed as a URL; when the parsed path is non-empty the result is ``PathUnescape(u.Path)``
    (so ``?query`` and ``#fragment`` are dropped and ``%2F`` decoded, twice-decoded in fact, as upstream);
    otherwise the raw name is kept (``?objname`` stays ``?objname``, ``a:b`` is opaque and stays ``a:b``).

    Args:
        name: a candidate object name (from ``path.Base`` of a link, a multi-map key, a listing, ...).

    Returns:
        The object name dld stores.

    Raises:
        BadRequest: Go's parse error (``parse "bad%zz": invalid URL escape "%zz"``), or
            ``invalid object name "<name>"`` from validation or when the result is not valid UTF-8.
    """
    if not _NEEDS_PARSE.search(name) and not name.startswith("//"):
        result = name
    else:
        if _SURROGATE.search(name):
            raise _invalid(name)  # lone surrogates are not text; Go could not have received them either
        u = go_url_parse(name)
        result = go_path_unescape(u.path) if u.path else name
        if _SURROGATE.search(result):
            raise _invalid(result)  # decoded to bytes that are not UTF-8 (rule 3)
    validate_obj_name(result)
    return result


def object_name_from_link(link: str, subdir: str = "") -> str:
    """The object name AIS gives a link: ``NormalizeObjName(path.Join(subdir, path.Base(link)))``.

    ``path.Base`` sees the whole link, query included (``https://h/f?x=/y/z`` → ``z``). A link whose base is
    ``.`` or ``/`` is rejected as ``invalid object name``; the API layer checks ``go_path_base`` first when it
    must answer with the single/multi wording (``can not extract a valid 'object_name' ...``).

    Args:
        link: the download link as given (before :func:`prepend_protocol`).
        subdir: the range job's ``subdir`` (may be empty, relative or absolute).

    Returns:
        The normalized, validated object name.

    Raises:
        BadRequest: as :func:`normalize_obj_name`.
    """
    return normalize_obj_name(go_path_join(subdir, go_path_base(link)))


def prepend_protocol(link: str) -> str:
    """AIS ``cmn.PrependProtocol``: give a scheme-less link ``http://`` (the server side default).

    The AIS CLI defaults to ``https://`` instead (see ``dld.sources``); the server keeps ``http://`` for
    compatibility with clients that send bare ``host/path`` links. An empty link (a ``from_remote`` job) stays
    empty.
    """
    if link == "" or "://" in link:
        return link
    return "http://" + link
