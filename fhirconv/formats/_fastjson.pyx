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

    cdef list resource_list(self, object items):
        """Each item through the subclass's ``resource`` (a writer's or a builder's)."""
        if type(items) is not list or not items:
            raise Fallback()
        return [self.resource(item) for item in <list>items]


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
        """The node's JSON form. A node none of whose values change (a Coding, a Reference: all
        strings) is its own JSON form and is returned as is - ``serialize_json`` only hands the
        result to orjson, which reads it - so a copy is made only from the first value that does."""
        cdef dict fields = self.fields(type_name)
        cdef dict out = None
        cdef tuple field
        cdef int kind
        cdef Py_ssize_t done = 0
        self.depth += 1
        if self.depth > MAX_DEPTH:  # a caller's endless tree would overflow the C stack
            raise Fallback()
        for key, value in node.items():
            found = fields.get(key)
            companion = None
            if found is None:
                if key != "resourceType":
                    raise Fallback()
                written = value
            else:
                field = <tuple>found
                kind = field[1]
                if kind == PRIMITIVE:
                    if field[3]:
                        written, companion = self.primitive_list(value, field[2])
                    elif type(value) is str:
                        written = self.value(value, field[2])
                    elif type(value) is self.primitive_class:
                        written = None if value.value is None else self.value(value.value, field[2])
                        companion = self.companion(value)
                    else:
                        raise Fallback()
                elif kind == COMPLEX:
                    if field[3]:
                        written = self.complex_list(value, field[2])
                    else:
                        written = self.complex_checked(value, field[2])
                elif kind == RESOURCE:
                    if field[3]:
                        written = self.resource_list(value)
                    else:
                        written = self.resource(value)
                elif kind == XHTML or kind == ATTRIBUTE:
                    if type(value) is not str:
                        raise Fallback()
                    written = value
                elif kind == COMMENTS:
                    if type(value) is not list:
                        raise Fallback()
                    written = value
                else:
                    raise Fallback()
            if out is None:
                if written is value and companion is None:
                    done += 1
                    continue
                out = _first_items(node, done)
            if written is not None:
                out[key] = written
            if companion is not None:
                out[field[5]] = companion
        self.depth -= 1
        return node if out is None else out

    cdef list complex_list(self, object items, str type_name):
        """The list's JSON form: the list itself when no item changes."""
        cdef list out = None
        cdef Py_ssize_t i = 0
        if type(items) is not list or not items:
            raise Fallback()
        for item in <list>items:
            written = self.complex_checked(item, type_name)
            if out is None and written is not item:
                out = (<list>items)[:i]
            if out is not None:
                out.append(written)
            i += 1
        return <list>items if out is None else out

    cdef tuple primitive_list(self, object items, str json_kind):
        """(values, companions) of a repeating primitive; the values are the list itself when
        every item is a string that stays one. An array of nulls only says "no values" (R5
        json.html#null), so values is None when no item has one."""
        cdef list values = []
        cdef list companions = None
        cdef Py_ssize_t i = 0
        cdef bint same = True
        if type(items) is not list or not items:
            raise Fallback()
        for item in <list>items:
            if type(item) is str:
                written = self.value(item, json_kind)
                same = same and written is item
                values.append(written)
                if companions is not None:
                    companions.append(None)
            elif type(item) is self.primitive_class:
                same = False
                values.append(None if item.value is None else self.value(item.value, json_kind))
                if companions is None:
                    companions = [None] * i
                companions.append(self.companion(item))
            else:
                raise Fallback()
            i += 1
        if same:
            return items, None
        for value in values:
            if value is not None:
                return values, companions
        return None, companions


cdef dict _without_companions(dict obj, str resource_type, dict extras):
    """An in-place node rebuilt: resourceType first (for a resource), companion keys dropped, and a
    primitive that had only a companion put where that companion was."""
    cdef dict out = {"resourceType": resource_type} if resource_type is not None else {}
    for key, value in obj.items():
        if (<str>key).startswith("_"):
            if extras is not None:
                name = (<str>key)[1:]
                if name in extras:
                    out[name] = extras[name]
        elif resource_type is None or key != "resourceType":
            out[key] = value
    return out


cdef dict _first_items(dict node, Py_ssize_t count):
    """A new dict of the node's first ``count`` items."""
    cdef dict out = {}
    if count:
        for key, value in node.items():
            out[key] = value
            count -= 1
            if count == 0:
                break
    return out


cdef class JsonTreeBuilder(_TypeFields):
    """JSON-form values (from the lexeme-keeping decoder) -> tree, for the plain case only.

    ``number_type`` is the decoder's marker class for number text; ``ordered(out, fields)``
    sorts children into definition order, or gives None when two of them share a place.

    ``from_orjson`` says the values came from orjson and the caller proved that orjson writes
    them back byte for byte (json.py ``_orjson_exact``). Two things follow: an ``int`` or
    ``float`` is taken, its text being exactly what orjson writes for it (without that proof
    ``1.50`` or ``-0`` would lose their text, so by default only ``number_type`` counts as a
    number); and the values are the caller's to give away (fresh, and read again from the text
    on Fallback), so objects and lists are converted in place instead of copied.
    """

    cdef object primitive_class, number_type, ordered, resource_types
    cdef int depth, max_depth
    cdef bint from_orjson

    def __init__(self, fields_for, primitive_class, number_type, ordered, resource_types, int max_depth,
                 dict fields_cache=None, bint from_orjson=False):
        self.fields_for = fields_for
        self.primitive_class = primitive_class
        self.number_type = number_type
        self.ordered = ordered
        self.resource_types = resource_types
        self.fields_cache = {} if fields_cache is None else fields_cache
        self.depth = 0
        self.max_depth = max_depth
        self.from_orjson = from_orjson

    def resource(self, obj):
        if type(obj) is not dict:
            raise Fallback()
        rtype = (<dict>obj).get("resourceType")
        if type(rtype) is not str or rtype not in self.resource_types:
            raise Fallback()
        return self.complex(<dict>obj, <str>rtype, True)

    cdef dict complex(self, dict obj, str type_name, bint is_resource):
        """The tree node of a JSON object. With ``from_orjson`` the object is converted in place
        and becomes the node itself: only a value that changes (a number's text, a primitive with
        a companion) is replaced, and a new dict is built only when keys must go or move."""
        cdef bint in_place = self.from_orjson
        cdef dict fields = self.fields(type_name)
        cdef dict out = None if in_place else ({"resourceType": type_name} if is_resource else {})
        cdef dict extras = None       # in place: primitives that have only a companion, added on rebuild
        cdef bint rebuild = False     # in place: a companion key to drop, or resourceType not first
        cdef tuple field
        cdef int kind
        cdef Py_ssize_t index, last = -1, position = 0
        cdef bint unordered = False
        self.depth += 1
        if self.depth > self.max_depth:
            raise Fallback()
        for key, value in obj.items():
            found = fields.get(key)
            if found is None:
                if is_resource and key == "resourceType":
                    rebuild = rebuild or position != 0
                    position += 1
                    continue
                if type(key) is not str or not (<str>key).startswith("_"):
                    raise Fallback()
                name = (<str>key)[1:]
                found = fields.get(name)
                if found is None or (<tuple>found)[1] != PRIMITIVE:
                    raise Fallback()
                position += 1
                rebuild = True
                if name in obj:
                    continue  # read together with its value
                field = <tuple>found
                index = field[0]
                if field[3]:
                    built = self.primitive_list([], value, field[2])
                else:
                    built = self.with_companion(None, value)
                if in_place:
                    if extras is None:
                        extras = {}
                    extras[name] = built
                else:
                    out[name] = built
            else:
                field = <tuple>found
                index = field[0]
                kind = field[1]
                if kind == PRIMITIVE:
                    companion = obj.get(field[5])
                    if field[3]:
                        built = self.primitive_list(value, companion, field[2])
                    elif companion is None:
                        built = self.primitive(value, field[2])
                    else:
                        built = self.with_companion(self.primitive(value, field[2]), companion)
                elif kind == COMPLEX:
                    if field[3]:
                        built = self.complex_list(value, field[2])
                    elif type(value) is dict:
                        built = self.complex(<dict>value, field[2], False)
                    else:
                        raise Fallback()
                elif kind == ATTRIBUTE or kind == XHTML:
                    if type(value) is not str or not value or field[5] in obj:
                        raise Fallback()
                    built = value
                elif kind == RESOURCE:
                    if field[3]:
                        built = self.resource_list(value)
                    else:
                        built = self.resource(value)
                else:
                    raise Fallback()  # fhir_comments: the reference builder keeps them
                if not in_place:
                    out[key] = built
                elif built is not value:
                    obj[key] = built  # the key is there already: allowed while iterating
                position += 1
            if index <= last:
                if index == last:
                    raise Fallback()
                unordered = True
            last = index
        self.depth -= 1
        if in_place:
            out = _without_companions(obj, type_name if is_resource else None, extras) if rebuild else obj
        if len(out) == (1 if is_resource else 0):
            raise Fallback()
        if unordered:
            out = self.ordered(out, fields)
            if out is None:
                raise Fallback()
        return out

    cdef list complex_list(self, object value, str type_name):
        cdef Py_ssize_t i
        if type(value) is not list or not value:
            raise Fallback()
        items = <list>value if self.from_orjson else []
        for i in range(len(<list>value)):
            item = (<list>value)[i]
            if type(item) is not dict:
                raise Fallback()
            built = self.complex(<dict>item, type_name, False)
            if items is value:
                if built is not item:
                    items[i] = built
            else:
                items.append(built)
        return items

    cdef str primitive(self, object value, str json_kind):
        if json_kind == "string":
            if type(value) is str and value:
                return <str>value
        elif json_kind == "number":
            if type(value) is self.number_type:
                return str(value)
            if self.from_orjson:
                if type(value) is int:  # never a bool: type(True) is bool
                    return str(value)
                if type(value) is float:
                    return (<bytes>_orjson_dumps(value)).decode("ascii")
        elif json_kind == "integer":
            # A fraction or an exponent is an error the reference reader reports.
            if type(value) is self.number_type:
                if "." not in <str>value and "e" not in <str>value and "E" not in <str>value:
                    return str(value)
            elif self.from_orjson and type(value) is int:
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
        if companions is None and self.from_orjson:  # in place, as complex() does
            for i in range(count):
                value = (<list>values)[i]
                if value is None:  # a null needs its companion: none here
                    raise Fallback()
                text = self.primitive(value, json_kind)
                if text is not value:
                    (<list>values)[i] = text
            return <list>values
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
