"""Where in the JSON text a path or a problem is: line and column, looked up only on failure.

The fast reader (the C scanner) keeps no positions. When something is wrong, this small
scanner walks the text again - slowly, but only once, for the error message.
"""

from __future__ import annotations

import re

_WS = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_SCALAR = re.compile(r"-?(?:Infinity|[0-9][0-9.eE+-]*)|true|false|null|NaN")


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def ws(self) -> None:
        self.pos = _WS.match(self.text, self.pos).end()

    def peek(self) -> str:
        self.ws()
        return self.text[self.pos:self.pos + 1]

    def string(self) -> str:
        match = _STRING.match(self.text, self.pos)
        if not match:
            raise ValueError
        self.pos = match.end()
        return match.group()[1:-1]

    def members(self):
        """Yield (key, key_position) of an object, leaving pos at each member's value."""
        self.pos += 1  # {
        while self.peek() not in ("}", ""):
            key_pos = self.pos
            key = self.string()
            self.ws()
            self.pos += 1  # :
            self.ws()
            yield key, key_pos
            if self.peek() == ",":
                self.pos += 1
        self.pos += 1

    def items(self):
        """Yield the index of each array item, leaving pos at the item."""
        self.pos += 1  # [
        index = 0
        while self.peek() not in ("]", ""):
            yield index
            index += 1
            if self.peek() == ",":
                self.pos += 1
        self.pos += 1

    def skip(self, visit=None, path: str = "") -> None:
        """Step over one value; ``visit(kind, path, position, detail)`` sees what is inside."""
        char = self.peek()
        if char == "{":
            seen = set()
            for key, key_pos in self.members():
                if visit and key in seen:
                    visit("duplicate", path, key_pos, key)
                seen.add(key)
                self.skip(visit, f"{path}.{key}")
        elif char == "[":
            for index in self.items():
                self.skip(visit, f"{path}[{index}]")
        elif char == '"':
            self.string()
        else:
            match = _SCALAR.match(self.text, self.pos)
            if not match:
                raise ValueError
            if visit and ("NaN" in match.group() or "Infinity" in match.group()):
                visit("constant", path, self.pos, match.group())
            self.pos = match.end()


_BRACKET = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def deeper_than(text: str, limit: int) -> tuple[int | None, int | None]:
    """Line and column of the first '[' or '{' nested more than ``limit`` deep (no recursion)."""
    depth = 0
    for match in _BRACKET.finditer(text):
        char = match.group()
        if char == "[" or char == "{":
            depth += 1
            if depth > limit:
                return line_column(text, match.start())
        elif char == "]" or char == "}":
            depth -= 1
    return None, None


def line_column(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def locate(text: str, segments: list[str]) -> tuple[int | None, int | None]:
    """Line and column of the value at a path given as segments (``.name``, ``[2]``)."""
    scanner = _Scanner(text)
    best = None
    try:
        scanner.ws()
        best = scanner.pos  # an error about the resource itself points at its opening brace
        for segment in segments:
            char = scanner.peek()
            if segment.startswith("[") and char == "[":
                wanted = int(segment[1:-1])
                for index in scanner.items():
                    if index == wanted:
                        break
                    scanner.skip()
                else:
                    break
            elif segment.startswith(".") and char == "{":
                name = segment[1:]
                for key, key_pos in scanner.members():
                    if key in (name, "_" + name):
                        best = key_pos
                        break
                    scanner.skip()
                else:
                    break
            else:
                break
            best = scanner.pos if best is None or scanner.pos > best else best
    except (ValueError, IndexError):
        pass
    return line_column(text, best) if best is not None else (None, None)


class _Found(Exception):
    pass


def _first(text: str, kind: str):
    found = []

    def visit(what, path, pos, detail):
        if what == kind:
            found.append((path, pos, detail))
            raise _Found

    try:
        _Scanner(text).skip(visit)
    except (_Found, ValueError, IndexError):
        pass
    return found[0] if found else None


def first_duplicate_key(text: str) -> tuple[str | None, int | None, int | None, str]:
    hit = _first(text, "duplicate")
    if not hit:
        return None, None, None, "?"
    path, pos, key = hit
    line, column = line_column(text, pos)
    return (path.lstrip(".") or None), line, column, key


def find_constant(text: str) -> tuple[int | None, int | None]:
    hit = _first(text, "constant")
    return line_column(text, hit[1]) if hit else (None, None)
