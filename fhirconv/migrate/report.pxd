# Types for the compiled build only (Cython reads this beside report.py; the pure-Python module
# ignores it). The engine calls these methods for nearly every rule it runs: as C calls they
# cost a fraction of a Python method call.

cdef class Report:
    cdef list _issues
    cdef dict _groups
    cdef Py_ssize_t _errors
    cdef public object summary

    cpdef bint grouped(self, object group, str path)
    cpdef add(self, str action, str path, str diagnostics, object group=*)
    cpdef error(self, str code, str path, str diagnostics)
