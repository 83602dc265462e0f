"""The compiled XML walk (formats/_fastxml.pyx) builds exactly the reference reader's trees.

The compiled reader handles only plain, valid FHIR and hands everything else to the reference
reader; this proves that on every official twin, and that it really takes the fast path there.
"""

import pytest

from fhirconv.definitions import load
from fhirconv.formats import xml as xml_codec
from test_twins import NAMES, PAIRS

pytestmark = pytest.mark.skipif(
    xml_codec.FastReader is None,
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
