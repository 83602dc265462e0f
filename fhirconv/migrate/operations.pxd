from fhirconv.tree cimport primitive_value

# Types for the compiled build only (Cython reads this beside operations.py; the pure-Python
# module ignores it and is the reference). The engine calls a rule's two directions for every
# series and instance: as cdef classes those calls, and the per-item calls inside them, are C calls.

cdef class Mapping:
    cdef public bint always_exact
    cpdef tuple apply(self, tuple values, object node)
    cpdef bint exact(self, tuple values)


cdef class _ItemMapping(Mapping):
    cpdef object item(self, object value)
    cpdef bint item_exact(self, object value)


cdef class _Move(Mapping):
    cdef object keep


cdef class _CodingToCC(_ItemMapping):
    pass


cdef class _CCToCoding(_ItemMapping):
    pass


cdef class _ToList(Mapping):
    cdef object keep


cdef class _ToSingle(Mapping):
    cdef object keep


cdef class _Merge(Mapping):
    cdef object allows_reference


cdef class _Split(Mapping):
    pass


cdef class _CodingToCR(_ItemMapping):
    pass


cdef class _CRToCoding(_ItemMapping):
    pass


cdef class _Matcher:
    cdef object regex
    cdef dict known
    cdef Py_ssize_t limit
    cpdef bint matches(self, object text)


cdef class _CodingToPrimitive(_ItemMapping):
    cdef object system, prefix
    cdef _Matcher matcher


cdef class _PrimitiveToCoding(_ItemMapping):
    cdef object system
    cdef _Matcher matcher


cdef class _Translate(Mapping):
    cdef dict codes
    cdef frozenset inexact


cdef class _Drop(Mapping):
    pass


cdef class _Absent(Mapping):
    pass


cdef class Then(Mapping):
    cdef Mapping first
    cdef object repair


# The small helpers every item goes through: C functions, not Python calls.
cdef dict _expect_dict(object value, str what)
cdef object _with_text(object node, str text)
cdef dict _coding_to_cc(object coding)
cdef object _cc_to_coding(object cc)
cdef bint _single_coding(object cc)
