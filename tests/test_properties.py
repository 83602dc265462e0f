"""Property-based round trips: random trees of every resource type of R4, R5 and R6.

For any tree a reader could build, writing it as JSON or XML and reading it back must give
the same tree, and converting the JSON to XML and back must give the same JSON bytes.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings

import fhirconv
from fhirconv.definitions import load
from fhir_strategies import resource

EXAMPLES = int(os.environ.get("FHIRCONV_PROPERTY_EXAMPLES", "150"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("version", ["R4", "R5", "R6"])
def test_any_tree_survives_json_and_xml(version):
    defs = load(version)
    converter = fhirconv.Converter(fhir_version=version)

    @SETTINGS
    @given(resource(defs))
    def check(tree):
        as_json = converter.serialize(tree, format="json")
        as_xml = converter.serialize(tree, format="xml")
        assert converter.parse(as_json) == tree
        assert converter.parse(as_xml) == tree
        assert converter.convert(as_xml, to="json") == as_json
        assert converter.convert(as_json, to="xml") == as_xml

    check()
