"""The library used from 8 threads at once gives exactly the serial results (issue 6).

Interface engines call fhirconv from many threads. Each job below is run once serially, then
all jobs are run several times, shuffled, on 8 threads at once; every result (bytes, or the
error's class, path, position and message) must be identical. The jobs mix both directions
on a sample of the official twins, R4 <-> R6 migration, the hostile corpus (errors must not
leak state between threads either) and pure-Python/compiled paths alike.
"""

from __future__ import annotations

import random
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fhirconv
from fhirconv import FhirConvError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _jobs() -> list[tuple[str, object]]:
    jobs = []
    with tarfile.open(FIXTURES / "official" / "r4-twins.tgz") as archive:
        # Read in archive order (a gzip stream cannot seek back), then take every 60th by name.
        twins = {m.name: archive.extractfile(m).read() for m in archive if m.isfile()}
    for name in sorted(twins)[::60]:  # ~100 files of many resource types, both formats
        target = "json" if name.endswith(".xml") else "xml"
        jobs.append((f"convert {name}", lambda d=twins[name], t=target: fhirconv.convert(d, to=t)))
    for path in sorted((FIXTURES / "r4").glob("imagingstudy-*")):
        data = path.read_bytes()
        jobs.append((f"migrate {path.name}",
                     lambda d=data: _migrated(fhirconv.migrate(d, source="R4", target="R6"))))
    for path in sorted((FIXTURES / "r5").glob("ImagingStudy-*.json")):
        data = path.read_bytes()
        jobs.append((f"R5 {path.name}", lambda d=data: fhirconv.convert(d, to="xml", fhir_version="R5")))
    for path in sorted((FIXTURES / "hostile").glob("*/*")):
        data = path.read_bytes()
        jobs.append((f"hostile {path.name}", lambda d=data: fhirconv.convert(d, to="json")))
    return jobs


def _migrated(migration) -> tuple:
    back = fhirconv.migrate(migration.to_bytes("json"), source="R6", target="R4")
    return migration.to_bytes("xml"), repr(migration.outcome), back.to_bytes("json"), repr(back.outcome)


def _outcome(job) -> object:
    try:
        return job()
    except FhirConvError as err:
        return (type(err).__name__, err.path, err.line, err.column, err.message)


def test_eight_threads_give_exactly_the_serial_results():
    jobs = _jobs()
    assert len(jobs) > 150
    serial = {name: _outcome(job) for name, job in jobs}
    assert any(isinstance(v, tuple) and len(v) == 5 for v in serial.values())  # errors are in the mix
    order = [(name, job) for name, job in jobs] * 4
    random.Random(6).shuffle(order)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda item: (item[0], _outcome(item[1])), order))
    different = [name for name, result in results if result != serial[name]]
    assert not different, different[:10]


def test_a_converter_object_is_shared_safely_between_threads():
    # One configured Converter (the msgspec/orjson style) used by every thread at once.
    converter = fhirconv.Converter(fhir_version="R4", pretty=False)
    inputs = [p.read_bytes() for p in sorted((FIXTURES / "format-edge").glob("*.xml"))]
    serial = [_outcome(lambda d=data: converter.convert(d, to="json")) for data in inputs]
    assert sum(isinstance(result, bytes) for result in serial) >= 10
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(5):
            assert list(pool.map(lambda d: _outcome(lambda: converter.convert(d, to="json")), inputs)) == serial
