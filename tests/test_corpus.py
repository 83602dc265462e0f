"""Every corpus file (format-edge, r4, r5, r6) round-trips with its own version's definitions.

JSON -> XML -> JSON must give the same JSON values (numbers compared by their text), and
XML -> JSON -> XML the same XML tree (comments and indentation aside). Comments are carried
(``keep_comments``), so the DSTU2-style ``fhir_comments`` of old JSON survive too. The files
that are not valid FHIR are refused with the specific error the test names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fhirconv
from comparing import json_differences, load_json_lexical, xml_differences

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# Not FHIR, or not valid FHIR: each is refused, and the test below says how.
NEGATIVE = {
    "format-edge/unicode-problem.xml", "format-edge/unicode-problem.json",
    "format-edge/firely-all-xml-features.xml", "r4/third-party/siim-hackathon-imaging_study-159774597.json",
}


SCHEMA_LOCATION = "{http://www.w3.org/2001/XMLSchema-instance}schemaLocation"
# Source files whose XML fhirconv does not write back as it was, and why; their trees still
# round-trip exactly (asserted first), so what differs is syntax, not content.
XML_AS_WRITTEN_DIFFERS = {
    "format-edge/fhirjs-bundle-response-comments.xml": (
        "its source puts meta.tag before meta.lastUpdated, against FHIR's element order; "
        "fhirconv writes definition order", {"ignore_order": True}),
    "r4/third-party/qicore-imagingstudy-example.xml": (
        "xsi:schemaLocation is a hint to XML tools, not resource content", {"ignore_attributes": (SCHEMA_LOCATION,)}),
    "r5/imagingstudy-example.source.xml": (
        "xsi:schemaLocation is a hint to XML tools, not resource content", {"ignore_attributes": (SCHEMA_LOCATION,)}),
}


def version_of(relative: str) -> str:
    if relative.startswith("r5/") or ".r5." in relative:
        return "R5"
    if relative.startswith("r6/"):
        return "R6"
    return "R4"


def corpus_files() -> list[str]:
    files = []
    for folder in ("format-edge", "r4", "r5", "r6"):
        for path in sorted((FIXTURES / folder).rglob("*")):
            if path.suffix in (".json", ".xml"):
                files.append(path.relative_to(FIXTURES).as_posix())
    return files


ROUND_TRIPPED = [name for name in corpus_files() if name not in NEGATIVE]


def test_the_corpus_is_all_there():
    assert len(ROUND_TRIPPED) + len(NEGATIVE) == len(corpus_files()) == 55


def _fhir_comments_as_lists(value):
    """``fhir_comments`` is an array in DSTU2 JSON; fhir.resources writes a bare string."""
    if isinstance(value, dict):
        return {k: ([v] if k == "fhir_comments" and isinstance(v, str) else _fhir_comments_as_lists(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_fhir_comments_as_lists(v) for v in value]
    return value


@pytest.mark.parametrize("name", ROUND_TRIPPED)
def test_round_trip_through_the_other_format(name):
    data = (FIXTURES / name).read_bytes()
    version = version_of(name)
    converter = fhirconv.Converter(fhir_version=version, keep_comments=True)
    fmt = fhirconv.sniff_format(data)
    other = "xml" if fmt == "json" else "json"
    back = converter.convert(converter.convert(data, to=other), to=fmt)
    assert converter.parse(back) == converter.parse(data)
    if fmt == "json":
        original = _fhir_comments_as_lists(load_json_lexical(data))
        differences = json_differences(load_json_lexical(back), original, div_as_xhtml=False)
    elif name in XML_AS_WRITTEN_DIFFERS:
        _reason, relaxed = XML_AS_WRITTEN_DIFFERS[name]
        assert xml_differences(back, data), f"{name} no longer differs: take it off the list"
        differences = xml_differences(back, data, **relaxed)
    else:
        differences = xml_differences(back, data)
    assert not differences, differences[:5]


def _refusal(name: str, to: str, version: str = "R4") -> fhirconv.FhirConvError:
    with pytest.raises(fhirconv.FhirConvError) as caught:
        fhirconv.convert((FIXTURES / name).read_bytes(), to=to, fhir_version=version)
    return caught.value


def test_an_illegal_character_reference_in_xml_is_refused_where_it_is():
    error = _refusal("format-edge/unicode-problem.xml", to="json")
    assert isinstance(error, fhirconv.FhirSyntaxError)
    assert (error.line, error.column) == (4, 42)
    assert "U+0013" in str(error)


def test_a_control_character_from_json_is_never_written_into_xml():
    error = _refusal("format-edge/unicode-problem.json", to="xml")
    assert isinstance(error, fhirconv.UnrepresentableError)
    assert error.path == "Parameters.parameter[0].valueString"
    assert "U+0013" in str(error)


def test_the_same_json_converts_to_json_because_json_can_carry_it():
    data = (FIXTURES / "format-edge/unicode-problem.json").read_bytes()
    assert "\x13" in load_json_lexical(fhirconv.convert(data, to="json"))["parameter"][0]["valueString"]


def test_xml_that_is_not_fhir_is_refused():
    error = _refusal("format-edge/firely-all-xml-features.xml", to="json")
    assert isinstance(error, fhirconv.StructureError)
    assert "unknown resource type <SomeResource>" in str(error)
    assert error.line == 7


def test_invalid_real_world_imagingstudy_gets_a_located_error():
    error = _refusal("r4/third-party/siim-hackathon-imaging_study-159774597.json", to="xml")
    assert isinstance(error, fhirconv.StructureError)
    assert error.path == "ImagingStudy.series[0].instance[0].sopClass"
    assert (error.line, error.column) == (55, 23)
    assert "expected an object, not a string" in str(error)


# -- the traps of PROVENANCE.md, checked for what each is about --------------------------------

def test_decimals_keep_their_text_both_ways():
    xml = (FIXTURES / "format-edge/observation-decimal.xml").read_bytes()
    json_text = fhirconv.convert(xml, to="json")
    for lexeme in (b"1.0e0", b"0.0000000000000000000001", b"1000000000000000000", b"-1.000000000000000000e245"):
        assert b": " + lexeme in json_text
    payment = (FIXTURES / "format-edge/paymentnotice-example.json").read_bytes()
    assert b'<value value="12500.00"/>' in fhirconv.convert(payment, to="xml")


def test_null_padded_arrays_and_value_less_primitives_survive():
    edge = (FIXTURES / "format-edge/json-edge-cases.r4.json").read_bytes()
    back = fhirconv.convert(fhirconv.convert(edge, to="xml"), to="json")
    assert not json_differences(load_json_lexical(back), load_json_lexical(edge))
    activity = (FIXTURES / "format-edge/activitydefinition-primitive-ext-no-value.json").read_bytes()
    assert "event" not in load_json_lexical(fhirconv.convert(fhirconv.convert(activity, to="xml"), to="json"))["code"]


def test_whitespace_only_values_survive_xml_as_character_references():
    data = (FIXTURES / "format-edge/primitive-good-ws.json").read_bytes()
    xml = fhirconv.convert(data, to="xml")
    assert b'value=" &#9; "' in xml
    assert load_json_lexical(fhirconv.convert(xml, to="json")) == load_json_lexical(data)


def test_schema_location_hint_on_the_root_is_not_content():
    data = (FIXTURES / "r4/third-party/qicore-imagingstudy-example.xml").read_bytes()
    assert b"schemaLocation" in data
    assert b"schemaLocation" not in fhirconv.convert(data, to="json")


@pytest.mark.parametrize("name", ["r4/imagingstudy-example.xml", "r4/imagingstudy-example.json"])
def test_bytes_like_input_reads_as_its_bytes(name):
    # Socket and queue clients hand over bytearray or memoryview; a library call takes them as is.
    data = (FIXTURES / name).read_bytes()
    expected = fhirconv.convert(data, to="json")
    for view in (bytearray(data), memoryview(data)):
        assert fhirconv.convert(view, to="json") == expected
    assert fhirconv.migrate(bytearray(data), source="R4", target="R6").resource == \
        fhirconv.migrate(data, source="R4", target="R6").resource


def test_input_that_is_not_text_is_a_type_error_naming_the_type():
    with pytest.raises(TypeError, match="expected FHIR JSON or XML as bytes or str, not int"):
        fhirconv.convert(42, to="json")
