"""The compiled core gives exactly what the reference (pure-Python) code gives.

``_fastxml`` (XML -> tree) and ``_fastjson`` (tree -> JSON bytes, JSON values -> tree) handle only plain, valid FHIR
and hand everything else to the reference code; this proves both agree with it on every
official twin, and that the fast paths are really taken there.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_strategies import resource
from fhirconv.definitions import load
from fhirconv.errors import FhirConvError
from fhirconv.formats import json as json_codec
from fhirconv.formats import xml as xml_codec
from test_twins import NAMES, PAIRS

pytestmark = pytest.mark.skipif(
    xml_codec.FastReader is None or json_codec.JsonWriter is None,
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
@pytest.mark.parametrize("pretty", [True, False], ids=["indented", "compact"])
def test_compiled_and_reference_json_writers_agree(name, pretty):
    tree = xml_codec.parse_xml(PAIRS[name]["xml"], R4)
    compiled = json_codec.serialize_json(tree, R4, pretty=pretty)
    json_codec.use_compiled_writer = False
    try:
        assert json_codec.serialize_json(tree, R4, pretty=pretty) == compiled
    finally:
        json_codec.use_compiled_writer = True


def test_compiled_json_writer_takes_every_twin_without_falling_back():
    fell_back = []
    for name in NAMES:
        tree = xml_codec.parse_xml(PAIRS[name]["xml"], R4)
        writer = json_codec.JsonWriter(lambda t: json_codec.fields_of(R4, t), json_codec.Primitive,
                                       R4.resource_types)
        try:
            writer.write(tree)
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


def _both_writers(tree: dict, defs, pretty: bool):
    """serialize_json's bytes (or its error) from the compiled writer, then from the reference one."""
    results = []
    for compiled in (True, False):
        json_codec.use_compiled_writer = compiled
        try:
            results.append(json_codec.serialize_json(tree, defs, pretty=pretty))
        except FhirConvError as err:
            results.append((type(err).__name__, err.message))
        finally:
            json_codec.use_compiled_writer = True
    return results


@pytest.mark.parametrize("version", ["R4", "R6"])
def test_compiled_json_writer_agrees_on_generated_trees(version):
    defs = load(version)

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(resource(defs), st.booleans())
    def check(tree, pretty):
        compiled, reference = _both_writers(tree, defs, pretty)
        assert compiled == reference

    check()


@settings(max_examples=400, deadline=None)
@given(st.text(), st.text(st.sampled_from('\x00\x01\x08\t\n\x0b\x0c\r\x1f "\\/\x7f\u00e9\u2028\ud800'
                                          '\U0001f600ab'), min_size=1), st.booleans())
def test_compiled_json_writer_escapes_every_string_as_orjson_does(any_text, tricky_text, pretty):
    # Any character, lone surrogates included (which neither writer can put in UTF-8: both refuse).
    tree = {"resourceType": "Patient", "id": "p",
            "name": [{"text": any_text or "x", "given": [tricky_text, "plain"]}],
            "text": {"status": "generated", "div": tricky_text}}
    compiled, reference = _both_writers(tree, R4, pretty)
    assert compiled == reference
