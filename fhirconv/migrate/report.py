"""The migration report: what was done to which element, as a FHIR OperationOutcome.

Each issue carries a severity, an IssueType code, a FHIRPath ``expression`` of the element in
the *input* resource, a sentence in ``diagnostics``, and the kind of action in
``details.coding`` (system :data:`ACTION_SYSTEM`) so that programs need not parse sentences:

==============  ===========  ==============  =============================================================
action          severity     code            meaning
==============  ===========  ==============  =============================================================
transformed     information  informational   reshaped without loss (Coding -> CodeableConcept, ...)
restored        information  informational   taken back out of a cross-version extension
extension       warning      informational   no (exact) home in the target: kept whole in an extension
repaired        warning      invariant       changed to satisfy a target invariant; old value in extension
downgraded      warning      business-rule   a modifier (status) had to take a less specific code
conflict        warning      conflict        an extension no longer agreed with the native data: native won
passthrough     warning      not-supported   a resource type with no mapping table, copied unchanged
invalid         error        invariant,      the output breaks a rule of the target that cannot be fixed
                             required,       without guessing, or the input was not valid to begin with
                             structure, ...
==============  ===========  ==============  =============================================================

Under ``strict`` every issue is an error: anything but a copy or a pure rename refuses the resource.
"""

from __future__ import annotations

__all__ = ["ACTION_SYSTEM", "Report"]

ACTION_SYSTEM = "https://fhirconv.dev/CodeSystem/migration-action"

_SEVERITY_CODE = {
    "transformed": ("information", "informational"),
    "restored": ("information", "informational"),
    "extension": ("warning", "informational"),
    "repaired": ("warning", "invariant"),
    "downgraded": ("warning", "business-rule"),
    "conflict": ("warning", "conflict"),
    "passthrough": ("warning", "not-supported"),
}


class Report:
    """Collects issues for one migration call. Not shared: each call makes its own."""

    __slots__ = ("_issues",)

    def __init__(self) -> None:
        self._issues: list[tuple[str, str, str, str, str]] = []

    def add(self, action: str, path: str, diagnostics: str) -> None:
        severity, code = _SEVERITY_CODE[action]
        self._issues.append((severity, code, action, path, diagnostics))

    def error(self, code: str, path: str, diagnostics: str) -> None:
        self._issues.append(("error", code, "invalid", path, diagnostics))

    @property
    def has_issues(self) -> bool:
        return bool(self._issues)

    @property
    def has_errors(self) -> bool:
        return any(issue[0] == "error" for issue in self._issues)

    def actions(self) -> list[tuple[str, str]]:
        """``(action, expression)`` pairs, for tests and summaries."""
        return [(action, path) for _, _, action, path, _ in self._issues]

    def outcome(self, *, strict: bool = False, summary: str) -> dict:
        """The OperationOutcome (JSON form). ``summary`` is the one issue when there is nothing else."""
        if not self._issues:
            return {"resourceType": "OperationOutcome", "issue": [
                {"severity": "information", "code": "informational", "diagnostics": summary}]}
        issues = []
        for severity, code, action, path, diagnostics in self._issues:
            issues.append({
                "severity": "error" if strict else severity,
                "code": code,
                "details": {"coding": [{"system": ACTION_SYSTEM, "code": action}]},
                "diagnostics": diagnostics,
                "expression": [path],
            })
        return {"resourceType": "OperationOutcome", "issue": issues}
