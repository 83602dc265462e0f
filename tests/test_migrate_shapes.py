"""The shaped walk (per input key tuple, engine._Shape) gives what the generic walk gives.

The engine takes the shaped walk for almost every node of real data and the generic walk for the
rest (unknown keys, cross-version extensions to restore). Both must give the same tree, in the
same key order, and the same report, issue for issue: every golden case and generated studies of
both versions are migrated both ways and compared exactly (== on dicts does not see key order,
so the JSON bytes are compared too).
"""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given

from fhirconv.definitions import load
from fhirconv.formats.json import serialize_json
from fhirconv.migrate import migrate_resource
from migration_cases import load_cases, read_tree
from test_migrate_properties import SETTINGS, r4_imaging_study, r6_imaging_study

engine = importlib.import_module("fhirconv.migrate.engine")
R4, R6 = load("R4"), load("R6")


def both_walks(tree, source, target):
    results = []
    for shaped in (True, False):
        engine.use_shapes = shaped
        try:
            result, outcome = migrate_resource(tree, source=source, target=target)
        finally:
            engine.use_shapes = True
        results.append((serialize_json(result, target, pretty=False), outcome))
    return results


def assert_same(tree, source, target):
    (shaped_bytes, shaped_report), (generic_bytes, generic_report) = both_walks(tree, source, target)
    assert shaped_bytes == generic_bytes
    assert shaped_report == generic_report


@pytest.mark.parametrize("case", load_cases(), ids=str)
def test_golden_cases_take_either_walk_to_the_same_result(case):
    assert_same(read_tree(case.input, case.source), case.source, case.target)


def test_the_shaped_walk_is_taken_and_the_generic_one_is_not_just_a_copy_of_it():
    # A node whose keys were seen gets a shape; one with an unknown key gets none (generic walk).
    tree = {"resourceType": "ImagingStudy", "status": "available", "subject": {"reference": "Patient/p"}}
    migrate_resource(tree, source=R4, target=R6)
    root = engine.compiled_plan(R4, R6).roots["ImagingStudy"]
    assert isinstance(root.shapes[tuple(tree)], engine._Shape)
    odd = {**tree, "bogus": "x"}
    _, outcome = migrate_resource(odd, source=R4, target=R6)
    assert root.shapes[tuple(odd)] is None
    assert any("bogus" in path for issue in outcome["issue"] for path in issue["expression"])


@SETTINGS
@given(r4_imaging_study())
def test_generated_r4_takes_either_walk_to_the_same_result(study):
    assert_same(study, R4, R6)
    r6, _ = migrate_resource(study, source=R4, target=R6)
    assert_same(r6, R6, R4)        # the way back restores from extensions: mostly the generic walk


@SETTINGS
@given(r6_imaging_study())
def test_generated_r6_takes_either_walk_to_the_same_result(study):
    assert_same(study, R6, R4)
    r4, _ = migrate_resource(study, source=R6, target=R4)
    assert_same(r4, R4, R6)
