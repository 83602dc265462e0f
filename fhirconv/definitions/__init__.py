"""Per-version FHIR element definitions, loaded once per process from the generated data.

The data files in ``data/`` are written by ``tools/gen_definitions.py`` from the official
definitions (R4 and R5 StructureDefinition snapshots; R6 JSON schema + datatype profiles,
with ImagingStudy as the seed definitions say). This module only reads them and offers
the lookups the codecs and the migration engine need. Codecs compile their own per-type
plans from these definitions and cache them in :attr:`Definitions.plans`.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from importlib import resources

from ..errors import UnsupportedVersionError

__all__ = ["Definitions", "TypeDef", "ElementDef", "load", "normalize_version", "VERSIONS"]

# label -> (data file stem, the fhirVersion the data describes)
VERSIONS = {"R4": ("r4", "4.0.1"), "R5": ("r5", "5.0.0"), "R6": ("r6", "6.0.0-ballot3")}

_ALIASES = {
    "r4": "R4", "4.0": "R4", "4.0.1": "R4",
    "r5": "R5", "5.0": "R5", "5.0.0": "R5",
    "r6": "R6", "6.0": "R6", "6.0.0": "R6", "6.0.0-ballot3": "R6", "6.0.0-ballot2": "R6",
}

# The primitive types written as a JSON number that must be a whole one (their regexes allow no
# fraction or exponent): "1.5" or "1e2" in one of these is an error, not a value to carry over.
# integer64 (R5+) is a JSON string and is checked as one.
INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})


def normalize_version(name: str) -> str:
    """``"4.0.1"``, ``"r4"``, ``"R4"`` -> ``"R4"``; anything else is an error that lists the choices."""
    label = _ALIASES.get(str(name).strip().lower())
    if label is None:
        raise UnsupportedVersionError(
            f"unknown FHIR version {name!r}: use R4, R5 or R6 (or 4.0.1, 5.0.0, 6.0.0-ballot3)")
    return label


@dataclass(frozen=True, slots=True)
class ElementDef:
    name: str                      # without [x]
    types: tuple[str, ...]         # type codes; backbone elements name their own key ("Patient.contact")
    min: int
    max: str                       # "1", "*", or a number
    choice: bool = False
    attr: bool = False             # an XML attribute (Element.id, Extension.url)
    binding: tuple[str, ...] | None = None   # codes of a required binding, when known
    targets: tuple[str, ...] | None = None   # allowed Reference targets, when restricted

    @property
    def is_list(self) -> bool:
        return self.max != "1" and self.max != "0"

    def json_names(self) -> dict[str, str]:
        """JSON/XML name -> type code: ``{"valueQuantity": "Quantity", ...}`` or ``{"gender": "code"}``.

        The names are interned (see :func:`_element`)."""
        if not self.choice:
            return {self.name: self.types[0]}
        return {sys.intern(self.name + code[0].upper() + code[1:]): code for code in self.types}


@dataclass(slots=True)
class TypeDef:
    name: str
    kind: str                      # "resource" | "complex" | "backbone"
    elements: tuple[ElementDef, ...]
    abstract: bool = False
    base: str | None = None
    _by_name: dict[str, ElementDef] | None = field(default=None, repr=False)

    def element(self, name: str) -> ElementDef | None:
        """The element with this (base) name, e.g. ``value`` for ``value[x]``."""
        if self._by_name is None:
            self._by_name = {e.name: e for e in self.elements}
        return self._by_name.get(name)


class Definitions:
    """One FHIR version's types. Immutable after loading, so safe to share between threads."""

    def __init__(self, label: str, data: dict):
        self.label = label
        self.fhir_version: str = data["fhirVersion"]
        self.primitives: dict[str, dict] = data["primitives"]
        self.invariants: dict[str, list[dict]] = data.get("invariants", {})
        self.types: dict[str, TypeDef] = {
            name: TypeDef(
                name=name,
                kind=spec["kind"],
                abstract=spec.get("abstract", False),
                base=spec.get("base"),
                elements=tuple(_element(e) for e in spec["elements"]),
            )
            for name, spec in data["types"].items()
        }
        self.resource_types = frozenset(
            name for name, t in self.types.items() if t.kind == "resource" and not t.abstract)
        # Codec plans compiled from these definitions, keyed by (codec, type name).
        # Filled lazily; a race only compiles the same plan twice.
        self.plans: dict = {}

    def json_kind(self, type_code: str) -> str | None:
        """How a primitive type is written in JSON: ``"boolean"``, ``"string"``, ``"number"``
        (decimal) or ``"integer"`` (a JSON number with no fraction or exponent); None for complex types."""
        spec = self.primitives.get(type_code)
        if spec is None:
            return None
        kind = spec["json"]
        return "integer" if kind == "number" and type_code in INTEGER_TYPES else sys.intern(kind)

    def is_resource(self, type_code: str) -> bool:
        """True for element types that hold a whole resource (``contained``, ``Bundle.entry.resource``)."""
        t = self.types.get(type_code)
        return t is not None and t.kind == "resource"

    def __repr__(self) -> str:
        return f"<Definitions {self.label} ({self.fhir_version}), {len(self.types)} types>"


def _element(spec: dict) -> ElementDef:
    binding = spec.get("binding")
    targets = spec.get("targets")
    # Element names are interned: every plan built from them (codec fields, migration outputs)
    # then holds the same string objects, and a dict lookup of an identical key compares
    # pointers, not characters - the codecs and the engine look names up for every node.
    return ElementDef(
        name=sys.intern(spec["name"]), types=tuple(spec["types"]), min=spec.get("min", 0), max=spec.get("max", "1"),
        choice=spec.get("choice", False), attr=spec.get("attr", False),
        binding=tuple(binding) if binding else None, targets=tuple(targets) if targets else None)


_loaded: dict[str, Definitions] = {}
_lock = threading.Lock()


def load(version: str = "R4") -> Definitions:
    """The definitions of a FHIR version, read from the package data once per process."""
    label = normalize_version(version)
    defs = _loaded.get(label)
    if defs is None:
        with _lock:
            defs = _loaded.get(label)
            if defs is None:
                stem = VERSIONS[label][0]
                raw = resources.files(__package__).joinpath("data", f"{stem}.json").read_bytes()
                defs = _loaded[label] = Definitions(label, json.loads(raw))
    return defs
