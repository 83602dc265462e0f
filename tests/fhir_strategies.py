"""Hypothesis strategies that build random element trees of any type, from the definitions.

The trees are what a reader would build: children in definition order, lists where the
definition repeats, primitives as exact text (odd decimals included), some primitives with
ids and extensions (and list items with no value at all, the null-padded case), contained
resources, and a narrative of XHTML with entities and significant whitespace.
"""

from __future__ import annotations

from hypothesis import strategies as st

from fhirconv.definitions import Definitions
from fhirconv.formats._plans import ATTRIBUTE, COMPLEX, PRIMITIVE, RESOURCE, XHTML, fields_of
from fhirconv.tree import Primitive

# Text XML 1.0 can carry (no control characters but TAB/LF/CR, no surrogates, no U+FFFE/F).
_xml_char = st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff",
                          min_codepoint=0x9).filter(lambda c: c >= " " or c in "\t\n\r")
text = st.text(_xml_char, min_size=1, max_size=12)

decimal_lexemes = st.one_of(
    st.sampled_from(["0", "-0.0", "1.00", "12500.00", "1E-22", "1.0e0", "-1.000000000000000000E+245",
                     "0.0000000000000000000001", "1000000000000000000"]),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str).filter(lambda s: "E" not in s),
)
integer_lexemes = st.integers(-(2 ** 31), 2 ** 31 - 1).map(str)
boolean_lexemes = st.sampled_from(["true", "false"])

_words = st.text(st.sampled_from("abc xyz\u00e9\u4e2d"), min_size=1, max_size=8)
xhtml = st.builds(
    lambda a, b, ws: (f'<div xmlns="http://www.w3.org/1999/xhtml">{ws}<p>{a} &amp; &lt;{ws}'
                      f'<b title="{b}">&#x201C;{b}&#x201D;</b></p>{ws}</div>'),
    _words, _words, st.sampled_from(["", "\n  ", "\t", "\n\n"]))

# Types that would make trees huge or recursive without adding new shapes.
_SKIP_TYPES = {"Meta"}


def _lexeme(json_kind: str, type_code: str):
    if json_kind == "boolean":
        return boolean_lexemes
    if json_kind == "number":
        return decimal_lexemes
    if json_kind == "integer":
        return integer_lexemes.filter(
            lambda s: type_code != "positiveInt" or int(s) > 0).filter(
            lambda s: type_code != "unsignedInt" or int(s) >= 0)
    return text


@st.composite
def extension(draw, defs: Definitions, depth: int):
    node = {"url": "http://example.org/" + draw(st.sampled_from(["a", "b", "c"]))}
    if depth > 0 and draw(st.booleans()):
        node["extension"] = draw(st.lists(extension(defs, depth - 1), min_size=1, max_size=2))
    else:
        node["valueString"] = draw(text)
    return node


@st.composite
def primitive(draw, defs: Definitions, json_kind: str, type_code: str, depth: int):
    value = draw(_lexeme(json_kind, type_code))
    style = draw(st.sampled_from(["plain"] * 6 + ["id", "extension", "no value"]))
    if style == "plain":
        return value
    if style == "id":
        return Primitive(value, id=draw(st.sampled_from(["p1", "x-2"])))
    extensions = draw(st.lists(extension(defs, max(depth - 1, 0)), min_size=1, max_size=2))
    if style == "no value":
        return Primitive(None, extension=extensions)
    return Primitive(value, extension=extensions)


@st.composite
def complex_node(draw, defs: Definitions, type_name: str, depth: int, is_resource: bool = False,
                 in_contained: bool = False):
    fields = fields_of(defs, type_name)
    by_index: dict[int, list[tuple[str, tuple]]] = {}
    for name, field in fields.items():
        if field[1] != 5:  # not the fhir_comments pseudo-field
            by_index.setdefault(field[0], []).append((name, field))
    indexes = sorted(by_index)
    wanted = draw(st.lists(st.sampled_from(indexes), min_size=1, max_size=4 if depth > 0 else 2, unique=True))
    # The narrative and decimals are where converters lose data: make them common.
    for name in ("text", "valueQuantity", "value"):
        if name in fields and fields[name][0] not in wanted and draw(st.booleans()):
            wanted.append(fields[name][0])
    node = {"resourceType": type_name} if is_resource else {}
    for index in sorted(wanted):
        name, (_, kind, sub, is_list, _, _) = draw(st.sampled_from(by_index[index]))
        count = draw(st.integers(1, 2)) if is_list else 1
        if kind == PRIMITIVE:
            items = [draw(primitive(defs, sub, _type_code(defs, type_name, name), depth))
                     for _ in range(count)]
        elif kind == ATTRIBUTE:
            node[name] = "u1" if name == "id" else "http://example.org/x"
            continue
        elif kind == XHTML:
            items = [draw(xhtml)]
        elif kind == RESOURCE:
            if depth == 0 or in_contained:
                continue
            items = [draw(resource(defs, depth - 1, in_contained=True)) for _ in range(count)]
        elif kind == COMPLEX:
            if depth == 0 or sub in _SKIP_TYPES and depth < 2:
                continue
            if sub == "Extension":
                items = [draw(extension(defs, 1)) for _ in range(count)]
            else:
                items = [draw(complex_node(defs, sub, depth - 1)) for _ in range(count)]
        else:
            continue
        node[name] = items if is_list else items[0]
    if not node or node == {"resourceType": type_name}:
        node["id" if is_resource else "extension"] = "r1" if is_resource else [draw(extension(defs, 0))]
        if not is_resource:
            return _ordered(node, fields)
    return _ordered(node, fields)


def _ordered(node: dict, fields: dict) -> dict:
    return dict(sorted(node.items(), key=lambda kv: -2 if kv[0] == "resourceType" else fields[kv[0]][0]))


def _type_code(defs: Definitions, type_name: str, json_name: str) -> str:
    for element in defs.types[type_name].elements:
        for name, code in element.json_names().items():
            if name == json_name:
                return code
    return "string"


# Resource types whose shapes matter most here (decimals, nested items, entries, imaging).
_FAVOURITES = ("Observation", "Patient", "Bundle", "Questionnaire", "ImagingStudy", "ActivityDefinition")


def resource(defs: Definitions, depth: int = 2, in_contained: bool = False):
    types = sorted(defs.resource_types)
    favourites = [t for t in _FAVOURITES if t in defs.resource_types]
    return st.one_of(st.sampled_from(favourites), st.sampled_from(types)).flatmap(
        lambda t: complex_node(defs, t, depth, is_resource=True, in_contained=in_contained))
