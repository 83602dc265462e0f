# cython: language_level=3, boundscheck=False, wraparound=False
"""The tree -> JSON-form walk in C, for ``serialize_json`` (orjson then writes the bytes).

Like ``_fastxml`` it takes the plain case only: a tree shaped as the definitions say. Anything
else (an unknown key, a node of the wrong shape, a boolean that is not true/false) raises
:class:`Fallback` and ``json.py`` runs the reference writer, which reports the error with its
path. ``tests/test_fastxml.py`` proves both writers give the same bytes on every twin.
"""

cdef int PRIMITIVE = 0, COMPLEX = 1, RESOURCE = 2, XHTML = 3, ATTRIBUTE = 4, COMMENTS = 5


class Fallback(Exception):
    """Not the plain case: let the reference writer handle (and report on) this tree."""


cdef class JsonFormWriter:
    cdef object fields_for, fragment, primitive_class, resource_types
    cdef dict fields_cache

    def __init__(self, fields_for, fragment, primitive_class, resource_types):
        self.fields_for = fields_for
        self.fragment = fragment
        self.primitive_class = primitive_class
        self.resource_types = resource_types
        self.fields_cache = {}

    def resource(self, node):
        if type(node) is not dict:
            raise Fallback()
        rtype = (<dict>node).get("resourceType")
        if rtype not in self.resource_types:
            raise Fallback()
        return self.complex(<dict>node, <str>rtype)

    cdef dict fields(self, str type_name):
        fields = self.fields_cache.get(type_name)
        if fields is None:
            fields = self.fields_cache[type_name] = self.fields_for(type_name)
        return <dict>fields

    cdef object value(self, object text, str json_kind):
        if type(text) is not str:
            raise Fallback()
        if json_kind == "string":
            return text
        if json_kind == "number":
            return self.fragment(text)
        if text == "true":
            return True
        if text == "false":
            return False
        raise Fallback()

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
                    self.primitive_list(out, key, value, field[2])
                elif type(value) is str:
                    out[key] = self.value(value, field[2])
                elif type(value) is self.primitive_class:
                    if value.value is not None:
                        out[key] = self.value(value.value, field[2])
                    out["_" + key] = self.companion(value)
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
        return out

    cdef void primitive_list(self, dict out, str key, object items, str json_kind) except *:
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
            out["_" + key] = companions
