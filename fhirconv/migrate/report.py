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
    """Collects issues for one migration call. Not shared: each call makes its own.

    Issues of one rule and one action are grouped: one issue whose ``expression`` lists every place
    (``ImagingStudy.series[0].instance[0].sopClass``, ``...instance[1].sopClass``, ...), so a study
    of 2,000 instances gets one line per kind of change, not 2,000.
    """

    __slots__ = ("_issues", "_groups", "_errors", "summary")

    def __init__(self, summary: str | None = None) -> None:
        self._issues: list[list] = []            # [severity, code, action, [expressions], diagnostics]
        self._groups: dict[object, list] = {}
        self._errors = 0                         # counted, not searched for: the engine asks per resource
        self.summary = summary                   # the outcome's one issue when there is no other

    def grouped(self, group: object, path: str) -> bool:
        """Add ``path`` to the issue already made for ``group``; False when there is none yet.

        ``group`` names one kind of change (the engine makes one key per rule and action, once,
        so that nothing is built for the thousandth instance but its path)."""
        issue = self._groups.get(group)
        if issue is None:
            return False
        issue[3].append(path)
        return True

    def add(self, action: str, path: str, diagnostics: str, group: object = None) -> None:
        severity, code = _SEVERITY_CODE[action]
        issue = [severity, code, action, [path], diagnostics]
        self._issues.append(issue)
        if group is not None:
            self._groups[group] = issue

    def error(self, code: str, path: str, diagnostics: str) -> None:
        self._issues.append(["error", code, "invalid", [path], diagnostics])
        self._errors += 1

    @property
    def has_issues(self) -> bool:
        return bool(self._issues)

    @property
    def has_errors(self) -> bool:
        return self._errors > 0

    def actions(self) -> list[tuple[str, str]]:
        """``(action, expression)`` pairs, for tests and summaries."""
        return [(action, path) for _, _, action, paths, _ in self._issues for path in paths]

    @property
    def warnings(self) -> int:
        """How many issues are warnings (what a bulk run's summary counts)."""
        return sum(1 for issue in self._issues if issue[0] == "warning")

    def first_error(self) -> tuple[str, str] | None:
        """``(expression, diagnostics)`` of the first error, or None."""
        if self._errors:
            for severity, _, _, paths, diagnostics in self._issues:
                if severity == "error":
                    return paths[0], diagnostics
        return None

    def outcome(self, *, strict: bool = False) -> dict:
        """The OperationOutcome (JSON form): every issue, or the summary when there is none."""
        if not self._issues:
            return {"resourceType": "OperationOutcome", "issue": [
                {"severity": "information", "code": "informational", "diagnostics": self.summary}]}
        issues = []
        for severity, code, action, paths, diagnostics in self._issues:
            issues.append({
                "severity": "error" if strict else severity,
                "code": code,
                "details": {"coding": [{"system": ACTION_SYSTEM, "code": action}]},
                "diagnostics": diagnostics,
                "expression": paths,
            })
        return {"resourceType": "OperationOutcome", "issue": issues}
