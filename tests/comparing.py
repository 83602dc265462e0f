"""How the tests compare FHIR content: JSON values with numbers by their text, XML as trees.

These are the oracles of the corpus tests, so they are strict: the only things they let
pass are the ones the spec says carry no meaning (XML comments, indentation between
elements) and, inside the XHTML narrative, whitespace that the publisher's XML writer adds
when it indents markup (its JSON writer does not).
"""

from __future__ import annotations

import json
import re

from lxml import etree


class NumberText(str):
    """A JSON number kept as the text that was written."""


def load_json_lexical(data: bytes | str):
    """JSON -> Python values where numbers stay their text (``NumberText``)."""
    if isinstance(data, bytes):
        data = data.decode("utf-8-sig")
    return json.loads(data, parse_float=NumberText, parse_int=NumberText)


def json_differences(a, b, path: str = "$", *, div_as_xhtml: bool = True) -> list[str]:
    """Every place two JSON values differ (numbers compared as text; a number never equals a string)."""
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = []
        for key in a.keys() | b.keys():
            if key not in a or key not in b:
                diffs.append(f"{path}.{key}: only in {'first' if key in a else 'second'}")
            elif key == "div" and div_as_xhtml and isinstance(a[key], str) and isinstance(b[key], str):
                if not xhtml_equal(a[key], b[key]):
                    diffs.append(f"{path}.div: narrative differs")
            else:
                diffs.extend(json_differences(a[key], b[key], f"{path}.{key}", div_as_xhtml=div_as_xhtml))
        return diffs
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        diffs = []
        for i, (x, y) in enumerate(zip(a, b)):
            diffs.extend(json_differences(x, y, f"{path}[{i}]", div_as_xhtml=div_as_xhtml))
        return diffs
    if type(a) is not type(b) or a != b:
        return [f"{path}: {_short(a)} vs {_short(b)}"]
    return []


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 160 else text[:150] + "...'"


_SPACE = re.compile(r"\s+")


def _xhtml_canonical(elem) -> tuple:
    def text(value):
        return _SPACE.sub(" ", value or "").strip()
    children = tuple(_xhtml_canonical(c) for c in elem if isinstance(c.tag, str))
    tails = tuple(text(c.tail) for c in elem if isinstance(c.tag, str))
    # Attribute whitespace too: the publisher's JSON writer leaves newlines raw inside attribute
    # values (which XML reads as spaces) where its XML writer wrote &#xA;.
    attributes = tuple(sorted((name, text(value)) for name, value in elem.attrib.items()))
    return (elem.tag, attributes, text(elem.text), children, tails)


def xhtml_equal(a: str | etree._Element, b: str | etree._Element) -> bool:
    """Same XHTML, ignoring comments and how whitespace is laid out (it renders the same)."""
    return _xhtml_canonical(_element(a)) == _xhtml_canonical(_element(b))


def _element(value):
    if isinstance(value, str):
        parser = etree.XMLParser(remove_comments=True, resolve_entities=False, no_network=True)
        return etree.fromstring(value.encode("utf-8"), parser)
    return value


XHTML_DIV = "{http://www.w3.org/1999/xhtml}div"


def xml_differences(a: bytes, b: bytes, *, ignore_attributes: tuple[str, ...] = (),
                    ignore_order: bool = False) -> list[str]:
    """Every place two FHIR XML documents differ as trees (comments, indentation ignored).

    ``ignore_attributes`` (Clark names) are removed from both first; ``ignore_order`` compares
    siblings sorted by name (for a source that breaks FHIR's element order).
    """
    parser = etree.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False, no_network=True,
                             huge_tree=True)
    trees = [etree.fromstring(a, parser), etree.fromstring(b, parser)]
    for tree in trees:
        for elem in tree.iter():
            for name in ignore_attributes:
                elem.attrib.pop(name, None)
            if ignore_order and elem.tag != XHTML_DIV and len(elem):
                elem[:] = sorted(elem, key=lambda child: child.tag)
    return _xml_diff(trees[0], trees[1], "")


def _xml_diff(x, y, path: str) -> list[str]:
    here = f"{path}/{etree.QName(x).localname}"
    if x.tag != y.tag:
        return [f"{here}: <{x.tag}> vs <{y.tag}>"]
    if x.tag == XHTML_DIV:
        return [] if xhtml_equal(x, y) else [f"{here}: narrative differs"]
    diffs = []
    if dict(x.attrib) != dict(y.attrib):
        diffs.append(f"{here}: attributes {dict(x.attrib)} vs {dict(y.attrib)}")
    if (x.text or "").strip() or (y.text or "").strip():
        diffs.append(f"{here}: text {x.text!r} vs {y.text!r}")
    xs, ys = list(x), list(y)
    if len(xs) != len(ys):
        diffs.append(f"{here}: {len(xs)} children vs {len(ys)}: "
                     f"{[etree.QName(c).localname for c in xs]} vs {[etree.QName(c).localname for c in ys]}")
        return diffs
    for cx, cy in zip(xs, ys):
        diffs.extend(_xml_diff(cx, cy, here))
    return diffs
