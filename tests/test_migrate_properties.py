"""Property tests: generated valid R4 -> valid R6 -> the same R4, and generated valid R6 -> valid R4 -> the same R6.

The generators build trees directly (primitives as text, Primitive where an id or extensions
ride along) and aim at the awkward parts: modality lists that differ from the series, counts that
disagree with the elements given, interpreter / procedureCode / laterality, sopClass displays and
other systems, references to targets the other version does not allow, extensions on primitives,
contained resources; on the R6 side inactive status, several procedures, CodeableConcept text and
extra codings, bodySite references, reasons with both parts or in an order R4 cannot keep.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirconv.definitions import load
from fhirconv.fidelity import compare
from fhirconv.migrate import migrate_resource
from fhirconv.tree import Primitive
from fhirconv.validation import distinct_series_modalities, validate

R4, R6 = load("R4"), load("R6")
DCM = "http://dicom.nema.org/resources/ontology/DCM"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

count = st.integers(0, 12).map(str)
word = st.sampled_from(["a", "left knee", "Übersicht", "CT Chest", "x y"])
ext = st.builds(lambda url, v: {"url": f"http://example.org/fhir/StructureDefinition/{url}", "valueString": v},
                st.sampled_from(["note", "source"]), word)


def with_extras(text_strategy):
    """A primitive, sometimes carrying an id and/or extensions (one tree node either way)."""
    return st.one_of(text_strategy, st.builds(
        lambda v, i, e: Primitive(v, i, e or None), text_strategy,
        st.one_of(st.none(), st.just("p1")), st.lists(ext, max_size=2)).filter(lambda p: p.id or p.extension))


def ref(*types):
    return st.builds(lambda t, n: {"reference": f"{t}/{n}"}, st.sampled_from(types), st.sampled_from(["1", "b-2"]))


modality_coding = st.builds(lambda c: {"system": DCM, "code": c}, st.sampled_from(["CT", "MR", "DX", "US", "KO"]))
coding = st.builds(lambda s, c, d: {"system": s, "code": c, **({"display": d} if d else {})},
                   st.sampled_from(["http://snomed.info/sct", "http://www.radlex.org"]),
                   st.sampled_from(["123", "RPID5"]), st.one_of(st.none(), word))
concept = st.one_of(st.builds(lambda t: {"text": t}, word),
                    st.builds(lambda c, t: {"coding": c, **({"text": t} if t else {})},
                              st.lists(coding, min_size=1, max_size=2), st.one_of(st.none(), word)))
OID = "urn:oid:1.2.840.10008.5.1.4.1.1.2"
sop_class_r4 = st.one_of(
    st.just({"system": "urn:ietf:rfc:3986", "code": OID}),
    st.builds(lambda d: {"system": "urn:ietf:rfc:3986", "code": OID, "display": d}, word),
    st.just({"system": "http://dicom.nema.org/resources/CodeSystem/DICOM_UIDs", "code": OID}),
    st.just({"system": "urn:ietf:rfc:3986", "code": OID[len("urn:oid:"):]}),            # a bare OID
    st.builds(lambda c: {"system": "urn:ietf:rfc:3986", "code": c}, with_extras(st.just(OID))),
)


def optional(d: dict) -> dict:
    return {k: v for k, v in d.items() if v not in (None, [])}


@st.composite
def r4_series(draw, n):
    instances = draw(st.lists(st.builds(lambda i, s, num, t: optional(
        {"uid": f"1.2.3.{n}.{i}", "sopClass": s, "number": num, "title": t}),
        st.integers(1, 999), sop_class_r4, st.one_of(st.none(), count), st.one_of(st.none(), word)),
        max_size=3, unique_by=lambda i: i["uid"]))
    return optional({
        "extension": draw(st.lists(ext, max_size=1)),
        "uid": f"1.2.3.{n}",
        "number": draw(st.one_of(st.none(), count)),
        "modality": draw(modality_coding),
        "description": draw(st.one_of(st.none(), with_extras(word))),
        "numberOfInstances": draw(st.one_of(st.none(), count)),
        "bodySite": draw(st.one_of(st.none(), coding)),
        "laterality": draw(st.one_of(st.none(), coding)),
        "performer": draw(st.lists(st.builds(lambda a: {"actor": a}, ref("Practitioner", "Device")), max_size=1)),
        "instance": instances,
    })


@st.composite
def r4_imaging_study(draw):
    series = [draw(r4_series(n)) for n in range(draw(st.integers(0, 3)))]
    contained = draw(st.lists(st.just({"resourceType": "Practitioner", "id": "reader", "name": [{"family": "R"}]}),
                              max_size=1))
    return optional({
        "resourceType": "ImagingStudy",
        "id": draw(st.one_of(st.none(), st.just("gen"))),
        "contained": contained,
        "extension": draw(st.lists(ext, max_size=1)),
        "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.3"}] + draw(
            st.lists(st.just({"system": "http://example.org/acsn", "value": "A1"}), max_size=1)),
        "status": draw(with_extras(st.sampled_from(["registered", "available", "cancelled", "entered-in-error",
                                                    "unknown"]))),
        "modality": draw(st.lists(modality_coding, max_size=3)),
        "subject": draw(ref("Patient", "Device", "Group")),
        "started": draw(st.one_of(st.none(), with_extras(st.just("2020-01-02")))),
        "basedOn": draw(st.lists(ref("ServiceRequest", "AppointmentResponse"), max_size=2)),
        "interpreter": draw(st.lists(st.one_of(ref("Practitioner"), st.just({"reference": "#reader"}))
                                     if contained else ref("Practitioner"), max_size=2)),
        "numberOfSeries": draw(st.one_of(st.none(), with_extras(count))),
        "numberOfInstances": draw(st.one_of(st.none(), count)),
        "procedureReference": draw(st.one_of(st.none(), ref("Procedure"))),
        "procedureCode": draw(st.lists(concept, max_size=2)),
        "reasonCode": draw(st.lists(concept, max_size=2)),
        "reasonReference": draw(st.lists(ref("Condition", "Media", "Observation"), max_size=3)),
        "description": draw(st.one_of(st.none(), word)),
        "series": series,
    })


@SETTINGS
@given(r4_imaging_study())
def test_valid_r4_becomes_valid_r6_and_comes_back_unchanged(study):
    assert validate(study, R4) == []
    r6, _ = migrate_resource(study, source=R4, target=R6)
    assert validate(r6, R6) == []
    back, _ = migrate_resource(r6, source=R6, target=R4)
    assert not compare(study, back)


cc_modality = st.one_of(
    st.builds(lambda c: {"coding": [c]}, modality_coding),
    st.builds(lambda c, t: {"coding": [c, {"system": "http://example.org/local", "code": "L"}], "text": t},
              modality_coding, word),
    st.builds(lambda t: {"text": t}, st.sampled_from(["CT", "PET"])),
)
codeable_reference = st.one_of(
    st.builds(lambda c: {"concept": c}, concept),
    st.builds(lambda r: {"reference": r}, ref("Condition", "Observation")),
    st.builds(lambda c, r: {"concept": c, "reference": r}, concept, ref("DiagnosticReport")),
    st.builds(lambda c: {"id": "r", "extension": [{"url": "http://example.org/x", "valueCode": "k"}], "concept": c},
              concept),
)


@st.composite
def r6_series(draw, n):
    instances = draw(st.lists(st.builds(lambda i, s: {"uid": f"1.2.3.{n}.{i}", "sopClass": s},
                                        st.integers(1, 999), with_extras(st.just(OID))),
                              max_size=3, unique_by=lambda i: i["uid"]))
    number = str(len(instances)) if instances and draw(st.booleans()) else draw(st.one_of(st.none(), count)) \
        if not instances else None
    return optional({
        "uid": f"1.2.3.{n}",
        "modality": draw(cc_modality),
        "numberOfInstances": number,
        "bodySite": draw(st.one_of(st.none(), st.builds(lambda c: {"concept": c}, concept),
                                   st.builds(lambda r: {"reference": r}, ref("BodyStructure")))),
        "performer": draw(st.lists(st.builds(lambda a: {"actor": a}, ref("Practitioner", "Organization")), max_size=1)),
        "instance": instances,
    })


@st.composite
def r6_imaging_study(draw):
    # HealthcareService actors are left out: R4 cannot hold them (an error the engine reports; see
    # test_migrate_engine.py), so a round trip from such R6 data is not expected to be valid R4.
    series = [draw(r6_series(n)) for n in range(draw(st.integers(0, 3)))]
    modality = None
    if series and draw(st.booleans()):
        modality = distinct_series_modalities(series)
    study = optional({
        "resourceType": "ImagingStudy",
        "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:1.2.3"}],
        "status": draw(with_extras(st.sampled_from(["available", "inactive", "unknown", "registered"]))),
        "modality": modality,
        "subject": draw(ref("Patient", "Group")),
        "basedOn": draw(st.lists(ref("ServiceRequest", "Task"), max_size=2)),
        "procedure": draw(st.lists(ref("Procedure"), max_size=3)),
        "reason": draw(st.lists(codeable_reference, max_size=3)),
        "series": series,
    })
    if series and draw(st.booleans()):
        study["numberOfSeries"] = str(len(series))
    return study


@SETTINGS
@given(r6_imaging_study())
def test_valid_r6_becomes_valid_r4_and_comes_back_unchanged(study):
    assert validate(study, R6) == []
    r4, _ = migrate_resource(study, source=R6, target=R4)
    assert validate(r4, R4) == []
    back, _ = migrate_resource(r4, source=R4, target=R6)
    assert not compare(study, back)
