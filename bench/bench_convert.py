"""JSON <-> XML conversion throughput: fhirconv next to the alternatives, in one process.

    python bench/bench_convert.py            # all 2,903 official R4 twins; fhir.resources on a sample
    python bench/bench_convert.py --sample 300 --fhir-resources-sample 100

Contenders, each timed on the same bytes:
  fhirconv              this package (compiled core when built, else pure Python)
  fhir.resources        its R4B pydantic models: model_validate_json + model_dump_xml, and back
  definition-free walk  dicts <-> lxml elements with no FHIR knowledge (the ceiling of a naive walk)
  bare orjson / lxml    parse + serialize in the same format (the floor: no conversion at all)

fhir.resources is slow (~0.2-0.9 MB/s), so it runs on a random sample of the pairs it can read;
fhirconv is timed on that same sample for the ratio, and on everything for its headline figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import tarfile
import time
from pathlib import Path

import orjson
from lxml import etree

import fhirconv
from fhirconv.formats import xml as xml_codec

TWINS = Path(__file__).resolve().parent.parent / "fixtures" / "official" / "r4-twins.tgz"
FHIR_NS = "{http://hl7.org/fhir}"


def load_pairs() -> list[tuple[str, bytes, bytes]]:
    found: dict[str, dict[str, bytes]] = {}
    with tarfile.open(TWINS) as archive:
        for member in archive:
            if member.isfile():
                stem, _, ext = member.name.rpartition("/")[2].rpartition(".")
                found.setdefault(stem, {})[ext] = archive.extractfile(member).read()
    return [(name, files["json"], files["xml"]) for name, files in sorted(found.items())]


def throughput(convert, documents: list[bytes], repeat: int = 1) -> float:
    """MB/s of input converted; the best of ``repeat`` runs (the least disturbed by other load)."""
    size = sum(map(len, documents)) / 1e6
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for document in documents:
            convert(document)
        best = min(best, time.perf_counter() - start)
    return size / best


# -- the definition-free walk: what any Python tree walk costs before it knows anything --------

def _json_to_elements(parent, name: str, value) -> None:
    if isinstance(value, list):
        for item in value:
            _json_to_elements(parent, name, item)
    elif isinstance(value, dict):
        child = etree.SubElement(parent, FHIR_NS + name)
        for key, item in value.items():
            if key != "resourceType":
                _json_to_elements(child, key, item)
    else:
        etree.SubElement(parent, FHIR_NS + name, value=str(value))


def naive_json_to_xml(data: bytes) -> bytes:
    obj = orjson.loads(data)
    root = etree.Element(FHIR_NS + obj.get("resourceType", "Resource"), nsmap={None: FHIR_NS[1:-1]})
    for key, value in obj.items():
        if key != "resourceType":
            _json_to_elements(root, key, value)
    return etree.tostring(root)


def _elements_to_json(elem) -> object:
    value = elem.get("value")
    if value is not None and len(elem) == 0:
        return value
    out: dict = {}
    for child in elem:
        if isinstance(child.tag, str):
            out.setdefault(etree.QName(child).localname, []).append(_elements_to_json(child))
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


_NAIVE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=True)


def naive_xml_to_json(data: bytes) -> bytes:
    root = etree.fromstring(data, _NAIVE_PARSER)
    obj = {"resourceType": etree.QName(root).localname}
    obj.update(_elements_to_json(root))
    return orjson.dumps(obj)


# -- fhir.resources ----------------------------------------------------------------------------

def fhir_resources_converters():
    from fhir.resources.R4B import get_fhir_model_class

    def model_of(data: bytes, fmt: str):
        rtype = (json.loads(data)["resourceType"] if fmt == "json"
                 else etree.QName(etree.fromstring(data, _NAIVE_PARSER)).localname)
        return get_fhir_model_class(rtype), rtype

    def json_to_xml(data: bytes) -> bytes:
        cls, _ = model_of(data, "json")
        return cls.model_validate_json(data).model_dump_xml()

    def xml_to_json(data: bytes) -> bytes:
        cls, _ = model_of(data, "xml")
        return cls.model_validate_xml(data).model_dump_json()

    return json_to_xml, xml_to_json


def readable_by(convert_json, convert_xml, pairs):
    """The pairs fhir.resources converts in both directions (it has no R4 models, only R4B)."""
    ok = []
    for pair in pairs:
        try:
            convert_json(pair[1])
            convert_xml(pair[2])
        except Exception:  # noqa: BLE001 - any failure just means "not comparable on this pair"
            continue
        ok.append(pair)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=0, help="use N random pairs (default: all)")
    parser.add_argument("--fhir-resources-sample", type=int, default=150,
                        help="pairs tried with fhir.resources (default 150)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    pairs = load_pairs()
    if args.sample:
        pairs = rng.sample(pairs, args.sample)
    converter = fhirconv.Converter(fhir_version="R4")
    to_xml = lambda data: converter.convert(data, to="xml")  # noqa: E731
    to_json = lambda data: converter.convert(data, to="json")  # noqa: E731
    core = "compiled" if xml_codec.FastReader is not None else "pure Python"
    print(f"fhirconv {fhirconv.__version__} ({core} core), {len(pairs)} official R4 twin pairs, "
          f"{sum(len(p[1]) for p in pairs) / 1e6:.1f} MB JSON + {sum(len(p[2]) for p in pairs) / 1e6:.1f} MB XML\n")

    fr_json_to_xml, fr_xml_to_json = fhir_resources_converters()
    trial = rng.sample(pairs, min(args.fhir_resources_sample, len(pairs)))
    comparable = readable_by(fr_json_to_xml, fr_xml_to_json, trial)
    sample_json = [p[1] for p in comparable]
    sample_xml = [p[2] for p in comparable]
    all_json = [p[1] for p in pairs]
    all_xml = [p[2] for p in pairs]

    rows = []
    for direction, ours, theirs, naive, bare, sample, everything in (
        ("JSON -> XML", to_xml, fr_json_to_xml, naive_json_to_xml, lambda d: orjson.dumps(orjson.loads(d)),
         sample_json, all_json),
        ("XML -> JSON", to_json, fr_xml_to_json, naive_xml_to_json,
         lambda d: etree.tostring(etree.fromstring(d, _NAIVE_PARSER)), sample_xml, all_xml),
    ):
        fr = throughput(theirs, sample, repeat=1)
        ours_sample = throughput(ours, sample, repeat=args.repeat)
        ours_all = throughput(ours, everything, repeat=args.repeat)
        naive_all = throughput(naive, everything, repeat=args.repeat)
        bare_all = throughput(bare, everything, repeat=args.repeat)
        rows.append((direction, ours_all, ours_sample, fr, naive_all, bare_all))

    print(f"fhir.resources read {len(comparable)} of {len(trial)} sampled pairs in both directions; "
          f"ratios against it are on those pairs.\n")
    header = f"{'direction':<12} {'fhirconv':>10} {'(sample)':>10} {'fhir.res.':>10} {'x fhir.res.':>12} " \
             f"{'naive walk':>11} {'x naive':>8} {'bare':>8} {'% of bare':>10}"
    print(header)
    print("-" * len(header))
    for direction, ours_all, ours_sample, fr, naive_all, bare_all in rows:
        print(f"{direction:<12} {ours_all:>7.1f} MB/s {ours_sample:>5.1f} MB/s {fr:>5.2f} MB/s "
              f"{ours_sample / fr:>11.0f}x {naive_all:>6.1f} MB/s {ours_all / naive_all:>7.1f}x "
              f"{bare_all:>4.0f} MB/s {100 * ours_all / bare_all:>9.0f}%")
    print("\nbare = orjson loads+dumps (JSON) or lxml parse+tostring (XML) of the input format: no conversion.")


if __name__ == "__main__":
    main()
