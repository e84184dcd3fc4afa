"""FreeSWITCH's argument splitter, so that every module reads arguments the way FreeSWITCH does.

:func:`separate_string` is ``switch_separate_string`` (``switch_utils.c``): ``'`` quotes,
``\\`` escapes, leading and trailing blanks stripped, a ``^^<c>`` prefix choosing another
delimiter, and the last field keeping the rest of the line when there are more fields than
room. API commands (mod_commands), applications and their file strings (mod_dptools) all split
their arguments with it; one implementation keeps them agreeing on every quirk.
"""

from __future__ import annotations

__all__ = ["separate_string", "separate_string_walk"]

ESCAPE_META = "\\"
_UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "s": " "}


def separate_string(buf: str | None, delim: str = " ", maxn: int = 64) -> list[str]:
    """Split ``buf`` into at most ``maxn`` fields as ``switch_separate_string`` does.

    ``'`` quotes a delimiter, ``\\`` escapes it (``\\n``, ``\\r``, ``\\t``, ``\\s`` become
    newline, CR, tab and space), blanks around each field are dropped, and the last field keeps
    the rest of the line. A ``^^X`` prefix makes ``X`` the delimiter (``"^^;a;b"``). An empty
    or None ``buf``, or ``maxn`` < 1, gives ``[]``.

    The common case (space-delimited, no quote, escape or NUL: every plain API argument line)
    takes a fast path with the same result as :func:`separate_string_walk`.
    """
    if not buf or maxn <= 0:
        return []
    if buf.startswith("^^") and len(buf) >= 4:
        delim, buf = buf[2], buf[3:]
    if delim == " " and "'" not in buf and ESCAPE_META not in buf and "\0" not in buf:
        return _split_blank(buf, maxn)
    return separate_string_walk(buf, delim, maxn)


def _split_blank(buf: str, maxn: int) -> list[str]:
    """The fast path of :func:`separate_string`, without the character walk: runs of spaces
    separate fields, the last field keeps the rest of the line, outer spaces are dropped."""
    rest = buf.lstrip(" ")
    if not rest:
        return [""]
    out: list[str] = []
    while len(out) < maxn - 1:
        j = rest.find(" ")
        if j < 0:
            break
        out.append(rest[:j])
        rest = rest[j:].lstrip(" ")
        if not rest:
            return out
    out.append(rest.rstrip(" "))
    return out


def separate_string_walk(buf: str, delim: str, maxn: int) -> list[str]:
    """``switch_separate_string`` character by character, as the C code walks it (quotes,
    escapes, any delimiter; no ``^^`` prefix handling, ``buf`` not empty, ``maxn`` ≥ 1).

    The reference that :func:`separate_string`'s fast path is tested against; modules call
    :func:`separate_string`.
    """
    chars = list(buf)
    n = len(chars)
    starts: list[int] = []
    i = 0
    inside = False
    if delim == " ":
        state = "start"
        while i < n and len(starts) < maxn:
            c = chars[i]
            if state == "start":
                starts.append(i)
                state = "skip_initial"
            elif state == "skip_initial":
                if c == " ":
                    i += 1
                else:
                    state = "find"
            elif state == "find":
                if c == ESCAPE_META:
                    i += 1
                elif c == "'":
                    inside = not inside
                elif c == " " and not inside:
                    chars[i] = "\0"
                    state = "skip_end"
                i += 1
            else:  # skip_end
                if c == " ":
                    i += 1
                else:
                    state = "start"
    else:
        find = False
        while i < n and len(starts) < maxn:
            if not find:
                starts.append(i)
                find = True
                continue
            c = chars[i]
            if c == ESCAPE_META:
                i += 1
            elif c == "'" and (inside or "'" in buf[i + 1:]):
                inside = not inside
            elif c == delim and not inside:
                chars[i] = "\0"
                find = False
            i += 1
    text = "".join(chars)
    out = []
    for s in starts:
        stop = text.find("\0", s)
        token = text[s:] if stop < 0 else text[s:stop]
        out.append(_cleanup(token, "" if delim == " " else delim))
    return out


def _cleanup(token: str, delim: str) -> str:
    """``cleanup_separated_string``: strip quotes, escapes, leading/trailing blanks."""
    i = 0
    n = len(token)
    while i < n and token[i] == " ":
        i += 1
    dest: list[str] = []
    end: int | None = None
    inside = False
    while i < n:
        c = token[i]
        esc = False
        if c == ESCAPE_META:
            e = token[i + 1] if i + 1 < n else ""
            if e and (e in "'\"" or (delim and e == delim) or e == ESCAPE_META or e in _UNESCAPE):
                i += 1
                dest.append(_UNESCAPE.get(e, e) if e not in "'\"\\" and e != delim else e)
                end = len(dest)
                esc = True
        if not esc:
            if c == "'" and (inside or "'" in token[i + 1:]):
                inside = not inside
                if inside:
                    end = len(dest)
            else:
                dest.append(c)
                if c != " " or inside:
                    end = len(dest)
        i += 1
    if end is not None:
        del dest[end:]
    return "".join(dest)
