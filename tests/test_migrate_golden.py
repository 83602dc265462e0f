"""Golden migration cases (fixtures/migration/cases.toml): corpus files and hand-made edge cases.

For every case: the output equals the reviewed expected file, it is valid in its version (the
listed invariant errors aside, which the report must name as errors), the report names the listed
actions, and migrating the output back gives the input again (unless the case says why not).
"""

from __future__ import annotations

import pytest

from fhirconv.fidelity import compare
from fhirconv.migrate import migrate_resource
from fhirconv.migrate.report import ACTION_SYSTEM
from fhirconv.validation import validate
from migration_cases import load_cases, read_tree

CASES = load_cases()


def _actions(outcome: dict) -> set[str]:
    found = set()
    for issue in outcome["issue"]:
        for coding in issue.get("details", {}).get("coding", ()):
            if coding["system"] == ACTION_SYSTEM:
                found.update(f"{coding['code']} {where}" for where in issue["expression"])
    return found


@pytest.fixture(scope="module", params=CASES, ids=str)
def migrated(request):
    case = request.param
    original = read_tree(case.input, case.source)
    result, outcome = migrate_resource(original, source=case.source, target=case.target)
    return case, original, result, outcome


def test_output_is_the_expected_one(migrated):
    case, _, result, _ = migrated
    expected = read_tree(case.expected, case.target)
    assert not compare(expected, result), case.why


def test_output_is_valid_apart_from_the_known_invariant_errors(migrated):
    case, _, result, outcome = migrated
    problems = validate(result, case.target)
    keys = sorted({p["diagnostics"].split(":")[0] for p in problems if p["code"] == "invariant"})
    assert keys == sorted(case.errors), problems
    others = sorted(p["expression"][0] for p in problems if p["code"] != "invariant")
    assert others == sorted(case.invalid), problems
    reported = {i["diagnostics"].split(":")[0] for i in outcome["issue"]
                if i["severity"] == "error" and i["code"] == "invariant"}
    assert reported == set(case.errors)
    reported_elsewhere = {e for i in outcome["issue"] if i["severity"] == "error" for e in i["expression"]}
    assert set(case.invalid) <= reported_elsewhere, "the report must name what the output breaks"


def test_report_names_every_listed_action(migrated):
    case, _, _, outcome = migrated
    assert set(case.actions) <= _actions(outcome), sorted(_actions(outcome))


def test_migrating_back_gives_the_input(migrated):
    case, original, result, _ = migrated
    back, _ = migrate_resource(result, source=case.target, target=case.source)
    diff = compare(original, back)
    if case.roundtrip:
        assert diff, f"the case says the way back differs ({case.roundtrip}), but it does not"
    else:
        assert not diff, diff


def test_every_issue_is_a_well_formed_operationoutcome_issue(migrated):
    _, _, _, outcome = migrated
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"]
    for issue in outcome["issue"]:
        assert issue["severity"] in ("fatal", "error", "warning", "information")
        assert issue["code"] and issue["diagnostics"]
        assert all(isinstance(e, str) and e for e in issue.get("expression", ["-"]))
