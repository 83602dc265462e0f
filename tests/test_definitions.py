"""The generated per-version definitions (fhirconv/definitions/data/*.json).

Part (a) regenerates them from ../shared/spec and needs that directory; part (b) checks the
committed data on its own, so it runs anywhere fhirconv is installed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path

import pytest

from fhirconv import definitions

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO.parent / "shared" / "spec"
SEEDS = REPO.parent / "shared" / "seeds"
DATA = REPO / "fhirconv" / "definitions" / "data"
VERSIONS = ("r4", "r5", "r6")

ELEMENT_KEYS = {"name", "types", "min", "max", "choice", "attr", "binding", "targets"}
RESOURCE = ["id", "meta", "implicitRules", "language"]
DOMAIN_RESOURCE = RESOURCE + ["text", "contained", "extension", "modifierExtension"]


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_definitions", REPO / "tools" / "gen_definitions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator():
    if not SPEC.is_dir():
        pytest.skip("../shared/spec not present: definitions regeneration check needs the official spec data")
    return load_generator()


@pytest.fixture(scope="module")
def data():
    return {v: json.loads((DATA / f"{v}.json").read_text(encoding="utf-8")) for v in VERSIONS}


def names(doc: dict, key: str) -> list[str]:
    return [e["name"] for e in doc["types"][key]["elements"]]


def element(doc: dict, key: str, name: str) -> dict:
    return next(e for e in doc["types"][key]["elements"] if e["name"] == name)


# --------------------------------------------------------------------------- (a) regeneration

def test_committed_data_equals_a_fresh_run(generator, capsys):
    status = generator.main(["--spec", str(SPEC), "--seeds", str(SEEDS), "--check"])
    assert status == 0, capsys.readouterr().err


def test_r4_schema_method_leaves_only_explained_differences(generator):
    """The R6 resources come from a JSON schema; the same reader, run on the R4 schema, must
    agree with the R4 StructureDefinitions except for the documented limits of a schema."""
    build = generator.build_all(generator.Sources(SPEC, SEEDS))
    explained, unexplained = generator.r4_schema_reconstruction(generator.Sources(SPEC, SEEDS), build.docs["r4"])
    assert unexplained == []
    assert explained, "the comparison found nothing at all: it is probably not comparing"


def test_imagingstudy_table_agrees_with_the_seed_text(generator):
    if not SEEDS.is_dir():
        pytest.skip("../shared/seeds not present")
    assert generator.check_imagingstudy_against_seeds(SEEDS) == []


# --------------------------------------------------------------------------- (b) the committed data

def test_files_are_compact_json_of_the_expected_versions(data):
    assert [data[v]["fhirVersion"] for v in VERSIONS] == ["4.0.1", "5.0.0", "6.0.0-ballot3"]
    for doc in data.values():
        assert doc["generatedFrom"]
        for key, t in doc["types"].items():
            assert t["kind"] in ("resource", "complex", "backbone"), key
            for e in t["elements"]:
                assert set(e) <= ELEMENT_KEYS and {"name", "types", "min", "max"} <= set(e), (key, e)
                assert e.get("choice", True) is True and e.get("attr", True) is True, (key, e)
                assert e["max"] == "*" or e["max"].isdigit(), (key, e)
                assert "[x]" not in e["name"] and len(e["types"]) == len(set(e["types"])), (key, e)


def test_every_element_type_is_defined_in_the_same_file(data):
    for label, doc in data.items():
        known = set(doc["primitives"]) | set(doc["types"])
        undefined = {(k, e["name"], c) for k, t in doc["types"].items() for e in t["elements"]
                     for c in e["types"] if c not in known}
        assert not undefined, (label, sorted(undefined)[:10])


def test_r4_has_the_146_resources_and_the_datatypes(data):
    r4 = data["r4"]
    concrete = [k for k, t in r4["types"].items() if t["kind"] == "resource" and not t.get("abstract")]
    assert len(concrete) == 146
    assert {"Patient", "ImagingStudy", "Bundle", "Parameters", "Binary"} <= set(concrete)
    assert r4["types"]["Resource"]["abstract"] and r4["types"]["DomainResource"]["abstract"]
    complex_ = {k for k, t in r4["types"].items() if t["kind"] == "complex"}
    assert len(complex_) == 41   # 39 concrete + Element and BackboneElement
    assert {"Element", "BackboneElement", "Extension", "Narrative", "Reference", "Meta", "HumanName",
            "Quantity", "Timing", "Dosage", "ElementDefinition"} <= complex_
    assert len(r4["primitives"]) == 20 and not set(r4["primitives"]) & set(r4["types"])
    assert not {"SimpleQuantity", "MoneyQuantity"} & set(r4["types"])   # used as Quantity + profile


def test_primitives_say_how_json_writes_them(data):
    for doc in data.values():
        p = doc["primitives"]
        assert p["boolean"]["json"] == "boolean" and p["boolean"]["regex"] == "true|false"
        assert {p[t]["json"] for t in ("decimal", "integer", "positiveInt", "unsignedInt")} == {"number"}
        assert p["string"]["json"] == p["xhtml"]["json"] == p["code"]["json"] == "string"
    for label in ("r5", "r6"):
        assert data[label]["primitives"]["integer64"]["json"] == "string"
    assert "integer64" not in data["r4"]["primitives"]


def test_patient_name_is_a_list_of_humanname(data):
    for doc in data.values():
        assert element(doc, "Patient", "name") == {"name": "name", "types": ["HumanName"], "min": 0, "max": "*"}
        assert element(doc, "Patient", "contact")["types"] == ["Patient.contact"]
        assert doc["types"]["Patient.contact"]["kind"] == "backbone"


def test_observation_value_is_a_choice_in_definition_order(data):
    value = element(data["r4"], "Observation", "value")
    assert value["choice"] and value["max"] == "1"
    assert value["types"] == ["Quantity", "CodeableConcept", "string", "boolean", "integer", "Range",
                              "Ratio", "SampledData", "time", "dateTime", "Period"]
    for doc in data.values():
        assert "Quantity" in element(doc, "Observation", "value")["types"]
        assert element(doc, "Patient", "deceased")["types"] == ["boolean", "dateTime"]


def test_xml_attributes_are_element_id_and_extension_url_only(data):
    for label, doc in data.items():
        types = doc["types"]
        assert element(doc, "Element", "id").get("attr"), label
        assert element(doc, "Extension", "url").get("attr"), label
        assert element(doc, "ImagingStudy.series", "id").get("attr"), label   # a backbone's id is Element.id
        assert not element(doc, "Resource", "id").get("attr"), label          # Resource.id is an element
        assert not element(doc, "Patient", "id").get("attr"), label
        attrs = {(k, e["name"]) for k, t in types.items() for e in t["elements"] if e.get("attr")}
        assert {name for _, name in attrs} == {"id", "url"}, label
        assert {k for k, name in attrs if name == "url"} == {"Extension"}, label


def test_inherited_elements_come_first(data):
    for label, doc in data.items():
        for key, t in doc["types"].items():
            if t["kind"] == "resource" and key != "Resource":
                assert names(doc, key)[:4] == RESOURCE, (label, key)
                if t.get("base") == "DomainResource":
                    assert names(doc, key)[:8] == DOMAIN_RESOURCE, (label, key)
            elif t["kind"] == "backbone" or key == "HumanName":
                assert names(doc, key)[:2] == ["id", "extension"], (label, key)
        assert names(doc, "Bundle")[:4] == RESOURCE and "text" not in names(doc, "Bundle")


def test_contained_resources_and_content_references(data):
    for doc in data.values():
        assert element(doc, "Patient", "contained")["types"] == ["Resource"]
        assert element(doc, "Bundle.entry", "resource")["types"] == ["Resource"]
        assert element(doc, "Questionnaire.item", "item")["types"] == ["Questionnaire.item"]
        assert element(doc, "Bundle.entry", "request")["types"] == ["Bundle.entry.request"]
        assert element(doc, "Timing", "repeat")["types"] == ["Timing.repeat"]
        assert element(doc, "Narrative", "div") == {"name": "div", "types": ["xhtml"], "min": 1, "max": "1"}
    r4 = data["r4"]
    assert element(r4, "ElementDefinition", "slicing")["types"] == ["ElementDefinition.slicing"]
    assert element(r4, "Parameters.parameter", "part")["types"] == ["Parameters.parameter"]


def test_required_code_bindings_and_reference_targets(data):
    r4 = data["r4"]
    assert element(r4, "ImagingStudy", "status")["binding"] == [
        "registered", "available", "cancelled", "entered-in-error", "unknown"]
    assert element(r4, "CarePlan", "status")["binding"][:2] == ["draft", "active"]
    assert element(r4, "Quantity", "comparator")["binding"] == ["<", "<=", ">=", ">"]
    assert "binding" not in element(r4, "Attachment", "contentType")   # mime types: not enumerable
    assert "binding" not in element(r4, "Patient", "maritalStatus")    # not a code element
    assert element(r4, "ImagingStudy", "subject")["targets"] == ["Patient", "Device", "Group"]
    assert "targets" not in element(r4, "Provenance", "target")        # Reference(Any)
    assert element(data["r5"], "ImagingStudy", "status")["binding"][-1] == "unknown"


def test_r6_imagingstudy_follows_the_seeds(data):
    r6 = data["r6"]
    study = names(r6, "ImagingStudy")
    for gone in ("partOf", "interpreter", "procedureReference", "procedureCode", "reasonCode", "reasonReference"):
        assert gone not in study
    assert element(r6, "ImagingStudy", "procedure") == {
        "name": "procedure", "types": ["Reference"], "min": 0, "max": "*", "targets": ["Procedure"]}
    assert element(r6, "ImagingStudy", "modality") == {
        "name": "modality", "types": ["CodeableConcept"], "min": 0, "max": "*"}
    assert element(r6, "ImagingStudy", "reason")["types"] == ["CodeableReference"]
    assert element(r6, "ImagingStudy", "reason")["max"] == "*"
    assert element(r6, "ImagingStudy", "status")["binding"] == [
        "registered", "available", "cancelled", "entered-in-error", "unknown", "inactive"]
    assert study.index("description") < study.index("numberOfSeries") < study.index("numberOfInstances")
    assert study.index("numberOfInstances") == study.index("series") - 1
    series = names(r6, "ImagingStudy.series")
    assert "laterality" not in series
    assert element(r6, "ImagingStudy.series", "bodySite") == {
        "name": "bodySite", "types": ["CodeableReference"], "min": 0, "max": "1", "targets": ["BodyStructure"]}
    assert element(r6, "ImagingStudy.series", "performer")["types"] == ["ImagingStudy.series.performer"]
    assert element(r6, "ImagingStudy.series.instance", "sopClass")["types"] == ["oid"]
    assert element(r4 := data["r4"], "ImagingStudy.series.instance", "sopClass")["types"] == ["Coding"]
    assert "laterality" in names(r4, "ImagingStudy.series")


def test_r6_imagingstudy_invariants(data):
    invariants = data["r6"]["invariants"]["ImagingStudy"]
    assert [i["key"] for i in invariants] == [f"ist-{n}" for n in range(1, 8)]
    for invariant in invariants:
        assert invariant["on"] == "ImagingStudy" and invariant["human"] and invariant["expression"]
    ist4 = invariants[3]
    assert "series.exists()" in ist4["expression"] and "disagrees" in ist4["note"]
    assert "series.instance.exists()" in ist4["expressionPerText"]
    assert "invariants" not in data["r4"]


def test_r6_canonical_resources_are_repaired(data):
    r6 = data["r6"]
    charge = names(r6, "ChargeItemDefinition")
    for invented in ("effectivePeriod", "topic", "author", "editor", "reviewer", "endorser", "relatedArtifact"):
        assert invented not in charge
    activity = names(r6, "ActivityDefinition")
    assert activity[activity.index("title") + 1] == "subtitle"
    assert activity.index("experimental") < activity.index("subject") < activity.index("date")
    assert names(r6, "ValueSet")[8:11] == ["url", "identifier", "version"]


def test_loading_takes_well_under_a_second():
    for label in ("R4", "R5", "R6"):
        definitions._loaded.pop(label, None)
        start = time.perf_counter()
        defs = definitions.load(label)
        assert time.perf_counter() - start < 1.0
        assert "ImagingStudy" in defs.resource_types
