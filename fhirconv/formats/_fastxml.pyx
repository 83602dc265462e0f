# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The XML -> tree walk in C, reading libxml2's nodes directly instead of through lxml proxies.

It handles the common case only: well-formed FHIR with nothing to complain about. The moment
it meets anything else (an unknown element, a stray attribute or text, a comment, a bad number,
deep nesting) it raises :class:`Fallback` and ``xml.py`` reads the document again with the
reference reader, which owns every error message. So this file never decides what is an error;
``tests/test_fastxml.py`` proves both readers build the same trees on every twin.

Only struct fields are read (no libxml2 function is called), so nothing links against libxml2.
"""

from libc.string cimport strcmp, strlen
from cpython.unicode cimport PyUnicode_DecodeUTF8

from lxml.includes cimport tree
from lxml.includes.tree cimport xmlNode, xmlAttr, xmlNs
cimport lxml.includes.etreepublic as cetree

cdef extern from "lxml-version.h":
    const char* LXML_VERSION_STRING

import lxml.etree

# The struct layouts read here are those of the lxml this module was compiled against; with
# another lxml at run time, refuse to load (xml.py then uses the reference reader).
if lxml.etree.__version__ != LXML_VERSION_STRING.decode():
    raise ImportError(f"_fastxml was built for lxml {LXML_VERSION_STRING.decode()}, "
                      f"not {lxml.etree.__version__}")

cetree.import_lxml__etree()

cdef int PRIMITIVE = 0, COMPLEX = 1, RESOURCE = 2, XHTML = 3, ATTRIBUTE = 4
cdef int MAX_DEPTH = 100  # xml._MAX_DEPTH: deeper documents go to the reference reader, which refuses them
cdef const char* FHIR_NS = b"http://hl7.org/fhir"
cdef const char* XHTML_NS = b"http://www.w3.org/1999/xhtml"


class Fallback(Exception):
    """Not the plain case: let the reference reader handle (and report on) this document."""


cdef inline bint _blank(const unsigned char* s):
    if s == NULL:
        return True
    while s[0]:
        if s[0] != 32 and s[0] != 10 and s[0] != 9 and s[0] != 13:
            return False
        s += 1
    return True


cdef inline void _layout_only(xmlNode* node) except *:
    """A non-element child is fine only as whitespace between elements (layout)."""
    if node.type == tree.XML_TEXT_NODE or node.type == tree.XML_CDATA_SECTION_NODE:
        if _blank(node.content):
            return
    raise Fallback()


cdef inline bint _digit(unsigned char c):
    return 48 <= c <= 57


cdef bint _json_number(const unsigned char* s, bint whole):
    """The FHIR decimal grammar, which is exactly JSON's number grammar; with ``whole``, the FHIR
    integer grammar (no fraction, no exponent, no leading +)."""
    cdef Py_ssize_t i = 0
    if s[i] == 45:  # -
        i += 1
    if s[i] == 48:  # 0
        i += 1
    elif 49 <= s[i] <= 57:
        while _digit(s[i]):
            i += 1
    else:
        return False
    if whole:
        return s[i] == 0
    if s[i] == 46:  # .
        i += 1
        if not _digit(s[i]):
            return False
        while _digit(s[i]):
            i += 1
    if s[i] == 101 or s[i] == 69:  # e E
        i += 1
        if s[i] == 43 or s[i] == 45:
            i += 1
        if not _digit(s[i]):
            return False
        while _digit(s[i]):
            i += 1
    return s[i] == 0


cdef inline str _text(const unsigned char* s):
    return PyUnicode_DecodeUTF8(<const char*>s, strlen(<const char*>s), NULL)


cdef str _attribute_value(xmlAttr* attr):
    cdef xmlNode* text = attr.children
    if attr.ns != NULL or text == NULL or text.next != NULL or text.content == NULL or text.content[0] == 0:
        raise Fallback()
    return _text(text.content)


cdef class FastReader:
    """One document's walk. ``fields_for(type)`` gives {local name: field} (see ``_plans``).

    ``fields_cache`` may be one {type name: fields} dict per Definitions shared by every walk
    (entries are only added, each the dict ``fields_of`` caches, so threads may share it);
    ``names`` is keyed by libxml2 addresses and so stays with this one document.
    """

    cdef object fields_for, raw_markup, primitive_class, reorder, resource_types
    cdef cetree._Document doc
    cdef dict fields_cache, names
    cdef int depth

    def __init__(self, fields_for, raw_markup, primitive_class, reorder, resource_types, dict fields_cache=None):
        self.fields_for = fields_for
        self.resource_types = resource_types
        self.raw_markup = raw_markup
        self.primitive_class = primitive_class
        self.reorder = reorder
        self.fields_cache = {} if fields_cache is None else fields_cache
        self.names = {}
        self.depth = 0

    def read(self, cetree._Element root, str resource_type):
        self.doc = root._doc
        return self.complex(root._c_node, resource_type, True)

    cdef dict fields(self, str type_name):
        fields = self.fields_cache.get(type_name)
        if fields is None:
            fields = self.fields_cache[type_name] = self.fields_for(type_name)
        return <dict>fields

    cdef str name(self, const unsigned char* c_name):
        # libxml2 keeps one copy of each name per document, so its address identifies it.
        key = <size_t>c_name
        name = self.names.get(key)
        if name is None:
            name = self.names[key] = _text(c_name)
        return <str>name

    cdef dict complex(self, xmlNode* node, str type_name, bint is_resource):
        cdef dict fields = self.fields(type_name)
        cdef dict out = {"resourceType": type_name} if is_resource else {}
        cdef xmlAttr* attr = node.properties
        cdef xmlNode* child
        cdef xmlNs* ns
        cdef bint xhtml_element, is_list, unordered = False
        cdef int kind
        cdef Py_ssize_t index, last = -1
        cdef tuple field
        while attr != NULL:
            if is_resource:
                raise Fallback()
            key = self.name(attr.name)
            found = fields.get(key)
            if found is None or (<tuple>found)[1] != ATTRIBUTE:
                raise Fallback()
            out[key] = _attribute_value(attr)
            attr = attr.next
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Fallback()
        child = node.children
        while child != NULL:
            if child.type == tree.XML_ELEMENT_NODE:
                ns = child.ns
                if ns == NULL:
                    raise Fallback()
                xhtml_element = strcmp(<const char*>ns.href, FHIR_NS) != 0
                if xhtml_element and strcmp(<const char*>ns.href, XHTML_NS) != 0:
                    raise Fallback()
                name = self.name(child.name)
                found = fields.get(name)
                if found is None:
                    raise Fallback()
                field = <tuple>found
                index = field[0]
                kind = field[1]
                is_list = field[3]
                if xhtml_element != (kind == XHTML):
                    raise Fallback()
                if kind == PRIMITIVE:
                    value = self.primitive(child, field[2])
                elif kind == COMPLEX:
                    value = self.complex(child, field[2], False)
                elif kind == RESOURCE:
                    value = self.nested_resource(child)
                elif kind == XHTML:
                    if child.properties == NULL and child.children == NULL:
                        raise Fallback()
                    value = self.raw_markup(cetree.elementFactory(self.doc, child))
                else:
                    raise Fallback()
                if is_list:
                    if index == last:
                        (<list>out[name]).append(value)
                    elif name in out:
                        (<list>out[name]).append(value)
                        unordered = True
                    else:
                        out[name] = [value]
                elif index == last or name in out:
                    raise Fallback()
                else:
                    out[name] = value
                if index < last:
                    unordered = True
                last = index
            else:
                _layout_only(child)  # comments (kept on request) and anything else: Fallback
            child = child.next
        self.depth -= 1
        if not out:
            raise Fallback()
        if unordered:
            return self.reorder(out, fields)
        return out

    cdef object primitive(self, xmlNode* node, str json_kind):
        cdef xmlAttr* attr = node.properties
        cdef xmlNode* child
        cdef xmlNode* text
        cdef const unsigned char* content
        value = None
        node_id = None
        while attr != NULL:
            if strcmp(<const char*>attr.name, b"value") == 0:
                text = attr.children
                if attr.ns != NULL or text == NULL or text.next != NULL or text.content == NULL or text.content[0] == 0:
                    raise Fallback()
                content = text.content
                if json_kind != "string":
                    if json_kind == "number" or json_kind == "integer":
                        if not _json_number(content, json_kind == "integer"):
                            raise Fallback()
                    elif strcmp(<const char*>content, b"true") != 0 and strcmp(<const char*>content, b"false") != 0:
                        raise Fallback()
                value = _text(content)
            elif strcmp(<const char*>attr.name, b"id") == 0:
                node_id = _attribute_value(attr)
            else:
                raise Fallback()
            attr = attr.next
        child = node.children
        if child == NULL:
            if node_id is None:
                if value is None:
                    raise Fallback()
                return value
            return self.primitive_class(value, node_id)
        extensions = []
        while child != NULL:
            if child.type == tree.XML_ELEMENT_NODE:
                if (child.ns == NULL or strcmp(<const char*>child.ns.href, FHIR_NS) != 0
                        or strcmp(<const char*>child.name, b"extension") != 0):
                    raise Fallback()
                extensions.append(self.complex(child, "Extension", False))
            else:
                _layout_only(child)
            child = child.next
        if not extensions:
            if node_id is None:
                if value is None:
                    raise Fallback()
                return value
            return self.primitive_class(value, node_id)
        return self.primitive_class(value, node_id, extensions)

    cdef dict nested_resource(self, xmlNode* node):
        cdef xmlNode* child = node.children
        cdef xmlNode* inner = NULL
        if node.properties != NULL:
            raise Fallback()
        while child != NULL:
            if child.type == tree.XML_ELEMENT_NODE:
                if inner != NULL:
                    raise Fallback()
                inner = child
            else:
                _layout_only(child)
            child = child.next
        if inner == NULL or inner.ns == NULL or strcmp(<const char*>inner.ns.href, FHIR_NS) != 0:
            raise Fallback()
        resource_type = self.name(inner.name)
        if resource_type not in self.resource_types:
            raise Fallback()
        return self.complex(inner, resource_type, True)
