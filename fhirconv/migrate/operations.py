"""The closed vocabulary of mapping operations, each with its inverse.

A table row names one operation for the direction it is written in (R4 -> R6). Building an
operation gives two pure functions over tuples of element values:

* ``to_target(values, node)`` - the written direction (``from`` elements -> ``to`` elements);
* ``to_source(values, node)`` - the inverse (``to`` elements -> ``from`` elements).

``node`` is the element (in the version being produced) the values sit in; only operations that
need context look at it (reference targets resolved against ``contained``). Values are tree
nodes; ``None`` means absent. The functions may lose information: the engine finds out by
running the inverse and keeps whatever does not come back in a cross-version extension, so an
operation only has to describe the natural projection, never its own loss bookkeeping.

Operations never mutate their input: they build new containers and share unchanged leaves.

For speed an operation may also say when a mapping is *exact* (the inverse would give the input
back), so the engine can skip running the inverse: :data:`ALWAYS`, a predicate over the input
values, or None (unknown: the engine runs the inverse and compares). Building returns
``(to_target, to_source, exact_to_target, exact_to_source)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ..tree import Primitive, primitive_value
from ..validation import reference_type

__all__ = ["OPERATIONS", "Operation", "ShapeError", "reference_type"]

Values = tuple
Fn = Callable[[Values, dict], Values]
ALWAYS = True          # "this direction never loses anything"


def _every(pred: Callable[[Any], bool]) -> Callable[[Values], bool]:
    """An exactness predicate for a single- or list-valued element from one for an item."""
    def exact(values: Values) -> bool:
        value = values[0]
        if type(value) is list:
            return all(map(pred, value))
        return value is None or pred(value)
    return exact


class ShapeError(ValueError):
    """A value does not have the shape the definition promises (the input is not valid FHIR)."""


@dataclass(frozen=True)
class Operation:
    name: str
    inverse: str                       # name of the inverse, for people and the loader's check
    arity: tuple[int, int]             # (number of `from` elements, number of `to` elements)
    build: Callable[["RuleSpec"], tuple]     # -> (to_target, to_source, exact_to_target, exact_to_source)
    reshapes: bool = True              # False only for copy: no issue is reported for it
    params: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleSpec:
    """What an operation needs to build its two functions (filled in by the engine)."""
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


def _on_the_value(fn: Callable[[Any], Any]) -> Fn:
    """A rule function for a one-element row: ``fn`` on the value, or on each item of a list.

    Items that map to None are dropped (an empty list becomes None). One function per rule, not a
    lambda around a helper: these run for every series and instance.
    """
    def apply(values: Values, node: dict) -> Values:
        value = values[0]
        if value is None:
            return (None,)
        if isinstance(value, list):
            items = [out for out in map(fn, value) if out is not None]
            return (items or None,)
        return (fn(value),)
    return apply


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

def _build_copy(spec: RuleSpec) -> tuple[Fn, Fn]:
    into_to = _filter_references(spec.to_targets[0], spec.to_required[0])
    into_from = _filter_references(spec.from_targets[0], spec.from_required[0])

    def mover(keep):
        if keep is None:
            return lambda values, node: values
        return lambda values, node: (keep(values[0], node) if values[0] is not None else None,)
    return (mover(into_to), mover(into_from),
            ALWAYS if into_to is None else None, ALWAYS if into_from is None else None)


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


def _build_coding_to_cc(spec: RuleSpec) -> tuple[Fn, Fn]:
    single_coding = _every(lambda cc: type(cc) is dict and len(cc) == 1 and len(cc.get("coding") or ()) == 1)
    return _on_the_value(_coding_to_cc), _on_the_value(_cc_to_coding), ALWAYS, single_coding


# --- 0..1 <-> 0..* -------------------------------------------------------------------------------------------

def _build_single_to_list(spec: RuleSpec) -> tuple[Fn, Fn]:
    keep_to = _filter_references(spec.to_targets[0], False)
    keep_from = _filter_references(spec.from_targets[0], spec.from_required[0])

    def to_list(values: Values, node: dict) -> Values:
        value = values[0]
        if value is None:
            return (None,)
        if isinstance(value, list):
            raise ShapeError("expected a single value, found a list")
        items = [value]
        return (keep_to(items, node) if keep_to else items,)

    def to_single(values: Values, node: dict) -> Values:
        items = values[0]
        if not items:
            return (None,)
        first = items[0] if isinstance(items, list) else items
        return (keep_from(first, node) if keep_from else first,)
    return (to_list, to_single, ALWAYS if keep_to is None else None,
            (lambda values: values[0] is None or len(values[0]) == 1) if keep_from is None else None)


# --- CodeableConcept[] + Reference[] <-> CodeableReference[] ------------------------------------------------

def _build_lists_to_cr(spec: RuleSpec) -> tuple[Fn, Fn]:
    allows_reference = _allows(spec.to_targets[0])

    def merge(values: Values, node: dict) -> Values:
        concepts, references = values
        merged = [{"concept": _expect_dict(c, "a CodeableConcept")} for c in concepts or ()]
        merged += [{"reference": r} for r in references or () if allows_reference(r, node)]
        return (merged or None,)

    def split(values: Values, node: dict) -> Values:
        concepts, references = [], []
        for item in values[0] or ():
            item = _expect_dict(item, "a CodeableReference")
            if "concept" in item:
                concepts.append(item["concept"])
            if "reference" in item:
                references.append(item["reference"])
        return (concepts or None, references or None)
    return merge, split, None, None


# --- Coding <-> CodeableReference.concept.coding[0] ----------------------------------------------------------

def _build_coding_to_cr(spec: RuleSpec) -> tuple[Fn, Fn]:
    def wrap(coding: Any) -> dict:
        return {"concept": _coding_to_cc(coding)}

    def unwrap(cr: Any) -> dict | None:
        concept = _expect_dict(cr, "a CodeableReference").get("concept")
        return _cc_to_coding(concept) if concept is not None else None
    just_a_coding = _every(lambda cr: type(cr) is dict and len(cr) == 1 and type(cr.get("concept")) is dict
                           and len(cr["concept"]) == 1 and len(cr["concept"].get("coding") or ()) == 1)
    return _on_the_value(wrap), _on_the_value(unwrap), ALWAYS, just_a_coding


# --- Coding(system, code) <-> primitive ----------------------------------------------------------------------

def _remembering_matcher(pattern: str, limit: int = 4096) -> Callable[[str], bool]:
    """``re.match`` as a yes/no, remembered per text.

    The texts repeat (a study's instances share a handful of DICOM SOP classes) and a match
    costs far more than a dict lookup. The memory is bounded: it starts over when full.
    Shared between threads: the worst a race can do is compute an answer twice.
    """
    regex = re.compile(pattern)
    known: dict[str, bool] = {}

    def matches(text: str) -> bool:
        answer = known.get(text)
        if answer is None:
            if len(known) >= limit:
                known.clear()
            answer = known[text] = regex.match(text) is not None
        return answer
    return matches


def _build_coding_to_primitive(spec: RuleSpec) -> tuple[Fn, Fn]:
    system = spec.params["system"]
    prefix = spec.params.get("prefix", "")
    matches = _remembering_matcher(spec.params["pattern"])

    def code_of(coding: Any) -> Any:
        code = _expect_dict(coding, "a Coding").get("code")
        text = primitive_value(code)
        if text is None:
            return None
        if matches(text):
            return code
        if prefix and matches(prefix + text):
            return _with_text(code, prefix + text)    # a bare OID: the form the primitive requires
        return None

    def coding_of(code: Any) -> dict:
        if isinstance(code, (dict, list)):
            raise ShapeError(f"expected a primitive, found {type(code).__name__}")
        return {"system": system, "code": code}

    def plain(coding: Any) -> bool:                # {"system": system, "code": "<a valid primitive>"}
        if type(coding) is not dict or len(coding) != 2 or coding.get("system") != system:
            return False
        code = coding.get("code")
        return type(code) is str and matches(code)

    def valid(code: Any) -> bool:
        text = primitive_value(code)
        return text is not None and matches(text)
    return _on_the_value(code_of), _on_the_value(coding_of), _every(plain), _every(valid)


# --- code translation ----------------------------------------------------------------------------------------

def _build_translate(spec: RuleSpec) -> tuple[Fn, Fn]:
    codes: dict[str, str] = spec.params["codes"]
    inverse = {to: frm for frm, to in codes.items()}
    inverse.update(spec.params.get("target_only", {}))

    def through(table: dict[str, str]) -> Fn:
        def translate(values: Values, node: dict) -> Values:
            code = values[0]
            if code is None:
                return (None,)
            if isinstance(code, (dict, list)):
                raise ShapeError(f"expected a code, found {type(code).__name__}")
            text = primitive_value(code)
            mapped = table.get(text, text) if text is not None else None
            return (code if mapped == text else _with_text(code, mapped),)
        return translate
    target_only = frozenset(spec.params.get("target_only", ()))
    return (through(codes), through(inverse), ALWAYS,
            lambda values: primitive_value(values[0]) not in target_only)


# --- no home: cross-version extension ------------------------------------------------------------------------

def _build_extension(spec: RuleSpec) -> tuple[Fn, Fn]:
    return (lambda values, node: ()), (lambda values, node: (None,)), None, ALWAYS


def _mirror(build: Callable[[RuleSpec], tuple[Fn, Fn]]) -> Callable[[RuleSpec], tuple[Fn, Fn]]:
    """The inverse operation written the other way round (for rows whose `from` side is the wide one)."""
    def build_mirrored(spec: RuleSpec) -> tuple[Fn, Fn]:
        flipped = RuleSpec(spec.params, spec.to_targets, spec.from_targets, spec.to_required, spec.from_required)
        to_target, to_source, exact_target, exact_source = build(flipped)
        return to_source, to_target, exact_source, exact_target
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
