"""Reading and checking the mapping tables in ``mappings/*.toml`` (installed as ``fhirconv._mappings``).

A table is data: rows of (``from`` elements, ``to`` elements, operation, parameters). Loading
checks everything that does not need the FHIR definitions: known operation, the right number of
elements for it, parameters it knows, and that the row can be inverted (a ``translate`` whose
codes are not one-to-one has no inverse, so the table is refused). The engine checks the rest
against the definitions when it compiles a table.
"""

from __future__ import annotations

import threading
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import MigrationError
from .operations import OPERATIONS, Operation

__all__ = ["MappingTableError", "Row", "Table", "load_tables", "parse_table"]

_KNOWN_ROW_KEYS = {"from", "to", "op", "invariant", "why"}


class MappingTableError(MigrationError):
    """A mapping table is malformed or cannot be inverted (a packaging bug, not a data problem)."""


@dataclass(frozen=True)
class Row:
    number: int                          # 1-based position in the table, for error messages
    from_paths: tuple[str, ...]
    to_paths: tuple[str, ...]
    op: Operation
    params: dict
    invariant: str | None
    why: str | None

    @property
    def parent(self) -> str:
        """The element all of this row's elements sit in (``ImagingStudy.series``)."""
        return (self.from_paths or self.to_paths)[0].rsplit(".", 1)[0]


@dataclass(frozen=True)
class Table:
    name: str
    resource: str
    from_version: str
    to_version: str
    rows: tuple[Row, ...]
    unmapped: dict[str, str]             # element path -> why it has no row


def _paths(value, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise MappingTableError(f"{where}: expected an element path or a list of them, found {value!r}")


def _row(number: int, raw: dict, table: str) -> Row:
    where = f"{table} rule {number}"
    op_name = raw.get("op")
    op = OPERATIONS.get(op_name)
    if op is None:
        raise MappingTableError(f"{where}: unknown operation {op_name!r} "
                                f"(the vocabulary is: {', '.join(OPERATIONS)})")
    unknown = set(raw) - _KNOWN_ROW_KEYS - op.params
    if unknown:
        raise MappingTableError(f"{where}: unknown key(s) {sorted(unknown)} for operation {op.name}")
    if "from" not in raw or "to" not in raw:
        raise MappingTableError(f"{where}: both 'from' and 'to' are required ('to = []' for no home)")
    from_paths, to_paths = _paths(raw["from"], where), _paths(raw["to"], where)
    if (len(from_paths), len(to_paths)) != op.arity:
        raise MappingTableError(f"{where}: {op.name} maps {op.arity[0]} element(s) to {op.arity[1]}, "
                                f"the row has {len(from_paths)} and {len(to_paths)}")
    parents = {p.rsplit(".", 1)[0] for p in from_paths + to_paths}
    if len(parents) != 1:
        raise MappingTableError(f"{where}: all elements of a row must share a parent, found {sorted(parents)}")
    params = {k: raw[k] for k in op.params if k in raw}
    _check_invertible(op, params, where)
    return Row(number, from_paths, to_paths, op, params, raw.get("invariant"), raw.get("why"))


def _check_invertible(op: Operation, params: dict, where: str) -> None:
    """Refuse a row whose operation cannot be run backwards with these parameters."""
    if op.name == "translate":
        codes = params.get("codes")
        if not isinstance(codes, dict) or not codes:
            raise MappingTableError(f"{where}: translate needs a 'codes' table")
        targets = list(codes.values())
        if len(set(targets)) != len(targets):
            raise MappingTableError(f"{where}: translate codes are not one-to-one, so the row has no inverse")
        for code, fallback in params.get("target_only", {}).items():
            if code in targets:
                raise MappingTableError(f"{where}: target_only code {code!r} is also a translation target")
            if fallback not in codes:
                raise MappingTableError(f"{where}: target_only fallback {fallback!r} is not a source code")
    elif op.name == "coding-to-primitive":
        for key in ("system", "pattern"):
            if not isinstance(params.get(key), str):
                raise MappingTableError(f"{where}: coding-to-primitive needs '{key}'")


def parse_table(name: str, text: str) -> Table:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingTableError(f"{name}: not valid TOML: {exc}") from None
    for key in ("resource", "from_version", "to_version"):
        if not isinstance(raw.get(key), str):
            raise MappingTableError(f"{name}: missing '{key}'")
    rows = tuple(_row(i, r, name) for i, r in enumerate(raw.get("rule", []), start=1))
    seen: dict[str, int] = {}
    for row in rows:
        for side, paths in (("from", row.from_paths), ("to", row.to_paths)):
            for path in paths:
                key = f"{side}:{path}"
                if key in seen:
                    raise MappingTableError(f"{name} rule {row.number}: {path} is already mapped by rule {seen[key]}")
                seen[key] = row.number
    unmapped = raw.get("unmapped", {})
    if not all(isinstance(v, str) and v for v in unmapped.values()):
        raise MappingTableError(f"{name}: every unmapped element needs a reason")
    return Table(name, raw["resource"], raw["from_version"], raw["to_version"], rows, dict(unmapped))


def _mappings_folder():
    try:
        return resources.files("fhirconv._mappings")
    except ModuleNotFoundError:
        # A source checkout that was not pip-installed: the tables sit next to the package.
        return Path(__file__).resolve().parents[2] / "mappings"


_tables: tuple[Table, ...] | None = None
_lock = threading.Lock()


def load_tables() -> tuple[Table, ...]:
    """Every table shipped in ``fhirconv._mappings``, read once per process."""
    global _tables
    if _tables is None:
        with _lock:
            if _tables is None:
                folder = _mappings_folder()
                _tables = tuple(parse_table(entry.name, entry.read_text(encoding="utf-8"))
                                for entry in sorted(folder.iterdir(), key=lambda e: e.name)
                                if entry.name.endswith(".toml"))
    return _tables
