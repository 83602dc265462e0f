#!/usr/bin/env python3
"""Regenerate fhirconv/definitions/data/{r4,r5,r6}.json from the official FHIR definition data.

Usage::

    python3 tools/gen_definitions.py            # (re)write the three data files
    python3 tools/gen_definitions.py --check    # exit 1 if the committed files are stale
    python3 tools/gen_definitions.py --report   # also print the cross-checks described below

``--spec DIR`` (default ``<repo>/../shared/spec``) and ``--seeds DIR`` (default
``<repo>/../shared/seeds``) say where the inputs are. Standard library only; the
archives are read in place, nothing is unpacked.

Sources
=======
R4 (4.0.1)
    ``r4/hl7.fhir.r4.core-4.0.1.tgz``: snapshots of every StructureDefinition that is a
    primitive type, a complex type or a resource and is not a constraint (profile,
    extension) or a logical model. Required code bindings: expanded from the ValueSets and
    CodeSystems of the same package (value sets of whole code systems or listed concepts;
    abstract ``notSelectable`` codes left out). The R4 JSON schema's ``enum`` lists agree
    with every one of them but lack 94 (CarePlan.status, Claim.status, ...); the R4 XSDs have
    more but give MedicationStatement.status the codes of Medication.status.
R5 (5.0.0)
    ``r5/hl7.fhir.r5.core-5.0.0-structuredefinitions.tgz``, read by the same code as R4.
    This subset has no ValueSets, and the R5 JSON schema has ``enum`` lists on 26 datatype
    elements only, so required code bindings come from the enumerations of the R5 XSDs
    (``r5/hl7.fhir.r5.core-5.0.0-xsd.tgz``), except where a list lacks a code that the
    element's ``short`` text lists: XSD enumeration types are matched by name, and colliding
    names hand some elements another element's list (ImagingSelection 2D regionType).
R6 (labelled 6.0.0-ballot3; the data is the nearest CI build, 6.0.0-ballot2, 2025-08-08)
    Datatypes from the StructureDefinitions in ``r6/profiles-types.json.gz`` (same code
    as R4/R5). Resources from ``r6/fhir.schema.json.gz``, reconstructed as follows:

    * properties in schema order; ``resourceType`` and the ``_x`` companions are skipped;
    * ``"type": "array"`` -> max ``*``, otherwise ``1``; listed in ``required`` -> min 1.
      The schema lists only non-primitive elements in ``required`` (a primitive may
      be present as ``_x`` alone), so required primitives come out as min 0;
    * ``$ref #/definitions/X`` -> type X; ``ResourceList`` -> ``Resource``; a property
      holding ``enum`` and no ``$ref`` -> ``code``;
    * backbone definitions (``ImagingStudy_Series``) are keyed by the path they are
      reached by (``ImagingStudy.series``); reaching one again (contentReference) reuses
      that key;
    * choice elements appear expanded (``deceasedBoolean``, ``deceasedDateTime``; primitive
      variants are inlined as pattern+type with no ``$ref``, ordinary primitive elements
      use ``$ref``): consecutive, non-array properties ``base + TypeName`` whose type matches
      the suffix are regrouped into one choice element ``base`` unless one of them is a
      $ref'd primitive (R4 Task.instantiatesCanonical/instantiatesUri are two elements);
      a single inlined primitive variant is a choice too. A run of complex types only is
      ambiguous (R4 ClinicalImpression.finding.itemCodeableConcept/itemReference are two
      elements): it stays a choice unless R5's StructureDefinition has those names as
      ordinary elements of the same type;
    * the inherited Resource / DomainResource / BackboneElement elements are replaced by
      the base type's own elements (so backbone ``id`` carries the XML-attribute flag of
      ``Element.id`` from the datatype StructureDefinitions). Resource and DomainResource
      are the common prefixes of all resources' element lists;
    * no Reference targets (the schema has none) and no code bindings (the R6 schema has
      ``enum`` lists only on datatype elements, which come from the SDs anyway).

    The method is validated on R4, where StructureDefinitions exist: ``--report`` runs the
    same schema reader on ``r4/fhir.schema.json.gz`` and lists every difference from the
    R4 snapshots; all remaining ones belong to the explained classes in
    :func:`explain_difference`.

    Canonical resources: PROVENANCE.md warns that in ~22 canonical resources the R5/R6
    schema puts the CanonicalResource/MetadataResource pattern elements first and
    invents some (ChargeItemDefinition gets effectivePeriod, topic, author, ...). For R6:

    1. drop an element from a resource when the R5 schema has the same element for that
       resource but the R5 StructureDefinition does not (it is the same generator bug;
       for ChargeItemDefinition this drops exactly effectivePeriod, topic, author,
       editor, reviewer, endorser and relatedArtifact; 10 resources are affected, see
       ``--report``);
    2. when the schema order of the elements a type shares with R5 differs from the R5
       StructureDefinition order, order those elements as R5 does and put each R6-only
       element right after the R5 element that precedes it in the schema -- but only for
       types whose R5 schema order is wrong too (the bug shown in R5 for that very type).
       Types the R5 schema orders correctly but R6 orders differently are real R6 changes
       and keep the schema order: ImagingStudy (numberOfSeries/numberOfInstances moved
       after description, which the seeds confirm), ImagingSelection, ArtifactAssessment,
       ResearchStudy.comparisonGroup, and Group/DeviceDefinition (canonical in R6).

    ImagingStudy in R6 is not taken from the schema (an earlier build that still has
    partOf, series.laterality, procedure as CodeableReference) but from the explicit
    table :data:`IMAGINGSTUDY_R6`, transcribed from the seed definitions
    (``seeds/001_2d7040ed7160d336.txt`` and ``seeds/004_dc79598d6999c34e.txt``, R6
    6.0.0-ballot3) and re-checked against that seed text on every run when the seeds
    are present. Its invariants ist-1..ist-7 go into ``"invariants"``.

Output format (read by ``fhirconv/definitions/__init__.py``)
=============================================================
One JSON object per version, one primitive / type / invariant list per line for
readable diffs::

    {"fhirVersion": "4.0.1", "generatedFrom": "...",
     "primitives": {"decimal": {"json": "number", "regex": "..."}, ...},
     "types": {"Patient": {"kind": "resource", "base": "DomainResource", "elements": [...]},
               "Patient.contact": {"kind": "backbone", "elements": [...]}, ...},
     "invariants": {"ImagingStudy": [...]}}                                  # R6 only

kind is ``resource`` (``"abstract": true`` for Resource, DomainResource, ...), ``complex``
(datatypes, including Element, BackboneElement, Extension) or ``backbone`` (an element
defined inline, keyed by its full path). Each element, in snapshot order::

    {"name": "value", "types": ["Quantity", "string", ...], "min": 0, "max": "1",
     "choice": true, "attr": true, "binding": ["a", "b"], "targets": ["Patient"]}

``choice``/``attr`` appear only when true; ``binding`` only for code elements with a
required binding whose codes are known; ``targets`` only for Reference / canonical /
CodeableReference types restricted to named resource types. FHIRPath system types
(``http://hl7.org/fhirpath/System.String``) are replaced by their
``structuredefinition-fhir-type`` extension.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import tarfile
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "fhirconv" / "definitions" / "data"
DEFAULT_SPEC = REPO.parent / "shared" / "spec"
DEFAULT_SEEDS = REPO.parent / "shared" / "seeds"

SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"
FHIR_TYPE_EXT = SD_PREFIX + "structuredefinition-fhir-type"
REGEX_EXT = SD_PREFIX + "regex"
# Used only when a FHIRPath system type carries no structuredefinition-fhir-type extension.
SYSTEM_TYPES = {
    "http://hl7.org/fhirpath/System.String": "string",
    "http://hl7.org/fhirpath/System.Boolean": "boolean",
    "http://hl7.org/fhirpath/System.Integer": "integer",
    "http://hl7.org/fhirpath/System.Decimal": "decimal",
    "http://hl7.org/fhirpath/System.Date": "date",
    "http://hl7.org/fhirpath/System.DateTime": "dateTime",
    "http://hl7.org/fhirpath/System.Time": "time",
}
REFERENCE_LIKE = {"Reference", "canonical", "CodeableReference"}
# Inline element types: an element of this type with children in the snapshot is a backbone.
BACKBONE_TYPE_CODES = {"BackboneElement", "Element"}
RESOURCE_ELEMENTS = ["id", "meta", "implicitRules", "language"]
DOMAIN_RESOURCE_ELEMENTS = RESOURCE_ELEMENTS + ["text", "contained", "extension", "modifierExtension"]

Types = dict  # key -> {"kind": ..., "elements": [...], ...}
CodeLists = dict  # type key -> {element name -> [codes]}


# --------------------------------------------------------------------------- reading sources

def read_package(tgz: Path, resource_types=("StructureDefinition",)) -> dict[str, dict[str, dict]]:
    """``package/<Type>-*.json`` of an npm-style FHIR package: {type: {id: resource}}."""
    found: dict[str, dict[str, dict]] = {t: {} for t in resource_types}
    with tarfile.open(tgz) as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix("package/")
            if "/" in name or not name.endswith(".json") or name.split("-", 1)[0] not in found:
                continue
            resource = json.load(archive.extractfile(member))
            found[resource["resourceType"]][resource["id"]] = resource
    return found


def read_bundle_structure_definitions(bundle_gz: Path) -> dict[str, dict]:
    with gzip.open(bundle_gz) as f:
        bundle = json.load(f)
    return {e["resource"]["id"]: e["resource"] for e in bundle["entry"]
            if e["resource"]["resourceType"] == "StructureDefinition"}


def read_schema_definitions(schema_gz: Path) -> dict[str, dict]:
    with gzip.open(schema_gz) as f:
        return json.load(f)["definitions"]


# --------------------------------------------------------------------------- backbone keys
# Both the JSON schema (ImagingStudy_Series) and the XSDs (ImagingStudy.Series) name backbone
# definitions by the last path segment only, disambiguated by digits, so the element path of a
# definition is found by following references from the root types, never by parsing its name.

def map_backbone_keys(roots, children_of, is_backbone) -> dict[str, str]:
    """Definition name -> element path key, walking depth first in element order.

    contentReference targets always precede their references, so the first path a
    definition is reached by is the path that defines it."""
    keys: dict[str, str] = {}

    def visit(def_name: str, path: str) -> None:
        for element_name, ref in children_of(def_name):
            if ref and is_backbone(ref) and ref not in keys:
                keys[ref] = f"{path}.{element_name}"
                visit(ref, keys[ref])

    for root in roots:
        keys[root] = root
        visit(root, root)
    return keys


def schema_ref(prop: dict) -> str | None:
    ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


def schema_object_definitions(defs: dict) -> list[str]:
    """Names of the schema's resource and datatype definitions (not backbones, not primitives)."""
    return [name for name, d in defs.items() if "properties" in d and "_" not in name]


def schema_backbone_keys(defs: dict) -> dict[str, str]:
    return map_backbone_keys(
        schema_object_definitions(defs),
        lambda name: [(p, schema_ref(prop)) for p, prop in defs[name].get("properties", {}).items()
                      if not p.startswith("_")],
        lambda ref: "_" in ref)


# --------------------------------------------------------------------------- code lists of required bindings
# One source per version (see the module docstring); all give {type key: {element: [codes]}}.

def schema_code_lists(defs: dict) -> CodeLists:
    """Codes of the ``enum`` lists the JSON schema puts on code elements, by type key."""
    lists: CodeLists = defaultdict(dict)
    for def_name, key in schema_backbone_keys(defs).items():
        for prop_name, prop in defs[def_name]["properties"].items():
            codes = prop.get("enum") or prop.get("items", {}).get("enum")
            if codes:
                lists[key][prop_name] = list(codes)
    return dict(lists)


XS = "{http://www.w3.org/2001/XMLSchema}"
# Aggregates of all the others: reading them again would only repeat every definition.
XSD_AGGREGATES = {"fhir-single.xsd", "fhir-all.xsd", "fhir-xhtml.xsd", "xmldsig-core-schema.xsd"}


def xsd_code_lists(xsd_tgz: Path) -> CodeLists:
    """Codes of the XSD enumerations of code elements, by type key.

    The FHIR XSDs turn each required code binding into a complexType (``ImagingStudyStatus``)
    whose ``value`` attribute is a simpleType of enumerations (``ImagingStudyStatusEnum``)."""
    element_types: dict[str, list[tuple[str, str]]] = {}   # complexType -> [(element, type)]
    value_types: dict[str, str] = {}                        # complexType -> type of @value
    enumerations: dict[str, list[str]] = {}                 # simpleType -> codes
    with tarfile.open(xsd_tgz) as archive:
        for member in archive.getmembers():
            if not member.name.endswith(".xsd") or Path(member.name).name in XSD_AGGREGATES:
                continue
            root = ET.parse(archive.extractfile(member)).getroot()
            for ctype in root.findall(f"{XS}complexType"):
                name = ctype.get("name")
                element_types[name] = [(e.get("name"), e.get("type")) for e in ctype.iter(f"{XS}element")]
                for attribute in ctype.iter(f"{XS}attribute"):
                    if attribute.get("name") == "value":
                        value_types[name] = attribute.get("type")
            for stype in root.findall(f"{XS}simpleType"):
                codes = [e.get("value") for e in stype.iter(f"{XS}enumeration")]
                if codes:
                    enumerations[stype.get("name")] = codes
    roots = [name for name in element_types if "." not in name]
    keys = map_backbone_keys(roots, lambda name: element_types.get(name, []), lambda ref: "." in ref)
    lists: CodeLists = defaultdict(dict)
    for def_name, key in keys.items():
        for element_name, type_name in element_types.get(def_name, []):
            codes = enumerations.get(value_types.get(type_name, ""))
            if codes:
                lists[key][element_name] = codes
    return dict(lists)


def required_code_bindings(sds: dict):
    """(type key, element name, element definition) of each code element with a required binding."""
    for sd in sds.values():
        if is_core_type(sd) and sd["kind"] != "primitive-type":
            for ed in sd["snapshot"]["element"]:
                if (ed.get("binding", {}).get("strength") == "required"
                        and any(type_code(t) == "code" for t in ed.get("type", []))):
                    parent, _, name = ed["path"].rpartition(".")
                    yield parent, name.removesuffix("[x]"), ed


def expand_value_set(url: str, value_sets: dict, code_systems: dict) -> list[str] | None:
    """The codes of a value set made of whole code systems and enumerated concepts; None when
    it uses filters, imports or exclusions (no such value set is expanded here)."""
    value_set = value_sets.get(url.partition("|")[0])
    if value_set is None or "exclude" in value_set.get("compose", {}):
        return None
    codes: list[str] = []
    for include in value_set.get("compose", {}).get("include", []):
        if "filter" in include or "valueSet" in include:
            return None
        if "concept" in include:
            codes += [c["code"] for c in include["concept"]]
        elif include.get("system") in code_systems:
            codes += list(all_codes(code_systems[include["system"]].get("concept", [])))
        else:
            return None
    return dedupe(codes) or None


def all_codes(concepts: list[dict]):
    """Codes of a (hierarchical) code system, without the abstract grouping ones (R4 item-type's
    ``question`` is notSelectable: not a code an instance may carry)."""
    for concept in concepts:
        if not any(p["code"] == "notSelectable" and p.get("valueBoolean") for p in concept.get("property", [])):
            yield concept["code"]
        yield from all_codes(concept.get("concept", []))


def value_set_code_lists(package: dict) -> CodeLists:
    """Required code bindings expanded from the ValueSets/CodeSystems of the same core package."""
    value_sets = {vs["url"]: vs for vs in package["ValueSet"].values()}
    code_systems = {cs["url"]: cs for cs in package["CodeSystem"].values()}
    lists: CodeLists = defaultdict(dict)
    for parent, name, ed in required_code_bindings(package["StructureDefinition"]):
        codes = expand_value_set(ed["binding"].get("valueSet", ""), value_sets, code_systems)
        if codes:
            lists[parent][name] = codes
    return dict(lists)


SHORT_CODE_LIST = re.compile(r"[^\s|]+( \| [^\s|]+)*( \|)?( ?\+)?")


def contradicts_short(codes: list[str], short: str) -> bool:
    """Whether a code list lacks a code the element's short text lists (``"a | b | c"``).

    Catches the XSD enumerations that went to the wrong element through a type-name collision
    (R5 ImagingSelection.instance.imageRegion2D.regionType gets the 3D list; R4 XSD
    MedicationStatement.status gets Medication.status's). A list longer than the short text is
    fine: short texts are often truncated (``"a | b +"``) or leave out deprecated codes."""
    if " | " not in short or not SHORT_CODE_LIST.fullmatch(short):
        return False
    listed = {c.strip() for c in short.removesuffix("+").split("|")} - {""}
    return not listed <= set(codes)


def drop_code_lists_contradicting_short(lists: CodeLists, sds: dict) -> list[str]:
    dropped = []
    for parent, name, ed in required_code_bindings(sds):
        codes = lists.get(parent, {}).get(name)
        if codes and contradicts_short(codes, ed.get("short", "")):
            del lists[parent][name]
            dropped.append(f"{ed['path']} ({ed.get('short')!r} vs {codes})")
    return dropped


# --------------------------------------------------------------------------- from StructureDefinitions

def is_core_type(sd: dict) -> bool:
    """A base type of the version: not a profile, an extension or a logical model."""
    return sd["kind"] != "logical" and sd.get("derivation") != "constraint"


def type_code(sd_type: dict) -> str:
    code = sd_type["code"]
    if not code.startswith("http://hl7.org/fhirpath/"):
        return code
    for ext in sd_type.get("extension", []):
        if ext["url"] == FHIR_TYPE_EXT:
            return ext["valueUrl"]
    return SYSTEM_TYPES[code]


def reference_targets(sd_types: list[dict]) -> list[str]:
    """Target resource types of Reference/canonical/CodeableReference, [] when unrestricted."""
    targets: list[str] = []
    for sd_type in sd_types:
        if sd_type["code"] not in REFERENCE_LIKE:
            continue
        for profile in sd_type.get("targetProfile", []):
            name = profile.removeprefix(SD_PREFIX)
            if name not in targets:
                targets.append(name)
    return [] if "Resource" in targets else targets


def dedupe(items):
    return list(dict.fromkeys(items))


def make_element(name: str, types: list[str], min_: int, max_: str, *, choice=False, attr=False,
                 binding=None, targets=None) -> dict:
    """An element in output form: optional fields only when they say something."""
    element = {"name": name, "types": types, "min": min_, "max": max_}
    if choice:
        element["choice"] = True
    if attr:
        element["attr"] = True
    if binding:
        element["binding"] = binding
    if targets:
        element["targets"] = targets
    return element


@dataclass
class BindingStats:
    """What happened to code elements with a required binding (for --report)."""
    with_codes: int = 0
    without_codes: list = field(default_factory=list)
    codes_but_not_required: list = field(default_factory=list)


def element_from_snapshot(ed: dict, is_backbone: bool, code_lists: CodeLists, stats: BindingStats) -> dict:
    parent, _, name = ed["path"].rpartition(".")
    choice = name.endswith("[x]")
    name = name.removesuffix("[x]")
    if is_backbone:
        assert {t["code"] for t in ed["type"]} <= BACKBONE_TYPE_CODES, ed["path"]
        types = [ed["path"]]
    elif "contentReference" in ed:
        types = [ed["contentReference"].partition("#")[2]]
    else:
        types = dedupe(type_code(t) for t in ed["type"])
    binding = None
    if "code" in types:
        codes = code_lists.get(parent, {}).get(name)
        if ed.get("binding", {}).get("strength") == "required":
            if codes:
                binding = codes
                stats.with_codes += 1
            else:
                stats.without_codes.append(ed["path"])
        elif codes:
            stats.codes_but_not_required.append(ed["path"])
    return make_element(
        name, types, ed["min"], ed["max"], choice=choice,
        attr="xmlAttr" in ed.get("representation", []),
        binding=binding, targets=reference_targets(ed.get("type", [])))


def types_from_structure_definition(sd: dict, code_lists: CodeLists, stats: BindingStats) -> Types:
    """The type an SD defines, plus one backbone type per inline element, in snapshot order."""
    snapshot = sd["snapshot"]["element"]
    assert not any("sliceName" in ed for ed in snapshot), sd["id"]
    children: dict[str, list[dict]] = defaultdict(list)
    for ed in snapshot[1:]:
        children[ed["path"].rpartition(".")[0]].append(ed)

    root = snapshot[0]["path"]
    kind = "resource" if sd["kind"] == "resource" else "complex"
    head = {"kind": kind}
    if sd.get("abstract"):
        head["abstract"] = True
    if sd.get("baseDefinition"):
        head["base"] = sd["baseDefinition"].removeprefix(SD_PREFIX)
    types: Types = {}
    for path, eds in children.items():
        entry = dict(head) if path == root else {"kind": "backbone"}
        entry["elements"] = [element_from_snapshot(ed, ed["path"] in children, code_lists, stats) for ed in eds]
        types[path] = entry
    if root not in types:   # Base (R5/R6) has no elements at all
        types[root] = dict(head, elements=[])
    return {key: types[key] for key in sorted(types, key=lambda k: k != root)}


def types_from_structure_definitions(sds: dict, code_lists: CodeLists, stats: BindingStats) -> Types:
    types: Types = {}
    for sd in sds.values():
        if is_core_type(sd) and sd["kind"] != "primitive-type":
            types.update(types_from_structure_definition(sd, code_lists, stats))
    add_used_quantity_profiles(types, sds)
    return types


def add_used_quantity_profiles(types: Types, sds: dict) -> None:
    """SimpleQuantity/MoneyQuantity are profiles; they are types only if an element names them.

    (In R4, R5 and this R6 build no element does: they are used as Quantity + profile.)"""
    used = {code for t in types.values() for e in t["elements"] for code in e["types"]}
    for profile in ("SimpleQuantity", "MoneyQuantity"):
        if profile in used and profile in sds:
            types[profile] = {"kind": "complex", "base": "Quantity", "elements": types["Quantity"]["elements"]}


def primitives_from_structure_definitions(sds: dict, schema_defs: dict) -> dict:
    """Every primitive type: its JSON kind (from the JSON schema, the authority on JSON syntax:
    it says integer64 is a string and positiveInt a number) and its regex (from the SD)."""
    primitives = {}
    for sd in sorted(sds.values(), key=lambda sd: sd["id"]):
        if sd["kind"] != "primitive-type" or not is_core_type(sd):
            continue
        spec = {"json": schema_defs[sd["id"]].get("type", "string")}
        value = next(ed for ed in sd["snapshot"]["element"] if ed["path"] == sd["id"] + ".value")
        for ext in value["type"][0].get("extension", []):
            if ext["url"] == REGEX_EXT:
                spec["regex"] = ext["valueString"]
        primitives[sd["id"]] = spec
    return primitives


# --------------------------------------------------------------------------- from the JSON schema

def upper_first(name: str) -> str:
    return name[0].upper() + name[1:]


@dataclass
class SchemaProperty:
    name: str
    type: str
    is_array: bool
    inline_primitive: bool   # a choice variant written out as pattern+type instead of a $ref


def schema_properties(definition: dict, defs: dict, primitive_names: list[str]) -> list[SchemaProperty]:
    props = []
    for name, prop in definition["properties"].items():
        if name.startswith("_") or "const" in prop:   # _x companions; resourceType of a resource
            continue
        is_array = prop.get("type") == "array"
        ref = schema_ref(prop)
        if ref:
            props.append(SchemaProperty(name, "Resource" if ref == "ResourceList" else ref, is_array, False))
        elif "enum" in prop or "enum" in prop.get("items", {}):
            props.append(SchemaProperty(name, "code", is_array, False))
        else:
            props.append(SchemaProperty(name, inline_primitive_type(name, prop, defs, primitive_names), is_array, True))
    return props


def inline_primitive_type(name: str, prop: dict, defs: dict, primitive_names: list[str]) -> str:
    """The primitive a choice variant like ``effectiveDateTime`` (pattern+type, no $ref) has.

    Longest suffix first (``DateTime`` before ``Time``), confirmed by the primitive's JSON type
    and its pattern (when the primitive's definition has one: R5/R6 base64Binary has none)."""
    for primitive in sorted(primitive_names, key=len, reverse=True):
        suffix = upper_first(primitive)
        definition = defs[primitive]
        if (name.endswith(suffix) and name != suffix
                and prop.get("type") == definition.get("type")
                and ("pattern" not in definition or prop.get("pattern") == definition["pattern"])):
            return primitive
    raise ValueError(f"cannot tell the type of schema property {name}: {prop}")


def choice_base(prop: SchemaProperty) -> str | None:
    suffix = upper_first(prop.type)
    if prop.is_array or not prop.name.endswith(suffix) or prop.name == suffix:
        return None
    return prop.name[: -len(suffix)]


def is_choice_run(run: list[SchemaProperty], primitive_names, plain_names: set[str]) -> bool:
    """Whether consecutive ``base + Type`` properties are the variants of one choice element.

    The schema inlines the primitive variants of a choice and $refs ordinary primitive
    elements, which tells R4 Task.instantiatesCanonical/instantiatesUri apart from a choice.
    A run of complex types only is ambiguous (R4 ClinicalImpression.finding.itemCodeableConcept
    and itemReference are two elements): ``plain_names``, the ordinary elements a trusted
    definition of the same type has, settles it when available."""
    if any(p.name in plain_names for p in run):
        return False
    if any(p.type in primitive_names and not p.inline_primitive for p in run):
        return False
    # A lone $ref variant is as likely an ordinary element (R4 ImagingStudy.procedureReference).
    return len(run) > 1 or run[0].inline_primitive


def group_choices(props: list[SchemaProperty], primitive_names,
                  plain_names: set[str] = frozenset()) -> list[tuple[str, list[SchemaProperty], bool]]:
    """[(element name, its properties, is choice)]: choice variants regrouped into one element."""
    groups: list[tuple[str, list[SchemaProperty], bool]] = []
    i = 0
    while i < len(props):
        base = choice_base(props[i])
        run = [props[i]]
        while base and i + len(run) < len(props) and choice_base(props[i + len(run)]) == base:
            run.append(props[i + len(run)])
        if base and is_choice_run(run, primitive_names, plain_names):
            groups.append((base, run, True))
        else:
            run = run[:1]
            groups.append((run[0].name, run, False))
        i += len(run)
    return groups


def types_from_schema(defs: dict, roots: list[str], primitive_names: list[str],
                      base_types: Types, trusted: Types | None = None) -> Types:
    """Resources (and their backbones) reconstructed from a FHIR JSON schema; see module doc.

    ``trusted``: StructureDefinition-based types (of this or a neighbouring version) whose
    non-choice elements settle ambiguous choice runs, see :func:`is_choice_run`."""
    keys = map_backbone_keys(
        roots,
        lambda name: [(p, schema_ref(prop)) for p, prop in defs[name]["properties"].items()],
        lambda ref: "_" in ref)
    types: Types = {}
    for def_name, key in keys.items():
        definition = defs[def_name]
        required = set(definition.get("required", []))
        elements = []
        plain = {e["name"] for e in (trusted or {}).get(key, {}).get("elements", []) if not e.get("choice")}
        props = schema_properties(definition, defs, primitive_names)
        for name, props, choice in group_choices(props, primitive_names, plain):
            types_ = dedupe(keys.get(p.type, p.type) for p in props)
            elements.append(make_element(
                name, types_, 1 if name in required else 0, "*" if props[0].is_array else "1", choice=choice))
        types[key] = {"kind": "resource" if key == def_name else "backbone", "elements": elements}
    attach_schema_bases(types, roots, base_types)
    return types


def attach_schema_bases(types: Types, roots: list[str], base_types: Types) -> None:
    """Add Resource/DomainResource and swap each type's inherited elements for its base's own."""
    resource, domain_resource = inherited_resource_types(types, roots)
    types["Resource"], types["DomainResource"] = resource, domain_resource
    for key, entry in types.items():
        if key in ("Resource", "DomainResource"):
            continue
        if entry["kind"] == "resource":
            names = [e["name"] for e in entry["elements"][: len(DOMAIN_RESOURCE_ELEMENTS)]]
            entry["base"] = "DomainResource" if names == DOMAIN_RESOURCE_ELEMENTS else "Resource"
            base_elements = types[entry["base"]]["elements"]
            entry["elements"] = replace_inherited(key, entry["elements"], base_elements)
            types[key] = {"kind": "resource", "base": entry["base"], "elements": entry["elements"]}
        else:
            entry["elements"] = replace_inherited(key, entry["elements"], base_types["BackboneElement"]["elements"])


def inherited_resource_types(types: Types, roots: list[str]) -> tuple[dict, dict]:
    """Resource and DomainResource: the elements every (domain) resource starts with."""
    def common_prefix(lists):
        prefix = lists[0]
        for elements in lists[1:]:
            n = 0
            while n < min(len(prefix), len(elements)) and prefix[n] == elements[n]:
                n += 1
            prefix = prefix[:n]
        return prefix

    all_resources = [types[r]["elements"] for r in roots]
    domain = [e for e in all_resources if [x["name"] for x in e[:5]] == DOMAIN_RESOURCE_ELEMENTS[:5]]
    resource_elements = common_prefix(all_resources)
    domain_elements = common_prefix(domain)[: len(DOMAIN_RESOURCE_ELEMENTS)]
    assert [e["name"] for e in resource_elements] == RESOURCE_ELEMENTS, resource_elements
    assert [e["name"] for e in domain_elements] == DOMAIN_RESOURCE_ELEMENTS, domain_elements
    return ({"kind": "resource", "abstract": True, "elements": resource_elements},
            {"kind": "resource", "abstract": True, "base": "Resource", "elements": domain_elements})


def replace_inherited(key: str, elements: list[dict], base_elements: list[dict]) -> list[dict]:
    names = [e["name"] for e in elements[: len(base_elements)]]
    assert names == [e["name"] for e in base_elements], f"{key} does not start with its base's elements: {names}"
    return [dict(e) for e in base_elements] + elements[len(base_elements):]


def schema_resource_names(defs: dict) -> list[str]:
    return [one["$ref"].rsplit("/", 1)[-1] for one in defs["ResourceList"]["oneOf"]]


# --------------------------------------------------------------------------- R6 fixes

def invented_schema_elements(schema_types: Types, sd_types: Types) -> dict[str, list[str]]:
    """Elements a schema gives a type that its StructureDefinition does not have."""
    invented = {}
    for key, entry in schema_types.items():
        if key in sd_types:
            real = {e["name"] for e in sd_types[key]["elements"]}
            extra = [e["name"] for e in entry["elements"] if e["name"] not in real]
            if extra:
                invented[key] = extra
    return invented


def shared_order_differs(names: list[str], reference_names: list[str]) -> bool:
    """Whether the elements two lists share come in a different order."""
    shared = set(names) & set(reference_names)
    return [n for n in names if n in shared] != [n for n in reference_names if n in shared]


def misordered_types(schema_types: Types, sd_types: Types) -> set[str]:
    """Types whose schema order differs from their StructureDefinition's."""
    return {key for key, entry in schema_types.items() if key in sd_types and shared_order_differs(
        [e["name"] for e in entry["elements"]], [e["name"] for e in sd_types[key]["elements"]])}


def reorder_like(elements: list[dict], reference_names: list[str]) -> list[dict]:
    """Order the elements shared with a reference definition as the reference does; each
    element the reference lacks follows the shared element that precedes it here."""
    position = {name: i for i, name in enumerate(reference_names)}
    shared = [e for e in elements if e["name"] in position]
    followers: dict[str | None, list[dict]] = defaultdict(list)
    anchor = None
    for e in elements:
        if e["name"] in position:
            anchor = e["name"]
        else:
            followers[anchor].append(e)
    ordered = list(followers[None])
    for e in sorted(shared, key=lambda e: position[e["name"]]):
        ordered.append(e)
        ordered.extend(followers[e["name"]])
    return ordered


@dataclass
class CanonicalFixes:
    dropped: dict = field(default_factory=dict)
    reordered: list = field(default_factory=list)


def fix_canonical_resources(r6: Types, r5_sd: Types, r5_schema: Types) -> CanonicalFixes:
    """Undo, in the R6 schema types, the schema generator bug that the R5 schema shows.

    Only where the R5 schema demonstrably has the bug for the same type: a type R6 really
    re-ordered (ImagingStudy moved numberOfSeries after description, as the seeds confirm;
    ImagingSelection, ArtifactAssessment, ResearchStudy.comparisonGroup) keeps its R6 order."""
    fixes = CanonicalFixes()
    invented = invented_schema_elements(r5_schema, r5_sd)
    misordered = misordered_types(r5_schema, r5_sd)
    for key, entry in r6.items():
        drop = [e["name"] for e in entry["elements"] if e["name"] in invented.get(key, [])]
        if drop:
            entry["elements"] = [e for e in entry["elements"] if e["name"] not in drop]
            fixes.dropped[key] = drop
        names = [e["name"] for e in entry["elements"]]
        r5_names = [e["name"] for e in r5_sd.get(key, {}).get("elements", [])]
        if key in misordered and shared_order_differs(names, r5_names):
            entry["elements"] = reorder_like(entry["elements"], r5_names)
            fixes.reordered.append(key)
    return fixes


# --------------------------------------------------------------------------- R6 ImagingStudy
# Transcribed from ../shared/seeds/004_dc79598d6999c34e.txt (R6 ImagingStudy element definitions
# with ist-1..ist-7) and ../shared/seeds/001_2d7040ed7160d336.txt (R6 6.0.0-ballot3 detailed
# descriptions, which also give the CodeableReference targets of `reason`); checked against
# both files by check_imagingstudy_against_seeds() on every run. The R6 schema in ../shared/spec
# is an older build (partOf, series.laterality, procedure CodeableReference): not used here.
# Rows: (element, type, cardinality, targets or None); backbones have type "BackboneElement".
IMAGINGSTUDY_R6 = {
    "ImagingStudy": [
        ("identifier", "Identifier", "0..*", None),
        ("status", "code", "1..1", None),
        ("modality", "CodeableConcept", "0..*", None),
        ("subject", "Reference", "1..1", ["Patient", "Device", "Group"]),
        ("encounter", "Reference", "0..1", ["Encounter"]),
        ("started", "dateTime", "0..1", None),
        ("basedOn", "Reference", "0..*", ["CarePlan", "ServiceRequest", "Appointment", "Task"]),
        ("procedure", "Reference", "0..*", ["Procedure"]),
        ("referrer", "Reference", "0..1", ["Practitioner", "PractitionerRole"]),
        ("endpoint", "Reference", "0..*", ["Endpoint"]),
        ("location", "Reference", "0..1", ["Location"]),
        ("reason", "CodeableReference", "0..*", ["Condition", "Observation", "DiagnosticReport", "DocumentReference"]),
        ("note", "Annotation", "0..*", None),
        ("description", "string", "0..1", None),
        ("numberOfSeries", "unsignedInt", "0..1", None),
        ("numberOfInstances", "unsignedInt", "0..1", None),
        ("series", "BackboneElement", "0..*", None),
    ],
    "ImagingStudy.series": [
        ("uid", "id", "1..1", None),
        ("number", "unsignedInt", "0..1", None),
        ("modality", "CodeableConcept", "1..1", None),
        ("description", "string", "0..1", None),
        ("numberOfInstances", "unsignedInt", "0..1", None),
        ("endpoint", "Reference", "0..*", ["Endpoint"]),
        ("bodySite", "CodeableReference", "0..1", ["BodyStructure"]),
        ("specimen", "Reference", "0..*", ["Specimen"]),
        ("started", "dateTime", "0..1", None),
        ("performer", "BackboneElement", "0..*", None),
        ("instance", "BackboneElement", "0..*", None),
    ],
    "ImagingStudy.series.performer": [
        ("function", "CodeableConcept", "0..1", None),
        ("actor", "Reference", "1..1", ["Practitioner", "PractitionerRole", "Organization", "CareTeam",
                                        "Patient", "Device", "RelatedPerson", "HealthcareService"]),
    ],
    "ImagingStudy.series.instance": [
        ("uid", "id", "1..1", None),
        ("sopClass", "oid", "1..1", None),
        ("number", "unsignedInt", "0..1", None),
        ("title", "string", "0..1", None),
    ],
}
# The one required code binding (004: "registered | available | cancelled | entered-in-error |
# unknown | inactive", binding required:imagingstudy-status).
IMAGINGSTUDY_R6_STATUS = ["registered", "available", "cancelled", "entered-in-error", "unknown", "inactive"]

# 004, constraints of the ImagingStudy root element (all seven are declared there).
IMAGINGSTUDY_R6_INVARIANTS = [
    ("ist-1", "series SHALL only be present if an identifier is present with a system of urn:dicom:uid",
     "series.exists() implies identifier.where(system = 'urn:dicom:uid').exists()"),
    ("ist-2", "At most, a single identifier SHALL be present with a system of urn:dicom:uid",
     "identifier.where(system = 'urn:dicom:uid').count() < 2"),
    ("ist-3", "If numberOfSeries and series are both present, the numberOfSeries value SHALL match the number of series elements",
     "numberOfSeries.exists() and series.exists() implies numberOfSeries = series.count()"),
    ("ist-4", "If numberOfInstances and series.instance are both present, the numberOfInstances value SHALL match the total number of series.instance elements",
     "numberOfInstances.exists() and series.exists() implies numberOfInstances = series.instance.count()"),
    ("ist-5", "If numberOfInstances and series.numberOfInstances are both present, the numberOfInstances value SHALL be the sum of the series.numberOfInstance values.",
     "numberOfInstances.exists() and series.numberOfInstances.exists() implies numberOfInstances = series.numberOfInstances.aggregate($total + $this.toInteger(), 0)"),
    ("ist-6", "For each series element, if numberOfInstances and instance are both present, the numberOfInstances value SHALL match the number of instance elements",
     "series.where(numberOfInstances.empty() or instance.empty() or numberOfInstances = instance.count()).count() = series.count()"),
    ("ist-7", "If modality is present, modality SHALL equal all of the distinct values of series.modality",
     "modality.exists() implies modality.coding.select(system&'|'&code).trace('r').exclude(series.modality.coding.select(system&'|'&code).trace('c')).empty() and modality.text.exclude(series.modality.text).empty() and series.modality.coding.select(system&'|'&code).trace('r').exclude(modality.coding.select(system&'|'&code).trace('c')).empty() and series.modality.text.exclude(modality.text).empty()"),
]
IST4_NOTE = ("The expression disagrees with the human text (and with HL7's test ist-4.p1.pass.json): it "
             "tests series.exists() where the text says series.instance, so a study whose series list no "
             "instances but which states numberOfInstances fails it. Follow the text (DESIGN.md): "
             "see expressionPerText.")
IST4_EXPRESSION_PER_TEXT = ("numberOfInstances.exists() and series.instance.exists() implies "
                            "numberOfInstances = series.instance.count()")


def imagingstudy_r6_types(types: Types) -> Types:
    """The R6 ImagingStudy types from the seed table, with the inherited elements of this build."""
    result: Types = {}
    for key, rows in IMAGINGSTUDY_R6.items():
        is_root = key == "ImagingStudy"
        base = types["DomainResource" if is_root else "BackboneElement"]["elements"]
        elements = [dict(e) for e in base]
        for name, type_, card, targets in rows:
            min_, max_ = card.split("..")
            binding = IMAGINGSTUDY_R6_STATUS if (key, name) == ("ImagingStudy", "status") else None
            types_ = [f"{key}.{name}" if type_ == "BackboneElement" else type_]
            elements.append(make_element(name, types_, int(min_), max_, binding=binding, targets=targets))
        result[key] = ({"kind": "resource", "base": "DomainResource", "elements": elements} if is_root
                       else {"kind": "backbone", "elements": elements})
    return result


def imagingstudy_r6_invariants() -> list[dict]:
    invariants = []
    for key, human, expression in IMAGINGSTUDY_R6_INVARIANTS:
        invariant = {"key": key, "on": "ImagingStudy", "severity": "error", "human": human, "expression": expression}
        if key == "ist-4":
            invariant["note"] = IST4_NOTE
            invariant["expressionPerText"] = IST4_EXPRESSION_PER_TEXT
        invariants.append(invariant)
    return invariants


def seed_file(seeds: Path, prefix: str) -> str:
    (path,) = seeds.glob(prefix + "_*.txt")
    return path.read_text(encoding="utf-8")


def seed_004_elements(text: str) -> dict[str, dict]:
    """``## ImagingStudy.x`` sections of seed 004: cardinality, type, targets, short text."""
    elements = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        path, _, body = section.partition("\n")
        card = re.search(r"\*\*Cardinality:\*\* (\S+)", body)
        type_ = re.search(r"\*\*Type:\*\* (.*)", body)
        if not type_ or not card:
            continue
        type_text = type_.group(1)
        elements[path.strip()] = {
            "card": card.group(1),
            "type": re.match(r"\[?(\w+)", type_text).group(1),
            "targets": re.findall(r"\[(\w+)\]", type_text.partition("(")[2]) or None,
            "short": body.strip().partition("\n")[0],
        }
    return elements


def seed_001_elements(text: str) -> dict[str, dict]:
    """Element blocks of seed 001 (a flattened table): cardinality, type, targets."""
    flat = " ".join(text.split())
    elements = {}
    for block in flat.split("| Element Id |")[1:]:
        path = block.split("|", 1)[0].strip()
        card = re.search(r"\| Cardinality \| (\S+) \|", block)
        type_ = re.search(r"\| Type \| (\w+)(?: \( ([^)]*) \))? \|", block)
        if path and card:
            elements[path] = {
                "card": card.group(1),
                "type": type_.group(1) if type_ else "BackboneElement",
                "targets": [t.strip() for t in type_.group(2).split("|")] if type_ and type_.group(2) else None,
            }
    return elements


def check_imagingstudy_against_seeds(seeds: Path) -> list[str]:
    """Every difference between IMAGINGSTUDY_R6 (+ status codes, invariants) and the seed text."""
    s004 = seed_004_elements(seed_file(seeds, "004"))
    s001 = seed_001_elements(seed_file(seeds, "001"))
    problems = []
    table = {f"{key}.{name}": (type_, card, targets)
             for key, rows in IMAGINGSTUDY_R6.items() for name, type_, card, targets in rows}
    for path in sorted(set(table) | set(s004) - {"ImagingStudy"}):
        if path not in table:
            problems.append(f"{path}: in seed 004 but not in IMAGINGSTUDY_R6")
            continue
        type_, card, targets = table[path]
        seen = s004.get(path)
        if seen is None:
            problems.append(f"{path}: not in seed 004")
            continue
        if (seen["type"], seen["card"]) != (type_, card):
            problems.append(f"{path}: table {type_} {card}, seed 004 {seen['type']} {seen['card']}")
        # 004 lists Reference targets; 001 also those of CodeableReference (absent from 004).
        seed_targets = seen["targets"] if type_ == "Reference" else s001.get(path, {}).get("targets")
        if type_ in ("Reference", "CodeableReference") and seed_targets != targets:
            problems.append(f"{path}: targets {targets}, seeds {seed_targets}")
        in_001 = s001.get(path)
        if in_001 and (in_001["type"], in_001["card"]) != (type_, card):
            problems.append(f"{path}: table {type_} {card}, seed 001 {in_001['type']} {in_001['card']}")
    status_short = s004["ImagingStudy.status"]["short"]
    if status_short.split(" | ") != IMAGINGSTUDY_R6_STATUS:
        problems.append(f"status codes {IMAGINGSTUDY_R6_STATUS}, seed 004 says {status_short!r}")
    constraints = re.search(r"^## ImagingStudy\n.*?\*\*Constraints:\*\* ([^\n]*)", seed_file(seeds, "004"), re.M | re.S)
    seed_invariants = [tuple(part.split(" | ")) for part in re.split(r"; (?=ist-\d)", constraints.group(1))]
    ours = [(k, "error", h, x) for k, h, x in IMAGINGSTUDY_R6_INVARIANTS]
    if seed_invariants != ours:
        problems.append("invariants differ from seed 004's ImagingStudy constraints")
    return problems


# --------------------------------------------------------------------------- consistency

def check_type_references(label: str, doc: dict) -> None:
    """Every element type must be a primitive or a type of the same file."""
    known = set(doc["primitives"]) | set(doc["types"])
    missing = sorted({f"{key}.{e['name']}: {code}" for key, t in doc["types"].items()
                      for e in t["elements"] for code in e["types"] if code not in known})
    if missing:
        raise SystemExit(f"{label}: element types that are not defined: {missing[:20]}")


# --------------------------------------------------------------------------- building each version

@dataclass
class Sources:
    spec: Path
    seeds: Path

    def r4_package(self):
        return read_package(self.spec / "r4" / "hl7.fhir.r4.core-4.0.1.tgz",
                            ("StructureDefinition", "ValueSet", "CodeSystem"))

    def r5_sds(self):
        return read_package(self.spec / "r5" / "hl7.fhir.r5.core-5.0.0-structuredefinitions.tgz")[
            "StructureDefinition"]

    def r6_sds(self):
        return read_bundle_structure_definitions(self.spec / "r6" / "profiles-types.json.gz")

    def schema(self, version: str):
        return read_schema_definitions(self.spec / version / "fhir.schema.json.gz")


@dataclass
class Build:
    """All three documents plus what the cross-checks found, for --report."""
    docs: dict = field(default_factory=dict)
    notes: dict = field(default_factory=lambda: defaultdict(list))


def build_from_structure_definitions(version: str, fhir_version: str, generated_from: str, sds: dict,
                                     schema: dict, code_lists: CodeLists, build: Build) -> dict:
    stats = BindingStats()
    doc = {
        "fhirVersion": fhir_version,
        "generatedFrom": generated_from,
        "primitives": primitives_from_structure_definitions(sds, schema),
        "types": types_from_structure_definitions(sds, code_lists, stats),
    }
    build.notes[version].append(f"required code bindings: {stats.with_codes} with codes, "
                                f"{len(stats.without_codes)} without a code list (omitted)")
    if stats.codes_but_not_required:
        build.notes[version].append(f"code lists on elements whose binding is not required (ignored): "
                                    f"{stats.codes_but_not_required}")
    return doc


def build_all(sources: Sources) -> Build:
    build = Build()
    r4_package = sources.r4_package()
    r4_schema = sources.schema("r4")
    r4_codes = value_set_code_lists(r4_package)
    build.notes["r4"].append(f"value set expansions vs schema enums: {compare_code_lists(r4_codes, schema_code_lists(r4_schema))}")
    build.docs["r4"] = build_from_structure_definitions(
        "r4", "4.0.1",
        "hl7.fhir.r4.core-4.0.1.tgz: StructureDefinition snapshots; required code bindings expanded "
        "from its ValueSets and CodeSystems",
        r4_package["StructureDefinition"], r4_schema, r4_codes, build)

    r5_sds = sources.r5_sds()
    r5_schema = sources.schema("r5")
    r5_codes = xsd_code_lists(sources.spec / "r5" / "hl7.fhir.r5.core-5.0.0-xsd.tgz")
    build.notes["r5"].append(f"XSD code lists contradicting the element's short text, left out: "
                             f"{drop_code_lists_contradicting_short(r5_codes, r5_sds)}")
    r5 = build.docs["r5"] = build_from_structure_definitions(
        "r5", "5.0.0",
        "hl7.fhir.r5.core-5.0.0: StructureDefinition snapshots; required code bindings from the "
        "enumerations of the 5.0.0 XSDs where consistent with the element's short text",
        r5_sds, r5_schema, r5_codes, build)

    build.docs["r6"] = build_r6(sources, r5, r5_schema, build)
    for label, doc in build.docs.items():
        check_type_references(label, doc)
    return build


def build_r6(sources: Sources, r5: dict, r5_schema: dict, build: Build) -> dict:
    schema = sources.schema("r6")
    stats = BindingStats()
    sds = sources.r6_sds()
    datatypes = types_from_structure_definitions(sds, schema_code_lists(schema), stats)
    primitives = primitives_from_structure_definitions(sds, schema)

    resources = types_from_schema(schema, schema_resource_names(schema), list(primitives), datatypes, r5["types"])
    r5_schema_types = types_from_schema(
        r5_schema, schema_resource_names(r5_schema), list(r5["primitives"]), r5["types"], r5["types"])
    fixes = fix_canonical_resources(resources, r5["types"], r5_schema_types)
    build.notes["r6"].append(f"dropped as invented by the schema generator (R5 schema has them, "
                             f"R5 SD does not): {fixes.dropped}")
    build.notes["r6"].append(f"reordered like R5: {fixes.reordered}")
    kept = sorted(misordered_types(resources, r5["types"]) - {"ImagingStudy"})
    build.notes["r6"].append(f"order differs from R5 but kept (R5 schema orders them right, so taken "
                             f"as real R6 changes): {kept}")

    for key in [k for k in resources if k == "ImagingStudy" or k.startswith("ImagingStudy.")]:
        del resources[key]
    resources.update(imagingstudy_r6_types({**datatypes, **resources}))
    if sources.seeds.is_dir():
        problems = check_imagingstudy_against_seeds(sources.seeds)
        if problems:
            raise SystemExit("IMAGINGSTUDY_R6 disagrees with the seeds:\n  " + "\n  ".join(problems))
        build.notes["r6"].append("ImagingStudy table agrees with seeds 001 and 004")
    else:
        build.notes["r6"].append(f"seeds not found at {sources.seeds}: ImagingStudy table not re-checked")

    return {
        "fhirVersion": "6.0.0-ballot3",
        "generatedFrom": "R6 CI build 6.0.0-ballot2 (2025-08-08): datatypes from profiles-types.json "
                         "snapshots, resources from fhir.schema.json (canonical resources re-ordered "
                         "like R5); ImagingStudy from the 6.0.0-ballot3 seed definitions",
        "primitives": primitives,
        "types": {**datatypes, **resources},
        "invariants": {"ImagingStudy": imagingstudy_r6_invariants()},
    }


# --------------------------------------------------------------------------- the R4 method check

def compare_types(expected: Types, actual: Types, keys) -> list[tuple[str, str, object, object]]:
    """(path, what, expected, actual) for every difference between two type sets."""
    diffs = []
    for key in keys:
        if key not in actual or key not in expected:
            diffs.append((key, "type missing", key in expected, key in actual))
            continue
        e_elements = {e["name"]: e for e in expected[key]["elements"]}
        a_elements = {e["name"]: e for e in actual[key]["elements"]}
        if list(e_elements) != list(a_elements):
            diffs.append((key, "element names/order", list(e_elements), list(a_elements)))
        for name in e_elements.keys() & a_elements.keys():
            for prop in ("types", "min", "max", "choice"):
                want, got = e_elements[name].get(prop), a_elements[name].get(prop)
                if want != got:
                    diffs.append((f"{key}.{name}", prop, want, got))
    return diffs


def explain_difference(diff, sd_types: Types, rebuilt: Types, primitives: dict) -> str | None:
    """Why a schema reconstruction differs from the snapshot, or None if unexplained."""
    path, what, want, got = diff
    if what == "element names/order" and expand_choices(rebuilt[path]["elements"]) == want:
        return ("ordinary elements named like choice variants, all of complex type: the schema "
                "cannot tell them from a choice (the R6 build asks R5's definition)")
    key, _, name = path.rpartition(".")
    element = next((e for e in sd_types.get(key, {}).get("elements", []) if e["name"] == name), None)
    if element is None:
        return None
    if what == "min" and want == 1 and got == 0:
        if element.get("choice"):
            return "required choice: JSON schema cannot require one of several properties"
        if all(t in primitives for t in element["types"]):
            return "required primitive: the schema does not require it (it may be present as _x only)"
    if what == "max" and want not in ("1", "*"):
        return f"max {want}: the schema only knows array or not"
    if what == "types" and path.endswith(".id") and want == ["string"] and got == ["id"]:
        return "Resource.id: the R4 snapshot types it string (fhir-type extension), the schema id"
    return None


def expand_choices(elements: list[dict]) -> list[str]:
    return [name for e in elements for name in (
        [e["name"] + upper_first(t) for t in e["types"]] if e.get("choice") else [e["name"]])]


def r4_schema_reconstruction(sources: Sources, r4: dict) -> tuple[list, list]:
    """Run the R6 resource method on the R4 schema and compare with the R4 snapshots."""
    schema = sources.schema("r4")
    roots = schema_resource_names(schema)
    rebuilt = types_from_schema(schema, roots, list(r4["primitives"]), r4["types"])
    sd_types = r4["types"]
    keys = sorted({k for k in rebuilt} | {k for k, t in sd_types.items()
                                           if k.split(".")[0] in roots or k in ("Resource", "DomainResource")})
    diffs = compare_types(sd_types, rebuilt, keys)
    explained, unexplained = [], []
    for diff in diffs:
        why = explain_difference(diff, sd_types, rebuilt, r4["primitives"])
        (explained if why else unexplained).append((diff, why))
    return explained, unexplained


def compare_code_lists(ours: CodeLists, other: CodeLists) -> str:
    """Summary of how two sources of code lists agree (the first is the one used)."""
    flat = lambda lists: {f"{k}.{n}": c for k, d in lists.items() for n, c in d.items()}
    a, b = flat(ours), flat(other)
    conflicts = sorted(p for p in a.keys() & b.keys() if set(a[p]) != set(b[p]))
    return (f"{len(a.keys() & b.keys()) - len(conflicts)} agree, {len(conflicts)} conflict {conflicts}, "
            f"{len(a.keys() - b.keys())} only in ours, {len(b.keys() - a.keys())} only in the other "
            f"{sorted(b.keys() - a.keys())}")


def report(build: Build, sources: Sources) -> None:
    for label, doc in build.docs.items():
        kinds = defaultdict(int)
        for t in doc["types"].values():
            kinds[t["kind"] + (" (abstract)" if t.get("abstract") else "")] += 1
        print(f"{label}: {len(doc['primitives'])} primitives, {dict(sorted(kinds.items()))}")
        for note in build.notes[label]:
            print(f"  {note}")
    explained, unexplained = r4_schema_reconstruction(sources, build.docs["r4"])
    print(f"\nR4 schema reconstruction vs R4 snapshots: {len(explained)} explained, "
          f"{len(unexplained)} unexplained differences")
    by_reason = defaultdict(list)
    for diff, why in explained:
        by_reason[why].append(diff[0])
    for why, paths in by_reason.items():
        print(f"  {len(paths):4d} x {why}: {', '.join(paths[:6])}{', ...' if len(paths) > 6 else ''}")
    for diff, _ in unexplained:
        print(f"  UNEXPLAINED {diff}")


# --------------------------------------------------------------------------- output

def render(doc: dict) -> str:
    """Compact JSON with one primitive / type / invariant list per line."""
    def dumps(value):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    parts = []
    for key, value in doc.items():
        if key in ("primitives", "types", "invariants"):
            lines = ",\n".join(f"{dumps(name)}:{dumps(entry)}" for name, entry in sorted(value.items()))
            parts.append(f"{dumps(key)}:{{\n{lines}\n}}")
        else:
            parts.append(f"{dumps(key)}:{dumps(value)}")
    return "{" + ",\n".join(parts) + "}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC, help="the shared/spec directory")
    parser.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS, help="the shared/seeds directory")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="where r4/r5/r6.json go")
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing")
    parser.add_argument("--report", action="store_true", help="print counts and the cross-checks")
    args = parser.parse_args(argv)
    if not args.spec.is_dir():
        print(f"gen_definitions: spec directory {args.spec} not found", file=sys.stderr)
        return 2

    sources = Sources(args.spec, args.seeds)
    build = build_all(sources)
    if args.report:
        report(build, sources)
    stale = []
    for label, doc in build.docs.items():
        path = args.out / f"{label}.json"
        text = render(doc)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
    if stale:
        print("gen_definitions: out of date (run tools/gen_definitions.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
