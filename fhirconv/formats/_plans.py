"""What the codecs need to know about a type, computed once per (version, type) and cached.

A *field* describes one JSON/XML name of a type: the element's position in definition
order, what kind of node it holds and whether it repeats. Readers look fields up by the
name they meet; writers by the tree key. Both are plain tuples so the hot loops unpack
them without attribute lookups.
"""

from __future__ import annotations

import sys

from ..definitions import Definitions

# Field kinds.
PRIMITIVE = 0   # sub = JSON kind: "string" | "number" | "integer" | "boolean"
COMPLEX = 1     # sub = the type key whose fields describe the child
RESOURCE = 2    # a whole nested resource (contained, Bundle.entry.resource)
XHTML = 3       # the narrative div
ATTRIBUTE = 4   # Element.id, Extension.url: plain strings, XML attributes
COMMENTS = 5    # "fhir_comments": not an element; comments carried alongside

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"

# (index, kind, sub, is_list, name, companion): index is the element's position in definition
# order (all the names of one choice element share it), name is the tree / JSON / XML name and
# companion its JSON "_name" key, built once here so the hot loops never concatenate it.
Field = tuple


def fields_of(defs: Definitions, type_name: str) -> dict[str, Field]:
    """The fields of a type by name, in definition order. Cached on the definitions."""
    key = ("fields", type_name)
    fields = defs.plans.get(key)
    if fields is None:
        fields = defs.plans[key] = _compile_fields(defs, type_name)
    return fields


def fields_lookup(defs: Definitions) -> tuple:
    """For the compiled walks: a ``fields_of`` for these definitions and the {type name: fields}
    dict it fills, made once per definitions and shared by every walk (and thread) over them.

    A plain dict keyed by the type name is cheaper to probe than ``defs.plans`` with its tuple
    keys, and sharing it spares each parse its own dict and one Python call per type it meets.
    Entries are only ever added, each the dict ``fields_of`` caches, so a race stores it twice.
    """
    lookup = defs.plans.get("compiled-fields")
    if lookup is None:
        lookup = defs.plans.setdefault("compiled-fields", (lambda type_name: fields_of(defs, type_name), {}))
    return lookup


def in_definition_order(out: dict, fields: dict) -> tuple[dict, str | None]:
    """A node's children sorted into definition order (``fields`` as ``fields_of`` gives), and the
    first child that shares its place with another (two types of one choice), or None."""
    ordered = sorted(out.items(), key=lambda item: -2 if item[0] == "resourceType" else fields[item[0]][0])
    seen = set()
    for key, _ in ordered:
        if key != "resourceType":
            place = fields[key][0]
            if place in seen and place >= 0:
                return dict(ordered), key
            seen.add(place)
    return dict(ordered), None


def _compile_fields(defs: Definitions, type_name: str) -> dict[str, Field]:
    type_def = defs.types[type_name]
    fields: dict[str, Field] = {}
    for index, element in enumerate(type_def.elements):
        if element.max == "0":
            continue
        for name, code in element.json_names().items():
            # Names and JSON kinds come interned from the definitions; the companion is too, so
            # that every key the walks look up is compared by pointer.
            fields[name] = (index, _kind(defs, element, code), _sub(defs, code), element.is_list, name,
                            sys.intern("_" + name))
    fields["fhir_comments"] = (-1, COMMENTS, None, True, "fhir_comments", "_fhir_comments")
    return fields


def _kind(defs: Definitions, element, code: str) -> int:
    if element.attr:
        return ATTRIBUTE
    if code == "xhtml":
        return XHTML
    if code in defs.primitives:
        return PRIMITIVE
    if defs.is_resource(code):
        return RESOURCE
    if code not in defs.types:
        raise KeyError(f"definitions name a type they do not define: {code}")
    return COMPLEX


def _sub(defs: Definitions, code: str):
    if code in defs.primitives:
        return defs.json_kind(code)
    return code
