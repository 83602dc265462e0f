"""Reports narrative XHTML that FHIR forbids, without changing a byte of it.

The codecs keep the narrative ``div`` exactly as written (that is what lossless means, and what
signatures over it need). But FHIR allows only basic formatting in it (invariant txt-1: no
``<script>``, no forms, no event attributes), and a narrative is HTML that someone will render.
So fhirconv does not strip anything: it *reports*. ``check_narrative(tree)`` walks a parsed
resource and returns one OperationOutcome issue per finding, the same shape ``fhirconv.validate``
returns, so callers and the CLI can print, log or refuse as they choose.

    >>> tree = fhirconv.parse(data)
    >>> for issue in fhirconv.narrative.check_narrative(tree):
    ...     print(issue["severity"], issue["expression"][0], issue["diagnostics"])

The allowed elements and attributes are those of txt-1 (HTML 4.0 chapters 7-11 and 15, ``a``,
``img``, inline ``style``), as the HL7 reference validator lists them.
"""

from __future__ import annotations

import re

from lxml import etree

from .errors import FhirConvError
from .formats.xml import checked_xhtml, safe_parser
from .tree import Primitive

__all__ = ["check_narrative", "NARRATIVE_ELEMENTS", "NARRATIVE_ATTRIBUTES"]

XHTML_NS = "http://www.w3.org/1999/xhtml"

NARRATIVE_ELEMENTS = frozenset((
    "p", "br", "div", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong", "small",
    "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr", "address", "bdo", "kbd",
    "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre", "table", "caption", "colgroup", "col", "thead",
    "tr", "tfoot", "tbody", "th", "td", "code", "samp", "img", "map", "area"))

# Allowed on every element, then per element.
NARRATIVE_ATTRIBUTES = frozenset((
    "title", "style", "class", "id", "lang", "xml:lang", "dir", "accesskey", "tabindex",
    "span", "width", "align", "valign", "char", "charoff", "abbr", "axis", "headers", "scope", "rowspan",
    "colspan"))
_ELEMENT_ATTRIBUTES = frozenset((
    "a.href", "a.name", "a.charset", "a.type", "a.hreflang", "a.rel", "a.rev", "a.shape", "a.coords",
    "img.src", "img.border", "img.alt", "img.longdesc", "img.height", "img.width", "img.usemap", "img.ismap",
    "blockquote.cite", "q.cite", "map.name", "area.shape", "area.coords", "area.href", "area.nohref",
    "area.alt", "table.summary", "table.width", "table.border", "table.frame", "table.rules",
    "table.cellspacing", "table.cellpadding", "pre.space", "td.nowrap"))

# What makes a narrative dangerous to render, not merely non-conformant.
_ACTIVE_ELEMENTS = frozenset(("script", "iframe", "object", "embed", "applet", "form", "input", "button",
                              "textarea", "select", "base", "link", "meta", "frame", "frameset", "svg", "math"))
# javascript:/vbscript: run; a data: URL can carry HTML or SVG with scripts. Raster images in data:
# URLs are common in real narratives (the R4 profiles use them) and harmless.
_SCRIPT_URL = re.compile(r"^\s*(?:javascript|vbscript)\s*:|^\s*data\s*:(?!\s*image/(?:png|gif|jpe?g|webp|bmp)[;,])",
                         re.I)
_URL_ATTRIBUTES = frozenset(("href", "src", "longdesc", "cite", "usemap"))
_XML_NS = "{http://www.w3.org/XML/1998/namespace}"


def check_narrative(tree: dict, *, root: str | None = None) -> list[dict]:
    """OperationOutcome issues for every narrative ``div`` in ``tree`` (contained resources too).

    ``severity`` is ``"error"`` for what a browser would run or submit (script, event handlers,
    ``javascript:`` URLs, forms, frames) and for markup that is not XHTML at all; ``"warning"``
    for other elements and attributes txt-1 does not allow. Each issue's ``expression`` is the
    FHIRPath of the ``div``; ``diagnostics`` names the XHTML element and why.
    """
    issues: list[dict] = []
    start = root or (tree.get("resourceType") if isinstance(tree, dict) else None) or "Resource"
    # An explicit stack, not recursion: a tree may be as deep as the readers allow.
    stack: list[tuple[object, str]] = [(tree, start)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            for key, value in reversed(list(node.items())):
                if key == "div" and isinstance(value, (str, Primitive)):
                    markup = value if isinstance(value, str) else value.value
                    if markup is not None:
                        issues.extend(_check_div(markup, f"{path}.div"))
                elif isinstance(value, (dict, list)):
                    stack.append((value, f"{path}.{key}"))
        elif isinstance(node, list):
            for index in range(len(node) - 1, -1, -1):
                stack.append((node[index], f"{path}[{index}]"))
    return issues


def _issue(severity: str, code: str, path: str, diagnostics: str) -> dict:
    return {"severity": severity, "code": code, "diagnostics": diagnostics, "expression": [path]}


def _check_div(markup: str, path: str) -> list[dict]:
    try:
        # The writer's own check: no DOCTYPE (refused before parsing), well-formed, an XHTML div.
        checked_xhtml(markup)
        div = etree.fromstring(markup.encode("utf-8"), safe_parser(keep_comments=False))
    except FhirConvError as err:
        return [_issue("error", "invalid", path, f"the narrative cannot be checked: {err.message}")]
    except etree.XMLSyntaxError as exc:  # checked_xhtml parsed it already; kept for safety
        return [_issue("error", "invalid", path, f"the narrative is not well-formed XHTML: {exc}")]
    issues = []
    for elem in div.iter():
        if not isinstance(elem.tag, str):
            continue  # comments and processing instructions are not rendered
        namespace, _, name = elem.tag[1:].rpartition("}") if elem.tag.startswith("{") else ("", "", elem.tag)
        where = _xhtml_path(elem, div)
        if namespace != XHTML_NS:
            issues.append(_issue("error", "security" if name in _ACTIVE_ELEMENTS else "invalid", path,
                                 f"<{name}> at {where} is not XHTML (namespace {namespace or 'none'})"))
        elif name in _ACTIVE_ELEMENTS:
            issues.append(_issue("error", "security", path,
                                 f"<{name}> at {where} is not allowed in a FHIR narrative (txt-1) and may run "
                                 f"or load content when rendered"))
        elif name not in NARRATIVE_ELEMENTS:
            issues.append(_issue("warning", "invalid", path,
                                 f"<{name}> at {where} is not allowed in a FHIR narrative (txt-1)"))
        for attribute, value in elem.items():
            local = "xml:" + attribute[len(_XML_NS):] if attribute.startswith(_XML_NS) else attribute
            if local.lower().startswith("on"):
                issues.append(_issue("error", "security", path,
                                     f"event handler attribute {local}=\"{value[:40]}\" on <{name}> at {where} "
                                     f"(scripts are not allowed in a FHIR narrative, txt-1)"))
            elif local in _URL_ATTRIBUTES and _SCRIPT_URL.match(value):
                issues.append(_issue("error", "security", path,
                                     f"{local}=\"{value[:40]}\" on <{name}> at {where}: a script URL "
                                     f"(javascript:, vbscript:, or data: other than a raster image)"))
            elif (local not in NARRATIVE_ATTRIBUTES and f"{name}.{local}" not in _ELEMENT_ATTRIBUTES
                  and not local.startswith("{")):
                issues.append(_issue("warning", "invalid", path,
                                     f"attribute {local} on <{name}> at {where} is not allowed in a FHIR "
                                     f"narrative (txt-1)"))
            elif local.startswith("{"):
                issues.append(_issue("warning", "invalid", path,
                                     f"attribute {local} on <{name}> at {where} is not XHTML"))
    return issues


def _xhtml_path(elem, div) -> str:
    """``div/p[2]/script`` (1-based positions among same-named siblings, as XPath writes them)."""
    steps = []
    node = elem
    while node is not None and node is not div:
        parent = node.getparent()
        name = etree.QName(node).localname
        same = [c for c in parent if c.tag == node.tag] if parent is not None else [node]
        steps.append(f"{name}[{same.index(node) + 1}]" if len(same) > 1 else name)
        node = parent
    steps.append("div")
    return "/".join(reversed(steps))
