"""ImagingStudy R4 -> R6 migration throughput, next to bare orjson on the same NDJSON lines.

    python bench/bench_migrate.py                 # 20,000 generated lines, best of 3
    python bench/bench_migrate.py --lines 5000 --repeat 5

The lines come from a seeded generator (Synthea/PACS-like R4 ImagingStudy: 1-3 series of 1-4
instances, a study modality list that sometimes differs from the series, interpreter and
procedureCode now and then, sopClass with and without a display). Timed, one core:

  bare orjson           orjson.loads + orjson.dumps of each line (the floor: no FHIR at all)
  fhirconv pipeline     parse_json (R4) -> migrate_reported -> serialize_json (R6), per line, the
                        report asked for its first error: what `fhirconv migrate` does per record
                        when no per-record report is written
  ... + outcome         the same with migrate_resource, which also builds each record's
                        OperationOutcome (what `--report` and library callers of it pay)
  migrate only          migrate_resource on trees parsed beforehand (the engine alone)

Target (issue 4): >= 10,000 ImagingStudy/s for the pipeline, within 5x of bare orjson.
"""

from __future__ import annotations

import argparse
import gc
import random
import time

import orjson

from fhirconv.definitions import load
from fhirconv.formats.json import parse_json, serialize_json
from fhirconv.migrate import migrate_reported, migrate_resource

DCM = "http://dicom.nema.org/resources/ontology/DCM"
SOP = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.1.1"]


def generate(count: int, seed: int = 4) -> list[bytes]:
    """Seeded R4 ImagingStudy NDJSON lines."""
    rng = random.Random(seed)
    lines = []
    for n in range(count):
        study_uid = f"1.2.840.99999.{n}"
        series = []
        for s in range(rng.randint(1, 3)):
            modality = rng.choice(["CT", "MR", "DX", "US"])
            instances = [{
                "uid": f"{study_uid}.{s}.{i}",
                "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:" + rng.choice(SOP),
                             **({"display": "CT Image Storage"} if rng.random() < 0.2 else {})},
                "number": i + 1,
            } for i in range(rng.randint(1, 4))]
            series.append({
                "uid": f"{study_uid}.{s}", "number": s + 1,
                "modality": {"system": DCM, "code": modality},
                "numberOfInstances": len(instances) + (1 if rng.random() < 0.1 else 0),
                "bodySite": {"system": "http://snomed.info/sct", "code": "72696002", "display": "Knee"},
                "started": "2021-05-04T10:11:12+02:00",
                "instance": instances,
            })
        study = {
            "resourceType": "ImagingStudy", "id": f"is-{n}",
            "identifier": [{"use": "official", "system": "urn:dicom:uid", "value": f"urn:oid:{study_uid}"}],
            "status": "available",
            "modality": [s["modality"] for s in series] if rng.random() < 0.8 else [{"system": DCM, "code": "OT"}],
            "subject": {"reference": f"Patient/p{n % 997}"},
            "encounter": {"reference": f"Encounter/e{n}"},
            "started": "2021-05-04T10:11:12+02:00",
            "numberOfSeries": len(series), "numberOfInstances": sum(len(s["instance"]) for s in series),
            "series": series,
        }
        if rng.random() < 0.3:
            study["interpreter"] = [{"reference": "Practitioner/r1"}]
        if rng.random() < 0.5:
            study["procedureCode"] = [{"coding": [{"system": "http://snomed.info/sct", "code": "74016001",
                                                   "display": "Knee X-ray"}], "text": "Knee X-ray"}]
        # keep the JSON key order of the definitions (as real exports have it)
        order = ["resourceType", "id", "identifier", "status", "modality", "subject", "encounter", "started",
                 "interpreter", "numberOfSeries", "numberOfInstances", "procedureCode", "series"]
        lines.append(orjson.dumps({k: study[k] for k in order if k in study}))
    return lines


def best_of(repeat: int, run) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()          # CPU time: fair on a machine others are using too
        run()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    r4, r6 = load("R4"), load("R6")
    lines = generate(args.lines)
    size = sum(len(line) for line in lines)
    migrate_resource(parse_json(lines[0], r4), source=r4, target=r6)     # compile the plan outside the timing

    def bare():
        for line in lines:
            orjson.dumps(orjson.loads(line))

    def pipeline():
        for line in lines:
            tree, report = migrate_reported(parse_json(line, r4), source=r4, target=r6)
            if report.first_error() is None:
                serialize_json(tree, r6, pretty=False)

    def pipeline_with_outcome():
        for line in lines:
            tree, _ = migrate_resource(parse_json(line, r4), source=r4, target=r6)
            serialize_json(tree, r6, pretty=False)

    trees = [parse_json(line, r4) for line in lines]

    def engine():
        for tree in trees:
            migrate_resource(tree, source=r4, target=r6)

    results = {name: best_of(args.repeat, run) for name, run in
               (("bare orjson loads+dumps", bare), ("fhirconv parse+migrate+serialize", pipeline),
                ("... + OperationOutcome per record", pipeline_with_outcome), ("migrate_resource only", engine))}
    floor = results["bare orjson loads+dumps"]
    print(f"{args.lines:,} R4 ImagingStudy lines, {size / 1e6:.1f} MB, best of {args.repeat}")
    for name, seconds in results.items():
        print(f"  {name:34s} {args.lines / seconds:>10,.0f} /s   {seconds / floor:5.1f}x bare orjson")
    rate = args.lines / results["fhirconv parse+migrate+serialize"]
    ratio = results["fhirconv parse+migrate+serialize"] / floor
    print(f"target >= 10,000/s and <= 5x orjson: {'met' if rate >= 10000 and ratio <= 5 else 'NOT met'} "
          f"({rate:,.0f}/s, {ratio:.1f}x)")


if __name__ == "__main__":
    main()
