"""The compiled core gives exactly what the reference (pure-Python) code gives.

``_fastxml`` (XML -> tree) and ``_fastjson`` (tree -> JSON form) handle only plain, valid FHIR
and hand everything else to the reference code; this proves both agree with it on every
official twin, and that the fast paths are really taken there.
"""

import pytest

from fhirconv.definitions import load
from fhirconv.formats import json as json_codec
from fhirconv.formats import xml as xml_codec
from test_twins import NAMES, PAIRS

pytestmark = pytest.mark.skipif(
    xml_codec.FastReader is None or json_codec.JsonFormWriter is None,
    reason="compiled core not built (no C compiler at install, or FHIRCONV_PURE_PYTHON set)")

R4 = load("R4")


def _reference_tree(source: bytes) -> dict:
    xml_codec.use_compiled_reader = False
    try:
        return xml_codec.parse_xml(source, R4)
    finally:
        xml_codec.use_compiled_reader = True


@pytest.mark.parametrize("name", NAMES)
def test_compiled_and_reference_readers_agree(name):
    source = PAIRS[name]["xml"]
    assert xml_codec.parse_xml(source, R4) == _reference_tree(source)


def test_compiled_reader_takes_every_twin_without_falling_back():
    fell_back = []
    for name in NAMES:
        source = PAIRS[name]["xml"]
        root = xml_codec._parse_document(source, keep_comments=False)
        try:
            xml_codec._read_fast(xml_codec._TreeReader(R4, source, False), root)
        except xml_codec.Fallback:
            fell_back.append(name)
    assert fell_back == []


@pytest.mark.parametrize("document, why", [
    (b'<Patient xmlns="http://hl7.org/fhir"><bogus value="1"/></Patient>', "unknown element"),
    (b'<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>', "not a boolean"),
    (b'<Patient xmlns="http://hl7.org/fhir"><active value="true">x</active></Patient>', "text in a primitive"),
    (b'<Patient xmlns="http://hl7.org/fhir"><gender value=""/></Patient>', "empty value"),
])
def test_anything_unusual_goes_to_the_reference_reader(document, why):
    root = xml_codec._parse_document(document, keep_comments=False)
    with pytest.raises(xml_codec.Fallback):
        xml_codec._read_fast(xml_codec._TreeReader(R4, document, False), root)


@pytest.mark.parametrize("name", NAMES)
def test_compiled_and_reference_json_writers_agree(name):
    tree = xml_codec.parse_xml(PAIRS[name]["xml"], R4)
    compiled = json_codec.serialize_json(tree, R4)
    json_codec.use_compiled_writer = False
    try:
        assert json_codec.serialize_json(tree, R4) == compiled
    finally:
        json_codec.use_compiled_writer = True


def test_compiled_json_writer_takes_every_twin_without_falling_back():
    fell_back = []
    for name in NAMES:
        tree = xml_codec.parse_xml(PAIRS[name]["xml"], R4)
        writer = json_codec.JsonFormWriter(lambda t: json_codec.fields_of(R4, t), json_codec.orjson.Fragment,
                                           json_codec.Primitive, R4.resource_types)
        try:
            writer.resource(tree)
        except json_codec.Fallback:
            fell_back.append(name)
    assert fell_back == []


@pytest.mark.parametrize("name", NAMES)
def test_compiled_and_reference_json_readers_agree(name):
    source = PAIRS[name]["json"]
    compiled = json_codec.parse_json(source, R4)
    json_codec.use_compiled_reader = False
    try:
        assert json_codec.parse_json(source, R4) == compiled
    finally:
        json_codec.use_compiled_reader = True


def test_compiled_json_reader_takes_every_twin_without_falling_back():
    fell_back = []
    for name in NAMES:
        value = json_codec.load_json(json_codec.decode_text(PAIRS[name]["json"]))
        builder = json_codec.JsonTreeBuilder(lambda t: json_codec.fields_of(R4, t), json_codec.Primitive,
                                             json_codec._Number, json_codec._ordered_or_none,
                                             R4.resource_types, json_codec._MAX_DEPTH)
        try:
            builder.resource(value)
        except json_codec.Fallback:
            fell_back.append(name)
    assert fell_back == []
