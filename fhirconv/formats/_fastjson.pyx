# cython: language_level=3, boundscheck=False, wraparound=False
"""The JSON codec's walks in C: tree -> JSON bytes (``JsonWriter``) and orjson's values -> tree
(``JsonTreeBuilder``).

Like ``_fastxml`` they take the plain case only: a tree or a document shaped as the definitions
say. Anything else (an unknown key, a node of the wrong shape, a boolean that is not true/false)
raises :class:`Fallback` and ``json.py`` runs the reference code, which reports the error with
its path. ``tests/test_compiled_core.py`` proves both give what the reference code gives.
"""

cdef int PRIMITIVE = 0, COMPLEX = 1, RESOURCE = 2, XHTML = 3, ATTRIBUTE = 4, COMMENTS = 5

from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset

from fhirconv.formats._wordscan cimport specials

from orjson import dumps as _orjson_dumps


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


# What a key means in a type, by pointer: a fixed table indexed by (the type's fields dict, the
# key str) holds the field unpacked to C values, so a key met before costs two pointer compares
# instead of a dict probe. Tree keys are the interned names the readers and the engine use, so
# the same few hundred (type, key) pairs recur. Each slot owns references to its fields dict, key
# and field tuple: no slot can match a freed object whose address was reused.
cdef enum:
    FIELD_SLOTS = 4096        # a power of two

cdef enum:  # a primitive's JSON kind, from the field's "string" | "number" | "integer" | "boolean"
    STRING_KIND, NUMBER_KIND, BOOLEAN_KIND

cdef struct FieldSlot:
    PyObject* fields          # owned; NULL while empty
    PyObject* key             # owned
    PyObject* field           # owned: (index, kind, sub, is_list, name, companion)
    PyObject* sub             # borrowed from field
    PyObject* companion       # borrowed from field: the "_name" key
    int kind, json_kind
    bint is_list

cdef FieldSlot FIELDS[FIELD_SLOTS]


cdef inline FieldSlot* _field(dict fields, object key) except? NULL:
    """The field ``key`` names in the type whose fields are ``fields``; NULL if none."""
    cdef size_t h = (<size_t><PyObject*>fields >> 4) * 0x9E3779B1u ^ (<size_t><PyObject*>key >> 4)
    cdef FieldSlot* slot = &FIELDS[(h ^ (h >> 12)) & (FIELD_SLOTS - 1)]
    if slot.fields == <PyObject*>fields and slot.key == <PyObject*>key:
        return slot
    found = fields.get(key)
    if found is None:
        return NULL
    field = <tuple>found
    json_kind = field[2] if field[1] == PRIMITIVE else None
    # The slot is filled whole before the old references are let go: freeing them (a str
    # subclass key, say) cannot run Python code that sees a half-written slot.
    cdef PyObject* old_fields = slot.fields
    cdef PyObject* old_key = slot.key
    cdef PyObject* old_field = slot.field
    Py_INCREF(fields)
    Py_INCREF(key)
    Py_INCREF(field)
    slot.fields = <PyObject*>fields
    slot.key = <PyObject*>key
    slot.field = <PyObject*>field
    slot.sub = <PyObject*>field[2]
    slot.companion = <PyObject*>field[5]
    slot.kind = field[1]
    slot.is_list = field[3]
    slot.json_kind = (STRING_KIND if json_kind == "string" else
                      NUMBER_KIND if json_kind == "number" or json_kind == "integer" else BOOLEAN_KIND)
    Py_XDECREF(old_fields)
    Py_XDECREF(old_key)
    Py_XDECREF(old_field)
    return slot


cdef inline bint _digit(char c) noexcept nogil:
    return c >= b'0' and c <= b'9'


cdef bint _is_json_number(const char* p, Py_ssize_t size) noexcept nogil:
    """Whether the text is a JSON number (a caller's tree may hold any text in a number)."""
    cdef const char* end = p + size
    if p < end and p[0] == b'-':
        p += 1
    if p < end and p[0] == b'0':
        p += 1
    elif p < end and _digit(p[0]):
        while p < end and _digit(p[0]):
            p += 1
    else:
        return False
    if p < end and p[0] == b'.':
        p += 1
        if not (p < end and _digit(p[0])):
            return False
        while p < end and _digit(p[0]):
            p += 1
    if p < end and (p[0] == b'e' or p[0] == b'E'):
        p += 1
        if p < end and (p[0] == b'+' or p[0] == b'-'):
            p += 1
        if not (p < end and _digit(p[0])):
            return False
        while p < end and _digit(p[0]):
            p += 1
    return p == end


# What orjson writes for each byte of a string: 0 the byte itself, 1 a short escape, 2 \u00XX.
cdef unsigned char ESCAPE[256]
cdef int _b
for _b in range(256):
    ESCAPE[_b] = 2 if _b < 0x20 else 0
for _b in (0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x22, 0x5C):
    ESCAPE[_b] = 1
cdef const char* SHORT_ESCAPE = b"btn?fr"        # for 0x08..0x0D (0x0B has no short form)
cdef const char* HEX = b"0123456789abcdef"

cdef inline bint _needs_escape(const char* data, Py_ssize_t size) nogil:
    cdef Py_ssize_t i = 0
    cdef uint64_t word
    while i + 8 <= size:
        memcpy(&word, data + i, 8)
        if specials(word):
            return True
        i += 8
    while i < size:
        if ESCAPE[<unsigned char>data[i]]:
            return True
        i += 1
    return False


cdef extern from "Python.h":
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    void* PyUnicode_DATA(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)
    Py_UCS4 PyUnicode_READ_CHAR(object text, Py_ssize_t index)


cdef inline const char* _utf8(str text, Py_ssize_t* size) except NULL:
    """The text's UTF-8 bytes: an ASCII str's own (nearly every FHIR string), else the UTF-8 copy
    CPython keeps with the str."""
    if PyUnicode_IS_COMPACT_ASCII(text):
        size[0] = PyUnicode_GET_LENGTH(text)
        return <const char*>PyUnicode_DATA(text)
    return PyUnicode_AsUTF8AndSize(text, size)


cdef str _resource_type(object node, object resource_types):
    """The type of a resource node (a dict whose resourceType is a known type), else Fallback."""
    if type(node) is not dict:
        raise Fallback()
    rtype = (<dict>node).get("resourceType")
    if type(rtype) is not str or rtype not in resource_types:
        raise Fallback()
    return <str>rtype


cdef class JsonWriter(_TypeFields):
    """Tree -> FHIR JSON bytes in one walk, byte for byte what ``orjson.dumps`` writes for the
    reference writer's JSON form (compact, or ``OPT_INDENT_2`` when ``pretty``).

    Writing the bytes directly spares the JSON-form dicts (a new one for every node holding a
    number) and the second walk orjson makes over them. Strings are copied as UTF-8 with
    orjson's escapes; a number's text is written as it is, once it has passed the JSON grammar.
    Anything unusual raises :class:`Fallback` (see the module docstring).
    """

    cdef object primitive_class, resource_types
    cdef bint pretty
    cdef int depth
    cdef char* buffer
    cdef Py_ssize_t length, capacity

    def __cinit__(self):
        self.buffer = NULL
        self.length = self.capacity = 0

    def __init__(self, fields_for, primitive_class, resource_types, dict fields_cache=None, bint pretty=True):
        self.fields_for = fields_for
        self.primitive_class = primitive_class
        self.resource_types = resource_types
        self.fields_cache = {} if fields_cache is None else fields_cache
        self.pretty = pretty
        self.depth = 0

    def __dealloc__(self):
        PyMem_Free(self.buffer)

    def write(self, tree):
        """The resource's JSON bytes."""
        self.length = 0
        self.depth = 0
        self.resource_at(tree, 0)
        return PyBytes_FromStringAndSize(self.buffer, self.length)

    # --- bytes ------------------------------------------------------------------------------------
    cdef inline int reserve(self, Py_ssize_t more) except -1:
        if self.length + more > self.capacity:
            self.grow(more)
        return 0

    cdef int grow(self, Py_ssize_t more) except -1:
        cdef Py_ssize_t capacity = max(self.length + more, 2 * self.capacity, 4096)
        cdef char* grown = <char*>PyMem_Realloc(self.buffer, capacity)
        if grown == NULL:
            raise MemoryError()
        self.buffer, self.capacity = grown, capacity
        return 0

    cdef inline int put(self, const char* data, Py_ssize_t size) except -1:
        self.reserve(size)
        memcpy(self.buffer + self.length, data, size)
        self.length += size
        return 0

    cdef inline int byte(self, char c) except -1:
        self.reserve(1)
        self.buffer[self.length] = c
        self.length += 1
        return 0

    cdef int text(self, str text) except -1:
        """A str as a raw UTF-8 run (a number's text, a key)."""
        cdef Py_ssize_t size
        cdef const char* data = _utf8(text, &size)
        return self.put(data, size)

    cdef int string(self, str text) except -1:
        """A JSON string: quoted, with orjson's escapes. A lone surrogate cannot be UTF-8: Fallback,
        and orjson refuses it for the reference writer."""
        cdef Py_ssize_t size
        cdef const char* data
        try:
            data = _utf8(text, &size)
        except UnicodeEncodeError:
            raise Fallback()
        self.reserve(size + 2)
        self.buffer[self.length] = b'"'
        self.length += 1
        if _needs_escape(data, size):
            self.escaped(data, size)
        else:                                   # nearly every string: one copy
            memcpy(self.buffer + self.length, data, size)
            self.length += size
        self.buffer[self.length] = b'"'         # reserved above (escaped() reserves its own)
        self.length += 1
        return 0

    cdef int escaped(self, const char* data, Py_ssize_t size) except -1:
        cdef Py_ssize_t i, start = 0
        cdef unsigned char c
        cdef char* out
        for i in range(size):
            c = <unsigned char>data[i]
            if ESCAPE[c]:
                self.put(data + start, i - start)
                self.reserve(6)
                out = self.buffer + self.length
                out[0] = b'\\'
                if ESCAPE[c] == 1:
                    out[1] = c if c == 0x22 or c == 0x5C else SHORT_ESCAPE[c - 0x08]
                    self.length += 2
                else:
                    out[1] = b'u'
                    out[2] = b'0'
                    out[3] = b'0'
                    out[4] = HEX[c >> 4]
                    out[5] = HEX[c & 15]
                    self.length += 6
                start = i + 1
        self.put(data + start, size - start)
        return self.reserve(1)

    cdef inline char* separate(self, char* out, bint first, int level):
        """Before an item of an object or array at ``level`` (the container's): the comma, and
        in pretty output the new line and indent (``reserve`` made the room)."""
        cdef int indent
        if not first:
            out[0] = b','
            out += 1
        if self.pretty:
            indent = 2 * level + 2
            out[0] = b'\n'
            memset(out + 1, b' ', indent)
            out += indent + 1
        return out

    cdef int item(self, bint first, int level) except -1:
        self.reserve(2 * level + 4)
        self.length = self.separate(self.buffer + self.length, first, level) - self.buffer
        return 0

    cdef int key(self, bint first, int level, str name) except -1:
        cdef Py_ssize_t size
        cdef const char* data = _utf8(name, &size)
        cdef char* out
        self.reserve(size + 2 * level + 8)
        out = self.separate(self.buffer + self.length, first, level)
        out[0] = b'"'
        memcpy(out + 1, data, size)
        out += size + 1
        out[0] = b'"'
        out[1] = b':'
        out += 2
        if self.pretty:
            out[0] = b' '
            out += 1
        self.length = out - self.buffer
        return 0

    cdef int close(self, bint empty, int level, char bracket) except -1:
        cdef char* out
        self.reserve(2 * level + 2)
        out = self.buffer + self.length
        if self.pretty and not empty:
            out[0] = b'\n'
            memset(out + 1, b' ', 2 * level)
            out += 2 * level + 1
        out[0] = bracket
        self.length = out + 1 - self.buffer
        return 0

    # --- the tree ---------------------------------------------------------------------------------
    cdef int value(self, object text, int json_kind) except -1:
        cdef Py_ssize_t size
        cdef const char* data
        if type(text) is not str:
            raise Fallback()
        if json_kind == STRING_KIND:
            return self.string(<str>text)
        if json_kind == NUMBER_KIND:
            if not PyUnicode_IS_COMPACT_ASCII(text):
                raise Fallback()
            size = PyUnicode_GET_LENGTH(text)
            data = <const char*>PyUnicode_DATA(text)
            if not _is_json_number(data, size):
                raise Fallback()  # a caller's tree may hold any text: the reference writer reports it
            return self.put(data, size)
        if text == "true":
            return self.put(b"true", 4)
        if text == "false":
            return self.put(b"false", 5)
        raise Fallback()

    cdef int element_checked(self, object node, str type_name, int level) except -1:
        if type(node) is not dict:
            raise Fallback()
        return self.element(<dict>node, type_name, level)

    cdef int element(self, dict node, str type_name, int level) except -1:
        cdef dict fields = self.fields(type_name)
        cdef FieldSlot* slot
        cdef int kind, json_kind
        cdef bint first = True
        self.depth += 1
        if self.depth > MAX_DEPTH:  # a caller's endless tree would overflow the C stack
            raise Fallback()
        self.byte(b'{')
        for key, value in node.items():
            slot = _field(fields, key)
            if slot == NULL:
                if key != "resourceType" or type(value) is not str:
                    raise Fallback()
                self.key(first, level, <str>key)
                self.string(<str>value)
                first = False
                continue
            kind = slot.kind
            if kind == PRIMITIVE:
                if slot.is_list:
                    first = self.primitive_list(value, slot, first, level)
                    continue
                if type(value) is str:
                    self.key(first, level, <str>key)
                    self.value(value, slot.json_kind)
                elif type(value) is self.primitive_class:
                    json_kind = slot.json_kind
                    companion = <str>slot.companion
                    if value.value is not None:
                        self.key(first, level, <str>key)
                        self.value(value.value, json_kind)
                        first = False
                    self.key(first, level, companion)
                    self.companion(value, level + 1)
                else:
                    raise Fallback()
            elif kind == COMPLEX:
                self.key(first, level, <str>key)
                # the slot may be reused below this point: what it says is read first
                if slot.is_list:
                    self.elements(value, <str>slot.sub, level + 1)
                else:
                    self.element_checked(value, <str>slot.sub, level + 1)
            elif kind == RESOURCE:
                self.key(first, level, <str>key)
                if slot.is_list:
                    self.resources(value, level + 1)
                else:
                    self.resource_at(value, level + 1)
            elif kind == XHTML or kind == ATTRIBUTE:
                if type(value) is not str:
                    raise Fallback()
                self.key(first, level, <str>key)
                self.string(<str>value)
            elif kind == COMMENTS:
                self.key(first, level, <str>key)
                self.strings(value, level + 1)
            else:
                raise Fallback()
            first = False
        self.close(first, level, b'}')
        self.depth -= 1
        return 0

    cdef int resource_at(self, object node, int level) except -1:
        cdef str rtype = _resource_type(node, self.resource_types)   # Fallback unless a dict
        return self.element(<dict>node, rtype, level)

    cdef int resources(self, object items, int level) except -1:
        cdef bint first = True
        if type(items) is not list or not items:
            raise Fallback()
        self.byte(b'[')
        for item in <list>items:
            self.item(first, level)
            self.resource_at(item, level + 1)
            first = False
        return self.close(False, level, b']')

    cdef int elements(self, object items, str type_name, int level) except -1:
        cdef bint first = True
        if type(items) is not list or not items:
            raise Fallback()
        self.byte(b'[')
        for item in <list>items:
            self.item(first, level)
            self.element_checked(item, type_name, level + 1)
            first = False
        return self.close(False, level, b']')

    cdef int strings(self, object items, int level) except -1:
        """fhir_comments: a list of strings."""
        cdef bint first = True
        if type(items) is not list:
            raise Fallback()
        self.byte(b'[')
        for item in <list>items:
            if type(item) is not str:
                raise Fallback()
            self.item(first, level)
            self.string(<str>item)
            first = False
        return self.close(first, level, b']')

    cdef int companion(self, object node, int level) except -1:
        """A primitive's ``_name`` object: its comments, id and extensions."""
        cdef bint first = True
        self.byte(b'{')
        comments = node.comments
        if comments:
            self.key(first, level, "fhir_comments")
            self.strings(comments, level + 1)
            first = False
        node_id = node.id
        if node_id is not None:
            if type(node_id) is not str:
                raise Fallback()
            self.key(first, level, "id")
            self.string(<str>node_id)
            first = False
        extensions = node.extension
        if extensions:
            self.key(first, level, "extension")
            self.elements(extensions, "Extension", level + 1)
            first = False
        return self.close(first, level, b'}')

    cdef int primitive_array(self, list items, int json_kind, int level, bint companions) except -1:
        """One array of a repeating primitive, null where an item has nothing for it: the values,
        or (``companions``) each item's ``_name`` object."""
        cdef bint first = True
        self.byte(b'[')
        for item in items:
            self.item(first, level)
            first = False
            if type(item) is str:
                if companions:
                    self.put(b"null", 4)
                else:
                    self.value(item, json_kind)
            elif companions:
                self.companion(item, level + 1)
            elif item.value is None:
                self.put(b"null", 4)
            else:
                self.value(item.value, json_kind)
        return self.close(False, level, b']')

    cdef bint primitive_list(self, object items, FieldSlot* slot, bint first, int level) except -1:
        """A repeating primitive: its values (null where an item has none; left out when no item
        has one, as an array of nulls says nothing, R5 json.html#null) and, when an item has an id
        or extensions, its ``_name`` array. Returns the new ``first``."""
        cdef bint companions = False, values = False
        if type(items) is not list or not items:
            raise Fallback()
        for item in <list>items:
            if type(item) is str:
                values = True
            elif type(item) is self.primitive_class:
                companions = True
                values = values or item.value is not None
            else:
                raise Fallback()
        # Copied out first: writing the items' extensions may reuse the slot.
        cdef int json_kind = slot.json_kind
        cdef str name = <str>(<tuple>slot.field)[4], companion = <str>slot.companion
        if values:
            self.key(first, level, name)
            first = False
            self.primitive_array(<list>items, json_kind, level + 1, False)
        if companions:
            self.key(first, level, companion)
            first = False
            self.primitive_array(<list>items, json_kind, level + 1, True)
        return first


cdef bint _has_companions(dict obj):
    """Whether any key starts with "_" (a primitive's id and extensions): most objects have none,
    and then no primitive needs a second lookup for its companion."""
    for key in obj:
        if type(key) is str and PyUnicode_GET_LENGTH(key) and PyUnicode_READ_CHAR(key, 0) == 95:
            return True
    return False


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
        cdef str rtype = _resource_type(obj, self.resource_types)     # Fallback unless a dict
        return self.complex(<dict>obj, rtype, True)

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
        cdef bint companions = _has_companions(obj)
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
                    companion = obj.get(field[5]) if companions else None
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
