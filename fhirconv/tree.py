"""The neutral element tree every reader builds and every writer and mapping consumes.

It knows no syntax and no FHIR version. The shapes, chosen so that the hot paths stay
plain Python containers (no object per node):

* **complex element or resource** - a ``dict`` from element name to child, with the
  children in definition order (so XML output is canonical for free). A resource has
  ``"resourceType"`` as its first key. A choice element keeps its full name
  (``valueQuantity``), which is the same in JSON and XML.
* **repeating element** (definition max != 1) - always a ``list``, even of one item.
* **primitive** - the exact text that was read (``"1.00"``, ``"true"``, ``"-1E+245"``), a
  ``str``; never a float, int or bool. Whether JSON writes it as a number or a boolean is
  decided by the definition, not by how the text looks.
* **primitive with an id or extensions** - a :class:`Primitive` holding value (or None),
  id and extension list together: one node, whatever the syntax splits it into.
* **narrative ``div``** - a ``str`` holding the exact XHTML markup.
* **comments** - not resource content (the spec lets readers drop them), but kept when asked:
  a complex node's ``"fhir_comments"`` key (a list of ``str``) or a :class:`Primitive`'s
  ``comments``. They come from XML comments or DSTU2-style JSON ``fhir_comments``.

Paths are computed while walking (``Patient.name[0].given[1]``) rather than stored in
every node; readers attach line and column to errors when the input was text.
"""

from __future__ import annotations

from typing import Any, Iterator, Union

__all__ = ["Primitive", "Node", "primitive_value", "walk", "child_path"]


class Primitive:
    """A primitive that carries an ``id`` and/or ``extension`` besides (or instead of) its value."""

    __slots__ = ("value", "id", "extension", "comments")

    def __init__(self, value: str | None = None, id: str | None = None,
                 extension: list[dict] | None = None, comments: list[str] | None = None):
        self.value = value
        self.id = id
        self.extension = extension
        self.comments = comments

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Primitive):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # mutable, like dict and list

    def __repr__(self) -> str:
        parts = [f"{name}={getattr(self, name)!r}" for name in self.__slots__ if getattr(self, name) is not None]
        return f"Primitive({', '.join(parts)})"

    def _deepdiff_view(self) -> dict:
        # deepdiff compares objects through __dict__, which slotted classes lack.
        return {name: getattr(self, name) for name in self.__slots__ if getattr(self, name) is not None}


Node = Union[dict, list, str, Primitive]


def primitive_value(node: Any) -> str | None:
    """The text of a primitive node, whichever of the two primitive shapes it has."""
    if isinstance(node, Primitive):
        return node.value
    return node if isinstance(node, str) else None


def child_path(path: str, name: str, index: int | None = None) -> str:
    return f"{path}.{name}" if index is None else f"{path}.{name}[{index}]"


def walk(node: Node, path: str) -> Iterator[tuple[str, Node]]:
    """Yield ``(path, node)`` for a node and everything below it, depth first, in order.

    Generic and therefore slow-ish: for validation, reports and tests, not for codecs.
    """
    yield path, node
    if isinstance(node, dict):
        for name, child in node.items():
            if name == "resourceType" or name == "fhir_comments":
                continue
            if isinstance(child, list):
                for i, item in enumerate(child):
                    yield from walk(item, f"{path}.{name}[{i}]")
            else:
                yield from walk(child, f"{path}.{name}")
    elif isinstance(node, Primitive) and node.extension:
        for i, ext in enumerate(node.extension):
            yield from walk(ext, f"{path}.extension[{i}]")
