# cython: language_level=3, boundscheck=False, wraparound=False
"""FHIR JSON bytes -> tree in one pass (``JsonBytesReader``), the JSON reader's fast path.

The exact reader (json.py) parses with the standard library's scanner and then builds the tree
from the values. This reader does both at once and against the definitions: each member is
parsed straight into its tree node, a number keeping its text as written, a ``_name`` companion
merged into its primitive, each key checked for duplicates and definition order as it comes.
No intermediate values, no second walk.

Like the other compiled walks it takes the plain case only. It raises :class:`Fallback` for
anything it would not read exactly as the exact reader does: bad syntax, a duplicate key, an
escape in a key, a lone surrogate, bytes that are not UTF-8, an unknown element, a value of the
wrong JSON type, ``resourceType`` not first, ``fhir_comments``. json.py then reads the document
again with the exact reader, which also owns every error message. ``tests/test_json_bytes_reader.py``
proves the two give the same tree.

One reader serves every thread: it holds only the definitions' fields, and each read keeps its
position in a ``Cursor`` on the C stack.
"""

from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from cpython.unicode cimport PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport uint64_t
from libc.string cimport memcmp, memcpy

from fhirconv.formats._wordscan cimport first_flagged_byte, specials

from ._fastjson import Fallback

cdef extern from "Python.h":
    const char* PyBytes_AS_STRING(object data)
    Py_ssize_t PyBytes_GET_SIZE(object data)
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void* PyUnicode_DATA(object text)

cdef int PRIMITIVE = 0, COMPLEX = 1, RESOURCE = 2, XHTML = 3, ATTRIBUTE = 4

# Every FHIR type has fewer elements than this (56 at most in R4-R6), so one bit per element
# position tracks which members an object has given; a type with more goes to the exact reader.
cdef int MASK_BITS = 64

cdef struct Cursor:
    const unsigned char* p        # the next byte; the bytes object's trailing NUL stops every scan
    const unsigned char* end
    int depth                     # objects open, counted as the builders count them
    bint had_null                 # the last primitive or companion array held a null


# -- members: what a key means in a type, resolved once ------------------------------------------
#
# A fixed table indexed by a hash of (the type's fields dict, the key's bytes) holds what the key
# means there: its field, unpacked to C values. A key met before in that type costs a hash and a
# memcmp: no str is decoded, no dict probed. Collisions overwrite (a miss costs one lookup).
# Each slot owns references to its fields dict and field tuple, so a slot can never point at a
# dict freed and replaced by another at the same address.

cdef enum:
    KEY_SLOTS = 4096          # a power of two; a few hundred (type, key) pairs are in use at a time
    KEY_LONGEST = 64          # the longest FHIR JSON key is 35 bytes; longer ones go to the exact reader

cdef enum:  # a primitive's JSON kind, from the field's "string" | "number" | "integer" | "boolean"
    STRING_KIND, NUMBER_KIND, INTEGER_KIND, BOOLEAN_KIND

cdef struct Member:
    PyObject* fields          # owned; NULL while the slot is empty
    PyObject* field           # owned: the field tuple (index, kind, sub, is_list, name, companion)
    PyObject* name            # borrowed from field: the tree key
    PyObject* sub             # borrowed from field: a complex element's type name
    PyObject* sub_fields      # owned: that type's fields, looked up on first use; NULL till then
    Py_ssize_t size
    int index, kind, json_kind
    bint is_list, companion   # companion: the key is "_name", the field is name's
    unsigned char text[KEY_LONGEST]

cdef Member MEMBERS[KEY_SLOTS]


cdef inline Member* _member(dict fields, const unsigned char* key, Py_ssize_t size) except NULL:
    """What ``key`` means in the type whose fields are ``fields``."""
    cdef uint64_t first = 0, last = 0, h
    cdef Member* slot
    # A hash of the key's first and last eight bytes, its size and the type: two loads, not a
    # loop (the memcmp below decides; a collision only costs a lookup).
    if size <= 8:
        memcpy(&first, key, size)
    else:
        memcpy(&first, key, 8)
        memcpy(&last, key + size - 8, 8)
    h = (first * 0x9E3779B97F4A7C15ULL) ^ (last * 0xC2B2AE3D27D4EB4FULL) ^ <uint64_t>size
    h ^= (<uint64_t><size_t><PyObject*>fields >> 4) * 0x165667B19E3779F9ULL
    slot = &MEMBERS[(h ^ (h >> 32) ^ (h >> 17)) & (KEY_SLOTS - 1)]
    if slot.fields == <PyObject*>fields and slot.size == size and memcmp(slot.text, key, size) == 0:
        return slot
    return _resolve(slot, fields, key, size)


cdef inline Py_ssize_t _key_size(Cursor* c) except -1:
    """The size of the key whose first byte is at ``c.p``, scanned eight bytes at a time; the
    cursor ends on its closing quote. An escape or a control character: Fallback."""
    cdef const unsigned char* p = c.p
    cdef uint64_t word, mask
    cdef unsigned char b
    while True:
        if p + 8 <= c.end:
            memcpy(&word, p, 8)
            mask = specials(word)
            if mask == 0:
                p += 8
                continue
            p += first_flagged_byte(mask)
        b = p[0]
        if b == c'"':
            break
        if b == c'\\' or b < 0x20:
            raise Fallback()  # an escaped key, a control character, the end of the data
        p += 1
    size = p - c.p
    c.p = p
    return size


cdef Member* _resolve(Member* slot, dict fields, const unsigned char* key, Py_ssize_t size) except NULL:
    cdef bint companion = False
    cdef str name = _text(key, size, False)
    found = fields.get(name)
    if found is None:
        if size < 2 or key[0] != c'_':
            raise Fallback()  # an unknown key (or resourceType again)
        found = fields.get(name[1:])
        if found is None or (<tuple>found)[1] != PRIMITIVE:
            raise Fallback()  # unknown, or a companion the exact reader must judge
        companion = True
    field = <tuple>found
    if field[0] < 0 or field[0] >= MASK_BITS:
        raise Fallback()  # fhir_comments (-1), or a type larger than any FHIR has
    json_kind = field[2] if field[1] == PRIMITIVE else None
    # The slot is filled whole before the old references are let go: freeing them cannot run
    # Python code that sees (or another thread that takes) a half-written slot.
    cdef PyObject* old_fields = slot.fields
    cdef PyObject* old_field = slot.field
    cdef PyObject* old_sub_fields = slot.sub_fields
    Py_INCREF(fields)
    Py_INCREF(field)
    slot.sub_fields = NULL
    slot.fields = <PyObject*>fields
    slot.field = <PyObject*>field
    slot.name = <PyObject*>field[4]
    slot.sub = <PyObject*>field[2]
    slot.size = size
    slot.index = field[0]
    slot.kind = field[1]
    slot.json_kind = (STRING_KIND if json_kind == "string" else NUMBER_KIND if json_kind == "number"
                      else INTEGER_KIND if json_kind == "integer" else BOOLEAN_KIND)
    slot.is_list = field[3]
    slot.companion = companion
    memcpy(slot.text, key, size)
    Py_XDECREF(old_fields)
    Py_XDECREF(old_field)
    Py_XDECREF(old_sub_fields)
    return slot


# -- strings ------------------------------------------------------------------------------------

cdef const uint64_t HIGHS = 0x8080808080808080ULL


cdef inline int _hex(unsigned char c) noexcept nogil:
    if c >= c'0' and c <= c'9':
        return c - c'0'
    c |= 0x20
    if c >= c'a' and c <= c'f':
        return c - c'a' + 10
    return -1


cdef inline int _hex4(const unsigned char* p) noexcept nogil:
    """The value of four hex digits, or -1 (a NUL among them stops at the first)."""
    cdef int value = 0, digit, i
    for i in range(4):
        digit = _hex(p[i])
        if digit < 0:
            return -1
        value = (value << 4) | digit
    return value


cdef str _text(const unsigned char* start, Py_ssize_t size, bint ascii):
    cdef str text
    if ascii:
        if size <= 1:  # CPython's shared one-character strings
            return PyUnicode_DecodeASCII(<const char*>start, size, NULL)
        text = PyUnicode_New(size, 127)
        memcpy(PyUnicode_DATA(text), start, size)
        return text
    try:
        return PyUnicode_DecodeUTF8(<const char*>start, size, NULL)  # refuses encoded surrogates too
    except UnicodeDecodeError:
        raise Fallback() from None


cdef str _string(Cursor* c):
    """The string whose opening quote is at ``c.p``; the cursor ends past its closing quote."""
    cdef const unsigned char* start = c.p + 1
    cdef const unsigned char* p = start
    cdef uint64_t word, high = 0
    cdef unsigned char b
    while p + 8 <= c.end:
        memcpy(&word, p, 8)
        if specials(word):
            break
        high |= word
        p += 8
    while True:
        b = p[0]
        if b == c'"':
            break
        if b == c'\\':
            return _escaped_string(c, start)
        if b < 0x20:
            raise Fallback()  # a raw control character (or the end of the data)
        high |= b
        p += 1
    c.p = p + 1
    return _text(start, p - start, (high & HIGHS) == 0)


cdef str _escaped_string(Cursor* c, const unsigned char* start):
    """The slow path of ``_string``: the UTF-8 of the unescaped text is gathered in a buffer."""
    cdef unsigned char* buffer = NULL
    cdef Py_ssize_t length = 0, capacity = 0, run
    cdef const unsigned char* p = start
    cdef const unsigned char* run_start = start
    cdef unsigned char b
    cdef int code, low
    cdef bint ascii = True
    try:
        while True:
            b = p[0]
            if b != c'"' and b != c'\\':
                if b < 0x20:
                    raise Fallback()
                if b >= 0x80:
                    ascii = False
                p += 1
                continue
            # flush the run before this quote or backslash (plus room for one escape's 4 bytes)
            run = p - run_start
            if length + run + 4 > capacity:
                capacity = max(2 * capacity, length + run + 64)
                buffer = <unsigned char*>PyMem_Realloc(buffer, capacity)
                if buffer == NULL:
                    raise MemoryError()
            memcpy(buffer + length, run_start, run)
            length += run
            if b == c'"':
                c.p = p + 1
                return _text(buffer, length, ascii)
            b = p[1]
            p += 2
            if b == c'"' or b == c'\\' or b == c'/':
                buffer[length] = b
            elif b == c'n':
                buffer[length] = 10
            elif b == c't':
                buffer[length] = 9
            elif b == c'r':
                buffer[length] = 13
            elif b == c'b':
                buffer[length] = 8
            elif b == c'f':
                buffer[length] = 12
            elif b == c'u':
                code = _hex4(p)
                if code < 0:
                    raise Fallback()
                p += 4
                if 0xDC00 <= code <= 0xDFFF:
                    raise Fallback()  # a low surrogate with no high one before it
                if 0xD800 <= code <= 0xDBFF:
                    low = _hex4(p + 2) if p[0] == c'\\' and p[1] == c'u' else -1
                    if not 0xDC00 <= low <= 0xDFFF:
                        raise Fallback()  # a lone high surrogate
                    p += 6
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                length += _utf8(code, buffer + length) - 1
                ascii = ascii and code < 0x80
            else:
                raise Fallback()
            length += 1
            run_start = p
    finally:
        PyMem_Free(buffer)


cdef inline Py_ssize_t _utf8(int code, unsigned char* out) noexcept nogil:
    """Writes one code point as UTF-8; returns how many bytes."""
    if code < 0x80:
        out[0] = code
        return 1
    if code < 0x800:
        out[0] = 0xC0 | (code >> 6)
        out[1] = 0x80 | (code & 0x3F)
        return 2
    if code < 0x10000:
        out[0] = 0xE0 | (code >> 12)
        out[1] = 0x80 | ((code >> 6) & 0x3F)
        out[2] = 0x80 | (code & 0x3F)
        return 3
    out[0] = 0xF0 | (code >> 18)
    out[1] = 0x80 | ((code >> 12) & 0x3F)
    out[2] = 0x80 | ((code >> 6) & 0x3F)
    out[3] = 0x80 | (code & 0x3F)
    return 4


# -- the rest of the grammar ----------------------------------------------------------------------

cdef inline void _blank(Cursor* c) noexcept nogil:
    cdef unsigned char b = c.p[0]
    while b == c' ' or b == c'\n' or b == c'\r' or b == c'\t':
        c.p += 1
        b = c.p[0]


cdef inline int _expect(Cursor* c, unsigned char wanted) except -1:
    _blank(c)
    if c.p[0] != wanted:
        raise Fallback()
    c.p += 1
    _blank(c)
    return 0


cdef inline bint _more(Cursor* c, unsigned char close) except -1:
    """After a member or an item: True at a comma (consumed), False at ``close`` (consumed)."""
    _blank(c)
    if c.p[0] == c',':
        c.p += 1
        _blank(c)
        return True
    if c.p[0] == close:
        c.p += 1
        return False
    raise Fallback()


cdef inline bint _literal(Cursor* c, const char* word, Py_ssize_t size) noexcept nogil:
    if c.end - c.p >= size and memcmp(c.p, word, size) == 0:
        c.p += size
        return True
    return False


cdef inline bint _digit(unsigned char b) noexcept nogil:
    return b >= c'0' and b <= c'9'


cdef str _number(Cursor* c, bint integer):
    """A JSON number's text exactly as written; an integer has no fraction or exponent."""
    cdef const unsigned char* start = c.p
    cdef const unsigned char* p = start
    if p[0] == c'-':
        p += 1
    if p[0] == c'0':
        p += 1
    elif _digit(p[0]):
        while _digit(p[0]):
            p += 1
    else:
        raise Fallback()
    if p[0] == c'.':
        p += 1
        if integer or not _digit(p[0]):
            raise Fallback()
        while _digit(p[0]):
            p += 1
    if p[0] == c'e' or p[0] == c'E':
        p += 1
        if p[0] == c'+' or p[0] == c'-':
            p += 1
        if integer or not _digit(p[0]):
            raise Fallback()
        while _digit(p[0]):
            p += 1
    c.p = p
    return _text(start, p - start, True)


cdef str _primitive(Cursor* c, int json_kind):
    """A primitive's text, of the JSON type its definition says."""
    cdef str text
    if json_kind == STRING_KIND:
        if c.p[0] == c'"':
            text = _string(c)
            if text:
                return text
    elif json_kind == NUMBER_KIND:
        return _number(c, False)
    elif json_kind == INTEGER_KIND:
        return _number(c, True)
    elif _literal(c, b"true", 4):
        return "true"
    elif _literal(c, b"false", 5):
        return "false"
    raise Fallback()


cdef class JsonBytesReader:
    """Reads FHIR JSON bytes into a tree as the exact reader would, or raises Fallback.

    ``fields_for(type)`` gives a type's fields (``_plans.fields_of``) and ``fields_cache`` holds
    them by type name, shared with the other compiled walks; ``ordered(out, fields)`` sorts a
    node's children into definition order.
    """

    cdef object fields_for, primitive_class, ordered, resource_types
    cdef dict fields_cache
    cdef int max_depth

    def __init__(self, fields_for, primitive_class, ordered, resource_types, int max_depth, dict fields_cache):
        self.fields_for = fields_for
        self.primitive_class = primitive_class
        self.ordered = ordered
        self.resource_types = resource_types
        self.max_depth = max_depth
        self.fields_cache = fields_cache

    def read(self, bytes data):
        """The tree of one JSON document (a byte order mark and JSON whitespace around it allowed)."""
        cdef Cursor c
        c.p = <const unsigned char*>PyBytes_AS_STRING(data)
        c.end = c.p + PyBytes_GET_SIZE(data)
        c.depth = 0
        c.had_null = False
        _literal(&c, b"\xef\xbb\xbf", 3)
        _blank(&c)
        tree = self.resource(&c)
        _blank(&c)
        if c.p != c.end:
            raise Fallback()  # more after the document (or a NUL in it)
        return tree

    cdef dict fields(self, str type_name):
        fields = self.fields_cache.get(type_name)
        if fields is None:
            fields = self.fields_cache[type_name] = self.fields_for(type_name)
        return <dict>fields

    cdef dict resource(self, Cursor* c):
        """The resource whose ``{`` is at the cursor; ``resourceType`` must come first, as it
        says how every other member is read."""
        if c.p[0] != c'{':
            raise Fallback()
        c.p += 1
        _blank(c)
        if not _literal(c, b'"resourceType"', 14):
            raise Fallback()
        _expect(c, c':')
        if c.p[0] != c'"':
            raise Fallback()
        resource_type = _string(c)
        if resource_type not in self.resource_types:
            raise Fallback()
        _blank(c)
        if c.p[0] != c',':
            raise Fallback()  # nothing but resourceType, or bad syntax
        c.p += 1
        _blank(c)
        return self.members(c, self.fields(resource_type), {"resourceType": resource_type})

    cdef dict members(self, Cursor* c, dict fields, dict out):
        """An object's members, from the first key to past the closing ``}``, into ``out``
        (``fields``: those of the object's type)."""
        cdef Member* member
        cdef const unsigned char* key
        cdef Py_ssize_t key_size
        cdef uint64_t values = 0, companions = 0, bit
        cdef int index, kind, last = -1, holes = 0
        cdef bint is_list, nulls, unordered = False
        c.depth += 1
        if c.depth > self.max_depth:
            raise Fallback()
        while True:
            if c.p[0] != c'"':
                raise Fallback()
            c.p += 1
            key = c.p
            key_size = _key_size(c)
            if key_size > KEY_LONGEST:
                raise Fallback()
            member = _member(fields, key, key_size)
            c.p += 1
            # Copied out: reading the value may reuse the slot for another (type, key).
            index = member.index
            is_list = member.is_list
            bit = (<uint64_t>1) << index
            name = <str>member.name
            _expect(c, c':')
            nulls = False  # a primitive or companion array with a null, until its partner comes
            if member.companion:
                if companions & bit:
                    raise Fallback()  # a duplicate, or a second type of a choice
                companions |= bit
                if is_list:
                    built = self.primitive_array(c, 0, True)
                    nulls = c.had_null
                else:
                    built = self.companion(c)
                if values & bit:
                    if name not in out:
                        raise Fallback()  # the value is another type of this choice
                    if is_list:
                        holes -= None in <list>out[name]
                        out[name] = self.merged(<list>out[name], <list>built)
                    else:
                        built.value = out[name]
                        out[name] = built
                    if not _more(c, c'}'):
                        break
                    continue
            else:
                if values & bit:
                    raise Fallback()  # a duplicate, or a second type of a choice
                values |= bit
                kind = member.kind
                built = self.value(c, member)
                if is_list and kind == PRIMITIVE:
                    nulls = c.had_null
                if companions & bit:
                    if name not in out:
                        raise Fallback()  # the companion is another type of this choice
                    if is_list:
                        holes -= None in <list>out[name]
                        out[name] = self.merged(<list>built, <list>out[name])
                    else:
                        (<object>out[name]).value = built
                    if not _more(c, c'}'):
                        break
                    continue
            holes += nulls
            out[name] = built
            if index < last:
                unordered = True
            last = index
            if not _more(c, c'}'):
                break
        c.depth -= 1
        if holes:
            raise Fallback()  # a null in a primitive array with no companion for it
        if unordered:
            out = self.ordered(out, fields)
            if out is None:
                raise Fallback()
        return out

    cdef object value(self, Cursor* c, Member* member):
        """A member's value as its field says. What the slot says is read first: reading a
        nested object may reuse it for another (type, key)."""
        cdef int kind = member.kind
        cdef bint is_list = member.is_list
        if kind == PRIMITIVE:
            if is_list:
                return self.primitive_array(c, member.json_kind, False)
            return _primitive(c, member.json_kind)
        if kind == COMPLEX:
            if member.sub_fields != NULL:
                fields = <dict>member.sub_fields   # a reference of our own
            else:
                field = <tuple>member.field
                fields = self.fields(<str>member.sub)  # on a first meeting, calls Python: threads may switch
                if member.field == <PyObject*>field and member.sub_fields == NULL:  # still this field's slot
                    Py_INCREF(fields)
                    member.sub_fields = <PyObject*>fields
            if is_list:
                return self.complex_list(c, fields)
            if c.p[0] != c'{':
                raise Fallback()
            c.p += 1
            _blank(c)
            return self.members(c, fields, {})
        if kind == ATTRIBUTE or kind == XHTML:
            if c.p[0] != c'"':
                raise Fallback()
            text = _string(c)
            if not text:
                raise Fallback()
            return text
        if kind == RESOURCE:
            return self.resource_list(c) if is_list else self.resource(c)
        raise Fallback()

    cdef list primitive_array(self, Cursor* c, int json_kind, bint companions):
        """A repeating primitive's array: its values, or (``companions``) its ``_name`` objects as
        Primitives with no value yet. A null item (None) needs its partner, which ``members``
        checks: ``c.had_null`` says whether there was one (set last, after any nested read)."""
        cdef list items = []
        cdef bint nulls = False
        if c.p[0] != c'[':
            raise Fallback()
        c.p += 1
        _blank(c)
        if c.p[0] == c']':
            raise Fallback()  # an empty array
        while True:
            if _literal(c, b"null", 4):
                items.append(None)
                nulls = True
            elif companions:
                items.append(self.companion(c))
            else:
                items.append(_primitive(c, json_kind))
            if not _more(c, c']'):
                c.had_null = nulls
                return items

    cdef object companion(self, Cursor* c):
        """A primitive's ``_name`` object: a Primitive with no value yet."""
        cdef bint has_id = False
        node_id = None
        extensions = None
        if c.p[0] != c'{':
            raise Fallback()
        c.p += 1
        _blank(c)
        while True:
            if _literal(c, b'"id"', 4):
                if has_id:
                    raise Fallback()
                _expect(c, c':')
                if c.p[0] != c'"':
                    raise Fallback()
                node_id = _string(c)
                if not node_id:
                    raise Fallback()
                has_id = True
            elif _literal(c, b'"extension"', 11):
                if extensions is not None:
                    raise Fallback()
                _expect(c, c':')
                extensions = self.complex_list(c, self.fields("Extension"))
            else:
                raise Fallback()  # empty, a duplicate, fhir_comments or anything else
            if not _more(c, c'}'):
                return self.primitive_class(None, node_id, extensions)

    cdef list merged(self, list values, list companions):
        """A repeating primitive's values and companions, paired by position."""
        cdef Py_ssize_t i, n_values = len(values), n_companions = len(companions)
        cdef list items = []
        for i in range(max(n_values, n_companions)):
            value = values[i] if i < n_values else None
            node = companions[i] if i < n_companions else None
            if node is None:
                if value is None:
                    raise Fallback()  # neither a value nor an id or extension
                items.append(value)
            else:
                node.value = value
                items.append(node)
        return items

    cdef list complex_list(self, Cursor* c, dict fields):
        cdef list items = []
        if c.p[0] != c'[':
            raise Fallback()
        c.p += 1
        _blank(c)
        while True:
            if c.p[0] != c'{':
                raise Fallback()  # not an object, or an empty array
            c.p += 1
            _blank(c)
            items.append(self.members(c, fields, {}))
            if not _more(c, c']'):
                return items

    cdef list resource_list(self, Cursor* c):
        cdef list items = []
        if c.p[0] != c'[':
            raise Fallback()
        c.p += 1
        _blank(c)
        while True:
            items.append(self.resource(c))
            if not _more(c, c']'):
                return items
