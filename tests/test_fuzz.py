"""Fuzzing (issue 6): mutated corpus files give only FhirConvError, and what is accepted round-trips.

Hypothesis mutates real FHIR files (fixtures/format-edge, fixtures/r4, a sample of the official
R4 twins) with bit flips, truncation, splices from other files, deleted and duplicated byte
ranges, hostile tokens, and deleted or duplicated elements. For every mutant:

* reading it either gives a tree or raises a FhirConvError subclass; nothing else escapes;
* an accepted tree serializes to well-formed JSON and XML (or the writer refuses with
  UnrepresentableError, e.g. a control character that XML 1.0 cannot carry);
* that output reads back to the same tree.

Budget: FHIRCONV_FUZZ_EXAMPLES per test (default 1,000, well under a minute in all), so CI stays fast;
run longer by hand with e.g. ``FHIRCONV_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py``. The seed is
random per run and shown on failure (``FHIRCONV_FUZZ_SEED=...``); set FHIRCONV_FUZZ_SEED to replay
it, or use hypothesis' own ``--hypothesis-seed``. Failing examples are also saved in the local
.hypothesis database and replayed first on the next run.
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import tarfile
from pathlib import Path

from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st
from lxml import etree

import fhirconv
from fhirconv import FhirConvError, StructureError, UnrepresentableError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
EXAMPLES = int(os.environ.get("FHIRCONV_FUZZ_EXAMPLES") or "1000")
SEED = int(os.environ.get("FHIRCONV_FUZZ_SEED") or random.SystemRandom().randrange(2**32))

FUZZ = settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _twins_sample(count: int = 40, limit: int = 12_000) -> list[bytes]:
    """Every n-th small official twin (both formats): a fixed, varied sample of resource types."""
    files = []
    with tarfile.open(FIXTURES / "official" / "r4-twins.tgz") as archive:
        for member in archive:
            if member.isfile() and member.size <= limit:
                files.append((member.name, archive.extractfile(member).read()))
    files.sort()
    step = max(1, len(files) // count)
    return [data for _, data in files[::step]]


def _corpus() -> list[bytes]:
    local = [p.read_bytes() for folder in ("format-edge", "r4") for p in sorted((FIXTURES / folder).glob("*"))
             if p.suffix in (".json", ".xml") and ".r5." not in p.name]
    return local + _twins_sample()


CORPUS = _corpus()

# Tokens that have broken FHIR converters, or could: entities, forbidden characters, JSON oddities.
HOSTILE_TOKENS = [
    b'<!DOCTYPE Patient [<!ENTITY a "b">]>', b"&a;", b"&#x13;", b"&#0;", b"&#xD800;", b"&nbsp;", b"\x00", b"\x13",
    b"\xff", b"\xef\xbb\xbf", b"<![CDATA[x]]>", b"<!-- c -->", b"<?pi x?>", b"]]>", b' xmlns=""', b' value=""',
    b' id="x"', b"<extension/>", b"<div/>", b'\\ud800', b'\\u0013', b"NaN", b"-0", b"1e999999", b"01", b"null",
    b"{}", b"[]", b'""', b'"_id":{},', b'"resourceType":"Patient",', b'"fhir_comments":["x"],', b",", b'"',
    b"<", b">", b"\\", b"\r\n",
]


@st.composite
def mutants(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "truncate", "splice", "delete", "duplicate", "token", "element"]))
        if kind == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[position:]
        elif kind == "splice":
            other = draw(st.sampled_from(CORPUS))
            start = draw(st.integers(0, len(other) - 1))
            data[position:position] = other[start:start + draw(st.integers(1, 200))]
        elif kind == "delete":
            del data[position:position + draw(st.integers(1, 64))]
        elif kind == "duplicate":
            data[position:position] = data[position:position + draw(st.integers(1, 200))]
        elif kind == "token":
            data[position:position] = draw(st.sampled_from(HOSTILE_TOKENS))
        else:
            data = bytearray(_mutate_element(bytes(data), draw))
    return bytes(data)


def _mutate_element(data: bytes, draw) -> bytes:
    """Delete or duplicate one element (XML) or member / array item (JSON), keeping the syntax valid."""
    action = draw(st.sampled_from(["delete", "duplicate"]))
    if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        try:
            root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
        except (etree.XMLSyntaxError, ValueError):
            return data
        elements = [e for e in root.iter() if e is not root and e.getparent() is not None]
        if not elements:
            return data
        target = draw(st.sampled_from(elements))
        parent = target.getparent()
        if action == "delete":
            parent.remove(target)
        else:
            parent.insert(parent.index(target), copy.deepcopy(target))
        return etree.tostring(root)
    try:
        value = json.loads(data)
    except ValueError:
        return data
    containers = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list)) and node:
            containers.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    if not containers:
        return data
    target = draw(st.sampled_from(containers))
    if isinstance(target, list):
        index = draw(st.integers(0, len(target) - 1))
        if action == "delete":
            del target[index]
        else:
            target.insert(index, target[index])
        return json.dumps(value).encode()
    key = draw(st.sampled_from(sorted(target)))
    if action == "delete":
        del target[key]
        return json.dumps(value).encode()
    # A duplicated key can only be written as text.
    text = json.dumps(value)
    member = json.dumps(key) + ": " + json.dumps(target[key])
    at = text.find(member)
    return (text[:at] + member + ", " + text[at:]).encode() if at >= 0 else text.encode()


def _well_formed(output: bytes, fmt: str) -> None:
    if fmt == "json":
        json.loads(output)
    else:
        etree.fromstring(output, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))


_XHTML_DECLARED = re.compile(r"""^<div\b[^>]*\sxmlns\s*=\s*["']http://www\.w3\.org/1999/xhtml["']""")


def _as_xml_declares_it(node):
    """The tree with each narrative div's XHTML namespace declared, as the XML writer declares it.

    The JSON reader takes the div string as it is (it does not parse XHTML); a div that leaves
    out xmlns="http://www.w3.org/1999/xhtml" is XHTML by definition, and the XML writer says so.
    """
    if isinstance(node, dict):
        return {k: (_declared(v) if k == "div" and isinstance(v, str) else _as_xml_declares_it(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_as_xml_declares_it(v) for v in node]
    return node


def _declared(div: str) -> str:
    if _XHTML_DECLARED.match(div) or not div.startswith("<div"):
        return div
    return div[:4] + ' xmlns="http://www.w3.org/1999/xhtml"' + div[4:]


def _check(data: bytes, fhir_version: str = "R4") -> None:
    note(f"FHIRCONV_FUZZ_SEED={SEED} (replay: FHIRCONV_FUZZ_SEED={SEED} pytest {__file__})")
    try:
        tree = fhirconv.parse(data, fhir_version=fhir_version)
    except FhirConvError:
        return  # refused: the only acceptable way to fail
    for fmt in ("json", "xml"):
        try:
            output = fhirconv.serialize(tree, format=fmt, fhir_version=fhir_version)
        except UnrepresentableError:
            continue  # the target cannot carry something (and says so); nothing was written
        except StructureError as err:
            # The JSON reader keeps the div string unparsed; XML can only carry well-formed XHTML.
            assert fmt == "xml" and (err.path or "").endswith(".div"), repr(err)
            continue
        _well_formed(output, fmt)
        back = fhirconv.parse(output, format=fmt, fhir_version=fhir_version, keep_comments=True)
        expected = _as_xml_declares_it(tree) if fmt == "xml" else tree
        assert back == expected, f"{fmt} output does not read back to the same tree"


@seed(SEED)
@FUZZ
@given(mutants())
def test_mutated_corpus_files_give_fhirconv_errors_or_round_trip(data):
    _check(data)


@seed(SEED + 1)
@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_fhirconv_errors(data):
    _check(data)


@seed(SEED + 2)
@FUZZ
@given(st.text(max_size=40))
def test_any_string_is_written_to_xml_faithfully_or_refused(text):
    # The writer's only choices: XML that reads back to the same text, or UnrepresentableError.
    tree = {"resourceType": "Patient", "id": "a", "name": [{"family": text or "x", "given": [text or "y"]}],
            "extension": [{"url": f"u{text}", "valueString": text or "z"}]}
    try:
        output = fhirconv.serialize(tree, format="xml")
    except UnrepresentableError as err:
        assert err.path and "U+" in err.message
        return
    _well_formed(output, "xml")
    assert fhirconv.parse(output) == tree


@seed(SEED + 3)
@FUZZ
@given(st.text(max_size=60))
def test_any_string_as_a_narrative_is_written_or_refused_never_malformed(text):
    tree = {"resourceType": "Patient", "text": {"status": "generated",
                                                "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>'}}
    try:
        output = fhirconv.serialize(tree, format="xml")
    except FhirConvError:
        return  # not well-formed XHTML, or a character XML cannot carry
    _well_formed(output, "xml")
    assert fhirconv.parse(output) == tree
