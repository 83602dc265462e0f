"""R6 invariants a migrated value must satisfy, as repairs the mapping table can name.

A repair takes the R6 value(s) a rule produced and the R6 element they sit in (with its
children already migrated) and returns what R6 may hold: the value itself when the invariant
holds, otherwise the nearest valid value. It never invents data: counts that disagree with the
elements present are left out (absent is always valid), and the study modality becomes exactly
the distinct series modalities, which R6 defines it to be. The engine keeps the R4 value in a
``4.0`` extension whenever a repair changed it, so R6 -> R4 gives it back.

The checks themselves live in :mod:`fhirconv.validation` so that migration and ``validate`` can
never disagree about what an invariant means.
"""

from __future__ import annotations

from typing import Callable

from ..validation import (distinct_series_modalities, ist3_number_of_series_ok, ist45_number_of_instances_ok,
                          ist6_series_count_ok, ist7_modality_ok)

__all__ = ["REPAIRS", "COVERS"]

Repair = Callable[[tuple, dict], tuple]


def _number_of_series(values: tuple, study: dict) -> tuple:
    value = values[0]
    if value is None or ist3_number_of_series_ok(value, study.get("series")):
        return values
    return (None,)


def _number_of_instances(values: tuple, study: dict) -> tuple:
    value = values[0]
    if value is None or ist45_number_of_instances_ok(value, study.get("series")):
        return values
    return (None,)


def _series_number_of_instances(values: tuple, series: dict) -> tuple:
    value = values[0]
    if value is None or ist6_series_count_ok(value, series.get("instance")):
        return values
    return (None,)


def _modality(values: tuple, study: dict) -> tuple:
    modality = values[0]
    if modality is None or ist7_modality_ok(modality, study.get("series")):
        return values
    return (distinct_series_modalities(study.get("series")) or None,)


REPAIRS: dict[str, Repair] = {
    "ist-3": _number_of_series,
    "ist-4-5": _number_of_instances,
    "ist-6": _series_number_of_instances,
    "ist-7": _modality,
}

# The invariants each repair guarantees: the engine need not check them again on its output.
COVERS: dict[str, tuple[str, ...]] = {"ist-3": ("ist-3",), "ist-4-5": ("ist-4", "ist-5"), "ist-6": ("ist-6",),
                                      "ist-7": ("ist-7",)}
