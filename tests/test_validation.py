"""validate(): structure against the definitions, and the R6 ImagingStudy invariants ist-1..ist-7."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from fhirconv.definitions import load
from fhirconv.formats.json import parse_json
from fhirconv.tree import Primitive
from fhirconv.validation import validate
from migration_cases import read_tree

R4, R6 = load("R4"), load("R6")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

VALID_R4 = ["r4/imagingstudy-example.json", "r4/imagingstudy-example.xml", "r4/imagingstudy-example-xr.json",
            "r4/imagingstudy-example-xr.xml", "r4/third-party/qicore-ImagingStudy-example.json",
            "r4/third-party/ihe-mado-102-bundle.json", "r4/third-party/synthea-ImagingStudy.ndjson",
            "r4/patient-example-dicom.json"]
VALID_R6 = ["r6/imagingstudy-example.source.xml", "r6/invariant-tests/ist-4.p1.pass.json",
            "r6/invariant-tests/ist-6.p1.pass.xml", "r6/invariant-tests/ist-7.p4.pass.xml"]


@pytest.mark.parametrize("name", VALID_R4)
def test_corpus_r4_files_are_valid_r4(name):
    assert validate(read_tree(FIXTURES / name, R4), R4) == []


# HL7's test instances are written to exercise one invariant each; ist-4.p1 has no identifier,
# so it breaks ist-1 (series without a DICOM study UID) while it must pass ist-4.
VALID_R6_EXCEPT = {"r6/invariant-tests/ist-4.p1.pass.json": ["ist-1"]}


@pytest.mark.parametrize("name", VALID_R6)
def test_hl7_r6_pass_instances_pass(name):
    # ist-4.p1.pass.json states numberOfInstances 5 with series but no instances: its FHIRPath
    # (series.exists()) would fail it, its text (series.instance) lets it pass - as HL7 says it must.
    problems = validate(read_tree(FIXTURES / name, R6), R6)
    assert [p["diagnostics"].split(":")[0] for p in problems] == VALID_R6_EXCEPT.get(name, []), problems


BASE_R6 = {
    "resourceType": "ImagingStudy",
    "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.3"}],
    "status": "available",
    "modality": [{"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}]}],
    "subject": {"reference": "Patient/p"},
    "numberOfSeries": "1",
    "numberOfInstances": "2",
    "series": [{"uid": "1.2.3.1", "modality": {"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM",
                                                            "code": "CT"}]},
                "numberOfInstances": "2",
                "instance": [{"uid": "1.2.3.1.1", "sopClass": "urn:oid:1.2.840.10008.5.1.4.1.1.2"},
                             {"uid": "1.2.3.1.2", "sopClass": "urn:oid:1.2.840.10008.5.1.4.1.1.2"}]}],
}


def _with(change) -> dict:
    tree = copy.deepcopy(BASE_R6)
    change(tree)
    return tree


def test_the_base_instance_is_valid():
    assert validate(BASE_R6, R6) == []


@pytest.mark.parametrize("key, change", [
    ("ist-1", lambda t: t.pop("identifier")),
    ("ist-2", lambda t: t["identifier"].append({"system": "urn:dicom:uid", "value": "urn:oid:1.2.4"})),
    ("ist-3", lambda t: t.update(numberOfSeries="3")),
    ("ist-4", lambda t: (t.update(numberOfInstances="3"), t["series"][0].pop("numberOfInstances"))),
    ("ist-5", lambda t: (t["series"][0].pop("instance"), t.update(numberOfInstances="5"))),
    ("ist-6", lambda t: (t["series"][0].update(numberOfInstances="7"), t.pop("numberOfInstances"))),
    ("ist-7", lambda t: t["modality"].append({"coding": [{"system": "http://dicom.nema.org/resources/ontology/DCM",
                                                          "code": "MR"}]})),
    ("ist-7", lambda t: t["modality"][0].update(text="CT")),
    ("ist-7", lambda t: t.update(modality=[{"text": "CT"}]) or t.pop("series")),
])
def test_each_invariant_fails_when_broken(key, change):
    problems = validate(_with(change), R6)
    assert [p["diagnostics"].split(":")[0] for p in problems] == [key], problems


@pytest.mark.parametrize("tree, defs, code, where", [
    ({"resourceType": "ImagingStudy", "subject": {"reference": "Patient/p"}}, R4, "required", "ImagingStudy.status"),
    ({"resourceType": "ImagingStudy", "status": "inactive", "subject": {"reference": "Patient/p"}}, R4,
     "code-invalid", "ImagingStudy.status"),
    ({"resourceType": "ImagingStudy", "status": "available", "subject": [{"reference": "Patient/p"}]}, R4,
     "structure", "ImagingStudy.subject"),
    ({"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p"},
      "partOf": [{"reference": "Procedure/x"}]}, R6, "structure", "ImagingStudy.partOf"),
    ({"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p"},
      "numberOfSeries": "-1"}, R4, "value", "ImagingStudy.numberOfSeries"),
    ({"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p"},
      "basedOn": [{"reference": "AppointmentResponse/a"}]}, R6, "structure", "ImagingStudy.basedOn[0]"),
    ({"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p"},
      "extension": [{"url": "http://x", "valueString": "a", "extension": [{"url": "y", "valueString": "b"}]}]},
     R4, "invariant", "ImagingStudy.extension[0]"),
    ({"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p"},
      "series": [{"uid": "1.2", "modality": {"system": "s", "code": "CT"},
                  "instance": [{"uid": "1.2.1", "sopClass": "1.2.840"}]}]}, R4,
     "structure", "ImagingStudy.series[0].instance[0].sopClass"),
    ({"resourceType": "ImagingStudy", "status": Primitive(None), "subject": {"reference": "Patient/p"}}, R4,
     "invariant", "ImagingStudy.status"),
    ({"resourceType": "Unheard", "id": "x"}, R4, "structure", "Unheard"),
])
def test_structure_problems_are_found_where_they_are(tree, defs, code, where):
    problems = validate(tree, defs)
    assert (code, where) in [(p["code"], p["expression"][0]) for p in problems], problems


def test_invariants_of_a_contained_imagingstudy_are_checked_too():
    outer = parse_json(b'{"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p"}}', R6)
    inner = _with(lambda t: t.update(numberOfSeries="9", id="inner"))
    outer["contained"] = [inner]
    problems = validate(outer, R6)
    assert [(p["diagnostics"].split(":")[0], p["expression"][0]) for p in problems] == [("ist-3", "ImagingStudy.contained[0]")]
