"""The public functions. Everything here is safe to call from many threads at once.

``Converter`` is the one configured object (version, pretty, comments); the module-level
functions are shortcuts that use a shared converter per configuration.
"""

from __future__ import annotations

import functools

from .definitions import Definitions, load, normalize_version
from .errors import FhirConvError, FhirSyntaxError
from .formats.json import parse_json, serialize_json, tree_from_json_form, tree_to_json_form
from .formats.xml import parse_xml, serialize_xml
from .fidelity import RoundTrip, roundtrip as _roundtrip
from .migrate import Report, migrate_reported
from .narrative import check_narrative
from .validation import validate as _validate

__all__ = ["Converter", "convert", "parse", "serialize", "sniff_format", "to_json_form", "from_json_form",
           "Migration", "migrate", "validate", "roundtrip"]

FORMATS = ("json", "xml")


def sniff_format(data: bytes | str) -> str:
    """``"json"`` or ``"xml"`` from the first significant character (after a BOM and whitespace)."""
    first = data[:1]                    # the usual record starts at once: no copy of its head
    if first == b"{" or first == "{":
        return "json"
    if first == b"<" or first == "<":
        return "xml"
    head = data[:4096]
    if isinstance(head, str):
        first = head.lstrip("\ufeff \t\r\n")[:1]
    else:                               # bytes, or a bytearray or memoryview as a client hands them over
        first = bytes(head).lstrip(b"\xef\xbb\xbf \t\r\n")[:1].decode("latin-1")
    if first in ("{", "["):
        return "json"
    if first == "<":
        return "xml"
    if not first:
        raise FhirSyntaxError("empty input: expected a FHIR resource in JSON or XML", line=1, column=1)
    raise FhirSyntaxError(f"cannot tell the format: input starts with {first!r}, expected '{{' (JSON) or '<' (XML)",
                          line=1, column=1)


def _text(data) -> bytes | str:
    if isinstance(data, (bytes, str)):
        return data
    try:
        return bytes(memoryview(data))          # bytearray, memoryview, mmap, array of bytes...
    except TypeError:
        raise TypeError(f"expected FHIR JSON or XML as bytes or str, not {type(data).__name__}") from None


def _format_name(name: str) -> str:
    lowered = str(name).lower()
    if lowered not in FORMATS:
        raise FhirConvError(f"unknown format {name!r}: use json or xml")
    return lowered


class Converter:
    """Reads and writes FHIR of one version. Immutable, so one instance serves every thread."""

    __slots__ = ("definitions", "pretty", "keep_comments")

    def __init__(self, *, fhir_version: str = "R4", pretty: bool = True, keep_comments: bool = False):
        self.definitions: Definitions = load(fhir_version)
        self.pretty = pretty
        self.keep_comments = keep_comments

    @property
    def fhir_version(self) -> str:
        return self.definitions.label

    def parse(self, data: bytes | str, *, format: str | None = None) -> dict:
        """JSON or XML text (sniffed unless ``format`` says) -> element tree.

        ``data`` is ``str``, ``bytes`` or any bytes-like object (``bytearray``, ``memoryview``, as
        socket and queue clients hand them over)."""
        data = _text(data)
        fmt = _format_name(format) if format else sniff_format(data)
        if fmt == "json":
            return parse_json(data, self.definitions)
        return parse_xml(data, self.definitions, keep_comments=self.keep_comments)

    def serialize(self, tree: dict, *, format: str) -> bytes:
        if _format_name(format) == "json":
            return serialize_json(tree, self.definitions, pretty=self.pretty)
        return serialize_xml(tree, self.definitions, pretty=self.pretty)

    def convert(self, data: bytes | str, *, to: str) -> bytes:
        """JSON <-> XML (the input format is sniffed); same-format output is normalized."""
        return self.serialize(self.parse(data), format=to)


@functools.lru_cache(maxsize=64)
def _converter(fhir_version: str, pretty: bool, keep_comments: bool) -> Converter:
    return Converter(fhir_version=fhir_version, pretty=pretty, keep_comments=keep_comments)


def convert(data: bytes | str, *, to: str, fhir_version: str = "R4", pretty: bool = True,
            keep_comments: bool = False) -> bytes:
    """Convert one FHIR resource between JSON and XML; the input format is sniffed."""
    return _converter(normalize_version(fhir_version), pretty, keep_comments).convert(data, to=to)


def parse(data: bytes | str, *, fhir_version: str = "R4", format: str | None = None,
          keep_comments: bool = False) -> dict:
    """FHIR JSON or XML -> element tree (see ``fhirconv.tree``)."""
    return _converter(normalize_version(fhir_version), True, keep_comments).parse(data, format=format)


def serialize(tree: dict, *, format: str, fhir_version: str = "R4", pretty: bool = True) -> bytes:
    """Element tree -> FHIR JSON or XML bytes."""
    return _converter(normalize_version(fhir_version), pretty, False).serialize(tree, format=format)


def to_json_form(tree: dict, *, fhir_version: str = "R4") -> dict:
    """Element tree -> JSON-form dict (integers as int, decimals as ``decimal.Decimal``)."""
    return tree_to_json_form(tree, load(fhir_version))


def from_json_form(obj: dict, *, fhir_version: str = "R4") -> dict:
    """JSON-form dict -> element tree, checked against the definitions."""
    return tree_from_json_form(obj, load(fhir_version))


# -- migration -------------------------------------------------------------------------------

class Migration:
    """The result of :func:`migrate`: the migrated resource and the report of what was done."""

    __slots__ = ("tree", "report", "strict", "source", "target", "_outcome")

    def __init__(self, tree: dict, report: Report, source: Definitions, target: Definitions,
                 strict: bool = False):
        self.tree = tree          # the migrated element tree
        self.report = report      # what was done, as the engine noted it (``outcome`` is its FHIR form)
        self.strict = strict
        self.source = source
        self.target = target
        self._outcome = None

    @property
    def outcome(self) -> dict:
        """The FHIR OperationOutcome (JSON-form dict): built on first use, as most bulk records
        never need it (their counts and first error come from ``report``)."""
        if self._outcome is None:
            self._outcome = self.report.outcome(strict=self.strict)
        return self._outcome

    @property
    def resource(self) -> dict:
        """The migrated resource as a JSON-form dict."""
        return tree_to_json_form(self.tree, self.target)

    def to_bytes(self, format: str = "json", *, pretty: bool = True) -> bytes:
        """The migrated resource as FHIR JSON or XML of the target version."""
        return _converter(self.target.label, pretty, False).serialize(self.tree, format=format)

    def __repr__(self) -> str:
        return (f"<Migration {self.tree.get('resourceType')} {self.source.label} -> {self.target.label}, "
                f"{len(self.outcome.get('issue', []))} report issue(s)>")


def _tree_of(data, version_label: str) -> dict:
    """bytes/str (JSON or XML, sniffed) or a JSON-form dict -> tree of that version."""
    converter = _converter(version_label, True, False)
    if isinstance(data, dict):
        return tree_from_json_form(data, converter.definitions)
    return converter.parse(data)


def migrate(data, *, source: str, target: str, strict: bool = False) -> Migration:
    """Migrate a resource between FHIR versions through the mapping tables in ``mappings/``.

    ``data`` is JSON or XML text (sniffed) or a JSON-form dict. Raises :class:`FhirConvError`
    for unreadable input and ``MigrationError`` (with ``.outcome``) when ``strict`` refuses.
    """
    source_defs, target_defs = _versions(source, target)
    tree, report = migrate_reported(_tree_of(data, source_defs.label), source=source_defs, target=target_defs,
                                    strict=strict)
    return Migration(tree, report, source_defs, target_defs, strict)


@functools.lru_cache(maxsize=64)
def _versions(source: str, target: str) -> tuple[Definitions, Definitions]:
    """The definitions of a version pair, looked up once per spelling (a bulk run asks per record)."""
    return load(normalize_version(source)), load(normalize_version(target))


def validate(data, *, fhir_version: str = "R4") -> dict:
    """Check a resource against its version's definitions (and R6 ImagingStudy invariants), and
    every narrative against txt-1 (scripts, event handlers and forms are errors).

    Returns an OperationOutcome (JSON-form dict); it has no issue of severity error when valid.
    """
    label = normalize_version(fhir_version)
    tree = _tree_of(data, label)
    issues = _validate(tree, load(label)) + check_narrative(tree)
    if not issues:
        issues = [{"severity": "information", "code": "informational",
                   "diagnostics": f"valid FHIR {label}"}]
    return {"resourceType": "OperationOutcome", "issue": issues}


def roundtrip(data, *, fhir_version: str, via: str) -> RoundTrip:
    """Migrate to ``via`` and back; ``.diff`` (deepdiff) is empty when nothing was lost."""
    label = normalize_version(fhir_version)
    return _roundtrip(_tree_of(data, label), source=load(label), via=load(normalize_version(via)))
