"""The closed vocabulary of mapping operations, each with its inverse.

A table row names one operation for the direction it is written in (R4 -> R6). Building an
operation gives its two directions as :class:`Mapping` objects over tuples of element values:

* ``to_target.apply(values, node)`` - the written direction (``from`` elements -> ``to`` elements);
* ``to_source.apply(values, node)`` - the inverse (``to`` elements -> ``from`` elements).

``node`` is the element (in the version being produced) the values sit in; only operations that
need context look at it (reference targets resolved against ``contained``). Values are tree
nodes; ``None`` means absent. A direction may lose information: the engine finds out by
running the inverse and keeps whatever does not come back in a cross-version extension, so an
operation only has to describe the natural projection, never its own loss bookkeeping.

Operations never mutate their input: they build new containers and share unchanged leaves.

For speed a direction also says when it is *exact* (the inverse would give the input back), so
the engine can skip running the inverse: ``always_exact``, or ``exact(values)`` True for these
values (False means "not known": the engine runs the inverse and compares). The directions are
classes rather than closures so that the compiled engine calls them directly (operations.pxd):
they run for every series and instance. Building returns ``(to_target, to_source)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ..tree import Primitive, primitive_value
from ..validation import reference_type

__all__ = ["OPERATIONS", "Operation", "Mapping", "ShapeError", "reference_type"]

Values = tuple


class ShapeError(ValueError):
    """A value does not have the shape the definition promises (the input is not valid FHIR)."""


class Mapping:
    """One direction of an operation: values -> values, and when that loses nothing."""

    def __init__(self, always_exact: bool = False):
        self.always_exact = always_exact      # the inverse gives back whatever the input

    def apply(self, values: Values, node: dict) -> Values:
        raise NotImplementedError

    def exact(self, values: Values) -> bool:
        """True when the inverse is known to give ``values`` back (False: run it and compare)."""
        return self.always_exact


class _ItemMapping(Mapping):
    """A one-element row mapped item by item: ``item`` on the value, or on each item of a list.

    Items that map to None are dropped (an empty list becomes None).
    """

    def apply(self, values: Values, node: dict) -> Values:
        value = values[0]
        if value is None:
            return (None,)
        if isinstance(value, list):
            items = []
            for item in value:
                mapped = self.item(item)
                if mapped is not None:
                    items.append(mapped)
            return (items or None,)
        return (self.item(value),)

    def exact(self, values: Values) -> bool:
        if self.always_exact:
            return True
        value = values[0]
        if type(value) is list:
            for item in value:
                if not self.item_exact(item):
                    return False
            return True
        return value is None or self.item_exact(value)

    def item(self, value: Any) -> Any:
        raise NotImplementedError

    def item_exact(self, value: Any) -> bool:
        return False


@dataclass(frozen=True)
class Operation:
    name: str
    inverse: str                       # name of the inverse, for people and the loader's check
    arity: tuple[int, int]             # (number of `from` elements, number of `to` elements)
    build: Callable[["RuleSpec"], tuple]     # -> (to_target, to_source): two Mappings
    reshapes: bool = True              # False only for copy: no issue is reported for it
    params: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleSpec:
    """What an operation needs to build its two directions (filled in by the engine)."""
    params: dict
    from_targets: tuple[tuple[str, ...] | None, ...]   # allowed Reference targets per `from` element
    to_targets: tuple[tuple[str, ...] | None, ...]     # per `to` element (CodeableReference: of .reference)
    from_required: tuple[bool, ...]
    to_required: tuple[bool, ...]


# --- small helpers --------------------------------------------------------------------------------------

def _expect_dict(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ShapeError(f"expected {what} (an object), found {type(value).__name__} {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(primitive_value(value) if isinstance(value, Primitive) else value)
    return text if len(text) <= 60 else text[:57] + "..."


def _with_text(node: Any, text: str) -> Any:
    """A primitive with new text, keeping its id and extensions."""
    if isinstance(node, Primitive):
        return Primitive(text, node.id, node.extension, node.comments)
    return text


def _allows(targets: tuple[str, ...] | None) -> Callable[[Any, dict], bool]:
    if not targets or "Resource" in targets:
        return lambda ref, node: True
    allowed = frozenset(targets)

    def check(ref: Any, node: dict) -> bool:
        kind = reference_type(_expect_dict(ref, "a Reference"), node)
        return kind is None or kind in allowed
    return check


def _filter_references(targets: tuple[str, ...] | None, required: bool) -> Callable[[Any, dict], Any] | None:
    """Drop references to types the receiving element does not allow (None: nothing to filter).

    A required element is never emptied: dropping it would trade a wrong target for a missing
    element; the engine's target check reports it instead.
    """
    if not targets or "Resource" in targets or required:
        return None
    allows = _allows(targets)

    def keep(value: Any, node: dict) -> Any:
        if isinstance(value, list):
            items = [ref for ref in value if allows(ref, node)]
            return items or None
        return value if allows(value, node) else None
    return keep


# --- copy -------------------------------------------------------------------------------------------------

class _Move(Mapping):
    """The values as they are, less the references the receiving element does not allow."""

    def __init__(self, keep: Callable[[Any, dict], Any] | None):
        super().__init__(keep is None)
        self.keep = keep

    def apply(self, values: Values, node: dict) -> Values:
        if self.keep is None:
            return values
        return (self.keep(values[0], node) if values[0] is not None else None,)


def _build_copy(spec: RuleSpec) -> tuple[Mapping, Mapping]:
    return (_Move(_filter_references(spec.to_targets[0], spec.to_required[0])),
            _Move(_filter_references(spec.from_targets[0], spec.from_required[0])))


# --- Coding <-> CodeableConcept -----------------------------------------------------------------------------

def _coding_to_cc(coding: Any) -> dict:
    return {"coding": [_expect_dict(coding, "a Coding")]}


def _cc_to_coding(cc: Any) -> dict | None:
    """The first coding; a CodeableConcept with text only becomes a Coding with that display."""
    cc = _expect_dict(cc, "a CodeableConcept")
    codings = cc.get("coding")
    if codings:
        return codings[0]
    text = cc.get("text")
    return {"display": text} if text is not None else None


def _single_coding(cc: Any) -> bool:
    """A CodeableConcept of exactly one coding and nothing else: the Coding gives it back."""
    return type(cc) is dict and len(cc) == 1 and len(cc.get("coding") or ()) == 1


class _CodingToCC(_ItemMapping):
    def __init__(self):
        super().__init__(True)

    def item(self, value: Any) -> Any:
        return _coding_to_cc(value)


class _CCToCoding(_ItemMapping):
    def item(self, value: Any) -> Any:
        return _cc_to_coding(value)

    def item_exact(self, value: Any) -> bool:
        return _single_coding(value)


def _build_coding_to_cc(spec: RuleSpec) -> tuple[Mapping, Mapping]:
    return _CodingToCC(), _CCToCoding()


# --- 0..1 <-> 0..* -------------------------------------------------------------------------------------------

class _ToList(Mapping):
    def __init__(self, keep: Callable[[Any, dict], Any] | None):
        super().__init__(keep is None)
        self.keep = keep

    def apply(self, values: Values, node: dict) -> Values:
        value = values[0]
        if value is None:
            return (None,)
        if isinstance(value, list):
            raise ShapeError("expected a single value, found a list")
        items = [value]
        return (self.keep(items, node) if self.keep is not None else items,)


class _ToSingle(Mapping):
    def __init__(self, keep: Callable[[Any, dict], Any] | None):
        super().__init__()
        self.keep = keep

    def apply(self, values: Values, node: dict) -> Values:
        items = values[0]
        if not items:
            return (None,)
        first = items[0] if isinstance(items, list) else items
        return (self.keep(first, node) if self.keep is not None else first,)

    def exact(self, values: Values) -> bool:
        return self.keep is None and (values[0] is None or len(values[0]) == 1)


def _build_single_to_list(spec: RuleSpec) -> tuple[Mapping, Mapping]:
    return (_ToList(_filter_references(spec.to_targets[0], False)),
            _ToSingle(_filter_references(spec.from_targets[0], spec.from_required[0])))


# --- CodeableConcept[] + Reference[] <-> CodeableReference[] ------------------------------------------------

class _Merge(Mapping):
    def __init__(self, allows_reference: Callable[[Any, dict], bool]):
        super().__init__()
        self.allows_reference = allows_reference

    def apply(self, values: Values, node: dict) -> Values:
        concepts, references = values
        merged = [{"concept": _expect_dict(c, "a CodeableConcept")} for c in concepts or ()]
        merged += [{"reference": r} for r in references or () if self.allows_reference(r, node)]
        return (merged or None,)


class _Split(Mapping):
    def apply(self, values: Values, node: dict) -> Values:
        concepts, references = [], []
        for item in values[0] or ():
            item = _expect_dict(item, "a CodeableReference")
            if "concept" in item:
                concepts.append(item["concept"])
            if "reference" in item:
                references.append(item["reference"])
        return (concepts or None, references or None)


def _build_lists_to_cr(spec: RuleSpec) -> tuple[Mapping, Mapping]:
    return _Merge(_allows(spec.to_targets[0])), _Split()


# --- Coding <-> CodeableReference.concept.coding[0] ----------------------------------------------------------

class _CodingToCR(_ItemMapping):
    def __init__(self):
        super().__init__(True)

    def item(self, value: Any) -> Any:
        return {"concept": _coding_to_cc(value)}


class _CRToCoding(_ItemMapping):
    def item(self, value: Any) -> Any:
        concept = _expect_dict(value, "a CodeableReference").get("concept")
        return _cc_to_coding(concept) if concept is not None else None

    def item_exact(self, value: Any) -> bool:           # {"concept": <a single coding>}
        return type(value) is dict and len(value) == 1 and _single_coding(value.get("concept"))


def _build_coding_to_cr(spec: RuleSpec) -> tuple[Mapping, Mapping]:
    return _CodingToCR(), _CRToCoding()


# --- Coding(system, code) <-> primitive ----------------------------------------------------------------------

class _Matcher:
    """``re.match`` as a yes/no, remembered per text.

    The texts repeat (a study's instances share a handful of DICOM SOP classes) and a match
    costs far more than a dict lookup. The memory is bounded: it starts over when full.
    Shared between threads: the worst a race can do is compute an answer twice.
    """

    def __init__(self, pattern: str, limit: int = 4096):
        self.regex = re.compile(pattern)
        self.known: dict[str, bool] = {}
        self.limit = limit

    def matches(self, text: str) -> bool:
        answer = self.known.get(text)
        if answer is None:
            if len(self.known) >= self.limit:
                self.known.clear()
            answer = self.known[text] = self.regex.match(text) is not None
        return answer


class _CodingToPrimitive(_ItemMapping):
    def __init__(self, system: str, prefix: str, matcher: _Matcher):
        super().__init__()
        self.system, self.prefix, self.matcher = system, prefix, matcher

    def item(self, value: Any) -> Any:
        code = _expect_dict(value, "a Coding").get("code")
        text = primitive_value(code)
        if text is None:
            return None
        if self.matcher.matches(text):
            return code
        if self.prefix and self.matcher.matches(self.prefix + text):
            return _with_text(code, self.prefix + text)    # a bare OID: the form the primitive requires
        return None

    def item_exact(self, value: Any) -> bool:            # {"system": system, "code": "<a valid primitive>"}
        if type(value) is not dict or len(value) != 2 or value.get("system") != self.system:
            return False
        code = value.get("code")
        return type(code) is str and self.matcher.matches(code)


class _PrimitiveToCoding(_ItemMapping):
    def __init__(self, system: str, matcher: _Matcher):
        super().__init__()
        self.system, self.matcher = system, matcher

    def item(self, value: Any) -> Any:
        if isinstance(value, (dict, list)):
            raise ShapeError(f"expected a primitive, found {type(value).__name__}")
        return {"system": self.system, "code": value}

    def item_exact(self, value: Any) -> bool:
        text = primitive_value(value)
        return text is not None and self.matcher.matches(text)


def _build_coding_to_primitive(spec: RuleSpec) -> tuple[Mapping, Mapping]:
    system = spec.params["system"]
    matcher = _Matcher(spec.params["pattern"])
    return (_CodingToPrimitive(system, spec.params.get("prefix", ""), matcher),
            _PrimitiveToCoding(system, matcher))


# --- code translation ----------------------------------------------------------------------------------------

class _Translate(Mapping):
    """A code through a table; exact unless the code is one only this side has."""

    def __init__(self, codes: dict[str, str], inexact: frozenset[str]):
        super().__init__(not inexact)
        self.codes = codes
        self.inexact = inexact

    def apply(self, values: Values, node: dict) -> Values:
        code = values[0]
        if code is None:
            return (None,)
        if isinstance(code, (dict, list)):
            raise ShapeError(f"expected a code, found {type(code).__name__}")
        text = primitive_value(code)
        mapped = self.codes.get(text, text) if text is not None else None
        return (code if mapped == text else _with_text(code, mapped),)

    def exact(self, values: Values) -> bool:
        return primitive_value(values[0]) not in self.inexact


def _build_translate(spec: RuleSpec) -> tuple[Mapping, Mapping]:
    codes: dict[str, str] = spec.params["codes"]
    inverse = {to: frm for frm, to in codes.items()}
    inverse.update(spec.params.get("target_only", {}))
    return _Translate(codes, frozenset()), _Translate(inverse, frozenset(spec.params.get("target_only", ())))


# --- no home: cross-version extension ------------------------------------------------------------------------

class _Drop(Mapping):
    """Into a cross-version extension: no native output (the engine keeps the input)."""

    def apply(self, values: Values, node: dict) -> Values:
        return ()


class _Absent(Mapping):
    """Out of a cross-version extension: no native value (the engine restores it)."""

    def __init__(self):
        super().__init__(True)

    def apply(self, values: Values, node: dict) -> Values:
        return (None,)


def _build_extension(spec: RuleSpec) -> tuple[Mapping, Mapping]:
    return _Drop(), _Absent()


class Then(Mapping):
    """``first`` followed by a repair (the engine's inverse of a row that repairs an invariant)."""

    def __init__(self, first: Mapping, repair: Callable[[Values, dict], Values]):
        super().__init__()
        self.first, self.repair = first, repair

    def apply(self, values: Values, node: dict) -> Values:
        return self.repair(self.first.apply(values, node), node)


def _mirror(build: Callable[[RuleSpec], tuple]) -> Callable[[RuleSpec], tuple]:
    """The inverse operation written the other way round (for rows whose `from` side is the wide one)."""
    def build_mirrored(spec: RuleSpec) -> tuple[Mapping, Mapping]:
        flipped = RuleSpec(spec.params, spec.to_targets, spec.from_targets, spec.to_required, spec.from_required)
        to_target, to_source = build(flipped)
        return to_source, to_target
    return build_mirrored


OPERATIONS: dict[str, Operation] = {op.name: op for op in (
    Operation("copy", "copy", (1, 1), _build_copy, reshapes=False),
    Operation("coding-to-codeableconcept", "codeableconcept-to-coding", (1, 1), _build_coding_to_cc),
    Operation("single-to-list", "list-to-single", (1, 1), _build_single_to_list),
    Operation("lists-to-codeablereference", "codeablereference-to-lists", (2, 1), _build_lists_to_cr),
    Operation("coding-to-codeablereference", "codeablereference-to-coding", (1, 1), _build_coding_to_cr),
    Operation("coding-to-primitive", "primitive-to-coding", (1, 1), _build_coding_to_primitive,
              params=frozenset({"system", "prefix", "pattern"})),
    Operation("translate", "translate", (1, 1), _build_translate, params=frozenset({"codes", "target_only"})),
    Operation("extension", "from-extension", (1, 0), _build_extension),
    # The mirrors, for tables (such as the implicit ones of fhirconv/migrate/implicit.py) whose
    # `from` version is the one with the repeating element or the extra element.
    Operation("list-to-single", "single-to-list", (1, 1), _mirror(_build_single_to_list)),
    Operation("from-extension", "extension", (0, 1), _mirror(_build_extension)),
)}
