"""A pydantic ``pattern`` as a JavaScript ``RegExp`` with the ``u`` flag, matching the same strings.

pydantic checks patterns with Rust's ``regex`` crate, where ``\\w``, ``\\d`` and
``\\s`` are Unicode classes; in JavaScript they are ASCII-only even with ``u``.
So ``^\\w+$`` would refuse ``"José"`` in the browser while pydantic accepts it.
The translation spells those classes out with Unicode property escapes, turns
Python's ``(?P<name>`` into ``(?<name>``, ``\\A``/``\\z`` into ``^``/``$``, and
unescapes punctuation that ``u`` mode refuses to see escaped. What has no
JavaScript equivalent (inline flags such as ``(?i)``, ``\\b`` on non-ASCII
text) is reported, never silently kept.
"""

from __future__ import annotations

from dataclasses import dataclass

_WORD = r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}"
_CLASSES = {"w": _WORD, "d": r"\p{Nd}", "s": r"\p{White_Space}"}
_ANCHORS = {"A": "^", "z": "$", "Z": "$"}
# Characters JavaScript's u mode lets (or needs) a backslash before.
_JS_ESCAPABLE = frozenset("^$\\.*+?()[]{}|/-")
_PLAIN_ESCAPES = frozenset("tnrfv0")


@dataclass(frozen=True, slots=True)
class Translated:
    source: str
    """The JavaScript pattern, for ``new RegExp(source, "u")``."""
    problems: tuple[str, ...]
    """Why ``source`` would not match the same strings; empty when it does (then use it)."""


def to_javascript(pattern: str) -> Translated:
    out: list[str] = []
    problems: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            out.append(_escape(escaped, in_class, problems))
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
            if pattern.startswith("]", i + 1):  # a leading ']' is a literal
                out.append("\\]")
                i += 1
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        elif char == "(" and not in_class and pattern.startswith("(?", i):
            group, length = _group(pattern, i, problems)
            out.append(group)
            i += length
            continue
        else:
            out.append(char)
        i += 1
    return Translated("".join(out), tuple(problems))


def _escape(escaped: str, in_class: bool, problems: list[str]) -> str:
    if escaped in _CLASSES:
        body = _CLASSES[escaped]
        return body if in_class else f"[{body}]"
    if escaped.lower() in _CLASSES:
        if in_class:
            problems.append(f"\\{escaped} inside [...] is ASCII-only in JavaScript")
            return "\\" + escaped
        return f"[^{_CLASSES[escaped.lower()]}]"
    if escaped in _ANCHORS and not in_class:
        return _ANCHORS[escaped]
    if escaped in "bB" and not in_class:
        problems.append(f"\\{escaped} (word boundary) is ASCII-only in JavaScript")
        return "\\" + escaped
    if escaped.isalnum() or escaped in _JS_ESCAPABLE or escaped in _PLAIN_ESCAPES:
        return "\\" + escaped  # \x.., \u.., \p{..}, \n and syntax characters mean the same
    return escaped  # escaped punctuation such as \' or \#: u mode refuses the backslash


def _group(pattern: str, start: int, problems: list[str]) -> tuple[str, int]:
    """A ``(?...`` opening at ``start``: its JavaScript form and how many characters it spans."""
    for opening in ("(?:", "(?=", "(?!", "(?<=", "(?<!"):
        if pattern.startswith(opening, start):
            return opening, len(opening)
    if pattern.startswith("(?P<", start):
        return "(?<", 4
    if pattern.startswith("(?<", start):
        return "(?<", 3
    end = pattern.find(")", start)
    flags = pattern[start + 2 : end if end >= 0 else len(pattern)]
    problems.append(f"inline flags (?{flags}) have no JavaScript form")
    return "(?", 2
