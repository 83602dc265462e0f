"""The mapping table: coverage of both definitions, and the loader's refusals."""

from __future__ import annotations

import pytest

from fhirconv.definitions import load
from fhirconv.migrate import MappingTableError, compiled_plan, load_tables
from fhirconv.migrate.engine import MigrationPlan
from fhirconv.migrate.table import parse_table

R4, R6 = load("R4"), load("R6")
TABLE = next(t for t in load_tables() if t.resource == "ImagingStudy")


def _elements(defs, type_name: str) -> set[str]:
    """Every element path of a resource, through its backbone elements."""
    paths = set()
    for element in defs.types[type_name].elements:
        path = f"{type_name}.{element.name}"
        paths.add(path)
        child = defs.types.get(element.types[0])
        if child is not None and child.kind == "backbone" and element.types[0].startswith(type_name + "."):
            paths |= _elements(defs, element.types[0])
    return paths


@pytest.mark.parametrize("defs, side", [(R4, "from"), (R6, "to")], ids=["R4", "R6"])
def test_every_element_is_in_a_row_or_unmapped_with_a_reason(defs, side):
    covered = {p for row in TABLE.rows for p in (row.from_paths if side == "from" else row.to_paths)}
    covered |= set(TABLE.unmapped)
    missing = _elements(defs, "ImagingStudy") - covered
    assert not missing, f"no row and no 'unmapped' reason for {sorted(missing)}"


def test_no_row_names_an_element_the_definitions_lack():
    for row in TABLE.rows:
        for path in row.from_paths:
            assert path in _elements(R4, "ImagingStudy"), path
        for path in row.to_paths:
            assert path in _elements(R6, "ImagingStudy"), path


def test_the_table_compiles_both_ways():
    assert "ImagingStudy" in compiled_plan(R4, R6).roots
    assert "ImagingStudy" in compiled_plan(R6, R4).roots


HEADER = 'resource = "ImagingStudy"\nfrom_version = "R4"\nto_version = "R6"\n'


@pytest.mark.parametrize("row, message", [
    ('from = "ImagingStudy.status"\nto = "ImagingStudy.status"\nop = "lowercase"', "unknown operation"),
    ('from = "ImagingStudy.status"\nto = "ImagingStudy.status"\nop = "translate"\n'
     'codes = { registered = "available", available = "available" }', "no inverse"),
    ('from = "ImagingStudy.status"\nto = "ImagingStudy.status"\nop = "translate"\n'
     'codes = { available = "available" }\ntarget_only = { inactive = "gone" }', "fallback"),
    ('from = "ImagingStudy.interpreter"\nto = "ImagingStudy.referrer"\nop = "extension"', r"maps 1 element\(s\) to 0"),
    ('from = "ImagingStudy.series.uid"\nto = "ImagingStudy.uid"\nop = "copy"', "share a parent"),
    ('from = "ImagingStudy.status"\nto = "ImagingStudy.status"\nop = "copy"\ncodes = {}', "unknown key"),
    ('from = "ImagingStudy.series.instance.sopClass"\nto = "ImagingStudy.series.instance.sopClass"\n'
     'op = "coding-to-primitive"\nsystem = "urn:ietf:rfc:3986"', "needs 'pattern'"),
])
def test_the_loader_refuses_rows_it_cannot_run_both_ways(row, message):
    with pytest.raises(MappingTableError, match=message):
        parse_table("bad.toml", HEADER + "[[rule]]\n" + row + "\n")


def test_an_element_mapped_twice_is_refused():
    row = '[[rule]]\nfrom = "ImagingStudy.id"\nto = "ImagingStudy.id"\nop = "copy"\n'
    with pytest.raises(MappingTableError, match="already mapped"):
        parse_table("bad.toml", HEADER + row + row)


def test_an_unmapped_element_needs_a_reason():
    with pytest.raises(MappingTableError, match="reason"):
        parse_table("bad.toml", HEADER + '[unmapped]\n"ImagingStudy.x" = ""\n')


def test_compiling_refuses_an_element_missing_from_the_definitions():
    table = parse_table("bad.toml", HEADER + '[[rule]]\nfrom = "ImagingStudy.partOf"\n'
                                             'to = "ImagingStudy.partOf"\nop = "copy"\n')
    with pytest.raises(MappingTableError, match="not an element of FHIR R4"):
        MigrationPlan(R4, R6, (table,))


def test_compiling_refuses_a_translation_missing_a_bound_code():
    table = parse_table("bad.toml", HEADER + '[[rule]]\nfrom = "ImagingStudy.status"\nto = "ImagingStudy.status"\n'
                                             'op = "translate"\ncodes = { available = "available" }\n')
    with pytest.raises(MappingTableError, match="have no translation"):
        MigrationPlan(R4, R6, (table,))


def test_compiling_refuses_an_unknown_invariant_repair():
    table = parse_table("bad.toml", HEADER + '[[rule]]\nfrom = "ImagingStudy.numberOfSeries"\n'
                                             'to = "ImagingStudy.numberOfSeries"\nop = "copy"\ninvariant = "ist-99"\n')
    with pytest.raises(MappingTableError, match="no repair"):
        MigrationPlan(R4, R6, (table,))
