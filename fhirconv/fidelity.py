"""Proof of fidelity: deepdiff between an original resource and what came back.

``fhirconv roundtrip --via R6`` migrates a resource there and back and shows :func:`compare` of
the original and the result; an empty diff means nothing was lost or changed. Both arguments are
trees (or both JSON-form dicts): a tree holds primitives as text and :class:`~fhirconv.tree.Primitive`,
which deepdiff cannot look into (slotted), so trees are first turned into plain dicts and lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .definitions import Definitions
from .migrate import migrate_resource
from .tree import Primitive

if TYPE_CHECKING:
    from deepdiff import DeepDiff

__all__ = ["compare", "comparable", "roundtrip", "RoundTrip"]


def comparable(node: Any) -> Any:
    """A plain-data copy of a tree: a Primitive becomes ``{"value", "id", "extension"}`` (what it has)."""
    if isinstance(node, dict):
        return {key: comparable(value) for key, value in node.items()}
    if isinstance(node, list):
        return [comparable(item) for item in node]
    if isinstance(node, Primitive):
        return {key: comparable(value) for key, value in node._deepdiff_view().items()}
    return node


def compare(original: Any, result: Any) -> DeepDiff:
    """The differences between two resources; empty (falsy) when they are identical.

    Order matters in lists (FHIR repeating elements are ordered); key order in dicts does not
    (the tree keeps definition order by construction).
    """
    # Imported here: deepdiff (and the pydantic it pulls in) is a third of a second at start-up,
    # which every `fhirconv convert` and `migrate` would pay without ever comparing anything.
    from deepdiff import DeepDiff
    return DeepDiff(comparable(original), comparable(result), verbose_level=2)


@dataclass(frozen=True)
class RoundTrip:
    there: dict               # the resource in the ``via`` version
    back: dict                # and back in the source version
    outcome_there: dict       # OperationOutcome of each leg
    outcome_back: dict
    diff: DeepDiff            # original vs back: empty when the round trip is lossless

    @property
    def identical(self) -> bool:
        return not self.diff


def roundtrip(tree: dict, *, source: Definitions, via: Definitions) -> RoundTrip:
    """Migrate ``tree`` from ``source`` to ``via`` and back, and compare the result with the original."""
    there, outcome_there = migrate_resource(tree, source=source, target=via)
    back, outcome_back = migrate_resource(there, source=via, target=source)
    return RoundTrip(there, back, outcome_there, outcome_back, compare(tree, back))
