"""Implicit tables for resource types that have no mapping table: element by element, by name.

"Pass through unchanged" is not possible in general: an R4 Composition is not an R6 Composition
(``identifier`` became a list, ``event.detail`` a CodeableReference), and a codec asked to write
it as R6 refuses. So a resource without a table is migrated by a table derived from the two
definitions, with the same engine and the same guarantees (nothing lost, everything reported):

* same name, same type (or both primitives)      -> ``copy`` (into a backbone: recurse)
* same name, same type, 0..1 vs 0..*             -> ``single-to-list`` / ``list-to-single``
* only in the source, or the type changed        -> ``extension`` (a cross-version extension)
* only in the target, or the type changed        -> ``from-extension`` (restored from one)
* choice elements                                -> ``copy`` (their variants are not re-typed)

The report still flags the resource as passed through (no table), so no one mistakes this for a
real semantic migration.
"""

from __future__ import annotations

from ..definitions import Definitions, ElementDef
from .operations import OPERATIONS
from .table import Row, Table
from .xver import ExtensionCodec

__all__ = ["implicit_table"]

_WHY = "no mapping table for this resource type: moved by name"


def implicit_table(resource_type: str, source: Definitions, target: Definitions) -> Table:
    rows: list[Row] = []
    _rows_for(resource_type, source, target, rows, set())
    return Table(f"(implicit {resource_type})", resource_type, source.label, target.label, tuple(rows), {})


def _is_primitive(defs: Definitions, code: str) -> bool:
    return code in defs.primitives or code.startswith("http://hl7.org/fhirpath/")


def _same_type(src: ElementDef, dst: ElementDef, source: Definitions, target: Definitions) -> bool:
    a, b = src.types[0], dst.types[0]
    if a == b:
        return True
    return _is_primitive(source, a) and _is_primitive(target, b)     # text stays text (id vs string)


def _carriable(element: ElementDef, home: Definitions, host: Definitions, path: str) -> bool:
    """Can a value of this element ride in a cross-version extension in the other version?"""
    if element.choice:
        return False
    try:
        ExtensionCodec(home, host, path, element)
    except ValueError:
        return False
    return True


def _row(rows: list[Row], op: str, from_paths: tuple[str, ...], to_paths: tuple[str, ...]) -> None:
    rows.append(Row(len(rows) + 1, from_paths, to_paths, OPERATIONS[op], {}, None, _WHY))


def _rows_for(type_name: str, source: Definitions, target: Definitions, rows: list[Row], seen: set) -> None:
    if type_name in seen:
        return
    seen.add(type_name)
    src_type, dst_type = source.types[type_name], target.types[type_name]
    for src in src_type.elements:
        path = f"{type_name}.{src.name}"
        dst = dst_type.element(src.name)
        if dst is None:
            if _carriable(src, source, target, path):
                _row(rows, "extension", (path,), ())
            continue                       # uncarriable: left unclaimed, so the engine reports and keeps it
        if src.choice or dst.choice:
            _row(rows, "copy", (path,), (path,))
        elif _same_type(src, dst, source, target):
            code = src.types[0]
            if src.is_list != dst.is_list:
                _row(rows, "single-to-list" if dst.is_list else "list-to-single", (path,), (path,))
            else:
                _row(rows, "copy", (path,), (path,))
                kind = source.types[code].kind if code in source.types else None
                if kind == "backbone" and code in target.types:
                    _rows_for(code, source, target, rows, seen)
        else:
            if _carriable(src, source, target, path):
                _row(rows, "extension", (path,), ())
            if _carriable(dst, target, source, path):
                _row(rows, "from-extension", (), (path,))
    for dst in dst_type.elements:
        path = f"{type_name}.{dst.name}"
        if src_type.element(dst.name) is None and _carriable(dst, target, source, path):
            _row(rows, "from-extension", (), (path,))
