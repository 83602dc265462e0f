"""What happens to one record: convert or migrate it, or say precisely why not.

This runs inside the worker processes (and in the main process with one job). It returns
plain bytes and counts, never raises for bad input: a record the code cannot handle, for
whatever reason, becomes a reject with a reason, so that no record is ever lost.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import orjson

from . import api
from .errors import FhirConvError, FhirSyntaxError, MigrationError, UnsafeInputError
from .narrative import check_narrative

__all__ = ["Work", "Done", "process_record", "error_outcome", "tag_outcome", "RECORD_EXTENSION"]

# Marks a per-record report with where the record came from (file, line, type, id): a complex
# extension keeps the OperationOutcome a valid FHIR resource that any FHIR tool can read.
RECORD_EXTENSION = "https://fhirconv.dev/StructureDefinition/source-record"
ISSUE_LINE = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line"
ISSUE_COLUMN = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col"

_CONVERTED = {"resourceType": "OperationOutcome",
              "issue": [{"severity": "information", "code": "informational", "diagnostics": "converted"}]}


@dataclass(frozen=True)
class Work:
    """What to do to every record of a run. Sent once to each worker process."""

    action: str                    # "convert" or "migrate"
    fhir_version: str              # convert: the version; migrate: the source version
    target_version: str | None = None
    pretty: bool = True
    keep_comments: bool = False
    strict: bool = False
    report: bool = False           # build a per-record OperationOutcome
    keep_invalid: bool = False     # migrate: write a record even when its report has errors
    narrative: str = "keep"        # "keep" (unchecked), "report" (txt-1 findings), "refuse" (and reject
                                   # a record whose narrative could run or load something when rendered)


@dataclass
class Done:
    """One record's fate. ``payload`` None means rejected, and ``reason`` says why."""

    payload: bytes | None
    outcome: dict | None
    reason: str | None = None
    error: FhirConvError | None = None
    warnings: int = 0
    resource_type: str | None = None
    id: str | None = None


@functools.lru_cache(maxsize=16)
def _converter(fhir_version: str, pretty: bool, keep_comments: bool) -> api.Converter:
    return api.Converter(fhir_version=fhir_version, pretty=pretty, keep_comments=keep_comments)


def _id_of(tree) -> tuple[str | None, str | None]:
    if not isinstance(tree, dict):
        return None, None
    rid = tree.get("id")
    rid = getattr(rid, "value", rid)
    return tree.get("resourceType"), rid if isinstance(rid, str) else None


def _guess_id(raw: bytes) -> tuple[str | None, str | None]:
    """Best effort for a rejected JSON record, so its report still names it."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(value, dict):
        return None, None
    rtype, rid = value.get("resourceType"), value.get("id")
    return (rtype if isinstance(rtype, str) else None), (rid if isinstance(rid, str) else None)


def _issue_code(err: BaseException) -> str:
    if isinstance(err, UnsafeInputError):
        return "security"
    if isinstance(err, FhirSyntaxError):
        return "invalid"
    if isinstance(err, MigrationError):
        return "not-supported"
    if isinstance(err, FhirConvError):
        return "structure"
    return "exception"


def error_outcome(err: BaseException, *, line: int | None = None, column: int | None = None) -> dict:
    """An OperationOutcome for a record that could not be handled at all."""
    issue: dict = {"severity": "error", "code": _issue_code(err)}
    extensions = []
    if line is not None:
        extensions.append({"url": ISSUE_LINE, "valueInteger": line})
    if column is not None:
        extensions.append({"url": ISSUE_COLUMN, "valueInteger": column})
    if extensions:
        issue = {"extension": extensions, **issue}
    issue["diagnostics"] = getattr(err, "message", None) or str(err)
    path = getattr(err, "path", None)
    if path:
        issue["expression"] = [path]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def tag_outcome(outcome: dict, *, source: str, line: int, resource_type: str | None, rid: str | None) -> dict:
    """The outcome with the source-record extension in front of its issues."""
    parts = [{"url": "source", "valueString": source}, {"url": "line", "valueInteger": line}]
    if resource_type:
        parts.append({"url": "resourceType", "valueString": resource_type})
    if rid:
        parts.append({"url": "id", "valueString": rid})
    tagged = {"resourceType": "OperationOutcome",
              "extension": [{"url": RECORD_EXTENSION, "extension": parts}]}
    tagged.update((k, v) for k, v in outcome.items() if k != "resourceType")
    return tagged


def _warnings(issues: list[dict]) -> int:
    return sum(1 for issue in issues if issue.get("severity") == "warning")


def process_record(work: Work, raw: bytes, to: str | None, *, pretty: bool) -> Done:
    """Convert or migrate one record. ``to`` None: the other format than the record's own."""
    try:
        if work.action == "migrate":
            return _migrate(work, raw, to, pretty)
        return _convert(work, raw, to, pretty)
    except FhirConvError as err:
        rtype, rid = _guess_id(raw)
        outcome = getattr(err, "outcome", None) or error_outcome(err, line=err.line, column=err.column)
        return Done(None, outcome, reason=str(err), error=err, resource_type=rtype, id=rid)
    except (RecursionError, MemoryError, ValueError, TypeError, KeyError, AttributeError, IndexError,
            UnicodeError) as err:
        # A defect below, met on strange input: the record is rejected with the reason rather than
        # ending the run with a traceback and losing the records after it.
        rtype, rid = _guess_id(raw)
        error = FhirConvError(f"internal error ({type(err).__name__}: {err}); please report it")
        return Done(None, error_outcome(error), reason=str(error), error=error, resource_type=rtype, id=rid)


def _narrative_findings(work: Work, tree) -> list[dict]:
    return check_narrative(tree) if work.narrative != "keep" and isinstance(tree, dict) else []


def _refused_narrative(work: Work, findings: list[dict], outcome: dict | None, warnings: int, rtype,
                       rid) -> Done | None:
    """With --narrative refuse: the rejection for a narrative that could run or load something."""
    if work.narrative != "refuse":
        return None
    for issue in findings:
        if issue["severity"] == "error":
            err = UnsafeInputError(issue["diagnostics"], path=issue["expression"][0])
            return Done(None, outcome, reason=str(err), error=err, warnings=warnings, resource_type=rtype, id=rid)
    return None


def _with_issues(outcome: dict, issues: list[dict]) -> dict:
    return {**outcome, "issue": [*outcome.get("issue", ()), *issues]} if issues else outcome


def _convert(work: Work, raw: bytes, to: str | None, pretty: bool) -> Done:
    converter = _converter(work.fhir_version, pretty, work.keep_comments)
    if to is None:
        to = "xml" if api.sniff_format(raw) == "json" else "json"
    tree = converter.parse(raw)
    rtype, rid = _id_of(tree)
    findings = _narrative_findings(work, tree)
    outcome = _with_issues(_CONVERTED, findings)
    refused = _refused_narrative(work, findings, outcome, _warnings(findings), rtype, rid)
    if refused is not None:
        return refused
    payload = converter.serialize(tree, format=to)
    return Done(payload, outcome if work.report else None, warnings=len(findings), resource_type=rtype, id=rid)


def _migrate(work: Work, raw: bytes, to: str | None, pretty: bool) -> Done:
    if to is None:
        to = api.sniff_format(raw)          # migrate keeps the record's own format by default
    migration = api.migrate(raw, source=work.fhir_version, target=work.target_version, strict=work.strict)
    rtype, rid = _id_of(migration.tree)
    # The narrative is carried as is, so the output's narrative is the input's.
    findings = _narrative_findings(work, migration.tree)
    # The OperationOutcome only for a run that writes reports: the summary's counts and a reject's
    # reason come from the engine's report without it.
    outcome = _with_issues(migration.outcome, findings) if work.report else None
    warnings = migration.report.warnings + _warnings(findings)
    refused = _refused_narrative(work, findings, outcome, warnings, rtype, rid)
    if refused is not None:
        return refused
    error = migration.report.first_error()
    if error is not None and not work.keep_invalid:
        # Output that would not be valid in the target version is not written: the record goes to
        # the rejects with the report's first error as the reason.
        expression, diagnostics = error
        err = MigrationError(diagnostics or "cannot be migrated", path=expression)
        return Done(None, outcome, reason=str(err), error=err, warnings=warnings, resource_type=rtype, id=rid)
    payload = migration.to_bytes(to, pretty=pretty)
    return Done(payload, outcome, warnings=warnings, resource_type=rtype, id=rid)
