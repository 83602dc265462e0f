# cython: language_level=3, boundscheck=False, wraparound=False
"""The tree -> JSON-form walk in C, for ``serialize_json`` (orjson then writes the bytes).

Like ``_fastxml`` it takes the plain case only: a tree shaped as the definitions say. Anything
else (an unknown key, a node of the wrong shape, a boolean that is not true/false) raises
:class:`Fallback` and ``json.py`` runs the reference writer, which reports the error with its
path. ``tests/test_fastxml.py`` proves both writers give the same bytes on every twin.
"""

cdef int PRIMITIVE = 0, COMPLEX = 1, RESOURCE = 2, XHTML = 3, ATTRIBUTE = 4, COMMENTS = 5

import re
from orjson import dumps as _orjson_dumps
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?").fullmatch


class Fallback(Exception):
    """Not the plain case: let the reference writer handle (and report on) this tree."""


cdef int MAX_DEPTH = 100  # json._MAX_DEPTH: a deeper tree goes to the reference writer, which refuses it


cdef class _TypeFields:
    """Each type's fields, asked of ``fields_for`` once and then held in ``fields_cache``.

    The caller may hand in one {type name: fields} dict per Definitions, shared by every walk:
    building a per-walk dict and calling back into Python once per type cost more than the walk
    of a small resource. Sharing is thread-safe because entries are only ever added, each being
    the dict ``fields_of`` caches for that type (two threads racing store the same object).
    """

    cdef object fields_for
    cdef dict fields_cache

    cdef dict fields(self, str type_name):
        fields = self.fields_cache.get(type_name)
        if fields is None:
            fields = self.fields_cache[type_name] = self.fields_for(type_name)
        return <dict>fields


# Numbers already checked against the JSON grammar, text -> Fragment, shared by every writer of
# one fragment factory (json.py passes the dict). Texts such as "1" recur in nearly every
# resource. Bounded: once full, further numbers are checked and wrapped each time as before.
cdef Py_ssize_t NUMBER_CACHE_SIZE = 4096
cdef Py_ssize_t NUMBER_CACHE_TEXT = 24  # longer texts are rare and would only fill the cache


cdef class JsonFormWriter(_TypeFields):
    cdef object fragment, primitive_class, resource_types
    cdef dict fragments
    cdef int depth

    def __init__(self, fields_for, fragment, primitive_class, resource_types, dict fields_cache=None,
                 dict fragments=None):
        self.fields_for = fields_for
        self.fragment = fragment
        self.primitive_class = primitive_class
        self.resource_types = resource_types
        self.fields_cache = {} if fields_cache is None else fields_cache
        self.fragments = {} if fragments is None else fragments

    def resource(self, node):
        if type(node) is not dict:
            raise Fallback()
        rtype = (<dict>node).get("resourceType")
        if rtype not in self.resource_types:
            raise Fallback()
        return self.complex(<dict>node, <str>rtype)

    cdef object value(self, object text, str json_kind):
        if type(text) is not str:
            raise Fallback()
        if json_kind == "string":
            return text
        if json_kind == "number" or json_kind == "integer":
            return self.number(<str>text)
        if text == "true":
            return True
        if text == "false":
            return False
        raise Fallback()

    cdef object number(self, str text):
        """The number's Fragment; a text in the cache has already passed the grammar check."""
        fragment = self.fragments.get(text)
        if fragment is not None:
            return fragment
        if not _JSON_NUMBER(text):  # a caller's tree may hold any text: the reference writer reports it
            raise Fallback()
        fragment = self.fragment(text)
        if len(text) <= NUMBER_CACHE_TEXT and len(self.fragments) < NUMBER_CACHE_SIZE:
            self.fragments[text] = fragment
        return fragment

    cdef dict companion(self, object node):
        cdef dict out = {}
        comments = node.comments
        if comments:
            out["fhir_comments"] = comments
        if node.id is not None:
            out["id"] = node.id
        extensions = node.extension
        if extensions:
            if type(extensions) is not list:
                raise Fallback()
            out["extension"] = [self.complex_checked(ext, "Extension") for ext in <list>extensions]
        return out

    cdef dict complex_checked(self, object node, str type_name):
        if type(node) is not dict:
            raise Fallback()
        return self.complex(<dict>node, type_name)

    cdef dict complex(self, dict node, str type_name):
        cdef dict fields = self.fields(type_name)
        cdef dict out = {}
        cdef tuple field
        cdef int kind
        self.depth += 1
        if self.depth > MAX_DEPTH:  # a caller's endless tree would overflow the C stack
            raise Fallback()
        for key, value in node.items():
            found = fields.get(key)
            if found is None:
                if key == "resourceType":
                    out[key] = value
                    continue
                raise Fallback()
            field = <tuple>found
            kind = field[1]
            if kind == PRIMITIVE:
                if field[3]:
                    self.primitive_list(out, key, field[5], value, field[2])
                elif type(value) is str:
                    out[key] = self.value(value, field[2])
                elif type(value) is self.primitive_class:
                    if value.value is not None:
                        out[key] = self.value(value.value, field[2])
                    out[field[5]] = self.companion(value)
                else:
                    raise Fallback()
            elif kind == COMPLEX:
                if field[3]:
                    if type(value) is not list or not value:
                        raise Fallback()
                    out[key] = [self.complex_checked(item, field[2]) for item in <list>value]
                else:
                    out[key] = self.complex_checked(value, field[2])
            elif kind == RESOURCE:
                if field[3]:
                    if type(value) is not list or not value:
                        raise Fallback()
                    out[key] = [self.resource(item) for item in <list>value]
                else:
                    out[key] = self.resource(value)
            elif kind == XHTML or kind == ATTRIBUTE:
                if type(value) is not str:
                    raise Fallback()
                out[key] = value
            elif kind == COMMENTS:
                if type(value) is not list:
                    raise Fallback()
                out[key] = value
            else:
                raise Fallback()
        self.depth -= 1
        return out

    cdef void primitive_list(self, dict out, str key, str companion_key, object items, str json_kind) except *:
        cdef list values = []
        cdef list companions = None
        cdef Py_ssize_t i = 0
        if type(items) is not list or not items:
            raise Fallback()
        for item in <list>items:
            if type(item) is str:
                values.append(self.value(item, json_kind))
                if companions is not None:
                    companions.append(None)
            elif type(item) is self.primitive_class:
                values.append(None if item.value is None else self.value(item.value, json_kind))
                if companions is None:
                    companions = [None] * i
                companions.append(self.companion(item))
            else:
                raise Fallback()
            i += 1
        # An array of nulls only says "no values" (R5 json.html#null): leave it out.
        for value in values:
            if value is not None:
                out[key] = values
                break
        if companions is not None:
            out[companion_key] = companions


cdef class JsonTreeBuilder(_TypeFields):
    """JSON-form values (from the lexeme-keeping decoder) -> tree, for the plain case only.

    ``number_type`` is the decoder's marker class for number text; ``ordered(out, fields)``
    sorts children into definition order, or gives None when two of them share a place.

    ``native_numbers`` says the values came from orjson and the caller proved that orjson writes
    them back byte for byte (json.py ``_orjson_exact``): then an ``int`` or ``float`` is taken,
    its text being exactly what orjson writes for it. Without that proof ``1.50`` or ``-0`` would
    lose their text, so by default only ``number_type`` counts as a number.
    """

    cdef object primitive_class, number_type, ordered, resource_types
    cdef int depth, max_depth
    cdef bint native_numbers

    def __init__(self, fields_for, primitive_class, number_type, ordered, resource_types, int max_depth,
                 dict fields_cache=None, bint native_numbers=False):
        self.fields_for = fields_for
        self.primitive_class = primitive_class
        self.number_type = number_type
        self.ordered = ordered
        self.resource_types = resource_types
        self.fields_cache = {} if fields_cache is None else fields_cache
        self.depth = 0
        self.max_depth = max_depth
        self.native_numbers = native_numbers

    def resource(self, obj):
        if type(obj) is not dict:
            raise Fallback()
        rtype = (<dict>obj).get("resourceType")
        if type(rtype) is not str or rtype not in self.resource_types:
            raise Fallback()
        return self.complex(<dict>obj, <str>rtype, True)

    cdef dict complex(self, dict obj, str type_name, bint is_resource):
        cdef dict fields = self.fields(type_name)
        cdef dict out = {"resourceType": type_name} if is_resource else {}
        cdef tuple field
        cdef int kind
        cdef Py_ssize_t index, last = -1
        cdef bint unordered = False
        self.depth += 1
        if self.depth > self.max_depth:
            raise Fallback()
        for key, value in obj.items():
            found = fields.get(key)
            if found is None:
                if is_resource and key == "resourceType":
                    continue
                if type(key) is not str or not (<str>key).startswith("_"):
                    raise Fallback()
                name = (<str>key)[1:]
                found = fields.get(name)
                if found is None or (<tuple>found)[1] != PRIMITIVE:
                    raise Fallback()
                if name in obj:
                    continue  # read together with its value
                field = <tuple>found
                index = field[0]
                if field[3]:
                    out[name] = self.primitive_list([], value, field[2])
                else:
                    out[name] = self.with_companion(None, value)
            else:
                field = <tuple>found
                index = field[0]
                kind = field[1]
                if kind == PRIMITIVE:
                    companion = obj.get(field[5])
                    if field[3]:
                        out[key] = self.primitive_list(value, companion, field[2])
                    elif companion is None:
                        out[key] = self.primitive(value, field[2])
                    else:
                        out[key] = self.with_companion(self.primitive(value, field[2]), companion)
                elif kind == COMPLEX:
                    if field[3]:
                        out[key] = self.complex_list(value, field[2])
                    elif type(value) is dict:
                        out[key] = self.complex(<dict>value, field[2], False)
                    else:
                        raise Fallback()
                elif kind == ATTRIBUTE or kind == XHTML:
                    if type(value) is not str or not value or field[5] in obj:
                        raise Fallback()
                    out[key] = value
                elif kind == RESOURCE:
                    if field[3]:
                        if type(value) is not list or not value:
                            raise Fallback()
                        out[key] = [self.resource(item) for item in <list>value]
                    else:
                        out[key] = self.resource(value)
                else:
                    raise Fallback()  # fhir_comments: the reference builder keeps them
            if index <= last:
                if index == last:
                    raise Fallback()
                unordered = True
            last = index
        self.depth -= 1
        if not out:
            raise Fallback()
        if unordered:
            out = self.ordered(out, fields)
            if out is None:
                raise Fallback()
        return out

    cdef list complex_list(self, object value, str type_name):
        if type(value) is not list or not value:
            raise Fallback()
        items = []
        for item in <list>value:
            if type(item) is not dict:
                raise Fallback()
            items.append(self.complex(<dict>item, type_name, False))
        return items

    cdef str primitive(self, object value, str json_kind):
        if json_kind == "string":
            if type(value) is str and value:
                return <str>value
        elif json_kind == "number":
            if type(value) is self.number_type:
                return str(value)
            if self.native_numbers:
                if type(value) is int:  # never a bool: type(True) is bool
                    return str(value)
                if type(value) is float:
                    return (<bytes>_orjson_dumps(value)).decode("ascii")
        elif json_kind == "integer":
            # A fraction or an exponent is an error the reference reader reports.
            if type(value) is self.number_type:
                if "." not in <str>value and "e" not in <str>value and "E" not in <str>value:
                    return str(value)
            elif self.native_numbers and type(value) is int:
                return str(value)
        elif value is True:
            return "true"
        elif value is False:
            return "false"
        raise Fallback()

    cdef object with_companion(self, object value, object companion):
        if type(companion) is not dict or not companion:
            raise Fallback()
        node_id = None
        extensions = None
        for key, part in (<dict>companion).items():
            if key == "extension":
                extensions = self.complex_list(part, "Extension")
            elif key == "id" and type(part) is str and part:
                node_id = part
            else:
                raise Fallback()
        return self.primitive_class(value, node_id, extensions)

    cdef list primitive_list(self, object values, object companions, str json_kind):
        cdef Py_ssize_t i, count, n_values, n_companions = 0
        if type(values) is not list:
            raise Fallback()
        n_values = len(<list>values)
        if companions is not None:
            if type(companions) is not list:
                raise Fallback()
            n_companions = len(<list>companions)
        count = n_values if n_values > n_companions else n_companions
        if count == 0:
            raise Fallback()
        items = []
        for i in range(count):
            value = (<list>values)[i] if i < n_values else None
            companion = (<list>companions)[i] if i < n_companions else None
            text = None if value is None else self.primitive(value, json_kind)
            if companion is None:
                if text is None:
                    raise Fallback()
                items.append(text)
            else:
                items.append(self.with_companion(text, companion))
        return items
