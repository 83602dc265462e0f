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
from ..tree import primitive_value
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


class _Complex:
    """How one complex value (a datatype missing in the host, or a backbone element) becomes sub-extensions."""

    __slots__ = ("datatype", "children")

    def __init__(self, home: Definitions, host: Definitions, type_code: str, path: str):
        typedef = home.types[type_code]
        # Datatypes say which type they were (_datatype); a backbone element is known by its url.
        self.datatype = type_code if typedef.kind == "complex" else None
        children = []
        for child in typedef.elements:
            if child.name in ("id", "extension", "modifierExtension"):
                continue
            code = child.types[0]
            if child.choice:
                raise ValueError(f"{path}.{child.name}: a choice element cannot be carried in a cross-version extension")
            if _simple(code, host):
                children.append((child.name, child.is_list, _value_key(code), None))
            elif code in home.types:
                children.append((child.name, child.is_list, None, _Complex(home, host, code, f"{path}.{child.name}")))
            else:
                raise ValueError(f"{path}: type {code} cannot be carried into {host.label}")
        self.children = tuple(children)

    def encode(self, item: dict, url: str) -> dict:
        if item.get("modifierExtension"):
            raise ShapeError(f"a modifierExtension cannot ride in extension {url}: it would lose its modifier meaning")
        subs = [{"url": DATATYPE_URL, "valueString": self.datatype}] if self.datatype else []
        subs += item.get("extension") or ()
        for name, is_list, key, nested in self.children:
            if name not in item:
                continue
            for value in (item[name] if is_list else [item[name]]):
                subs.append({"url": name, key: value} if nested is None else nested.encode(value, name))
        ext: dict = {}
        if "id" in item:
            ext["id"] = item["id"]
        ext["extension"] = subs
        ext["url"] = url
        return ext

    def decode(self, ext: dict, url: str) -> dict:
        by_name = {child[0]: child for child in self.children}
        value: dict = {}
        if "id" in ext:
            value["id"] = ext["id"]
        own_extensions, children = [], {}
        datatype = None
        for sub in ext.get("extension") or ():
            sub_url = primitive_value(sub.get("url")) if isinstance(sub, dict) else None
            if sub_url == DATATYPE_URL:
                datatype = primitive_value(sub.get("valueString"))
            elif sub_url in by_name:
                name, is_list, key, nested = by_name[sub_url]
                if nested is None:
                    if key not in sub:
                        raise ShapeError(f"extension {url}: sub-extension {sub_url} has no {key}")
                    item = sub[key]
                else:
                    item = nested.decode(sub, f"{url}#{sub_url}")
                children.setdefault(name, []).append(item)
            else:
                own_extensions.append(sub)
        if datatype != self.datatype:
            raise ShapeError(f"extension {url}: _datatype is {datatype!r}, expected {self.datatype!r}")
        if own_extensions:
            value["extension"] = own_extensions
        for name, is_list, _, _ in self.children:       # definition order
            if name in children:
                items = children[name]
                if not is_list and len(items) > 1:
                    raise ShapeError(f"extension {url}: {len(items)} sub-extensions {name} for one value")
                value[name] = items if is_list else items[0]
        return value


def _simple(code: str, host: Definitions) -> bool:
    """A value of this type can be a ``value[x]`` in the host version."""
    if code in host.primitives:
        return True
    typedef = host.types.get(code)
    return typedef is not None and typedef.kind == "complex"


class ExtensionCodec:
    """Encodes the values of one element (defined in ``home``) as extensions readable in ``host``."""

    __slots__ = ("url", "is_list", "value_key", "complex")

    def __init__(self, home: Definitions, host: Definitions, path: str, element: ElementDef):
        self.url = extension_url(home, path)
        self.is_list = element.is_list
        code = element.types[0]
        self.value_key = _value_key(code)
        self.complex = None if _simple(code, host) else _Complex(home, host, code, path)

    def encode(self, value: Any) -> list[dict]:
        items = value if isinstance(value, list) else [value]
        if self.complex is None:
            return [{"url": self.url, self.value_key: item} for item in items]
        return [self.complex.encode(item, self.url) for item in items]

    def decode(self, extensions: list[dict]) -> Any:
        """The element value the extensions carry (a list for a repeating element)."""
        if self.complex is None:
            values = []
            for ext in extensions:
                if self.value_key not in ext:
                    raise ShapeError(f"extension {self.url} has no {self.value_key}")
                values.append(ext[self.value_key])
        else:
            values = [self.complex.decode(ext, self.url) for ext in extensions]
        if self.is_list:
            return values
        if len(values) != 1:
            raise ShapeError(f"{len(values)} extensions {self.url} for an element that holds one value")
        return values[0]
