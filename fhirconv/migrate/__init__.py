"""FHIR version migration driven by the declarative tables in ``mappings/``.

Public entry points: :func:`migrate_resource` (tree in, tree + OperationOutcome out) and
:func:`migrate_reported` (tree + :class:`Report`, the outcome built on demand). The parts:
``table`` reads and checks the TOML tables, ``operations`` is the closed vocabulary (each
operation with its inverse), ``xver`` the cross-version extension codec, ``repairs`` the R6
invariants a migrated value must satisfy, ``report`` the OperationOutcome, and ``engine`` compiles
the tables into per-node plans and runs them. This package knows nothing of JSON or XML.
"""

from .engine import MigrationPlan, compiled_plan, migrate_reported, migrate_resource
from .report import ACTION_SYSTEM, Report
from .table import MappingTableError, load_tables

__all__ = ["migrate_resource", "migrate_reported", "Report", "compiled_plan", "MigrationPlan",
           "MappingTableError", "load_tables", "ACTION_SYSTEM"]
