"""integer, positiveInt and unsignedInt are JSON numbers without fraction or exponent.

FHIR's regexes for them allow no "." and no "e", so ``"numberOfSeries": 1.5`` (or
``<valueInteger value="1e2"/>``) is refused with its location, by every reader: the compiled
and the reference one, JSON read by orjson (compact) and by the exact reader (any other layout),
and XML. Writing it to the other format would make a document no FHIR tool accepts. Decimals keep
every form JSON allows, and the integer types keep every whole number's text.
"""

from __future__ import annotations

import pytest

from fhirconv.definitions import INTEGER_TYPES, load
from fhirconv.errors import StructureError
from fhirconv.formats import json as json_codec
from fhirconv.formats import xml as xml_codec
from fhirconv.formats.json import parse_json
from fhirconv.formats.xml import parse_xml

R4 = load("R4")

# type -> (JSON with a %s where the number goes, the same in XML, the element's path)
CASES = {
    "integer": ('{"resourceType":"Patient","multipleBirthInteger":%s}',
                '<Patient xmlns="http://hl7.org/fhir"><multipleBirthInteger value="%s"/></Patient>',
                "Patient.multipleBirthInteger"),
    "unsignedInt": ('{"resourceType":"ImagingStudy","status":"available","subject":{"reference":"Patient/1"},'
                    '"numberOfSeries":%s}',
                    '<ImagingStudy xmlns="http://hl7.org/fhir"><status value="available"/><subject>'
                    '<reference value="Patient/1"/></subject><numberOfSeries value="%s"/></ImagingStudy>',
                    "ImagingStudy.numberOfSeries"),
    "positiveInt": ('{"resourceType":"ClaimResponse","processNote":[{"number":%s,"text":"x"}]}',
                    '<ClaimResponse xmlns="http://hl7.org/fhir"><processNote><number value="%s"/>'
                    '<text value="x"/></processNote></ClaimResponse>',
                    "ClaimResponse.processNote[0].number"),
}
NOT_WHOLE = ["1.5", "1.0", "0.0", "1e2", "1E+2", "-3.25", "12e-1"]
WHOLE = ["0", "7", "-12", "2147483647", "18446744073709551616"]
READERS = ["json compact (orjson)", "json spaced (exact reader)", "json reference", "xml compiled", "xml reference"]


def test_the_cases_cover_every_integer_type_with_its_definition():
    assert set(CASES) == INTEGER_TYPES
    assert {R4.json_kind(code) for code in INTEGER_TYPES} == {"integer"}
    assert R4.json_kind("decimal") == "number"
    for code, (_, _, path) in CASES.items():
        type_name, *names = path.replace("[0]", "").split(".")
        for name in names[:-1]:
            type_name = R4.types[type_name].element(name).types[0]     # a backbone element's own key
        element = R4.types[type_name].element(names[-1].removesuffix("Integer"))
        assert code in element.json_names().values(), path


def read(reader: str, code: str, number: str):
    json_form, xml_form, _ = CASES[code]
    if reader.startswith("json"):
        data = (json_form % number).encode()
        if reader == "json spaced (exact reader)":
            data = data.replace(b'":', b'" : ')
        json_codec.use_compiled_reader = reader != "json reference"
        try:
            return parse_json(data, R4)
        finally:
            json_codec.use_compiled_reader = True
    xml_codec.use_compiled_reader = reader == "xml compiled"
    try:
        return parse_xml((xml_form % number).encode(), R4)
    finally:
        xml_codec.use_compiled_reader = True


def value_at(tree: dict, path: str) -> str:
    node = tree
    for part in path.split(".")[1:]:
        name, _, index = part.partition("[")
        node = node[name]
        if index:
            node = node[int(index.rstrip("]"))]
    return node


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("code", sorted(CASES))
@pytest.mark.parametrize("number", NOT_WHOLE)
def test_a_number_with_a_fraction_or_exponent_is_refused_where_it_stands(reader, code, number):
    with pytest.raises(StructureError) as caught:
        read(reader, code, number)
    error = caught.value
    assert error.path == CASES[code][2]
    assert "integer" in error.message and number in error.message
    assert error.line == 1 and error.column is not None


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("code", sorted(CASES))
@pytest.mark.parametrize("number", WHOLE)
def test_whole_numbers_keep_their_text(reader, code, number):
    assert value_at(read(reader, code, number), CASES[code][2]) == number


@pytest.mark.parametrize("number", NOT_WHOLE + WHOLE)
def test_decimals_still_take_any_json_number(number):
    data = b'{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":%s}}' % (
        number.encode())
    assert parse_json(data, R4)["valueQuantity"]["value"] == number
