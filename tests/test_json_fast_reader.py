"""parse_json's orjson fast path gives exactly what the exact reader gives, or steps aside.

``json._orjson_exact`` takes orjson's values only when orjson writes them back as the input byte
for byte; the compiled builder then reads ints and floats as their text. Everything else goes to
the exact reader (stdlib scanner with lexeme hooks), which owns every error message. So here, on
every input: the tree, or the error (class, message, path, line, column), is the exact reader's;
and on compact input the fast path is really taken.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirconv.definitions import load
from fhirconv.errors import FhirConvError
from fhirconv.formats import json as json_codec
from fhir_strategies import resource
from test_corpus import FIXTURES, version_of
from test_twins import NAMES, PAIRS

pytestmark = pytest.mark.skipif(json_codec.JsonTreeBuilder is None,
                                reason="compiled core not built: parse_json has no fast path")

DEFS = {version: load(version) for version in ("R4", "R5", "R6")}
R4 = DEFS["R4"]


def outcome(data, defs, *, fast: bool):
    """parse_json's tree, or its error as (class, message, path, line, column). ``fast``: the
    orjson path is tried first (the bytes reader is switched off: test_json_bytes_reader.py
    covers it); else the exact reader only."""
    json_codec.use_orjson_reader = fast
    json_codec.use_bytes_reader = False
    try:
        return json_codec.parse_json(data, defs)
    except FhirConvError as err:
        return (type(err).__name__, err.message, err.path, err.line, err.column)
    finally:
        json_codec.use_orjson_reader = json_codec.use_bytes_reader = True


def fast_tree(data, defs):
    """The fast path's own tree, or None when it stepped aside."""
    return json_codec._parse_plain(data, defs)


def compact(data: bytes, option: int = 0) -> bytes | None:
    """The document as orjson writes it (what the fast path takes), or None if orjson refuses it."""
    try:
        return orjson.dumps(orjson.loads(data), option=option)
    except orjson.JSONDecodeError:
        return None


@pytest.mark.parametrize("option", [0, orjson.OPT_INDENT_2], ids=["compact", "indented"])
def test_every_twin_rewritten_by_orjson_takes_the_fast_path_and_builds_the_exact_tree(option):
    not_taken, differ = [], []
    for name in NAMES:
        data = compact(PAIRS[name]["json"], option)
        exact = outcome(data, R4, fast=False)
        fast = fast_tree(data, R4)
        if fast is None:
            not_taken.append(name)
        elif fast != exact:
            differ.append(name)
    assert differ == []
    assert not_taken == []


@pytest.mark.parametrize("name", NAMES[::50])
def test_twins_as_published_give_the_exact_tree(name):
    """Indented as the publisher wrote them: whichever path reads them, the tree is the same."""
    data = PAIRS[name]["json"]
    assert outcome(data, R4, fast=True) == outcome(data, R4, fast=False)


def corpus_documents() -> list[tuple[str, bytes]]:
    """Every JSON document under fixtures/ (each NDJSON line on its own), with its label."""
    documents = []
    for path in sorted(FIXTURES.rglob("*")):
        relative = path.relative_to(FIXTURES).as_posix()
        if path.suffix == ".json":
            documents.append((relative, path.read_bytes()))
        elif path.suffix == ".ndjson":
            for number, line in enumerate(path.read_bytes().splitlines(keepends=True), 1):
                if line.strip():
                    documents.append((f"{relative}:{number}", line))
    return documents


CORPUS = corpus_documents()


def test_the_corpus_has_json_and_ndjson():
    assert len(CORPUS) > 100 and any(":" in label for label, _ in CORPUS)


@pytest.mark.parametrize("label, data", CORPUS, ids=[label for label, _ in CORPUS])
def test_corpus_documents_give_the_exact_outcome(label, data):
    defs = DEFS[version_of(label)]
    assert outcome(data, defs, fast=True) == outcome(data, defs, fast=False)
    for option in (0, orjson.OPT_INDENT_2):
        squeezed = compact(data, option)
        if squeezed is None:
            return  # orjson refuses it: only the exact reader ever sees it (asserted just above)
        exact = outcome(squeezed, defs, fast=False)
        assert outcome(squeezed, defs, fast=True) == exact
        if type(exact) is dict:
            fast = fast_tree(squeezed, defs)
            # The compiled builder steps aside only for what it never handles (fhir_comments).
            assert fast == exact or (fast is None and b'"fhir_comments"' in squeezed), label


# -- what the byte-for-byte guard must catch ---------------------------------------------------

PATIENT = '{"resourceType":"Patient",%s}'


@pytest.mark.parametrize("members, why", [
    ('"active":true,"active":false', "duplicate key: orjson keeps the last one"),
    ('"id":"a","id":"a"', "duplicate key with the same value"),
    ('"multipleBirthInteger":-0', "-0: orjson reads 0"),
    ('"multipleBirthInteger":1.50', "1.50 is not an integer (and orjson would write 1.5)"),
    ('"multipleBirthInteger":1e2', "1e2: orjson writes 100.0"),
    ('"multipleBirthInteger":18446744073709551616', "2**64: orjson reads a float"),
    ('"multipleBirthInteger":-9223372036854775809', "below int64: orjson reads a float"),
    ('"multipleBirthInteger":NaN', "NaN"),
    ('"multipleBirthInteger":Infinity', "Infinity"),
    ('"multipleBirthInteger":true', "a boolean is never an integer"),
    ('"multipleBirthBoolean":1', "an integer is never a boolean"),
    ('"gender":"f\\u00e9male"', "an escaped é"),
    ('"gender":"\\/female"', "an escaped solidus"),
    ('"gender":"\\ud800"', "a lone high surrogate"),
    ('"gender":"\\udc00x"', "a lone low surrogate"),
    ('"gender":"\\ud83d\\ude00"', "an escaped surrogate pair"),
    ('"gender":"a\\u0001b"', "an escaped control character"),
    ('"gender":""', "empty string"),
    ('"gender":null', "null"),
    ('"name":[]', "empty array"),
    ('"name":[{"given":["a",null]}]', "null in a list"),
    ('"bogus":1', "unknown element"),
])
def test_the_guard_gives_the_exact_outcome(members, why):
    for data in (PATIENT % members, (PATIENT % members).encode(), (PATIENT % members).encode() + b"\n",
                 " \r\n\t" + PATIENT % members + "\n"):
        assert outcome(data, R4, fast=True) == outcome(data, R4, fast=False), why


@pytest.mark.parametrize("data, why", [
    (b'\xef\xbb\xbf{"resourceType":"Patient","active":true}', "a byte order mark"),
    ('\ufeff{"resourceType":"Patient","active":true}', "a byte order mark in text"),
    (b'{"resourceType":"Patient","gender":"\xff"}', "not UTF-8"),
    ('{"resourceType":"Patient","gender":"\ud800"}', "a lone surrogate in the text itself"),
    (b'', "nothing"),
    (b'[1]', "not an object"),
    (b'{"resourceType":"Patient"}', "no content"),
    (b'{"resourceType":"Patient","active":true}\x0c', "a form feed is not JSON whitespace"),
    (b'{"resourceType":"Patient","active":true}{}', "two documents"),
    (b'{"resourceType":"Patient","contained":' + b'[' * 300 + b']' * 300 + b'}', "too deep for orjson to write"),
])
def test_the_guard_gives_the_exact_outcome_on_broken_input(data, why):
    assert outcome(data, R4, fast=True) == outcome(data, R4, fast=False), why


@pytest.mark.parametrize("members, text", [
    ('"multipleBirthInteger":7', "7"),
    ('"multipleBirthInteger":-12', "-12"),
    ('"multipleBirthInteger":18446744073709551615', "18446744073709551615"),
])
def test_integers_on_the_fast_path_keep_their_text(members, text):
    data = (PATIENT % members).encode()
    assert fast_tree(data, R4)["multipleBirthInteger"] == text
    assert outcome(data, R4, fast=False)["multipleBirthInteger"] == text


@pytest.mark.parametrize("number", ["0.5", "1.0", "1e-7", "1.5e+300", "-2.25", "100.0", "0.1", "-0.0"])
def test_decimals_on_the_fast_path_keep_their_text(number):
    data = b'{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":%s}}' % (
        number.encode())
    exact = outcome(data, R4, fast=False)
    assert exact["valueQuantity"]["value"] == number
    assert fast_tree(data, R4) == exact


@pytest.mark.parametrize("number", ["1.50", "1E2", "1e7", "1e+07", "0.10", "1.5e300"])
def test_decimals_orjson_would_rewrite_go_to_the_exact_reader(number):
    data = b'{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":%s}}' % (
        number.encode())
    assert json_codec._orjson_exact(data) is None
    assert outcome(data, R4, fast=True)["valueQuantity"]["value"] == number


@pytest.mark.parametrize("data, option", [
    (b'{"resourceType":"Patient","active":true}\n', 0),
    (b'{\n  "resourceType": "Patient",\n  "active": true\n}', orjson.OPT_INDENT_2),
    ('{\n  "resourceType": "Patient",\n  "active": true\n}\n', orjson.OPT_INDENT_2),
    (b'{\n  "resourceType" : "Patient",\n  "active" : true\n}', None),
    (b'{\n    "resourceType": "Patient",\n    "active": true\n}', None),
    (b'{"resourceType":"Patient",\n"active":true}', None),
])
def test_the_layout_check_only_lets_orjson_layouts_through(data, option):
    stripped = data.strip()
    newline, start, quote, key_end = (("\n", '{\n  "', '"', '": ') if type(data) is str
                                      else (b"\n", b'{\n  "', b'"', b'": '))
    assert json_codec._orjson_layout(stripped, newline, start, quote, key_end) == option
    assert (json_codec._orjson_exact(data) is not None) == (option is not None)
    assert outcome(data, R4, fast=True) == outcome(data, R4, fast=False)


def test_a_bytearray_is_read_exactly():
    data = bytearray(b'{"resourceType":"Patient","active":true}')
    assert json_codec._orjson_exact(data) is None
    assert outcome(data, R4, fast=True) == outcome(bytes(data), R4, fast=False)


@pytest.mark.parametrize("version", ["R4", "R5", "R6"])
def test_generated_resources_read_the_same_either_way(version):
    defs = DEFS[version]

    @settings(max_examples=100, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(tree=resource(defs), pretty=st.booleans())
    def check(tree, pretty):
        data = json_codec.serialize_json(tree, defs, pretty=pretty)
        exact = outcome(data, defs, fast=False)
        assert exact == tree
        assert outcome(data, defs, fast=True) == exact
        fast = fast_tree(data, defs)
        # Stepping aside is allowed only where the guard must: number text orjson would
        # rewrite (the strategies draw 1.50, 1E2, ...), or fhir_comments.
        assert fast == exact or (fast is None and (json_codec._orjson_exact(data) is None
                                                   or b'"fhir_comments"' in data))

    check()
