"""Engine behaviour that the golden cases do not show: strict mode, invalid input, threads, purity."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fhirconv.definitions import load
from fhirconv.errors import MigrationError, StructureError
from fhirconv.fidelity import compare, roundtrip
from fhirconv.formats.json import parse_json
from fhirconv.migrate import migrate_reported, migrate_resource
from fhirconv.tree import Primitive
from fhirconv.validation import reference_type
from migration_cases import CASES_DIR, load_cases, read_tree

R4, R6 = load("R4"), load("R6")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SIIM = FIXTURES / "r4" / "third-party" / "siim-hackathon-imaging_study-159774597.json"


def _tree(path: Path, defs=R4) -> dict:
    return read_tree(path, defs)


def _actions(outcome):
    return [(i["details"]["coding"][0]["code"], where) for i in outcome["issue"] if "details" in i
            for where in i["expression"]]


def test_strict_refuses_anything_but_a_copy_and_carries_the_report():
    tree = _tree(FIXTURES / "r4" / "imagingstudy-example-xr.json")
    with pytest.raises(MigrationError) as caught:
        migrate_resource(tree, source=R4, target=R6, strict=True)
    outcome = caught.value.outcome
    assert outcome["issue"] and all(i["severity"] == "error" for i in outcome["issue"])
    assert ("extension", "ImagingStudy.interpreter") in _actions(outcome)


def test_strict_lets_a_pure_copy_through():
    tree = parse_json(b'{"resourceType": "ImagingStudy", "id": "a", "status": "available",'
                      b' "subject": {"reference": "Patient/p"}, "description": "plain"}', R4)
    result, outcome = migrate_resource(tree, source=R4, target=R6, strict=True)
    assert not compare(tree, result)
    assert [i["severity"] for i in outcome["issue"]] == ["information"]


def test_other_resource_types_pass_through_with_a_warning_and_fail_strict():
    patient = _tree(FIXTURES / "r4" / "patient-example-dicom.json")
    result, outcome = migrate_resource(patient, source=R4, target=R6)
    assert ("passthrough", "Patient") in _actions(outcome)
    assert not compare(patient, result)
    with pytest.raises(MigrationError):
        migrate_resource(patient, source=R4, target=R6, strict=True)


def test_the_input_tree_is_never_modified():
    for case in load_cases():
        original = read_tree(case.input, case.source)
        before = copy.deepcopy(original)
        migrate_resource(original, source=case.source, target=case.target)
        assert not compare(before, original), case.name


def test_same_version_is_returned_as_is_and_unknown_pairs_are_refused():
    tree = _tree(FIXTURES / "r4" / "imagingstudy-example.json")
    result, outcome = migrate_resource(tree, source=R4, target=R4)
    assert result is tree and outcome["issue"][0]["severity"] == "information"
    with pytest.raises(MigrationError, match="no mapping tables"):
        migrate_resource(tree, source=R4, target=load("R5"))


def test_the_invalid_siim_file_is_refused_by_the_codec_with_its_place():
    with pytest.raises(StructureError) as caught:
        parse_json(SIIM.read_bytes(), R4)
    assert caught.value.path == "ImagingStudy.series[0].instance[0].sopClass"
    assert caught.value.line == 55


def _lenient(value):
    """The SIIM JSON as a tree without the codec's checks (numbers as text), to feed the engine bad data."""
    if isinstance(value, dict):
        return {k: _lenient(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lenient(v) for v in value]
    return str(value) if isinstance(value, int) else value


def test_the_invalid_siim_file_gives_a_clear_report_not_a_crash():
    tree = _lenient(json.loads(SIIM.read_bytes()))
    result, outcome = migrate_resource(tree, source=R4, target=R6)
    errors = {(i["code"], i["expression"][0]) for i in outcome["issue"] if i["severity"] == "error"}
    assert ("required", "ImagingStudy.status") in errors
    for n in range(5):
        assert ("structure", f"ImagingStudy.series[{n}].instance[0].sopClass") in errors
    # the bad values are kept where they were, not dropped
    assert result["series"][0]["instance"][0]["sopClass"] == "1.2.840.10008.5.1.4.1.1.20"


def test_an_unknown_element_is_reported_and_kept():
    tree = parse_json(b'{"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p"}}', R4)
    tree["partOf"] = [{"reference": "Procedure/x"}]
    result, outcome = migrate_resource(tree, source=R4, target=R6)
    assert result["partOf"] == tree["partOf"]
    assert any(i["severity"] == "error" and i["expression"] == ["ImagingStudy.partOf"] for i in outcome["issue"])


def test_an_unreadable_cross_version_extension_is_reported_and_the_native_value_wins():
    tree = parse_json(b'{"resourceType": "ImagingStudy", "extension": [{"url": '
                      b'"http://hl7.org/fhir/4.0/StructureDefinition/extension-ImagingStudy.interpreter",'
                      b' "valueString": "not a reference"}], "status": "available", "subject": {"reference": "Patient/p"}}', R6)
    result, outcome = migrate_resource(tree, source=R6, target=R4)
    assert "interpreter" not in result
    assert any(a == "conflict" for a, _ in _actions(outcome))


def test_a_required_reference_to_a_target_r4_lacks_is_an_error_not_a_drop():
    tree = parse_json(b'{"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p"},'
                      b' "series": [{"uid": "1.2", "modality": {"text": "CT"}, "performer": [{"actor":'
                      b' {"reference": "HealthcareService/h"}}]}]}', R6)
    result, outcome = migrate_resource(tree, source=R6, target=R4)
    assert result["series"][0]["performer"][0]["actor"] == {"reference": "HealthcareService/h"}
    assert any(i["severity"] == "error" and i["expression"] == ["ImagingStudy.series[0].performer[0].actor"]
               for i in outcome["issue"])


def test_status_extensions_on_the_primitive_survive_translation():
    tree = parse_json(b'{"resourceType": "ImagingStudy", "status": "inactive", "_status": {"id": "s1"},'
                      b' "subject": {"reference": "Patient/p"}}', R6)
    result, outcome = migrate_resource(tree, source=R6, target=R4)
    assert result["status"] == Primitive("unknown", "s1")
    assert ("downgraded", "ImagingStudy.status") in _actions(outcome)
    assert "modifier" in next(i["diagnostics"] for i in outcome["issue"]
                              if i["details"]["coding"][0]["code"] == "downgraded")
    back, _ = migrate_resource(result, source=R4, target=R6)
    assert not compare(tree, back)


@pytest.mark.parametrize("ref, expected", [
    ({"reference": "Media/m1"}, "Media"),
    ({"reference": "http://example.org/fhir/Media/m2/_history/3"}, "Media"),
    ({"reference": "#m1"}, "Media"),
    ({"reference": "#missing"}, None),
    ({"reference": "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0"}, None),
    ({"type": "Condition", "identifier": {"value": "x"}}, "Condition"),
    ({"type": "http://hl7.org/fhir/StructureDefinition/Observation"}, "Observation"),
    ({"display": "just text"}, None),
])
def test_reference_types_are_told_from_type_literal_or_contained(ref, expected):
    resource = {"contained": [{"resourceType": "Media", "id": "m1"}]}
    assert reference_type(ref, resource) == expected


def test_a_contained_media_in_reasonreference_goes_to_an_extension_and_the_media_is_an_error():
    tree = parse_json(b'{"resourceType": "ImagingStudy", "contained": [{"resourceType": "Media", "id": "m1",'
                      b' "status": "completed", "content": {"url": "http://example.org/a.jpg"}}],'
                      b' "status": "available", "subject": {"reference": "Patient/p"},'
                      b' "reasonReference": [{"reference": "#m1"}]}', R4)
    result, outcome = migrate_resource(tree, source=R4, target=R6)
    assert "reason" not in result
    assert ("extension", "ImagingStudy.reasonReference") in _actions(outcome)
    # R6 has no Media: the contained resource is kept as it was and the report says it cannot be R6
    assert result["contained"] == tree["contained"]
    assert any(i["severity"] == "error" and i["code"] == "not-supported" and i["expression"] == ["ImagingStudy.contained[0]"]
               for i in outcome["issue"])


def test_migration_is_thread_safe_and_deterministic():
    cases = [(read_tree(c.input, c.source), c) for c in load_cases()]

    def run(_):
        return [migrate_resource(tree, source=c.source, target=c.target) for tree, c in cases]
    reference = run(0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        for results in pool.map(run, range(16)):
            for (out, outcome), (ref_out, ref_outcome) in zip(results, reference):
                assert not compare(out, ref_out)
                assert outcome == ref_outcome


def test_roundtrip_helper_reports_an_empty_diff_for_a_lossless_trip():
    trip = roundtrip(_tree(FIXTURES / "r4" / "imagingstudy-example-xr.json"), source=R4, via=R6)
    assert trip.identical and trip.there["resourceType"] == "ImagingStudy"
    edited = copy.deepcopy(trip.there)
    edited["description"] = "changed"
    assert compare(trip.there, edited)


@pytest.mark.parametrize("case", load_cases(), ids=str)
def test_the_report_answers_what_its_outcome_says(case):
    # A bulk run without --report reads the first error and the warning count off the Report and
    # never builds the OperationOutcome: both must say what the outcome says, on every golden case.
    tree = read_tree(case.input, case.source)
    result, outcome = migrate_resource(tree, source=case.source, target=case.target)
    same, report = migrate_reported(tree, source=case.source, target=case.target)
    assert same == result
    assert report.outcome() == outcome
    assert report.warnings == sum(1 for issue in outcome["issue"] if issue["severity"] == "warning")
    errors = [(issue["expression"][0], issue["diagnostics"]) for issue in outcome["issue"]
              if issue["severity"] == "error"]
    assert report.first_error() == (errors[0] if errors else None)
