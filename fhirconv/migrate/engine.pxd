# Types for the compiled build only (Cython reads this beside engine.py; the pure-Python module
# ignores it and is the reference). The per-node walk and the per-rule steps run for every
# series and instance: typed, their attribute reads are struct reads and their calls C calls.

cimport cython
from fhirconv.migrate.report cimport Report
from fhirconv.migrate.operations cimport Mapping

cdef class _Rule:
    cdef public object row, repair, trigger, dst_name
    cdef public Mapping forward, backward
    cdef public tuple src_names, dst_names, src_paths, dst_paths, restore_codecs, keep_codecs, said_kept
    cdef public object group_transformed, group_restored
    cdef public tuple groups_kept
    cdef public str src_label, dst_label, said_transformed, said_restored
    cdef public bint reshapes, translate

    cpdef run(self, dict src, dict out, object shadows, list added, Report report, str path)
    cdef tuple _restore(self, tuple values, dict restored, dict src, tuple src_values, dict shadows,
                        Report report, str path)
    cdef bint _keep_the_rest(self, dict src, tuple src_values, tuple values, list added, Report report,
                             str path, bint repaired)
    cdef _keep(self, Py_ssize_t i, object original, tuple values, list added, Report report, str path,
               bint repaired)


cdef class _Node:
    cdef public str type_name
    cdef public dict copies, rank, shapes
    cdef public list rules
    cdef public set claimed
    cdef public tuple order, required, target_checks, last_shape
    cdef public frozenset shadow_urls
    cdef public bint is_resource


cdef class _Shape:
    cdef public tuple copies, rules, nullable, required
    cdef public dict template


cdef class MigrationPlan:
    cdef public object source, target, _implicit_lock
    cdef public dict nodes, roots, checks, _implicit_roots

    cpdef migrate_any(self, object resource, str path, Report report)

    cdef dict _run_node(self, _Node node, object src, str path, Report report)

    @cython.locals(rule=_Rule, out=dict, added=list)
    cdef dict _run_shaped(self, _Node node, _Shape shape, dict src, object kept, str path, Report report)

    cdef object _run_child(self, int kind, _Node child, object value, str where, Report report)
    cdef _finish(self, _Node node, tuple required, dict src, dict out, str path, Report report)

    @cython.locals(rule=_Rule, out=dict, added=list)
    cdef dict _run_generic(self, _Node node, dict src, object shadows, object kept, str path, Report report)


@cython.locals(i=Py_ssize_t)
cdef bint _same_keys(dict src, tuple keys)

cdef tuple _INDEXES
cdef str _item_path(str where, Py_ssize_t i)


cdef tuple _split_shadows(object extensions, frozenset urls)
cdef object _bad(object value, str path, str what, Report report)
