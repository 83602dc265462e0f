"""The one exception family fhirconv raises.

Every error says *what* went wrong, *where* (a FHIRPath-like element path and, when the
input was text, its line and column) and *why*. Nothing else escapes the public API:
callers catch ``FhirConvError`` and are done.
"""

from __future__ import annotations


class FhirConvError(Exception):
    """Base class. ``path`` is like ``ImagingStudy.series[1].instance[0].sopClass``."""

    def __init__(self, message: str, *, path: str | None = None,
                 line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        # Path segments (".name", "[3]") collected innermost first while the error unwinds
        # through a reader or writer, so that the hot path never builds path strings.
        self.trail: list[str] = []

    def at(self, segment: str) -> "FhirConvError":
        """Record one more enclosing path segment (called while unwinding)."""
        if self.path is None:
            self.trail.append(segment)
        return self

    def rooted(self, root: str) -> "FhirConvError":
        """Turn the collected segments into ``path``, starting from the root resource type."""
        if self.path is None:
            self.path = root + "".join(reversed(self.trail))
        return self

    def where(self) -> str:
        """``Patient.name[0].given[1] (line 12, column 7)``, or as much of it as is known."""
        position = ""
        if self.line is not None:
            position = f"line {self.line}" + (f", column {self.column}" if self.column is not None else "")
        if self.path and position:
            return f"{self.path} ({position})"
        return self.path or position

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def located(self, *, line: int | None, column: int | None) -> "FhirConvError":
        """Fill in the text position once it is known (it is looked up only on failure)."""
        if self.line is None:
            self.line, self.column = line, column
        return self


class FhirSyntaxError(FhirConvError):
    """The input is not well-formed JSON or XML."""


class UnsafeInputError(FhirConvError):
    """The input tries something FHIR forbids for safety: a DOCTYPE, entities, XInclude."""


class StructureError(FhirConvError):
    """Well-formed, but not this FHIR version: unknown element, wrong JSON type, bad cardinality."""


class UnrepresentableError(FhirConvError):
    """The value cannot be written in the target format (a control character in XML 1.0)."""


class UnsupportedVersionError(FhirConvError):
    """A FHIR version name fhirconv does not know."""


class MigrationError(FhirConvError):
    """A resource cannot be migrated without losing or inventing data (see the report)."""
