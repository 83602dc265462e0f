"""FHIR XML <-> element tree.

Reading uses lxml with a parser that cannot be turned against the host: no DTD is loaded,
no entity is expanded, nothing is fetched from the network or the file system, and a
document with a DOCTYPE is refused outright (FHIR forbids DTDs). ``huge_tree`` is on so a
large inline Binary reads; nesting and value limits are enforced by the walk instead.

The narrative ``div`` is taken from the source text as written (its exact markup), not
re-serialized. Writing builds the XML text directly from the tree, element by element in
definition order, escaping what XML 1.0 needs and refusing what it cannot carry.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from ..definitions import Definitions
from ..errors import FhirConvError, FhirSyntaxError, StructureError, UnrepresentableError, UnsafeInputError
from ..tree import Primitive
from ._plans import (ATTRIBUTE, COMMENTS, COMPLEX, FHIR_NS, PRIMITIVE, RESOURCE, XHTML, XHTML_NS, fields_lookup,
                     fields_of, in_definition_order)

try:  # the compiled walk over libxml2's nodes (built from _fastxml.pyx when a compiler is there)
    from ._fastxml import Fallback, FastReader
except ImportError:  # pragma: no cover - pure-Python installs use the reference reader only
    FastReader = None

__all__ = ["parse_xml", "serialize_xml", "safe_parser"]

_FHIR = "{" + FHIR_NS + "}"
_XHTML_DIV = "{" + XHTML_NS + "}div"
_FHIR_LEN = len(_FHIR)
# Real FHIR nests a few dozen levels (the R4 examples: 19). The JSON reader has the same limit, so
# what one format reads the other reads back, and orjson (255 JSON levels) can write it.
_MAX_DEPTH = 100


def safe_parser(*, keep_comments: bool = False, keep_blank_text: bool = False) -> etree.XMLParser:
    """A parser that expands no entity and reads no DTD, file or URL."""
    return etree.XMLParser(
        resolve_entities=False, load_dtd=False, dtd_validation=False, no_network=True,
        huge_tree=True, remove_comments=not keep_comments, remove_pis=True, collect_ids=False,
        # Whitespace-only text between elements is layout in FHIR XML; not building it makes
        # parsing half again as fast. The narrative keeps its whitespace: it is cut from the source.
        remove_blank_text=not keep_blank_text, strip_cdata=True)


# lxml parsers are not thread-safe; one per thread and setting, created on first use.
_local = threading.local()


def _parser(keep_comments: bool) -> etree.XMLParser:
    name = "with_comments" if keep_comments else "plain"
    parser = getattr(_local, name, None)
    if parser is None:
        parser = safe_parser(keep_comments=keep_comments)
        setattr(_local, name, parser)
    return parser


# -- reading -------------------------------------------------------------------------------

def parse_xml(data: bytes | str, defs: Definitions, *, keep_comments: bool = False) -> dict:
    """FHIR XML -> tree. Errors carry the element path and its line (and column)."""
    source = data.encode("utf-8") if isinstance(data, str) else data
    if source.startswith(b"\xef\xbb\xbf"):
        source = source[3:]
    root = _parse_document(source, keep_comments)
    reader = _TreeReader(defs, source, keep_comments)
    if FastReader is not None and not keep_comments and use_compiled_reader:
        try:
            return _read_fast(reader, root)
        except Fallback:
            pass  # something to report or keep: the reference reader reads it again
        except FhirConvError as err:
            raise _locate(err, source) from None
    try:
        return reader.resource(root)
    except RecursionError:
        raise StructureError("XML nested too deeply") from None
    except FhirConvError as err:
        raise _locate(err, source) from None


# Tests switch this off to prove the compiled and the reference reader build the same trees.
use_compiled_reader = True


def _read_fast(reader: "_TreeReader", root) -> dict:
    rtype = reader._resource_type(root)  # its errors are the reference reader's own
    defs = reader.defs
    fields_for, fields_cache = fields_lookup(defs)
    fast = FastReader(fields_for, lambda elem: _raw_markup(elem, reader.source, reader),
                      Primitive, _in_definition_order, defs.resource_types, fields_cache)
    return fast.read(root, rtype)


# What XML allows before the root element (besides a DOCTYPE): blanks, comments, processing instructions.
_PROLOG = re.compile(rb"(?:[ \t\r\n]+|<!--.*?-->|<\?.*?\?>)*", re.S)
_DECLARED_ENCODING = re.compile(rb"""<\?xml\s[^>]*?encoding\s*=\s*["']([^"']*)""")


def _refuse_doctype(source: bytes, *, document: bool = True) -> bytes:
    """Refuse a DOCTYPE, and a declared encoding that could hide one, before libxml2 reads anything.

    libxml2 opens external parameter entities while it reads a DOCTYPE, even with load_dtd=False
    and resolve_entities=False: checking ``docinfo.doctype`` after parsing is too late (an entity
    pointing at a fifo or /dev/zero never returns). An encoding such as UTF-7 could spell the
    DOCTYPE in bytes this check cannot see, so only UTF-8 is let through to the parser.
    """
    if document and (b"\x00" in source[:4] or source[:1] not in (b"<", b" ", b"\t", b"\r", b"\n", b"")):
        # libxml2 would guess UTF-32 or EBCDIC from these bytes, where a DOCTYPE is invisible here.
        raise FhirSyntaxError("not UTF-8 XML: a FHIR XML document starts with '<' (or a byte order mark)",
                              line=1, column=1)
    declared = _DECLARED_ENCODING.match(source)
    if declared and declared.group(1).upper() not in (b"UTF-8", b"UTF8"):
        name = declared.group(1).decode("ascii", "replace")
        raise FhirSyntaxError(f"FHIR XML must be UTF-8, not {name}", line=1 if document else None,
                              column=1 if document else None)
    end = _PROLOG.match(source).end()
    if source[end:end + 9].upper() == b"<!DOCTYPE":
        if not document:
            raise UnsafeInputError("DOCTYPE is not allowed in the narrative")
        line = source.count(b"\n", 0, end) + 1
        raise UnsafeInputError("DOCTYPE is not allowed in FHIR XML (no DTDs, no entity declarations)",
                               line=line, column=end - (source.rfind(b"\n", 0, end) + 1) + 1)
    return source


def _parse_document(source: bytes, keep_comments: bool):
    if source[:2] in (b"\xff\xfe", b"\xfe\xff") or source[:4] in (b"<\x00?\x00", b"\x00<\x00?"):
        raise FhirSyntaxError("FHIR XML must be UTF-8; this looks like UTF-16", line=1, column=1)
    _refuse_doctype(source)
    try:
        tree = etree.fromstring(source, _parser(keep_comments)).getroottree()
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        if "Excessive depth" in str(exc):  # libxml2's own cap (2048 with huge_tree): the same error as ours
            raise StructureError(f"nested more than {_MAX_DEPTH} levels deep", line=line, column=column) from None
        raise FhirSyntaxError(f"not well-formed XML: {_libxml_message(exc)}", line=line, column=column) from None
    except ValueError as exc:  # e.g. an encoding declaration lxml cannot honour
        raise FhirSyntaxError(f"cannot read XML: {exc}") from None
    if tree.docinfo.doctype:
        raise UnsafeInputError("DOCTYPE is not allowed in FHIR XML (no DTDs, no entity declarations)",
                               line=1, column=1)
    encoding = (tree.docinfo.encoding or "UTF-8").upper()
    if encoding not in ("UTF-8", "UTF8"):
        raise FhirSyntaxError(f"FHIR XML must be UTF-8, not {tree.docinfo.encoding}", line=1, column=1)
    return tree.getroot()


def _libxml_message(exc) -> str:
    message = str(exc.msg if hasattr(exc, "msg") else exc)
    message = re.sub(r", line \d+, column \d+$", "", message)
    char_ref = re.search(r"xmlParseCharRef: invalid xmlChar value (\d+)", message)
    if char_ref:  # libxml2's wording for &#x13; and friends
        return (f"character reference to U+{int(char_ref.group(1)):04X}, a character XML 1.0 forbids "
                f"(control characters other than tab, LF and CR cannot appear in XML at all)")
    return message


def _locate(err: FhirConvError, source: bytes) -> FhirConvError:
    elem = getattr(err, "element", None)
    if err.line is None and elem is not None and elem.sourceline:
        line = elem.sourceline
        column = None
        local = elem.tag.rpartition("}")[2] if isinstance(elem.tag, str) else None
        if local:
            text = _line_text(source, line)
            hit = re.search(rb"<(?:[\w.-]+:)?" + re.escape(local.encode()) + rb"\b", text)
            column = hit.start() + 1 if hit else None
        err.located(line=line, column=column)
    return err


def _line_text(source: bytes, line: int) -> bytes:
    start = 0
    for _ in range(line - 1):
        start = source.find(b"\n", start) + 1
        if start == 0:
            return b""
    end = source.find(b"\n", start)
    return source[start:] if end < 0 else source[start:end]


def _blame(err: FhirConvError, elem) -> FhirConvError:
    """Remember the innermost element an error is about, for its line and column."""
    if getattr(err, "element", None) is None:
        err.element = elem
    return err


_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
_SCHEMA_HINTS = frozenset((_XSI + "schemaLocation", _XSI + "noNamespaceSchemaLocation"))

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?\Z")
# integer, positiveInt, unsignedInt: the same without fraction or exponent. FHIR's integer regex
# also allows a leading "+", which JSON cannot write, so it is refused to keep XML -> JSON lossless.
_WHOLE_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")


class _TreeReader:
    __slots__ = ("defs", "plans", "source", "keep_comments", "depth", "line_cursor")

    def __init__(self, defs: Definitions, source: bytes, keep_comments: bool):
        self.defs = defs
        self.plans = defs.plans
        self.source = source
        self.keep_comments = keep_comments
        self.depth = 0
        self.line_cursor = (1, 0)

    def fields(self, type_name: str) -> dict:
        key = ("xml-fields", type_name)
        fields = self.plans.get(key)
        if fields is None:
            # The narrative div is the one FHIR element outside the FHIR namespace.
            fields = self.plans[key] = {
                (_XHTML_DIV if field[1] == XHTML else _FHIR + name): field
                for name, field in fields_of(self.defs, type_name).items() if field[1] != COMMENTS}
        return fields

    def resource(self, root) -> dict:
        rtype = self._resource_type(root)
        try:
            node = self.complex(root, rtype, True)
        except FhirConvError as err:
            raise err.rooted(rtype) from None
        if self.keep_comments:
            outside = [c.text for c in _siblings(root) if isinstance(c, etree._Comment)]
            if outside:
                node = _with_comments(node, outside)
        return node

    def _resource_type(self, elem) -> str:
        tag = elem.tag
        if not isinstance(tag, str) or not tag.startswith(_FHIR):
            namespace = tag[1:].partition("}")[0] if isinstance(tag, str) and tag.startswith("{") else ""
            name = etree.QName(elem).localname if isinstance(tag, str) else "?"
            raise _blame(StructureError(
                f"<{name}> is not in the FHIR namespace {FHIR_NS}"
                + (f" (it is in {namespace})" if namespace else " (no namespace)")), elem)
        rtype = tag[_FHIR_LEN:]
        if rtype not in self.defs.resource_types:
            raise _blame(StructureError(
                f"unknown resource type <{rtype}> for FHIR {self.defs.label} ({self.defs.fhir_version})"), elem)
        return rtype

    def complex(self, elem, type_name: str, is_resource: bool = False) -> dict:
        fields = self.plans.get(("xml-fields", type_name)) or self.fields(type_name)
        out = {"resourceType": type_name} if is_resource else {}
        if elem.attrib:
            self._attributes(elem, fields, out, is_resource)
        text = elem.text
        if text is not None and not text.isspace():
            raise _blame(StructureError(f"text {_shown(text)} is not allowed here (FHIR XML has no mixed content)"), elem)
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise _blame(StructureError(f"nested more than {_MAX_DEPTH} levels deep"), elem)
        last = -1
        unordered = False
        for child in elem:
            tag = child.tag
            tail = child.tail
            if tail is not None and not tail.isspace():
                raise _blame(StructureError(f"text {_shown(tail)} is not allowed here (FHIR XML has no mixed content)"), elem)
            if type(tag) is not str:  # a comment (processing instructions are removed)
                out.setdefault("fhir_comments", []).append(child.text or "")
                continue
            field = fields.get(tag)
            if field is None:
                raise self._unknown(child, type_name)
            index, kind, sub, is_list, name, _ = field
            try:
                if kind == PRIMITIVE:
                    node = self.primitive(child, sub)
                elif kind == COMPLEX:
                    node = self.complex(child, sub)
                elif kind == RESOURCE:
                    node = self.nested_resource(child)
                elif kind == XHTML:
                    node = self.xhtml(child)
                else:
                    raise _blame(StructureError(f"{name} must be an XML attribute, not an element"), child)
            except FhirConvError as err:
                if is_list:
                    err.at(f"[{len(out.get(name, ()))}]")
                raise err.at("." + name) from None
            if is_list:
                if index == last:
                    out[name].append(node)
                elif name in out:
                    out[name].append(node)
                    unordered = True
                else:
                    out[name] = [node]
            elif index == last or name in out:
                raise _blame(StructureError(f"<{name}> given twice (or two types of one choice element)"), child).at("." + name)
            else:
                out[name] = node
            if index < last:
                unordered = True
            last = index
        self.depth -= 1
        if not out:
            raise _blame(StructureError("empty element: FHIR elements must have a value, children or extensions"), elem)
        if unordered:
            out = _in_definition_order(out, fields_of(self.defs, type_name))
        return out

    def _attributes(self, elem, fields: dict, out: dict, is_resource: bool) -> None:
        for key, value in elem.items():
            if key in _SCHEMA_HINTS and elem.getparent() is None:
                continue  # where to find an XSD: a hint to XML tools, not resource content
            field = fields.get(_FHIR + key) if "{" not in key else None
            if field is None or field[1] != ATTRIBUTE or is_resource:
                raise _blame(StructureError(f'attribute {_clip(key)}="{_clip(value)}" is not allowed on this element'), elem)
            if not value:
                raise _blame(StructureError(f"empty {key} attribute"), elem).at("." + key)
            out[key] = value

    def primitive(self, elem, json_kind: str):
        value = None
        node_id = None
        for key, attr in elem.items():
            if key == "value":
                value = attr
            elif key == "id":
                node_id = attr
            else:
                raise _blame(StructureError(f'attribute {_clip(key)}="{_clip(attr)}" is not allowed on a primitive'), elem)
        if value is not None:
            if not value:
                raise _blame(StructureError('empty value="": FHIR values must not be empty (leave the element out)'), elem)
            if json_kind != "string":
                _check_lexeme(value, json_kind, elem)
        text = elem.text
        if text is not None and not text.isspace():
            raise _blame(StructureError(f"text {_shown(text)} is not allowed in a primitive (use value=\"...\")"), elem)
        if len(elem) == 0:
            if node_id is None:
                if value is None:
                    raise _blame(StructureError("a primitive needs a value attribute or extensions"), elem)
                return value
            return Primitive(value, node_id)
        extensions = []
        comments = None
        for child in elem:
            tail = child.tail
            if tail is not None and not tail.isspace():
                raise _blame(StructureError(f"text {_shown(tail)} is not allowed here"), elem)
            if type(child.tag) is not str:
                comments = (comments or []) + [child.text or ""]
                continue
            if child.tag != _FHIR + "extension":
                raise _blame(StructureError(f"<{_local(child)}> is not allowed in a primitive (only extension)"), child)
            try:
                extensions.append(self.complex(child, "Extension"))
            except FhirConvError as err:
                raise err.at(f".extension[{len(extensions)}]") from None
        if value is None and not extensions and node_id is None and not comments:
            raise _blame(StructureError("a primitive needs a value attribute or extensions"), elem)
        return Primitive(value, node_id, extensions or None, comments)

    def nested_resource(self, elem) -> dict:
        if elem.attrib:
            raise _blame(StructureError("a resource container takes no attributes"), elem)
        children = [c for c in elem if type(c.tag) is str]
        if len(children) != 1:
            raise _blame(StructureError(f"must hold exactly one resource, not {len(children)} elements"), elem)
        inner = children[0]
        if inner.tail is not None and not inner.tail.isspace() or (elem.text and not elem.text.isspace()):
            raise _blame(StructureError("text is not allowed here (FHIR XML has no mixed content)"), elem)
        rtype = self._resource_type(inner)
        node = self.complex(inner, rtype, True)
        comments = [c.text or "" for c in elem if type(c.tag) is not str]
        return _with_comments(node, comments) if comments else node

    def xhtml(self, elem):
        if elem.tag != _XHTML_DIV:
            raise _blame(StructureError(
                f"the narrative must be an XHTML <div> in namespace {XHTML_NS}, not <{_local(elem)}>"), elem)
        return _raw_markup(elem, self.source, self)

    def _unknown(self, child, type_name: str) -> FhirConvError:
        tag = child.tag
        if tag.startswith(_FHIR):
            message = f"unknown element <{tag[_FHIR_LEN:]}> in {type_name} for FHIR {self.defs.label}"
        else:
            message = (f"element <{_local(child)}> in namespace {etree.QName(child).namespace or '(none)'} "
                       f"is not FHIR (expected namespace {FHIR_NS})")
        return _blame(StructureError(message), child).at("." + _local(child))


def _local(elem) -> str:
    tag = elem.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else "?"


def _siblings(root):
    node = root.getprevious()
    before = []
    while node is not None:
        before.append(node)
        node = node.getprevious()
    after = []
    node = root.getnext()
    while node is not None:
        after.append(node)
        node = node.getnext()
    return list(reversed(before)) + after


def _with_comments(node: dict, comments: list[str]) -> dict:
    existing = node.get("fhir_comments", [])
    merged = {"resourceType": node["resourceType"], "fhir_comments": comments + existing}
    merged.update((k, v) for k, v in node.items() if k not in merged)
    return merged


def _in_definition_order(out: dict, fields: dict) -> dict:
    """Children sorted by definition order; XML readers refuse a repeated name before sorting."""
    return in_definition_order(out, fields)[0]


def _check_lexeme(value: str, json_kind: str, elem) -> None:
    if json_kind == "number":
        if not _NUMBER.match(value):
            raise _blame(StructureError(f'value="{_clip(value)}" is not a FHIR number'), elem)
    elif json_kind == "integer":
        if not _WHOLE_NUMBER.match(value):
            raise _blame(StructureError(f'value="{_clip(value)}" is not a FHIR integer'), elem)
    elif value != "true" and value != "false":
        raise _blame(StructureError(f'value="{_clip(value)}" is not a boolean (true or false)'), elem)


def _clip(text: str) -> str:
    """A value as quoted in a message: whole if short; a 50 MB attribute must not become a 50 MB message."""
    return text if len(text) <= 80 else f"{text[:40]}... ({len(text):,} characters)"


def _shown(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:37] + "...")


# The narrative's exact markup: the slice of the source from <div ...> to its matching </div>.
# Only div tags need matching: '<' never appears raw in XML attribute values or text, so every
# '<' opens a tag, comment, CDATA section or processing instruction.
_DIV_TOKEN = re.compile(
    rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>"
    rb"|<(/?)(?:[\w.-]+:)?div\b(?:\s+[^\s=/>]+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*\s*(/?)>", re.S)
_DIV_START = re.compile(rb"<(?:[\w.-]+:)?div\b")
_XMLNS_XHTML = re.compile(r"""\sxmlns\s*=\s*["']http://www\.w3\.org/1999/xhtml["']""")


def _raw_markup(elem, source: bytes, reader: _TreeReader) -> str:
    """The div exactly as written in the source, or lxml's serialization if it cannot be found."""
    start = _line_offset(reader, elem.sourceline)
    match = _DIV_START.search(source, start) if start is not None else None
    if match is None or elem.prefix is not None:
        return _reserialized(elem, source)
    depth = 0
    divs = 0
    for token in _DIV_TOKEN.finditer(source, match.start()):
        closing, empty = token.group(1), token.group(2)
        if closing is None:  # comment, CDATA, PI
            continue
        if closing:
            depth -= 1
        else:
            divs += 1
            if not empty:
                depth += 1
        if depth == 0:
            raw = source[match.start():token.end()]
            break
    else:
        return _reserialized(elem, source)
    # A cheap proof that the slice is this element: it holds as many divs as the element does.
    if divs != sum(1 for _ in elem.iter(_XHTML_DIV)):
        return _reserialized(elem, source)
    text = raw.decode("utf-8")
    if "\r" in text:  # XML reads CRLF and CR as LF; so does the markup it carries
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&#" in text:  # a carriage return that is content (see _carriage_returns_kept)
        text = _CR_REFERENCE.sub("\r", text)
    first_tag_end = text.index(">")
    if not _XMLNS_XHTML.search(text[:first_tag_end]):
        text = text[:4] + f' xmlns="{XHTML_NS}"' + text[4:]
    return text


_CR_REFERENCE = re.compile(r"&#(?:13|x0*[dD]);")
# A tag with a CR in its layout (between attributes, outside any quoted value).
_CR_IN_TAG_LAYOUT = re.compile(r"""<(?:[^<>"'\r]|"[^"]*"|'[^']*')*\r(?:[^<>"']|"[^"]*"|'[^']*')*>""")
_QUOTED_OR_CR = re.compile(r"""\"[^\"]*\"|'[^']*'|\r""")


def _carriage_returns_kept(markup: str) -> str:
    """Write CR as &#13; so XML's line-end normalization cannot turn it into LF.

    A JSON div may hold CR characters (``\\r\\n``); raw in an XML document they would be read
    back as LF. As a character reference in text and attribute values they survive, and the
    reader turns them back into CR. Inside a tag, outside quotes, a CR is only layout (a space).
    """
    if _CR_IN_TAG_LAYOUT.search(markup):
        markup = _CR_IN_TAG_LAYOUT.sub(
            lambda tag: _QUOTED_OR_CR.sub(lambda m: " " if m.group() == "\r" else m.group(), tag.group()),
            markup)
    return markup.replace("\r", "&#13;")


def _line_offset(reader: _TreeReader, line: int | None) -> int | None:
    """Byte offset where a line starts. Narratives come in document order, so the search
    moves forward from the previous one instead of indexing every line of the document."""
    if not line:
        return None
    cursor_line, offset = reader.line_cursor
    if line < cursor_line:
        cursor_line, offset = 1, 0
    source = reader.source
    while cursor_line < line:
        offset = source.find(b"\n", offset) + 1
        if offset == 0:
            return None
        cursor_line += 1
    reader.line_cursor = (cursor_line, offset)
    return offset


def _reserialized(elem, source: bytes) -> str:
    """lxml's serialization of the div (rare: a prefixed XHTML namespace, say), taken from a
    parse that keeps every whitespace text node, since the fast parse leaves blank text out."""
    path = elem.getroottree().getpath(elem)
    whole = etree.fromstring(source, safe_parser(keep_comments=True, keep_blank_text=True))
    found = whole.getroottree().xpath(path)
    div = found[0] if found else elem
    copy = etree.fromstring(etree.tostring(div, with_tail=False))
    etree.cleanup_namespaces(copy)
    return etree.tostring(copy, encoding=str, with_tail=False)


# -- writing -------------------------------------------------------------------------------

# Characters XML 1.0 cannot carry at all (not even as character references), plus lone surrogates.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ATTR_SPECIAL = re.compile("[&<>\"\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _attr(value: str) -> str:
    """Escape a value for a double-quoted attribute; TAB/LF/CR as references so they survive."""
    if not _ATTR_SPECIAL.search(value):
        return value
    bad = _ILLEGAL.search(value)
    if bad:
        raise UnrepresentableError(
            f"character U+{ord(bad.group()):04X} cannot be written in XML 1.0 (not even as a reference)")
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;"))


def serialize_xml(tree: dict, defs: Definitions, *, pretty: bool = True) -> bytes:
    """Tree -> FHIR XML bytes (UTF-8, with an XML declaration)."""
    writer = _XmlWriter(defs, pretty)
    rtype = tree.get("resourceType") if type(tree) is dict else None
    if rtype not in defs.resource_types:
        raise StructureError(f"not a resource of FHIR {defs.label}: resourceType {rtype!r}")
    try:
        writer.resource(tree, rtype, "", f' xmlns="{FHIR_NS}"')
    except FhirConvError as err:
        raise err.rooted(rtype) from None
    except RecursionError:
        raise StructureError("tree nested too deeply").rooted(rtype) from None
    out = writer.out
    out.append("\n" if pretty else "")
    try:
        return ('<?xml version="1.0" encoding="UTF-8"?>\n' + "".join(out)).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise UnrepresentableError(f"cannot encode as UTF-8: {exc.reason}") from None


class _XmlWriter:
    __slots__ = ("defs", "plans", "out", "pretty", "depth")

    def __init__(self, defs: Definitions, pretty: bool):
        self.defs = defs
        self.plans = defs.plans
        self.out: list[str] = []
        self.pretty = pretty
        self.depth = 0

    def resource(self, node: dict, rtype: str, indent: str, namespace: str = "") -> None:
        self.complex(node, rtype, rtype, indent, namespace)

    def plan(self, type_name: str) -> tuple[dict, tuple[str, ...]]:
        """A type's fields and the names it writes as XML attributes, looked up once per element."""
        key = ("xml-writer", type_name)
        plan = self.plans.get(key)
        if plan is None:
            fields = fields_of(self.defs, type_name)
            plan = self.plans[key] = (fields, tuple(n for n, f in fields.items() if f[1] == ATTRIBUTE))
        return plan

    def complex(self, node: dict, type_name: str, tag: str, indent: str, extra: str = "") -> None:
        fields, attribute_names = self.plans.get(("xml-writer", type_name)) or self.plan(type_name)
        out = self.out
        attrs = extra
        # A caller's tree may nest without end; compiled, the recursion would overflow the C stack.
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise StructureError(f"nested more than {_MAX_DEPTH} levels deep")
        # Attributes (id, Extension.url) go into the start tag although url follows
        # extension in definition order.
        for name in attribute_names:
            value = node.get(name)
            if value is not None:
                try:
                    attrs += f' {name}="{_attr(value)}"'
                except FhirConvError as err:
                    raise err.at("." + name) from None
        pretty = self.pretty
        inner = indent + "  " if pretty else ""
        nl = "\n" if pretty else ""
        opened = False
        item = None
        for key, value in node.items():
            field = fields.get(key)
            if field is None:
                if key == "resourceType":
                    continue
                raise StructureError(f'"{key}" is not an element of {type_name}').at("." + key)
            kind = field[1]
            if kind == ATTRIBUTE:
                continue
            if not opened:
                out.append(f"{indent}<{tag}{attrs}>{nl}")
                opened = True
            try:
                if kind == PRIMITIVE:
                    for item in (value if field[3] else (value,)):
                        if type(item) is str:  # the common case, inlined
                            if _ATTR_SPECIAL.search(item):
                                item = _attr(item)
                            out.append(f'{inner}<{key} value="{item}"/>{nl}')
                        else:
                            self.primitive(item, key, inner)
                elif kind == COMPLEX:
                    sub = field[2]
                    for item in (value if field[3] else (value,)):
                        self.complex(item, sub, key, inner)
                elif kind == RESOURCE:
                    for item in (value if field[3] else (value,)):
                        self.nested_resource(item, key, inner)
                elif kind == XHTML:
                    self.xhtml(value, inner)
                else:  # COMMENTS
                    for comment in value:
                        out.append(f"{inner}<!--{_comment(comment)}-->{nl}")
            except FhirConvError as err:
                if field[3]:
                    err.at(f"[{_position(value, item)}]")
                raise err.at("." + key) from None
            except (AttributeError, TypeError):  # a caller's tree with a node of the wrong kind
                raise StructureError(f"{key}: not a tree node of the expected shape").at("." + key) from None
        if opened:
            out.append(f"{indent}</{tag}>{nl}")
        else:
            out.append(f"{indent}<{tag}{attrs}/>{nl}")
        self.depth -= 1

    def primitive(self, node, tag: str, indent: str) -> None:
        nl = "\n" if self.pretty else ""
        if type(node) is str:
            if _ATTR_SPECIAL.search(node):
                node = _attr(node)
            self.out.append(f'{indent}<{tag} value="{node}"/>{nl}')
            return
        attrs = ""
        if node.id is not None:
            attrs = f' id="{_attr(node.id)}"'
        if node.value is not None:
            attrs += f' value="{_attr(node.value)}"'
        if not node.extension and not node.comments:
            self.out.append(f"{indent}<{tag}{attrs}/>{nl}")
            return
        self.out.append(f"{indent}<{tag}{attrs}>{nl}")
        inner = indent + "  " if self.pretty else ""
        for comment in node.comments or ():
            self.out.append(f"{inner}<!--{_comment(comment)}-->{nl}")
        for i, ext in enumerate(node.extension or ()):
            try:
                self.complex(ext, "Extension", "extension", inner)
            except FhirConvError as err:
                raise err.at(f".extension[{i}]") from None
        self.out.append(f"{indent}</{tag}>{nl}")

    def nested_resource(self, node: dict, tag: str, indent: str) -> None:
        rtype = node.get("resourceType") if type(node) is dict else None
        if rtype not in self.defs.resource_types:
            raise StructureError(f"not a resource: resourceType {rtype!r}")
        nl = "\n" if self.pretty else ""
        self.out.append(f"{indent}<{tag}>{nl}")
        self.complex(node, rtype, rtype, indent + "  " if self.pretty else "")
        self.out.append(f"{indent}</{tag}>{nl}")

    def xhtml(self, value, indent: str) -> None:
        nl = "\n" if self.pretty else ""
        markup = value if type(value) is str else value.value
        self.out.append(f"{indent}{checked_xhtml(markup)}{nl}")


def _position(items: list, item) -> int:
    """Where an item sits in its list (for error paths; the hot loop does not count)."""
    for index, candidate in enumerate(items):
        if candidate is item:
            return index
    return 0


def checked_xhtml(markup: str) -> str:
    """The div markup, proven well-formed XHTML before it goes into a document."""
    try:
        div = etree.fromstring(_refuse_doctype(markup.encode("utf-8"), document=False), _parser(False))
    except UnicodeEncodeError:
        raise UnrepresentableError("the narrative holds a lone surrogate, which UTF-8 cannot carry") from None
    except etree.XMLSyntaxError as exc:
        # libxml2 refuses characters XML 1.0 forbids; say which one, that is the likely fix.
        bad = _ILLEGAL.search(markup)
        if bad:
            raise UnrepresentableError(
                f"character U+{ord(bad.group()):04X} in the narrative cannot be written in XML 1.0") from None
        raise StructureError(f"the narrative div is not well-formed XHTML: {_libxml_message(exc)}") from None
    if div.getroottree().docinfo.doctype:
        raise UnsafeInputError("DOCTYPE is not allowed in the narrative")
    if div.tag == "div":  # no namespace declared: the div is XHTML by definition
        markup = markup[:4] + f' xmlns="{XHTML_NS}"' + markup[4:]
    elif div.tag != _XHTML_DIV:
        raise StructureError(f"the narrative must be an XHTML <div>, not <{etree.QName(div).localname}>")
    return _carriage_returns_kept(markup) if "\r" in markup else markup


def _comment(text: str) -> str:
    if "--" in text or text.endswith("-"):
        raise UnrepresentableError(f"comment {text[:30]!r} cannot be written in XML ('--' or a trailing '-')")
    bad = _ILLEGAL.search(text)
    if bad:
        raise UnrepresentableError(f"character U+{ord(bad.group()):04X} in a comment cannot be written in XML 1.0")
    return text
