# Types for the compiled build only (Cython reads this beside repairs.py; the pure-Python module
# ignores it). The repairs run for every study and series migrated: with the checks cimported,
# each is a C call instead of a module attribute lookup and a Python call.

from fhirconv.validation cimport (distinct_series_modalities, ist3_number_of_series_ok,
                                  ist45_number_of_instances_ok, ist6_series_count_ok, ist7_modality_ok)
