"""Cross-version extensions: the HL7 convention for carrying an element into a version that lacks it.

``http://hl7.org/fhir/[major.minor]/StructureDefinition/extension-[element path]``, where the
version is the one that *defines* the element (``4.0`` for an R4 element carried in R6, ``6.0``
for an R6 element carried in R4). fhirconv puts the extension on the element's parent (the
extension's context), one extension per item of a repeating element, in order.

* The value's type exists in the other version: a simple extension, ``value[x]`` of that type.
* It does not (CodeableReference in R4): a complex extension with a sub-extension
  ``http://hl7.org/fhir/StructureDefinition/_datatype`` (``valueString`` = the type name), one
  sub-extension per child named by the child (``concept``, ``reference``), and the value's own
  ``id`` / ``extension`` kept as the extension's ``id`` and as further (absolute-url) sub-extensions.
"""

from __future__ import annotations

from typing import Any

from ..definitions import Definitions, ElementDef
from ..tree import Primitive, primitive_value
from .operations import ShapeError

__all__ = ["DATATYPE_URL", "ExtensionCodec", "extension_url", "version_tag"]

DATATYPE_URL = "http://hl7.org/fhir/StructureDefinition/_datatype"


def version_tag(defs: Definitions) -> str:
    """``4.0.1`` -> ``4.0``; ``6.0.0-ballot3`` -> ``6.0``."""
    major, minor = defs.fhir_version.split(".")[:2]
    return f"{major}.{minor}"


def extension_url(defs: Definitions, path: str) -> str:
    return f"http://hl7.org/fhir/{version_tag(defs)}/StructureDefinition/extension-{path}"


def _value_key(type_code: str) -> str:
    return "value" + type_code[0].upper() + type_code[1:]


class ExtensionCodec:
    """Encodes the values of one element (defined in ``home``) as extensions readable in ``host``."""

    __slots__ = ("url", "is_list", "type_code", "value_key", "children")

    def __init__(self, home: Definitions, host: Definitions, path: str, element: ElementDef):
        self.url = extension_url(home, path)
        self.is_list = element.is_list
        self.type_code = element.types[0]
        self.value_key = _value_key(self.type_code)
        self.children: tuple[tuple[str, str], ...] | None = None
        if self.type_code not in host.types and self.type_code not in host.primitives:
            # A datatype the host version does not have: one sub-extension per child element.
            typedef = home.types[self.type_code]
            children = []
            for child in typedef.elements:
                if child.name in ("id", "extension"):
                    continue
                if child.types[0] not in host.types and child.types[0] not in host.primitives:
                    raise ValueError(f"{path}: nested type {child.types[0]} cannot be carried into "
                                     f"{host.label} by a cross-version extension")
                children.append((child.name, _value_key(child.types[0])))
            self.children = tuple(children)

    # --- writing --------------------------------------------------------------------------------------
    def encode(self, value: Any) -> list[dict]:
        items = value if isinstance(value, list) else [value]
        return [self._encode_one(item) for item in items]

    def _encode_one(self, item: Any) -> dict:
        if self.children is None:
            return {"url": self.url, self.value_key: item}
        subs = [{"url": DATATYPE_URL, "valueString": self.type_code}]
        subs += item.get("extension") or ()
        subs += [{"url": name, key: item[name]} for name, key in self.children if name in item]
        ext: dict = {}
        if "id" in item:
            ext["id"] = item["id"]
        ext["extension"] = subs
        ext["url"] = self.url
        return ext

    # --- reading --------------------------------------------------------------------------------------
    def decode(self, extensions: list[dict]) -> Any:
        """The element value the extensions carry (a list for a repeating element)."""
        values = [self._decode_one(ext) for ext in extensions]
        if self.is_list:
            return values
        if len(values) != 1:
            raise ShapeError(f"{len(values)} extensions {self.url} for an element that holds one value")
        return values[0]

    def _decode_one(self, ext: dict) -> Any:
        if self.children is None:
            if self.value_key not in ext:
                raise ShapeError(f"extension {self.url} has no {self.value_key}")
            return ext[self.value_key]
        by_name = {name: key for name, key in self.children}
        value: dict = {}
        if "id" in ext:
            value["id"] = ext["id"]
        own_extensions, children = [], {}
        datatype = None
        for sub in ext.get("extension") or ():
            url = primitive_value(sub.get("url"))
            if url == DATATYPE_URL:
                datatype = primitive_value(sub.get("valueString"))
            elif url in by_name:
                if by_name[url] not in sub:
                    raise ShapeError(f"extension {self.url}: sub-extension {url} has no {by_name[url]}")
                children[url] = sub[by_name[url]]
            else:
                own_extensions.append(sub)
        if datatype != self.type_code:
            raise ShapeError(f"extension {self.url}: _datatype is {datatype!r}, expected {self.type_code!r}")
        if own_extensions:
            value["extension"] = own_extensions
        for name, _ in self.children:           # definition order
            if name in children:
                value[name] = children[name]
        return value


def is_primitive_node(value: Any) -> bool:
    return isinstance(value, (str, Primitive))
