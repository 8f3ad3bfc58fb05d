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

import re
from dataclasses import dataclass

_WORD = r"\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}"
_CLASSES = {"w": _WORD, "d": r"\p{Nd}", "s": r"\p{White_Space}"}
_ANCHORS = {"A": "^", "z": "$", "Z": "$"}
# Characters JavaScript's u mode lets (or needs) a backslash before.
_JS_ESCAPABLE = frozenset("^$\\.*+?()[]{}|/-")
_PLAIN_ESCAPES = frozenset("tnrfv0")
_COUNTED = re.compile(r"\{\d+(,\d*)?\}")
# \p{...} names both engines read the same way: general categories and common
# binary properties. Anything else (a script such as \p{Greek}, which Rust
# accepts bare) would be a SyntaxError in JavaScript and stop the whole module.
_PROPERTIES = frozenset(
    """L Lu Ll Lt Lm Lo LC M Mn Mc Me N Nd Nl No P Pc Pd Ps Pe Pi Pf Po S Sm Sc Sk So Z Zs Zl Zp
    C Cc Cf Cs Co Cn Letter Mark Number Punctuation Symbol Separator Other Uppercase_Letter
    Lowercase_Letter Decimal_Number Alphabetic Uppercase Lowercase White_Space Emoji ASCII Any
    Assigned Math Dash Hex_Digit ID_Start ID_Continue Ideographic Join_Control""".split()  # noqa: SIM905
)


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
            text, length = _escape(pattern, i + 1, in_class, problems)
            out.append(text)
            i += 1 + length
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
        elif in_class and (char == "[" or pattern.startswith(("&&", "--", "~~"), i)):
            # Rust's nested classes, POSIX [:alpha:] and set operations: no u-mode form.
            problems.append("nested classes and class set operations have no JavaScript form")
            out.append(char)
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        elif char == "{" and not in_class and (counted := _COUNTED.match(pattern, i)):
            out.append(counted.group())  # a repetition such as {3} or {1,5}
            i = counted.end()
            continue
        elif char in "{}]" and not in_class:
            out.append("\\" + char)  # a literal in Rust; u mode refuses it bare
        elif char == "(" and not in_class and pattern.startswith("(?", i):
            group, length = _group(pattern, i, problems)
            out.append(group)
            i += length
            continue
        else:
            out.append(char)
        i += 1
    return Translated("".join(out), tuple(problems))


def _escape(pattern: str, at: int, in_class: bool, problems: list[str]) -> tuple[str, int]:
    """The escape whose letter is at ``at``: its JavaScript form, and its length after the backslash."""
    escaped = pattern[at]
    if escaped in "pP":
        return _property(pattern, at, problems)
    if escaped == "x" and pattern.startswith("{", at + 1):
        end = pattern.find("}", at)
        if end > 0:
            return "\\u" + pattern[at + 1 : end + 1], end - at + 1
    if escaped in _CLASSES:
        body = _CLASSES[escaped]
        return (body if in_class else f"[{body}]"), 1
    if escaped.lower() in _CLASSES:
        if in_class:
            problems.append(f"\\{escaped} inside [...] is ASCII-only in JavaScript")
            return "\\" + escaped, 1
        return f"[^{_CLASSES[escaped.lower()]}]", 1
    if escaped in _ANCHORS and not in_class:
        return _ANCHORS[escaped], 1
    if escaped in "bB" and not in_class:
        problems.append(f"\\{escaped} (word boundary) is ASCII-only in JavaScript")
        return "\\" + escaped, 1
    if escaped.isalnum() or escaped in _JS_ESCAPABLE or escaped in _PLAIN_ESCAPES:
        return "\\" + escaped, 1  # \x.., \u.., \n and syntax characters mean the same
    return escaped, 1  # escaped punctuation such as \' or \#: u mode refuses the backslash


def _property(pattern: str, at: int, problems: list[str]) -> tuple[str, int]:
    r"""``\p{Name}``, ``\pL`` (Rust's one-letter form) and their ``\P`` negations."""
    letter = pattern[at]
    if pattern.startswith("{", at + 1):
        end = pattern.find("}", at)
        name, length = (pattern[at + 2 : end], end - at + 1) if end > 0 else ("", 1)
    else:
        name, length = pattern[at + 1 : at + 2], 2
    if name not in _PROPERTIES:
        problems.append(f"\\{letter}{{{name}}} is not a Unicode property JavaScript reads the same way")
    return f"\\{letter}{{{name}}}", length


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
