# Types for the compiled build only (Cython reads this beside tree.py; the pure-Python module
# ignores it). Every codec and the migration engine ask for a primitive's text: compiled
# modules that cimport it call it as a C function.

cpdef object primitive_value(object node)
