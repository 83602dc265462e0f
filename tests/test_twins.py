"""All 2,903 official R4 JSON/XML twins (fixtures/official/r4-twins.tgz), both directions.

Each pair was written by one run of the FHIR publisher, so XML -> JSON must give the JSON
twin and JSON -> XML the XML twin. Where the publisher's two writers disagree with each
other, the pair is named in DISAGREEMENTS with the reason, and the test checks that the
difference is exactly that one (so the list cannot go stale silently).
"""

from __future__ import annotations

import tarfile
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

import fhirconv
from comparing import NumberText, json_differences, load_json_lexical, xml_differences

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TWINS = FIXTURES / "official" / "r4-twins.tgz"
XSD_ARCHIVE = FIXTURES / "spec" / "hl7.fhir.r4-xsd.tgz"


def _load_pairs() -> dict[str, dict[str, bytes]]:
    pairs: dict[str, dict[str, bytes]] = {}
    with tarfile.open(TWINS) as archive:  # archive order: a gzip stream cannot seek back
        for member in archive:
            if member.isfile():
                stem, _, ext = member.name.rpartition("/")[2].rpartition(".")
                pairs.setdefault(stem, {})[ext] = archive.extractfile(member).read()
    return pairs


PAIRS = _load_pairs()
NAMES = sorted(PAIRS)


def test_the_archive_holds_every_pair():
    assert len(PAIRS) == 2903
    assert all(set(files) == {"json", "xml"} for files in PAIRS.values())


def _decimal_values(value):
    """Numbers compared by value and precision instead of text (for the named pairs)."""
    if isinstance(value, dict):
        return {k: _decimal_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimal_values(v) for v in value]
    if isinstance(value, NumberText):
        return Decimal(value)
    return value


# The pairs whose JSON and XML the publisher wrote differently, and why.
DISAGREEMENTS = {
    "observation-decimal": (
        "the publisher's JSON writer passes decimals through Java BigDecimal.toString(), so the XML's "
        "1.0e0 and 0.0000000000000000000001 are 1.0 and 1E-22 in the JSON twin; fhirconv keeps the lexeme, "
        "so the pair is compared by decimal value instead of text", _decimal_values),
}


def _assert_same_json(name: str, ours: bytes, twin: bytes):
    ours_value, twin_value = load_json_lexical(ours), load_json_lexical(twin)
    differences = json_differences(ours_value, twin_value)
    if name in DISAGREEMENTS:
        reason, normalize = DISAGREEMENTS[name]
        assert differences, f"{name} is listed as a disagreement but no longer differs: remove it"
        differences = json_differences(normalize(ours_value), normalize(twin_value))
    assert not differences, f"{name}: " + "; ".join(differences[:10])


@pytest.mark.parametrize("name", NAMES)
def test_xml_to_json_gives_the_json_twin(name):
    pair = PAIRS[name]
    _assert_same_json(name, fhirconv.convert(pair["xml"], to="json"), pair["json"])


@pytest.mark.parametrize("name", NAMES)
def test_json_to_xml_to_json_gives_the_json_twin_back(name):
    pair = PAIRS[name]
    xml = fhirconv.convert(pair["json"], to="xml")
    back = fhirconv.convert(xml, to="json")
    differences = json_differences(load_json_lexical(back), load_json_lexical(pair["json"]), div_as_xhtml=False)
    assert not differences, f"{name}: " + "; ".join(differences[:10])


@pytest.fixture(scope="session")
def r4_schema(tmp_path_factory):
    folder = tmp_path_factory.mktemp("r4-xsd")
    with tarfile.open(XSD_ARCHIVE) as archive:
        archive.extractall(folder, filter="data")
    return etree.XMLSchema(etree.parse(str(folder / "xsd" / "fhir-single.xsd")))


# JSON -> XML of these pairs differs from the XML twin, and why (see DISAGREEMENTS).
XML_DISAGREEMENTS = {
    "observation-decimal": "decimals: the XML twin writes 1.0e0 / 0.0000000000000000000001 where its JSON twin "
                           "(fhirconv's input here) has 1.0 / 1E-22",
}


@pytest.mark.parametrize("name", NAMES)
def test_json_to_xml_gives_the_xml_twin_and_is_schema_valid(name, r4_schema):
    pair = PAIRS[name]
    ours = fhirconv.convert(pair["json"], to="xml")
    differences = xml_differences(ours, pair["xml"])
    if name in XML_DISAGREEMENTS:
        assert differences and all("/value" in d or "attributes" in d for d in differences), differences
    else:
        assert not differences, f"{name}: " + "; ".join(differences[:10])
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    if r4_schema.validate(etree.fromstring(pair["xml"], parser)):
        valid = r4_schema.validate(etree.fromstring(ours, parser))
        assert valid, f"{name}: " + "; ".join(str(e) for e in list(r4_schema.error_log)[:5])
