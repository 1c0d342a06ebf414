"""The tokens of the IR's text form (`parser.py` reads them; `printer.py` writes the text).

A token is a string literal, a value name (`%x`), a function label (`@f`, `@"any name"`,
with an optional `#k`), a number, an identifier or a punctuation mark; spaces and `//`
comments are skipped, and each token records its 1-based line for error messages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import IRError

STRING = r'"(?:[^"\\\n]|\\.)*"'
TOKEN = re.compile(rf"""
     (?P<space>[ \t\r]+) | (?P<newline>\n) | (?P<comment>//[^\n]*)
   | (?P<string>{STRING})
   | (?P<value>%[A-Za-z0-9_.]+)
   | (?P<func>@(?:[A-Za-z0-9_.$]+|{STRING})(?:\#[0-9]+)?)
   | (?P<number>-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
   | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
   | (?P<punct>->|[()\[\]{{}}<>,:=\-])
""", re.VERBOSE)


@dataclass
class Token:
    kind: str   # string, value, func, number, ident, punct, eof
    text: str
    line: int   # 1-based


def tokenize(text: str) -> list[Token]:
    """Split `text` into tokens, ending with one `eof` token; IRError on a stray character."""
    lines = text.split("\n")
    tokens, pos, line = [], 0, 1
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if m is None:
            raise IRError(f"line {line}: unexpected character {text[pos]!r}\n"
                          f"    {lines[line - 1].strip()}")
        kind = m.lastgroup or ""
        if kind == "newline":
            line += 1
        elif kind not in ("space", "comment"):
            tokens.append(Token(kind, m.group(), line))
        pos = m.end()
    tokens.append(Token("eof", "", line))
    return tokens
