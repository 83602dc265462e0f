"""Checking a resource tree against its FHIR version's definitions, and the R6 ImagingStudy invariants.

:func:`validate` is generic over resource types where that is cheap: known elements, required
elements, list-ness and cardinality, the shape of each child for its type (primitive text that
matches the type's lexical form, complex elements, contained resources), required bindings
and Reference targets when the definitions carry them, ``ele-1`` and ``ext-1``. For R6
ImagingStudy it also checks ist-1..ist-7, written here in Python from their text.

ist-4 follows its human text ("if numberOfInstances and series.instance are both present"), not
its FHIRPath (which tests ``series.exists()``): HL7's own ``ist-4.p1.pass.json`` has series
without instances and a study count of 5, and must pass.

The invariant helpers (``ist*_ok``, :func:`distinct_series_modalities`) are also what the
migration engine uses to make R6 output valid, so the two can never disagree.

This module sits just above :mod:`fhirconv.definitions`: it imports only definitions and tree.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from .definitions import Definitions, ElementDef, TypeDef
from .tree import Primitive, primitive_value

__all__ = [
    "validate", "check_invariants", "invariants", "reference_type",
    "ist3_number_of_series_ok", "ist45_number_of_instances_ok", "ist6_series_count_ok",
    "ist7_modality_ok", "distinct_series_modalities",
]

Issue = dict

# Lexical forms of the primitive types (from the FHIR specification's regexes).
_DATE = r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?"
_ZONE = r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
_LEXICAL = {name: re.compile(rf"(?:{pattern})\Z") for name, pattern in {
    "boolean": r"true|false",
    "integer": r"0|[-+]?[1-9][0-9]*",
    "integer64": r"0|[-+]?[1-9][0-9]*",
    "unsignedInt": r"0|[1-9][0-9]*",
    "positiveInt": r"\+?[1-9][0-9]*",
    "decimal": r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?",
    "id": r"[A-Za-z0-9\-.]{1,64}",
    "oid": r"urn:oid:[0-2](\.(0|[1-9][0-9]*))+",
    "code": r"[^\s]+( [^\s]+)*",
    "date": _DATE,
    "dateTime": rf"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
                rf"(T{_TIME}{_ZONE})?)?)?",
    "instant": rf"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
               rf"T{_TIME}{_ZONE}",
    "time": _TIME,
}.items()}
_INT32_MAX = 2147483647


# --- the ImagingStudy invariants (R6) ---------------------------------------------------------------------

def _count(value: Any) -> int | None:
    """An unsignedInt's value; None when the text is not one (or is far beyond any real count).

    These counts are read for every series of every study migrated, and their texts repeat
    ("1", "2", ...): remembered (boundedly; a race can only compute one twice), no regex.
    """
    text = value if type(value) is str else primitive_value(value)
    if text is None:
        return None
    count = _COUNTS.get(text, _UNKNOWN)
    if count is _UNKNOWN:
        count = None
        if text.isdigit() and text.isascii() and len(text) <= 12 and (text[0] != "0" or len(text) == 1):
            count = int(text)
        if len(_COUNTS) < 1024:
            _COUNTS[text] = count
    return count


_COUNTS: dict[str, int | None] = {}
_UNKNOWN = object()


def _dicts(items: Any) -> list[dict]:
    return [item for item in items or () if isinstance(item, dict)]


# The checks below run on every migrated study: loops and list comprehensions, not generator
# expressions, which cost a generator object each when compiled.

def _dicom_study_uids(study: dict) -> int:
    count = 0
    for identifier in study.get("identifier") or ():
        if isinstance(identifier, dict) and primitive_value(identifier.get("system")) == "urn:dicom:uid":
            count += 1
    return count


def ist1_ok(study: dict) -> bool:
    return not study.get("series") or _dicom_study_uids(study) > 0


def ist2_ok(study: dict) -> bool:
    return _dicom_study_uids(study) < 2


def ist3_number_of_series_ok(number: Any, series: Any) -> bool:
    """ist-3: numberOfSeries equals the number of series elements, when both are present."""
    if not series or number is None:
        return True
    return _count(number) == len(series)


def ist45_number_of_instances_ok(number: Any, series: Any) -> bool:
    """ist-4 (as its text says) and ist-5 for the study's numberOfInstances."""
    if number is None or not series:
        return True
    count = _count(number)
    instances, counted, total = _series_totals(series)
    if instances and count != instances:                                      # ist-4
        return False
    if counted and count != total:                                            # ist-5
        return False
    return True


def _series_totals(series: Any) -> tuple[int, bool, int]:
    """In one pass over the series: how many instance elements they hold, whether any gives its
    numberOfInstances, and the sum of those (one that is not an unsignedInt counts 0)."""
    instances = 0
    counted = False
    total = 0
    for one in series or ():
        if not isinstance(one, dict):
            continue
        items = one.get("instance")
        if items:
            instances += len(items)
        number = one.get("numberOfInstances")
        if number is not None:
            counted = True
            total += _count(number) or 0
    return instances, counted, total


def ist6_series_count_ok(number: Any, instances: Any) -> bool:
    """ist-6: a series' numberOfInstances equals its instance elements, when both are present."""
    return number is None or not instances or _count(number) == len(instances)


def _codes_and_texts(concepts: Iterable[Any]) -> tuple[set[tuple[str, str]], set[str]]:
    """The (system, code) pairs and the texts of some CodeableConcepts: what ist-7 compares."""
    codes, texts = set(), set()
    for cc in concepts:
        if not isinstance(cc, dict):
            continue
        codings = cc.get("coding")
        if codings:
            for coding in _dicts(codings):
                codes.add((primitive_value(coding.get("system")) or "", primitive_value(coding.get("code")) or ""))
        text = cc.get("text")
        if text is not None:
            text = primitive_value(text)
            if text is not None:
                texts.add(text)
    return codes, texts


def _series_modalities(series: Any) -> list[Any]:
    modalities = []
    for one in series or ():
        if isinstance(one, dict):
            modality = one.get("modality")
            if modality is not None:
                modalities.append(modality)
    return modalities


def ist7_modality_ok(modality: Any, series: Any) -> bool:
    """ist-7: the study modality equals the set of distinct series modalities (codings and texts)."""
    if not modality:
        return True
    per_series = _series_modalities(series)
    if _same_members(modality, per_series):
        return True                     # equal concepts have equal codings and texts: no sets to build
    return _codes_and_texts(modality) == _codes_and_texts(per_series)


def _same_members(a: list, b: list) -> bool:
    """Every item of ``a`` equals some item of ``b`` and the other way round (a quick, sufficient test).

    The usual study lists exactly its series' modalities; comparing the few concepts directly is
    much cheaper than building the code and text sets.
    """
    if not isinstance(a, list):
        return False
    if a == b:
        return True                     # the study lists its series' modalities in their order
    for item in a:
        if item not in b:
            return False
    for item in b:
        if item not in a:
            return False
    return True


def distinct_series_modalities(series: Any) -> list[dict]:
    """The study modality R6 requires: each distinct series modality once, in series order."""
    seen, result = set(), []
    for cc in _series_modalities(series):
        if not isinstance(cc, dict):
            continue
        codes, texts = _codes_and_texts([cc])
        key = (frozenset(codes), frozenset(texts))
        if key in seen:
            continue
        seen.add(key)
        result.append({k: cc[k] for k in ("coding", "text") if k in cc})
    return result


def _ist3(study: dict) -> bool:
    return ist3_number_of_series_ok(study.get("numberOfSeries"), study.get("series"))


def _ist4(study: dict) -> bool:
    number = study.get("numberOfInstances")
    instances = _series_totals(study.get("series"))[0]
    return number is None or not instances or _count(number) == instances


def _ist5(study: dict) -> bool:
    number = study.get("numberOfInstances")
    _, counted, total = _series_totals(study.get("series"))
    return number is None or not counted or _count(number) == total


def _ist6(study: dict) -> bool:
    for one in _dicts(study.get("series")):
        if not ist6_series_count_ok(one.get("numberOfInstances"), one.get("instance")):
            return False
    return True


def _ist7(study: dict) -> bool:
    return ist7_modality_ok(study.get("modality"), study.get("series"))


_IMAGINGSTUDY_R6: tuple[tuple[str, str, Callable[[dict], bool]], ...] = (
    ("ist-1", "series SHALL only be present if an identifier is present with a system of urn:dicom:uid", ist1_ok),
    ("ist-2", "At most, a single identifier SHALL be present with a system of urn:dicom:uid", ist2_ok),
    ("ist-3", "If numberOfSeries and series are both present, the numberOfSeries value SHALL match "
              "the number of series elements", _ist3),
    ("ist-4", "If numberOfInstances and series.instance are both present, the numberOfInstances value SHALL "
              "match the total number of series.instance elements", _ist4),
    ("ist-5", "If numberOfInstances and series.numberOfInstances are both present, the numberOfInstances value "
              "SHALL be the sum of the series.numberOfInstance values", _ist5),
    ("ist-6", "For each series element, if numberOfInstances and instance are both present, the "
              "numberOfInstances value SHALL match the number of instance elements", _ist6),
    ("ist-7", "If modality is present, modality SHALL equal all of the distinct values of series.modality", _ist7),
)

# (version label, resource type) -> invariants checked in Python
_INVARIANTS = {("R6", "ImagingStudy"): _IMAGINGSTUDY_R6}


def invariants(defs: Definitions, resource_type: str) -> tuple[tuple[str, str, Callable[[dict], bool]], ...]:
    """The invariants checked in Python for a resource type of a version: ``(key, text, holds)``."""
    return _INVARIANTS.get((defs.label, resource_type), ())


def check_invariants(resource: dict, defs: Definitions, path: str | None = None) -> list[Issue]:
    """The failing invariants of one resource (not of resources nested in it), as error issues."""
    resource_type = resource.get("resourceType")
    issues = []
    for key, human, holds in invariants(defs, resource_type):
        if not holds(resource):
            issues.append(_issue("error", "invariant", path or resource_type, f"{key}: {human}"))
    return issues


# --- references -----------------------------------------------------------------------------------------

_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?\Z")


def reference_type(ref: dict, resource: dict | None) -> str | None:
    """The resource type a Reference points to, when it can be told; None when it cannot.

    From ``Reference.type`` first, else from a literal ``Type/id`` (relative or absolute URL),
    else, for ``#id``, from the resource of that id in ``resource.contained``.
    """
    declared = primitive_value(ref.get("type"))
    if declared:
        return declared.rsplit("/", 1)[-1]
    literal = primitive_value(ref.get("reference"))
    if not literal:
        return None
    if literal.startswith("#"):
        for contained in (resource or {}).get("contained") or ():
            if isinstance(contained, dict) and primitive_value(contained.get("id")) == literal[1:]:
                return contained.get("resourceType")
        return None
    match = _REFERENCE.search(literal)
    return match.group(1) if match else None


# --- generic structure checks ---------------------------------------------------------------------------

def _issue(severity: str, code: str, path: str, diagnostics: str) -> Issue:
    return {"severity": severity, "code": code, "diagnostics": diagnostics, "expression": [path]}


class _Checker:
    def __init__(self, defs: Definitions):
        self.defs = defs
        self.issues: list[Issue] = []

    def error(self, code: str, path: str, text: str) -> None:
        self.issues.append(_issue("error", code, path, text))

    # A resource, wherever it sits (top level, contained, Bundle entry).
    def resource(self, node: Any, path: str) -> None:
        if not isinstance(node, dict):
            self.error("structure", path, f"expected a resource, found {type(node).__name__}")
            return
        resource_type = node.get("resourceType")
        typedef = self.defs.types.get(resource_type) if isinstance(resource_type, str) else None
        if typedef is None or typedef.kind != "resource":
            self.error("structure", path, f"unknown resource type {resource_type!r} in FHIR {self.defs.label}")
            return
        self.complex(node, typedef, path, resource=node)
        self.issues.extend(check_invariants(node, self.defs, path))

    def complex(self, node: dict, typedef: TypeDef, path: str, resource: dict) -> None:
        if not node or (len(node) == 1 and "resourceType" in node):
            self.error("invariant", path, "ele-1: an element must have a value or children")
        seen = {"resourceType", "fhir_comments"} if typedef.kind == "resource" else {"fhir_comments"}
        for element in typedef.elements:
            present = [(name, code) for name, code in element.json_names().items() if name in node]
            seen.update(name for name, _ in present)
            if not present:
                if element.min >= 1:
                    self.error("required", f"{path}.{element.name}",
                               f"{element.name} is required ({element.min}..{element.max}) and missing")
                continue
            if len(present) > 1:
                self.error("structure", path, f"only one of {[n for n, _ in present]} may be present")
            name, code = present[0]
            self.element(node[name], element, code, f"{path}.{name}", resource)
        for name in node:
            if name not in seen:
                self.error("structure", f"{path}.{name}", f"unknown element {name!r} in {typedef.name}")
        if typedef.name == "Extension" and "extension" in node and any(k.startswith("value") for k in node):
            self.error("invariant", path, "ext-1: an extension has either a value or extensions, not both")

    def element(self, value: Any, element: ElementDef, code: str, path: str, resource: dict) -> None:
        if element.is_list:
            if not isinstance(value, list):
                self.error("structure", path, f"{element.name} repeats (0..{element.max}): expected a list")
                return
            if not value:
                self.error("invariant", path, "ele-1: an empty list")
            if element.max not in ("*",) and len(value) > int(element.max):
                self.error("structure", path, f"at most {element.max} {element.name}, found {len(value)}")
            if len(value) < element.min:
                self.error("required", path, f"at least {element.min} {element.name}, found {len(value)}")
            for i, item in enumerate(value):
                self.item(item, element, code, f"{path}[{i}]", resource)
        elif isinstance(value, list):
            self.error("structure", path, f"{element.name} holds one value (max 1), found a list")
        else:
            self.item(value, element, code, path, resource)

    def item(self, value: Any, element: ElementDef, code: str, path: str, resource: dict) -> None:
        defs = self.defs
        if code == "xhtml":
            if not isinstance(value, str):
                self.error("structure", path, "the narrative div must be XHTML text")
            return
        if code in defs.primitives or code.startswith("http://hl7.org/fhirpath/"):
            self.primitive(value, code, element, path, resource)
            return
        if code == "Resource" or defs.is_resource(code):
            self.resource(value, path)
            return
        typedef = defs.types.get(code)
        if typedef is None:
            return                                   # a type the definitions do not describe: nothing to check
        if not isinstance(value, dict):
            self.error("structure", path, f"expected {code} (an object), found {type(value).__name__} "
                                          f"{primitive_value(value)!r}")
            return
        self.complex(value, typedef, path, resource)
        if code == "Reference" and element.targets:
            self.target(value, element.targets, path, resource)
        elif code == "CodeableReference" and element.targets and isinstance(value.get("reference"), dict):
            self.target(value["reference"], element.targets, f"{path}.reference", resource)

    def primitive(self, value: Any, code: str, element: ElementDef, path: str, resource: dict) -> None:
        if isinstance(value, Primitive):
            if value.extension is not None:
                extension = self.defs.types.get("Extension")
                for i, ext in enumerate(value.extension):
                    if not isinstance(ext, dict):
                        self.error("structure", f"{path}.extension[{i}]", "expected an Extension")
                    elif extension is not None:
                        self.complex(ext, extension, f"{path}.extension[{i}]", resource)
            if value.value is None:
                if not value.extension:
                    self.error("invariant", path, "ele-1: a primitive needs a value or extensions")
                return
            text = value.value
        elif isinstance(value, str):
            text = value
        else:
            self.error("structure", path, f"expected a {code} value, found {type(value).__name__}")
            return
        lexical = _LEXICAL.get(code)
        if lexical is not None and not lexical.match(text):
            self.error("value", path, f"{text!r} is not a valid {code}")
        elif code in ("unsignedInt", "positiveInt", "integer") and (
                len(text.lstrip("+-")) > 10 or abs(int(text)) > _INT32_MAX):   # no int() of 5,000 digits
            self.error("value", path, f"{text} is out of range for {code}")
        elif code in ("string", "markdown") and text == "":
            self.error("value", path, "an empty string is not a value (ele-1)")
        if element.binding and text not in element.binding:
            self.error("code-invalid", path, f"{text!r} is not one of {', '.join(element.binding)} "
                                             f"(required binding)")

    def target(self, ref: dict, targets: tuple[str, ...], path: str, resource: dict) -> None:
        if "Resource" in targets:
            return
        kind = reference_type(ref, resource)
        if kind is not None and kind not in targets:
            self.error("structure", path, f"a reference to {kind} is not allowed here in FHIR {self.defs.label} "
                                          f"(allowed: {', '.join(targets)})")


def validate(tree: dict, defs: Definitions) -> list[Issue]:
    """Every problem of a resource tree against ``defs``, as OperationOutcome issue dicts (empty: valid)."""
    checker = _Checker(defs)
    checker.resource(tree, tree.get("resourceType", "Resource") if isinstance(tree, dict) else "Resource")
    return checker.issues
