"""The migration engine: compiles mapping tables into per-node plans, then runs them on trees.

Compiling (once per version pair, cached, thread-safe) turns every table row into either an
entry of a node's copy map (a plain move, or a recursion into a backbone element or a
contained resource) or a :class:`_Rule`. Running a resource is then a walk over its keys
plus the rules of each node: no table interpretation per resource.

Every rule, in both directions, follows the same four steps, which is what makes the tables
lossless without each operation having to think about loss:

1. **Restore.** If the input carries cross-version extensions for this rule's *target* elements
   (left by an earlier migration the other way), take their values - but only when they still
   agree with the native data, i.e. running the inverse on them gives the native input values
   back. Otherwise the native values win, the stale extension is dropped and the report says so.
2. **Map.** Otherwise map the native values with the operation.
3. **Repair.** If the row names an invariant of the target, make the value satisfy it.
4. **Keep the rest.** Run the inverse on the result; every input element that does not come back
   exactly is kept whole in a cross-version extension of its own version on the parent.
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import Any, Callable

from ..definitions import Definitions, ElementDef
from ..errors import MigrationError
from ..tree import primitive_value
from ..validation import invariants, reference_type
from .operations import Mapping, RuleSpec, ShapeError, Then
from .repairs import COVERS, REPAIRS
from .report import Report
from .table import MappingTableError, Row, Table, load_tables
from .implicit import implicit_table
from .xver import ExtensionCodec

__all__ = ["migrate_resource", "migrate_reported", "compiled_plan", "MigrationPlan"]

_PLAIN, _BACKBONE, _RESOURCE = 0, 1, 2
_GROUP_KEYS = itertools.count()   # the report's group keys (see _Rule)


class _Rule:
    """One table row compiled for one direction."""

    __slots__ = ("row", "src_names", "dst_names", "src_paths", "dst_paths", "forward", "backward", "repair",
                 "restore_codecs", "keep_codecs", "src_label", "dst_label", "reshapes", "translate",
                 "trigger", "dst_name", "said_transformed", "said_restored", "said_kept", "group_transformed",
                 "group_restored", "groups_kept")

    def __init__(self, row: Row, reverse: bool, forward: Mapping, backward: Mapping,
                 repair: Callable | None, restore_codecs: tuple, keep_codecs: tuple,
                 src_label: str, dst_label: str):
        self.row = row
        self.src_paths = row.to_paths if reverse else row.from_paths
        self.dst_paths = row.from_paths if reverse else row.to_paths
        self.src_names = tuple(_element_name(p) for p in self.src_paths)
        self.dst_names = tuple(_element_name(p) for p in self.dst_paths)
        self.forward, self.backward, self.repair = forward, backward, repair
        self.restore_codecs = restore_codecs      # per dst element: reads dst-version extensions
        self.keep_codecs = keep_codecs            # per src element: writes src-version extensions
        self.src_label, self.dst_label = src_label, dst_label
        self.reshapes = row.op.reshapes
        self.translate = row.op.name == "translate"
        # The one input element whose absence means there is nothing to do (None: several, or none).
        self.trigger = self.src_names[0] if len(self.src_names) == 1 else None
        # The one output element (None: several, or none), written without a zip.
        self.dst_name = self.dst_names[0] if len(self.dst_names) == 1 else None
        # The sentences of the report that do not depend on the data, made once.
        op_name = row.op.name if not reverse else row.op.inverse
        self.said_transformed = f"{' + '.join(self.src_paths)} -> {' + '.join(self.dst_paths)} ({op_name})"
        urls = ", ".join(c.url for c in restore_codecs)
        self.said_restored = f"{', '.join(self.dst_paths)} restored from {src_label} extension {urls}"
        why = f" ({row.why})" if row.why else ""
        self.said_kept = tuple(f"{p} has no exact home in {dst_label}{why}: kept in extension {c.url}"
                               for p, c in zip(self.src_paths, keep_codecs))
        # The report's group keys: one issue per rule and action, whatever the number of places.
        # Plain ints, unique in the process: looked up for every place, and an int hashes for free.
        self.group_transformed, self.group_restored = next(_GROUP_KEYS), next(_GROUP_KEYS)
        self.groups_kept = tuple(next(_GROUP_KEYS) for _ in keep_codecs)

    def run(self, src: dict, out: dict, shadows: dict | None, added: list, report: Report, path: str) -> None:
        trigger = self.trigger
        if trigger is not None:                  # the common case: one input element, without a generator
            value = src.get(trigger)
            src_values = (value,)
            empty = value is None
        else:
            src_values = tuple([src.get(name) for name in self.src_names])
            empty = src_values.count(None) == len(src_values)
        restored = None
        if shadows:
            restored = {i: codec for i, codec in enumerate(self.restore_codecs) if codec.url in shadows}
            empty = empty and not restored
        if empty:
            return
        try:
            values = self.forward.apply(src_values, out)                            # 2. map
            if restored:
                values = self._restore(values, restored, src, src_values, shadows, report, path)   # 1. restore
            repaired = False
            if self.repair is not None:                                             # 3. repair
                fixed = self.repair(values, out)
                repaired, values = fixed != values, fixed
            if not repaired and self.forward.exact(src_values):
                kept = False                     # the operation vouches that the inverse gives the input back
            else:
                kept = self._keep_the_rest(src, src_values, values, added, report, path, repaired)   # 4.
            dst_name = self.dst_name
            if dst_name is not None:
                if values[0] is not None:
                    out[dst_name] = values[0]
            else:
                for name, value in zip(self.dst_names, values):
                    if value is not None:
                        out[name] = value
            if not kept and not restored and self.reshapes and values != src_values:
                where = f"{path}.{self.src_names[0]}"
                if not report.grouped(self.group_transformed, where):
                    report.add("transformed", where, self.said_transformed, self.group_transformed)
        except ShapeError as exc:
            # Invalid input: say where, keep the values untouched under their own names.
            report.error("structure", f"{path}.{(self.src_names or self.dst_names)[0]}", str(exc))
            for name, value in zip(self.src_names, src_values):
                if value is not None:
                    out[name] = value

    def _restore(self, values: tuple, restored: dict, src: dict, src_values: tuple, shadows: dict,
                 report: Report, path: str) -> tuple:
        """The values of this rule's cross-version extensions, while they still agree with the native data."""
        candidate = list(values)
        unreadable = False
        for i, codec in restored.items():
            try:
                candidate[i] = codec.decode(shadows[codec.url])
            except ShapeError as exc:
                unreadable = True
                report.add("conflict", f"{path}.extension('{codec.url}')",
                           f"extension cannot be read ({exc}); the native value was used and the extension dropped")
        candidate = tuple(candidate)
        urls = ", ".join(c.url for c in restored.values())
        where = f"{path}.extension('{urls}')"
        if not unreadable and self.backward.apply(candidate, src) == src_values:
            if not report.grouped(self.group_restored, where):
                report.add("restored", where, self.said_restored if len(restored) == len(self.restore_codecs)
                           else f"{', '.join(self.dst_paths)} restored from {self.src_label} extension {urls}",
                           None if len(restored) != len(self.restore_codecs) else self.group_restored)
            return candidate
        if not unreadable:
            report.add("conflict", where,
                       f"extension {urls} no longer agrees with {', '.join(self.src_paths) or 'the data'} "
                       f"(edited after migration?): the native value was used and the extension dropped")
        return values

    def _keep_the_rest(self, src: dict, src_values: tuple, values: tuple, added: list, report: Report,
                       path: str, repaired: bool) -> bool:
        """Keep every input value the inverse does not give back; True when there was one."""
        back = self.backward.apply(values, src)
        if back == src_values:
            return False
        kept = False
        for i, original in enumerate(src_values):
            if original is None or back[i] == original:
                continue
            kept = True
            self._keep(i, original, values, added, report, path, repaired)
        return kept

    def _keep(self, i: int, original, values: tuple, added: list, report: Report, path: str,
              repaired: bool) -> None:
        """Keep an input value the output cannot give back in a cross-version extension, and say so."""
        codec = self.keep_codecs[i]
        added.extend(codec.encode(original))
        where = f"{path}.{self.src_names[i]}"
        if repaired:
            report.add("repaired", where, f"{self.dst_paths[0]} changed to satisfy {self.row.invariant} of "
                                          f"{self.dst_label}; the {self.src_label} value is kept in extension "
                                          f"{codec.url}")
        elif self.translate:
            report.add("downgraded", where,
                       f"{self.src_paths[i]} {primitive_value(original)!r} has no {self.dst_label} code: "
                       f"written as {primitive_value(values[i])!r}, the {self.src_label} code kept in "
                       f"extension {codec.url} ({self.row.why})")
        elif not report.grouped(self.groups_kept[i], where):
            report.add("extension", where, self.said_kept[i], self.groups_kept[i])


class _Node:
    """The compiled plan of one element type (a resource or a backbone element) for one direction."""

    __slots__ = ("type_name", "copies", "rules", "claimed", "order", "rank", "shadow_urls", "required",
                 "target_checks", "is_resource", "shapes", "last_shape")

    def __init__(self, type_name: str, is_resource: bool):
        self.type_name = type_name
        self.is_resource = is_resource
        self.copies: dict[str, tuple[str, int, Any]] = {}   # src name -> (dst name, kind, child plan)
        self.rules: list[_Rule] = []
        self.claimed: set[str] = {"resourceType", "extension"}
        # Comments from old JSON / XML ride along where they were; they are not elements.
        self.copies["fhir_comments"] = ("fhir_comments", _PLAIN, None)
        self.order: tuple[str, ...] = ()
        self.rank: dict[str, int] = {}           # output name -> its place in definition order
        self.shapes: dict[tuple, _Shape | None] = {}     # input key tuple -> its plan (None: the generic walk)
        self.last_shape: tuple | None = None     # (keys, shape) last used: checked before building a key tuple
        self.shadow_urls: frozenset[str] = frozenset()
        self.required: tuple[str, ...] = ()
        self.target_checks: tuple[tuple[str, tuple[str, ...]], ...] = ()


_UNSEEN = object()
# Tests switch this off to prove the shaped and the generic walk give the same output and report.
use_shapes = True
_MAX_SHAPES = 512          # distinct key tuples remembered per node


class _Shape:
    """What running a node means for one tuple of input keys: decided once, then reused.

    Real data repeats a handful of key tuples (every instance of an archive has uid, sopClass,
    number), so the per-key decisions of the generic walk - copy or rule input or unknown, which
    rules have input, where each output goes - are made once per tuple. An input the generic
    walk would report on (an unknown key, an output outside the definition order) gets no shape.
    """

    __slots__ = ("template", "copies", "rules", "nullable", "required")

    def __init__(self, slots: tuple, copies: tuple, rules: tuple, nullable: tuple, required: tuple):
        # Every output key, in definition order, each None: the output starts as a copy of this
        # (a memcpy, several times cheaper than dict.fromkeys, for every series and instance).
        self.template = dict.fromkeys(slots)
        self.copies = copies          # (input key, output key, kind, child plan), in input order
        self.rules = rules            # the rules with input, in the order the generic walk runs them
        self.nullable = nullable      # output keys that only rules (or extensions) fill: may stay empty
        self.required = required      # the node's required keys that no copy fills: checked per input

    @staticmethod
    def of(node: "_Node", keys: tuple) -> "_Shape | None":
        present = frozenset(keys)
        copies, copied = [], set()
        for key in keys:
            move = node.copies.get(key)
            if move is None:
                if key in node.claimed:
                    continue                 # a rule's input, "extension" or "resourceType"
                return None                  # unknown: the generic walk reports it
            dst_name, kind, child = move
            copies.append((key, dst_name, kind, child))
            copied.add(dst_name)
        rules = tuple(rule for rule in node.rules
                      if (rule.trigger in present if rule.trigger is not None
                          else any(name in present for name in rule.src_names)))
        filled = {name for rule in rules for name in rule.dst_names}
        if rules or "extension" in present:
            filled.add("extension")
        if node.is_resource:
            copied.add("resourceType")
        outputs = copied | filled
        if any(name not in node.rank for name in outputs):
            return None                      # kept after the known ones: the generic walk sorts it
        slots = tuple(sorted(outputs, key=node.rank.__getitem__))
        nullable = tuple(name for name in slots if name not in copied)
        required = tuple(name for name in node.required if name not in copied)
        return _Shape(slots, tuple(copies), rules, nullable, required)


class MigrationPlan:
    """Every table between two versions, compiled for one direction. Immutable once built."""

    def __init__(self, source: Definitions, target: Definitions, tables: tuple[Table, ...]):
        self.source, self.target = source, target
        self.nodes: dict[str, _Node] = {}
        self.roots: dict[str, _Node] = {}
        # resource type -> (the target's invariants its repairs do not ensure, all of them): checked on
        # every output, all of them when invalid input stopped a rule (and so maybe a repair).
        self.checks: dict[str, tuple[tuple, tuple]] = {}
        self._implicit_roots: dict[str, _Node] = {}
        self._implicit_lock = threading.Lock()
        for table in tables:
            if (table.from_version, table.to_version) == (source.label, target.label):
                self._compile(table, reverse=False)
            elif (table.from_version, table.to_version) == (target.label, source.label):
                self._compile(table, reverse=True)

    # --- compiling ----------------------------------------------------------------------------------
    def _element(self, defs: Definitions, path: str, table: Table, row: Row) -> ElementDef:
        parent, name = path.rsplit(".", 1)
        typedef = defs.types.get(parent)
        element = typedef.element(name) if typedef else None
        if element is None:
            raise MappingTableError(f"{table.name} rule {row.number}: {path} is not an element of "
                                    f"FHIR {defs.label} ({defs.fhir_version})")
        return element

    def _compile(self, table: Table, reverse: bool, publish: bool = True) -> _Node:
        from_defs, to_defs = (self.target, self.source) if reverse else (self.source, self.target)
        src_defs, dst_defs = self.source, self.target
        nodes: dict[str, _Node] = {}
        for row in table.rows:
            from_els = tuple(self._element(from_defs, p, table, row) for p in row.from_paths)
            to_els = tuple(self._element(to_defs, p, table, row) for p in row.to_paths)
            parent = row.parent
            node = nodes.get(parent)
            if node is None:
                node = nodes[parent] = _Node(parent, is_resource=parent == table.resource)
            src_paths, src_els = (row.to_paths, to_els) if reverse else (row.from_paths, from_els)
            dst_paths, dst_els = (row.from_paths, from_els) if reverse else (row.to_paths, to_els)
            node.claimed.update(_element_name(p) for p in src_paths)
            spec = RuleSpec(params=row.params,
                            from_targets=tuple(e.targets for e in from_els),
                            to_targets=tuple(e.targets for e in to_els),
                            from_required=tuple(e.min >= 1 for e in from_els),
                            to_required=tuple(e.min >= 1 for e in to_els))
            if row.op.name == "copy" and not row.invariant and not _filters(from_els[0], to_els[0]):
                self._compile_copy(node, src_paths[0], dst_paths[0], dst_els[0], dst_defs, src_els[0])
                continue
            to_target, to_source = row.op.build(spec)
            repair = None
            if row.invariant:
                repair = REPAIRS.get(row.invariant)
                if repair is None:
                    raise MappingTableError(f"{table.name} rule {row.number}: no repair for invariant "
                                            f"{row.invariant!r} (known: {', '.join(REPAIRS)})")
            if row.op.name == "translate":
                _check_translation(table, row, to_els[0], from_els[0])
            if reverse:
                backward = Then(to_target, repair) if repair else to_target
                forward, repair_here = to_source, None
            else:
                forward, backward, repair_here = to_target, to_source, repair
            restore = tuple(ExtensionCodec(dst_defs, src_defs, p, e) for p, e in zip(dst_paths, dst_els))
            keep = tuple(ExtensionCodec(src_defs, dst_defs, p, e) for p, e in zip(src_paths, src_els))
            node.rules.append(_Rule(row, reverse, forward, backward, repair_here, restore, keep,
                                    src_defs.label, dst_defs.label))
        for parent, node in nodes.items():
            # Rules that repair against an invariant look at siblings already migrated: run them last.
            node.rules.sort(key=lambda rule: rule.row.invariant is not None)
            node.shadow_urls = frozenset(c.url for rule in node.rules for c in rule.restore_codecs)
            typedef = dst_defs.types[parent]
            node.order = (("resourceType",) if node.is_resource else ()) + tuple(
                name for element in typedef.elements for name in element.json_names())
            node.rank = {name: place for place, name in enumerate(node.order)}
            node.required = tuple(e.name for e in typedef.elements if e.min >= 1 and not e.choice)
            if publish:
                self.nodes[parent] = node
        for node in nodes.values():
            for src_name, (dst_name, kind, child) in list(node.copies.items()):
                if kind == _BACKBONE:
                    node.copies[src_name] = (dst_name, kind, nodes.get(child) or _missing(table, child))
        if publish:
            self.roots[table.resource] = nodes[table.resource]
            # The repairs run in the written direction only (the way back runs them inside Then).
            guaranteed = set() if reverse else {key for row in table.rows if row.invariant
                                                for key in COVERS[row.invariant]}
            every = invariants(self.target, table.resource)
            self.checks[table.resource] = (tuple(i for i in every if i[0] not in guaranteed), every)
        return nodes[table.resource]

    def _compile_copy(self, node: _Node, src_path: str, dst_path: str, dst_el: ElementDef,
                      dst_defs: Definitions, src_el: ElementDef) -> None:
        src_name, dst_name = _element_name(src_path), _element_name(dst_path)
        type_code = dst_el.types[0]
        if src_name == "extension":
            return            # _run_node merges it with the cross-version extensions of the rules
        if type_code == "Resource":
            node.copies[src_name] = (dst_name, _RESOURCE, None)
        elif dst_defs.types.get(type_code) is not None and dst_defs.types[type_code].kind == "backbone":
            node.copies[src_name] = (dst_name, _BACKBONE, type_code)
        else:
            node.copies[src_name] = (dst_name, _PLAIN, None)
            if type_code == "Reference" and dst_el.targets and "Resource" not in dst_el.targets and not (
                    src_el.targets and set(src_el.targets) <= set(dst_el.targets)):
                # Required, so not filtered into an extension (see operations._filter_references): checked.
                node.target_checks += ((src_name, dst_el.targets),)

    # --- running ------------------------------------------------------------------------------------
    def migrate_any(self, resource: Any, path: str, report: Report) -> Any:
        """Migrate a resource of any type: by its table, or passed through (nested resources migrated)."""
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            report.error("structure", path, "expected a resource with a resourceType")
            return resource
        resource_type = resource["resourceType"]
        root = self.roots.get(resource_type)
        if root is not None:
            errors_before = report.has_errors
            out = self._run_node(root, resource, path, report)
            # What the repairs guarantee need not be checked again - unless invalid input stopped a rule.
            remaining, every = self.checks[resource_type]
            for key, human, holds in (remaining if errors_before == report.has_errors else every):
                if not holds(out):
                    report.error("invariant", path, f"{key}: {human}: cannot be made valid in "
                                                    f"{self.target.label} without guessing")
            return out
        return self._pass_through(resource, resource_type, path, report)

    def _run_node(self, node: _Node, src: dict, path: str, report: Report) -> dict:
        if type(src) is not dict:
            src = dict(src)                      # a dict subclass: read as a plain dict, same keys in order
        shadows, kept = None, None
        extensions = src.get("extension")
        if extensions:
            shadows, kept = _split_shadows(extensions, node.shadow_urls)
        if shadows is None and use_shapes:
            last = node.last_shape
            if last is not None and _same_keys(src, last[0]):
                shape = last[1]                  # the usual case: the keys of the previous sibling
            else:
                keys = tuple(src)
                shape = node.shapes.get(keys, _UNSEEN)
                if shape is _UNSEEN:
                    shape = _Shape.of(node, keys)
                    if len(node.shapes) < _MAX_SHAPES:   # bounded: odd inputs cannot grow it without end
                        node.shapes[keys] = shape
                node.last_shape = (keys, shape)  # one store: a thread never sees keys and shape apart
            if shape is not None:
                return self._run_shaped(node, shape, src, kept, path, report)
        return self._run_generic(node, src, shadows, kept, path, report)

    def _run_shaped(self, node: _Node, shape: "_Shape", src: dict, kept: list | None, path: str,
                    report: Report) -> dict:
        """:meth:`_run_generic` for an input whose keys were seen before, minus the per-key decisions.

        The shape fixed which keys are copies and which rules have input; the output starts as
        its keys in definition order (a copy of ``shape.template``), so nothing is sorted afterwards. Same
        steps in the same order as the generic walk, so the same output and report.
        """
        out = shape.template.copy()
        for key, dst_name, kind, child in shape.copies:
            value = src[key]
            out[dst_name] = value if kind == _PLAIN else self._run_child(kind, child, value, f"{path}.{key}", report)
        added: list = []
        for rule in shape.rules:
            rule.run(src, out, None, added, report, path)
        if kept or added:
            out["extension"] = (kept or []) + added
        for name in shape.nullable:              # outputs a rule or the extensions may not have given
            if out[name] is None:
                del out[name]
        self._finish(node, shape.required, src, out, path, report)
        return out

    def _run_child(self, kind: int, child: "_Node | None", value: Any, where: str, report: Report) -> Any:
        """A backbone element (its plan is ``child``) or a nested resource, one or a list of them."""
        backbone = kind == _BACKBONE
        what = child.type_name if backbone else "a resource"
        if isinstance(value, list):
            if backbone:                         # the hot path of series and instances
                return [self._run_node(child, item, _item_path(where, i), report) if isinstance(item, dict)
                        else _bad(item, _item_path(where, i), what, report)
                        for i, item in enumerate(value)]
            return [self.migrate_any(item, _item_path(where, i), report) if isinstance(item, dict)
                    else _bad(item, _item_path(where, i), what, report)
                    for i, item in enumerate(value)]
        if not isinstance(value, dict):
            return _bad(value, where, what, report)
        return self._run_node(child, value, where, report) if backbone else self.migrate_any(value, where, report)

    def _finish(self, node: _Node, required: tuple, src: dict, out: dict, path: str, report: Report) -> None:
        """Reference targets and required elements checked, in this order; resourceType set."""
        for name, targets in node.target_checks:
            value = out.get(name)
            if value is not None:
                self._check_targets(value, targets, path, name, src, report)
        for name in required:
            if name not in out:
                report.error("required", f"{path}.{name}",
                             f"{node.type_name}.{name} is required in {self.target.label} and has no value")
        if node.is_resource:
            out["resourceType"] = src["resourceType"]

    def _run_generic(self, node: _Node, src: dict, shadows: dict | None, kept: list | None, path: str,
                     report: Report) -> dict:
        """Any input: decides per key, runs every rule that may have work, then sorts the output."""
        out: dict = {}
        copies = node.copies
        for key, value in src.items():
            move = copies.get(key)
            if move is None:
                if key not in node.claimed:
                    report.error("structure", f"{path}.{key}",
                                 f"unknown element {key!r} in {self.source.label} {node.type_name}: "
                                 f"copied unchanged, not migrated")
                    out[key] = value
                continue
            dst_name, kind, child = move
            out[dst_name] = value if kind == _PLAIN else self._run_child(kind, child, value, f"{path}.{key}", report)
        added: list = []
        for rule in node.rules:
            # Skip a rule with nothing to do without calling it (most rules, most of the time).
            if shadows is None and rule.trigger is not None and rule.trigger not in src:
                continue
            rule.run(src, out, shadows, added, report, path)
        if kept or added:
            out["extension"] = (kept or []) + added
        self._finish(node, node.required, src, out, path, report)
        order = node.order
        ordered = {k: out[k] for k in order if k in out}
        if len(ordered) != len(out):                     # unknown elements kept: after the known ones
            for key, value in out.items():
                if key not in ordered:
                    ordered[key] = value
        return ordered

    def _check_targets(self, value: Any, targets: tuple[str, ...], path: str, name: str, resource: dict,
                       report: Report) -> None:
        """The references in ``path.name`` point only at types the target allows (the path is
        built only for a report: most nodes have nothing to say)."""
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, dict):
                kind = reference_type(ref, resource)
                if kind is not None and kind not in targets:
                    report.error("structure", f"{path}.{name}",
                                 f"a reference to {kind} is not allowed here in {self.target.label} "
                                 f"(allowed: {', '.join(targets)}); kept as is")

    # Resources without a table: migrated by an implicit table derived from the definitions.
    def _pass_through(self, resource: dict, resource_type: str, path: str, report: Report) -> dict:
        if resource_type not in self.target.types or resource_type not in self.source.types:
            missing = self.source.label if resource_type not in self.source.types else self.target.label
            report.error("not-supported", path, f"{resource_type} does not exist in {missing}: copied unchanged")
            return resource
        root = self._implicit_roots.get(resource_type)
        if root is None:
            with self._implicit_lock:
                root = self._implicit_roots.get(resource_type)
                if root is None:
                    root = self._compile(implicit_table(resource_type, self.source, self.target), reverse=False,
                                         publish=False)
                    self._implicit_roots[resource_type] = root
        if resource_type != "Bundle":           # a Bundle is a container: its entries speak for themselves
            report.add("passthrough", path, f"{resource_type} has no mapping table for {self.source.label} -> "
                                            f"{self.target.label}: elements moved by name (see the issues below)")
        return self._run_node(root, resource, path, report)


def _element_name(path: str) -> str:
    """The last name of an element path, interned like the definitions' own names (the table's
    paths are its own strings): output keys are then the very objects the codecs look up."""
    return sys.intern(path.rsplit(".", 1)[1])


def _filters(from_el: ElementDef, to_el: ElementDef) -> bool:
    """Would copying this Reference element drop targets in one direction or the other?"""
    if from_el.types[0] != "Reference":
        return False

    def narrower(a: ElementDef, b: ElementDef) -> bool:      # does b allow less than a?
        if not b.targets or "Resource" in b.targets or b.min >= 1:
            return False
        return not a.targets or "Resource" in a.targets or not set(a.targets) <= set(b.targets)
    return narrower(from_el, to_el) or narrower(to_el, from_el)


def _check_translation(table: Table, row: Row, to_el: ElementDef, from_el: ElementDef) -> None:
    """Every code of a required binding must have a translation in both directions."""
    codes, target_only = row.params["codes"], row.params.get("target_only", {})
    for element, known, side in ((from_el, set(codes), "from"),
                                 (to_el, set(codes.values()) | set(target_only), "to")):
        missing = set(element.binding or ()) - known
        if missing:
            raise MappingTableError(f"{table.name} rule {row.number}: {side} code(s) {sorted(missing)} "
                                    f"have no translation, so the row cannot be run both ways")


_INDEXES = tuple(f"[{i}]" for i in range(1024))


def _item_path(where: str, i: int) -> str:
    """``where[i]``: built for every series and instance, so the usual indexes are made once."""
    return where + _INDEXES[i] if i < 1024 else f"{where}[{i}]"


def _same_keys(src: dict, keys: tuple) -> bool:
    """Whether ``src`` has exactly ``keys``, in this order: no tuple built, nothing hashed."""
    if len(src) != len(keys):
        return False
    i = 0
    for key in src:
        if key is not keys[i] and key != keys[i]:
            return False
        i += 1
    return True


def _split_shadows(extensions: Any, urls: frozenset[str]) -> tuple[dict | None, list | None]:
    """Separate this node's cross-version extensions (to restore) from all the others (kept)."""
    if not isinstance(extensions, list):
        return None, [extensions]          # malformed; kept as found (validation reports it)
    shadows: dict[str, list] = {}
    kept = []
    for ext in extensions:
        url = primitive_value(ext.get("url")) if isinstance(ext, dict) else None
        if url in urls:
            shadows.setdefault(url, []).append(ext)
        else:
            kept.append(ext)
    return (shadows or None), kept


def _bad(value: Any, path: str, what: str, report: Report) -> Any:
    report.error("structure", path, f"expected {what} (an object), found {type(value).__name__}: copied unchanged")
    return value


def _missing(table: Table, type_name: str):
    raise MappingTableError(f"{table.name}: {type_name} is copied but has no rows for its elements")


# --- plans cache and the entry point ---------------------------------------------------------------------------

_plans: dict[tuple[str, str], MigrationPlan] = {}
_plans_lock = threading.Lock()


def compiled_plan(source: Definitions, target: Definitions) -> MigrationPlan:
    """The compiled plan for ``source -> target``: built on first use, then shared (read-only)."""
    key = (source.label, target.label)
    plan = _plans.get(key)
    if plan is None:
        with _plans_lock:
            plan = _plans.get(key)
            if plan is None:
                plan = _plans[key] = MigrationPlan(source, target, load_tables())
    return plan


def migrate_resource(tree: dict, *, source: Definitions, target: Definitions,
                     strict: bool = False) -> tuple[dict, dict]:
    """Migrate one resource tree from ``source`` to ``target`` FHIR version.

    Returns ``(new_tree, outcome)``: the migrated tree (the input is not modified; unchanged parts
    are shared with it) and an OperationOutcome (JSON-form dict) listing every element that was
    transformed, moved into or out of a cross-version extension, repaired for an invariant, or
    could not be made valid. ImagingStudy is migrated by its table wherever it sits (top level,
    ``contained``, Bundle entries); resources of other types are copied with a warning.

    ``strict``: anything but a copy or a pure rename is an error, and nothing is returned:
    :class:`~fhirconv.errors.MigrationError` is raised with the OperationOutcome (every issue an
    error) in its ``outcome`` attribute.

    Same version in and out: the tree is returned as is. A pair with no tables raises
    :class:`MigrationError`.
    """
    result, report = migrate_reported(tree, source=source, target=target, strict=strict)
    return result, report.outcome(strict=strict)


def migrate_reported(tree: dict, *, source: Definitions, target: Definitions,
                     strict: bool = False) -> tuple[dict, Report]:
    """:func:`migrate_resource` with the :class:`Report` itself instead of its OperationOutcome,
    for callers that need the outcome only now and then (a bulk run without ``--report``):
    ``report.first_error()`` and ``report.warnings`` answer without building it."""
    root_type = tree.get("resourceType", "Resource") if isinstance(tree, dict) else "Resource"
    if source.label == target.label:
        return tree, Report(f"{root_type} is already {target.label}: nothing to migrate")
    plan = compiled_plan(source, target)
    if not plan.roots:
        raise MigrationError(f"no mapping tables from {source.label} to {target.label} "
                             f"(available: R4 <-> R6)", path=root_type)
    report = Report()
    result = plan.migrate_any(tree, root_type, report)
    if not report.has_issues:            # the summary is the outcome's one issue: not worth building otherwise
        report.summary = (f"{root_type} migrated from {source.label} to {target.label}: "
                          f"every element copied as is")
    elif strict:
        outcome = report.outcome(strict=True)
        count = len(outcome["issue"])
        error = MigrationError(f"strict migration refused: {count} element(s) would not be a plain copy "
                               f"(see the report)", path=root_type)
        error.outcome = outcome
        raise error
    return result, report
