"""fhirconv: lossless FHIR JSON <-> XML conversion and declarative version migration.

    >>> import fhirconv
    >>> xml = fhirconv.convert(json_bytes, to="xml", fhir_version="R4")

Every error is a :class:`FhirConvError` carrying the element path and, for text input,
the line and column.
"""

from .api import (Converter, Migration, convert, from_json_form, migrate, parse, roundtrip, serialize,
                  sniff_format, to_json_form, validate)
from .errors import (FhirConvError, FhirSyntaxError, MigrationError, StructureError,
                     UnrepresentableError, UnsafeInputError, UnsupportedVersionError)
from .tree import Primitive

__version__ = "0.1.0"

__all__ = [
    "Converter", "convert", "parse", "serialize", "sniff_format", "to_json_form", "from_json_form",
    "Migration", "migrate", "validate", "roundtrip",
    "FhirConvError", "FhirSyntaxError", "StructureError", "UnsafeInputError", "UnrepresentableError",
    "UnsupportedVersionError", "MigrationError", "Primitive", "__version__",
]
