# Types for the compiled build only (Cython reads this beside validation.py; the pure-Python module
# ignores it). The ImagingStudy invariant helpers run for every study the engine migrates (its
# repairs and its final check): as cpdef functions they call each other as C functions, and
# their counters are C integers.

cimport cython
from fhirconv.tree cimport primitive_value

cdef dict _COUNTS
cdef object _UNKNOWN
cpdef object _count(object value)

@cython.locals(count=Py_ssize_t)
cpdef Py_ssize_t _dicom_study_uids(object study) except -1

cpdef bint ist1_ok(object study) except -1
cpdef bint ist2_ok(object study) except -1
cpdef bint ist3_number_of_series_ok(object number, object series) except -1
cpdef bint ist45_number_of_instances_ok(object number, object series) except -1

@cython.locals(instances=Py_ssize_t, counted=bint, total=Py_ssize_t)
cpdef tuple _series_totals(object series)

cpdef bint ist6_series_count_ok(object number, object instances) except -1
cpdef list _series_modalities(object series)
cpdef bint ist7_modality_ok(object modality, object series) except -1
cpdef bint _same_members(object a, object b) except -1
cpdef list distinct_series_modalities(object series)
