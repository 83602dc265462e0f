"""The golden migration cases of fixtures/migration/cases.toml, shared by the tests.

Run as a script to (re)write the expected outputs after a deliberate change, then review the
diff of fixtures/migration/expected/ before committing it:

    python tests/migration_cases.py            # writes only missing expected files
    python tests/migration_cases.py --rewrite  # rewrites all of them
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from fhirconv.definitions import Definitions, load
from fhirconv.formats.json import parse_json, serialize_json
from fhirconv.formats.xml import parse_xml

CASES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "migration"


@dataclass(frozen=True)
class Case:
    name: str
    input: Path
    source: Definitions
    target: Definitions
    why: str
    expected_name: str
    actions: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()         # expressions of other known validation errors (no table, no fix)
    roundtrip: str | None = None          # why the way back cannot give the input (None: it must)

    @property
    def expected(self) -> Path:
        return CASES_DIR / "expected" / f"{self.expected_name}.json"

    def __str__(self) -> str:
        return self.name


def read_tree(path: Path, defs: Definitions) -> dict:
    data = path.read_bytes()
    if path.suffix == ".xml":
        return parse_xml(data, defs)
    if path.suffix == ".ndjson":
        data = data.splitlines()[0]
    return parse_json(data, defs)


def load_cases() -> list[Case]:
    raw = tomllib.loads((CASES_DIR / "cases.toml").read_text(encoding="utf-8"))
    return [Case(name=c["name"], input=(CASES_DIR / c["input"]).resolve(), source=load(c["from"]),
                 target=load(c["to"]), why=c["why"], expected_name=c.get("expected", c["name"]),
                 actions=tuple(c.get("actions", ())), errors=tuple(c.get("errors", ())),
                 invalid=tuple(c.get("invalid", ())),
                 roundtrip=c.get("roundtrip"))
            for c in raw["case"]]


def main(argv: list[str]) -> None:
    from fhirconv.migrate import migrate_resource
    rewrite = "--rewrite" in argv
    for case in load_cases():
        if case.expected.exists() and not rewrite:
            continue
        result, _ = migrate_resource(read_tree(case.input, case.source), source=case.source, target=case.target)
        case.expected.parent.mkdir(exist_ok=True)
        case.expected.write_bytes(serialize_json(result, case.target, pretty=True) + b"\n")
        print("wrote", case.expected.relative_to(CASES_DIR))


if __name__ == "__main__":
    main(sys.argv[1:])
