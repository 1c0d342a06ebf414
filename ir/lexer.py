"""The tokens of the IR's text form (`parser.py` reads them; `printer.py` writes the text),
and `TokenStream`, the cursor over them that the parser extends.

A token is a string literal, a value name (`%x`), a function label (`@f`, `@"any name"`,
with an optional `#k`), a number, an identifier or a punctuation mark; spaces and `//`
comments are skipped, and each token records its 1-based line for error messages.
Invariants: the token list ends with one `eof` token, which the cursor never moves past;
every error the cursor raises is an `IRError` naming the line and quoting it.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import IRError

T = TypeVar("T")

STRING = r'"(?:[^"\\\n]|\\.)*"'
TOKEN = re.compile(rf"""
     (?P<space>[ \t\r]+) | (?P<newline>\n) | (?P<comment>//[^\n]*)
   | (?P<string>{STRING})
   | (?P<value>%[A-Za-z0-9_.]+)
   | (?P<func>@(?:[A-Za-z0-9_.$]+|{STRING})(?:\#[0-9]+)?)
   | (?P<number>-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
   | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
   | (?P<punct>->|[()\[\]{{}}<>,:=*\-])
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


class TokenStream:
    """A cursor over the tokens of `text`: look at the next token (`peek`, `at`), take it
    (`next`, `accept`, `expect`), read comma-separated lists (`separated`), and make
    errors that quote the offending line (`error`).

    Example: `TokenStream("f32[2]").expect("ident").text == "f32"`.
    """

    def __init__(self, text: str):
        self.lines = text.split("\n")
        self.tokens = tokenize(text)
        self.pos = 0

    def error(self, msg: str, tok: Token | None = None) -> IRError:
        tok = tok or self.peek()
        shown = self.lines[tok.line - 1].strip() if tok.line <= len(self.lines) else ""
        return IRError(f"line {tok.line}: {msg}\n    {shown}")

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind != "eof":
            self.pos += 1
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (text is None or tok.text == text)

    def accept(self, kind: str, text: str | None = None) -> Token | None:
        return self.next() if self.at(kind, text) else None

    def expect(self, kind: str, text: str | None = None) -> Token:
        if not self.at(kind, text):
            tok = self.peek()
            want = repr(text) if text is not None else kind
            got = repr(tok.text) if tok.kind != "eof" else "end of input"
            raise self.error(f"expected {want}, got {got}", tok)
        return self.next()

    def separated(self, close: str, item: Callable[[], T]) -> list[T]:
        """Items separated by commas up to the punctuation `close`, which is consumed."""
        out: list[T] = []
        while not self.at("punct", close):
            if out:
                self.expect("punct", ",")
            out.append(item())
        self.expect("punct", close)
        return out

    def string(self, text: str, tok: Token) -> str:
        """The value of a double-quoted string literal (JSON escapes)."""
        try:
            s = json.loads(text)
        except ValueError as e:
            raise self.error(f"bad string literal {text}: {e}", tok) from None
        assert isinstance(s, str)
        return s
