"""Generated R4 ImagingStudy NDJSON, like a PACS or FHIR server's Bulk Data export, with bad lines.

    python tests/generate.py OUT.ndjson[.gz] --records 50000 [--bad-every 97]

Each study has a DICOM study UID identifier (``urn:dicom:uid``, which R6's ist-1 requires once
there are series), 1-4 series of 1-6 instances with SOP classes, modalities, body sites and
lateralities, performers, reasons, notes and decimals, so the migration exercises its rules.
The same seed gives the same bytes. Bad lines, when asked for, cycle through the kinds a real
export has: broken JSON, an unknown resourceType, a structure error, a study R6 cannot hold.
"""

from __future__ import annotations

import argparse
import gzip
import random
from pathlib import Path

import orjson

MODALITIES = [("CT", "Computed Tomography"), ("MR", "Magnetic Resonance"), ("US", "Ultrasound"),
              ("DX", "Digital Radiography"), ("CR", "Computed Radiography"), ("PT", "Positron emission tomography")]
BODY_SITES = [("51185008", "Thoracic structure"), ("69536005", "Head structure"), ("818981001", "Abdomen"),
              ("72696002", "Knee region structure"), ("76752008", "Breast structure")]
SOP_CLASSES = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.6.1",
               "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.128"]
LATERALITY = [("7771000", "Left"), ("24028007", "Right")]
STATUSES = ["available", "available", "available", "registered", "cancelled"]

# The kinds of bad line, in the order they are mixed in; "ist-1" is well-formed R4 that R6 cannot
# hold (series but no DICOM study UID), so only ``migrate`` rejects it.
BAD_KINDS = ("json", "resourceType", "structure", "ist-1")


def _uid(rng: random.Random) -> str:
    return "2.25." + str(rng.getrandbits(100))


def study(number: int, rng: random.Random, *, max_series: int = 4, max_instances: int = 6) -> dict:
    """One realistic R4 ImagingStudy (JSON-form dict)."""
    study_uid = _uid(rng)
    series = []
    for s in range(rng.randint(1, max_series)):
        code, display = rng.choice(MODALITIES)
        site = rng.choice(BODY_SITES)
        instances = [{
            "uid": _uid(rng),
            "sopClass": {"system": "urn:ietf:rfc:3986", "code": "urn:oid:" + rng.choice(SOP_CLASSES)},
            "number": i + 1,
            "title": f"Image {i + 1}",
        } for i in range(rng.randint(1, max_instances))]
        one = {
            "uid": _uid(rng),
            "number": s + 1,
            "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": code, "display": display},
            "description": f"{display} series {s + 1}",
            "numberOfInstances": len(instances),
            "bodySite": {"system": "http://snomed.info/sct", "code": site[0], "display": site[1]},
            "started": f"20{rng.randint(10, 24):02d}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T10:{rng.randint(10, 59)}:00Z",
            "performer": [{"function": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                                    "code": "PRF"}]},
                           "actor": {"reference": f"Practitioner/p{rng.randint(1, 500)}"}}],
            "instance": instances,
        }
        if site[0] == "72696002":
            one["laterality"] = dict(zip(("code", "display"), rng.choice(LATERALITY)),
                                     system="http://snomed.info/sct")
        series.append(one)
    resource = {
        "resourceType": "ImagingStudy",
        "id": f"study-{number}",
        "meta": {"versionId": str(rng.randint(1, 9)), "lastUpdated": "2024-05-01T12:00:00.000+00:00"},
        "identifier": [{"system": "urn:dicom:uid", "value": "urn:oid:" + study_uid},
                       {"use": "usual", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                             "code": "ACSN"}]},
                        "value": f"A{rng.randint(10 ** 6, 10 ** 7)}"}],
        "status": rng.choice(STATUSES),
        "modality": [s["modality"] for s in series],
        "subject": {"reference": f"Patient/pat-{rng.randint(1, 10 ** 5)}"},
        "encounter": {"reference": f"Encounter/enc-{rng.randint(1, 10 ** 6)}"},
        "started": series[0]["started"],
        "referrer": {"reference": f"Practitioner/p{rng.randint(1, 500)}", "display": "Dr. Referrer"},
        "interpreter": [{"reference": f"Practitioner/p{rng.randint(1, 500)}"}],
        "numberOfSeries": len(series),
        "numberOfInstances": sum(len(s["instance"]) for s in series),
        "procedureCode": [{"coding": [{"system": "http://loinc.org", "code": "24627-2", "display": "Chest CT"}]}],
        "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "363358000",
                                    "display": "Malignant tumor of lung"}], "text": "Follow-up"}],
        "note": [{"text": f"Slice thickness 1.250 mm; dose {rng.randint(1, 30)}.{rng.randint(0, 99):02d} mGy"}],
        "description": "Generated study",
        "series": series,
    }
    return resource


def bad_line(kind: str, number: int, rng: random.Random, **size) -> bytes:
    if kind == "json":
        return b'{"resourceType":"ImagingStudy","id":"broken-' + str(number).encode() + b'","status":'
    resource = study(number, rng, **size)
    if kind == "resourceType":
        resource["resourceType"] = "ImagingStudie"
    elif kind == "structure":
        resource["series"][0]["instance"][0]["sopClass"] = "1.2.840.10008.5.1.4.1.1.2"   # a string, not a Coding
    elif kind == "ist-1":
        resource["identifier"] = resource["identifier"][1:]
    return orjson.dumps(resource)


def lines(count: int, *, seed: int = 4, bad_every: int = 0, **size):
    """``(is_good, kind, line bytes)`` for ``count`` records; every ``bad_every``-th one is bad.
    ``size``: ``max_series`` and ``max_instances`` per study."""
    rng = random.Random(seed)
    bad = 0
    for number in range(1, count + 1):
        if bad_every and number % bad_every == 0:
            kind = BAD_KINDS[bad % len(BAD_KINDS)]
            bad += 1
            yield False, kind, bad_line(kind, number, rng, **size)
        else:
            yield True, None, orjson.dumps(study(number, rng, **size))


def write(path: Path, count: int, *, seed: int = 4, bad_every: int = 0, **size) -> list[tuple[bool, str | None]]:
    """Write the NDJSON (gzipped when the name ends in .gz); returns each line's (is_good, bad kind)."""
    path = Path(path)
    kinds = []
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as out:
        for good, kind, line in lines(count, seed=seed, bad_every=bad_every, **size):
            out.write(line + b"\n")
            kinds.append((good, kind))
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--bad-every", type=int, default=0)
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    write(args.output, args.records, seed=args.seed, bad_every=args.bad_every)


if __name__ == "__main__":
    main()
