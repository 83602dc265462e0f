"""parse_json's compiled bytes reader gives exactly the exact reader's tree, or steps aside.

``_jsonbytes.JsonBytesReader`` parses FHIR JSON bytes straight into the tree, driven by the
definitions. It must never take a document differently from the exact reader (the stdlib scanner
with lexeme hooks, then the reference builder), and it must never take one the exact reader
refuses. So, on every input here: either the bytes reader steps aside (None) or its tree equals
the exact reader's, key order included at every level; and parse_json's outcome, tree or error
(class, message, path, line, column), is the exact reader's. Where it is expected to read a
document itself (every official twin, every generated layout), that is asserted too.
"""

from __future__ import annotations

import random

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhirconv.definitions import load
from fhirconv.errors import FhirConvError
from fhirconv.formats import json as json_codec
from fhirconv.tree import Primitive
from fhir_strategies import resource
from test_corpus import version_of
from test_json_fast_reader import CORPUS
from test_twins import NAMES, PAIRS

pytestmark = pytest.mark.skipif(json_codec.JsonBytesReader is None,
                                reason="compiled core not built: parse_json has no bytes reader")

DEFS = {version: load(version) for version in ("R4", "R5", "R6")}
R4 = DEFS["R4"]


def exact(data, defs):
    """The exact reader's tree, or its error as (class, message, path, line, column)."""
    json_codec.use_bytes_reader = json_codec.use_orjson_reader = False
    try:
        return json_codec.parse_json(data, defs)
    except FhirConvError as err:
        return (type(err).__name__, err.message, err.path, err.line, err.column)
    finally:
        json_codec.use_bytes_reader = json_codec.use_orjson_reader = True


def outcome(data, defs):
    """parse_json's tree or error, with every reader switched on (the bytes reader first)."""
    try:
        return json_codec.parse_json(data, defs)
    except FhirConvError as err:
        return (type(err).__name__, err.message, err.path, err.line, err.column)


def ordered(node):
    """A tree as nested lists of (key, value) pairs: equal only when key order is equal too."""
    if type(node) is dict:
        return [(key, ordered(value)) for key, value in node.items()]
    if type(node) is list:
        return [ordered(item) for item in node]
    if type(node) is Primitive:
        return ("Primitive", node.value, node.id, ordered(node.extension), node.comments)
    return node


def check(data, defs, *, taken: bool | None = None, why: str = ""):
    """The bytes reader's tree is the exact one (or it stepped aside), and parse_json's outcome
    is the exact reader's. ``taken`` asserts whether the bytes reader read it itself."""
    expected = exact(data, defs)
    tree = json_codec._read_bytes(data, defs)
    if tree is not None:
        assert type(expected) is dict, f"taken, but the exact reader refuses it: {expected} ({why})"
        assert ordered(tree) == ordered(expected), why
    if taken is not None:
        assert (tree is not None) == taken, why
    assert ordered(outcome(data, defs)) == ordered(expected), why
    return tree


# -- real documents --------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["published", "compact", "indented"])
def test_every_twin_is_read_by_the_bytes_reader_and_gives_the_exact_tree(layout):
    not_taken, differ = [], []
    for name in NAMES:
        data = PAIRS[name]["json"]
        if layout != "published":
            data = orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2 if layout == "indented" else 0)
        tree = json_codec._read_bytes(data, R4)
        if tree is None:
            not_taken.append(name)
        elif ordered(tree) != ordered(exact(data, R4)):
            differ.append(name)
    assert differ == []
    assert not_taken == []


@pytest.mark.parametrize("label, data", CORPUS, ids=[label for label, _ in CORPUS])
def test_corpus_documents_give_the_exact_outcome(label, data):
    defs = DEFS[version_of(label)]
    tree = check(data, defs, why=label)
    if tree is None and type(exact(data, defs)) is dict:
        # A valid document it steps aside from holds what it leaves to the exact reader.
        assert b'"fhir_comments"' in data, label


# -- what it must step aside from, or read exactly -------------------------------------------------

PATIENT = '{"resourceType":"Patient",%s}'


@pytest.mark.parametrize("members, taken, why", [
    ('"active":true', True, "plain"),
    ('"active":true,"active":false', False, "duplicate key"),
    ('"id":"a","id":"a"', False, "duplicate key with the same value"),
    ('"deceasedBoolean":true,"deceasedDateTime":"2020"', False, "two types of one choice"),
    ('"deceasedBoolean":true,"_deceasedDateTime":{"id":"x"}', False, "a companion for another choice type"),
    ('"_deceasedDateTime":{"id":"x"},"deceasedBoolean":true', False, "the same, companion first"),
    ('"multipleBirthInteger":-0', True, "-0 keeps its text"),
    ('"multipleBirthInteger":1.50', False, "a fraction in an integer"),
    ('"multipleBirthInteger":1e2', False, "an exponent in an integer"),
    ('"multipleBirthInteger":01', False, "a leading zero"),
    ('"multipleBirthInteger":-', False, "a sign alone"),
    ('"multipleBirthInteger":+1', False, "a plus sign"),
    ('"multipleBirthInteger":18446744073709551616', True, "beyond 64 bits keeps its text"),
    ('"multipleBirthInteger":NaN', False, "NaN"),
    ('"multipleBirthInteger":Infinity', False, "Infinity"),
    ('"multipleBirthInteger":-Infinity', False, "-Infinity"),
    ('"multipleBirthInteger":true', False, "a boolean is never an integer"),
    ('"multipleBirthInteger":"1"', False, "a string is never an integer"),
    ('"multipleBirthBoolean":1', False, "an integer is never a boolean"),
    ('"multipleBirthBoolean":tru', False, "a truncated literal"),
    ('"multipleBirthBoolean":True', False, "a capitalised literal"),
    ('"gender":"f\\u00e9male"', True, "an escaped é"),
    ('"gender":"\\/female"', True, "an escaped solidus"),
    ('"gender":"\\"\\\\\\b\\f\\n\\r\\t"', True, "every short escape"),
    ('"gender":"\\ud83d\\ude00"', True, "an escaped surrogate pair"),
    ('"gender":"\\uD83D\\uDE00x"', True, "an escaped surrogate pair in capitals"),
    ('"gender":"a\\u0000b"', True, "an escaped NUL"),
    ('"gender":"\\ud800"', False, "a lone high surrogate"),
    ('"gender":"\\ud800\\u0041"', False, "a high surrogate before a letter"),
    ('"gender":"\\udc00x"', False, "a lone low surrogate"),
    ('"gender":"\\u12"', False, "a short \\u escape"),
    ('"gender":"\\x41"', False, "an escape JSON does not have"),
    ('"gender":"a\tb"', False, "a raw tab"),
    ('"gender":""', False, "empty string"),
    ('"gender":null', False, "null"),
    ('"gender":"female",', False, "a trailing comma"),
    ('"name":[]', False, "empty array"),
    ('"name":[{}]', False, "empty object"),
    ('"name":[{"given":["a"]},]', False, "a trailing comma in an array"),
    ('"name":{"given":["a"]}', False, "an object where the definition repeats"),
    ('"name":[{"given":"a"}]', False, "a string where the definition repeats"),
    ('"name":[{"given":["a",null]}]', False, "null in a list without a companion"),
    ('"name":[{"given":["a",null],"_given":[null,{"id":"g"}]}]', True, "a null filled by its companion"),
    ('"name":[{"_given":[null,{"id":"g"}],"given":["a",null]}]', True, "the same, companion first"),
    ('"name":[{"_given":[{"id":"g"},null]}]', False, "a companion array with a hole and no values"),
    ('"name":[{"given":["a"],"_given":[null,{"id":"g"}]}]', True, "a companion array longer than the values"),
    ('"name":[{"given":["a"],"_given":[null]}]', True, "a companion array of nulls"),
    ('"name":[{"_given":[{"id":"g"}]}]', True, "a companion array alone"),
    ('"name":[{"given":["a"],"_given":[null],"_given":[null]}]', False, "a duplicate companion"),
    ('"_gender":{"id":"g"}', True, "a companion alone"),
    ('"gender":"male","_gender":{"id":"g","extension":[{"url":"u","valueString":"x"}]}', True, "a companion after"),
    ('"_gender":{"extension":[{"url":"u","valueString":"x"}],"id":"g"},"gender":"male"', True, "a companion before"),
    ('"_gender":{}', False, "an empty companion"),
    ('"_gender":{"id":"g","id":"h"}', False, "a duplicate id in a companion"),
    ('"_gender":{"id":""}', False, "an empty id in a companion"),
    ('"_gender":{"fhir_comments":["x"]}', False, "comments in a companion"),
    ('"_gender":{"url":"x"}', False, "something else in a companion"),
    ('"_gender":"x"', False, "a companion that is not an object"),
    ('"_name":{"id":"x"}', False, "a companion for a complex element"),
    ('"_id":{"id":"x"},"id":"a"', True, "a companion of the resource id, a primitive"),
    ('"text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">x</div>"}', True,
     "a narrative"),
    ('"text":{"status":"generated","div":"<div xmlns=\\"http://www.w3.org/1999/xhtml\\">x</div>",'
     '"_div":{"id":"d"}}', False, "a companion of the narrative div"),
    ('"fhir_comments":["x"],"active":true', False, "fhir_comments"),
    ('"bogus":1', False, "unknown element"),
    ('"_bogus":{"id":"x"}', False, "unknown companion"),
    ('"_":1', False, "an underscore alone"),
    ('"":1', False, "an empty key"),
    ('"acti\\u0076e":true', False, "an escaped key"),
    ('"' + "a" * 70 + '":1', False, "a key longer than any FHIR name"),
    ('"managingOrganization":{"reference":"x"},"generalPractitioner":[{"reference":"y"}]', True,
     "keys of 20 and 19 bytes (two eight-byte words and a tail)"),
    ('"gender":"male","active":true', True, "out of definition order"),
    ('"resourceType":"Patient","active":true', False, "resourceType twice"),
    ('"contained":[{"resourceType":"Patient","active":true}]', True, "a contained resource"),
    ('"contained":[{"active":true,"resourceType":"Patient"}]', False, "a contained resourceType not first"),
    ('"contained":[{"resourceType":"Bogus","active":true}]', False, "a contained unknown resource"),
    ('"contained":[{"resourceType":"Patient"}]', False, "a contained resource with nothing else"),
    ('"extension":[{"url":"u","valueDecimal":1.50}]', True, "a decimal keeps its text"),
    ('"extension":[{"url":"u","valueDecimal":1.}]', False, "a fraction with no digits"),
    ('"extension":[{"url":"u","valueDecimal":.5}]', False, "no digit before the point"),
    ('"extension":[{"url":"u","valueDecimal":1e}]', False, "an exponent with no digits"),
    ('"extension":[{"url":"u","valueDecimal":-1.5E+300}]', True, "a signed exponent"),
    ('"extension":[{"url":"","valueString":"x"}]', False, "an empty url"),
])
def test_members_are_read_exactly_or_left_to_the_exact_reader(members, taken, why):
    text = PATIENT % members
    for data in (text.encode(), text, text.encode() + b"\n", (" \r\n\t" + text + "\n").encode()):
        check(data, R4, taken=taken, why=why)


@pytest.mark.parametrize("data, taken, why", [
    (b'\xef\xbb\xbf{"resourceType":"Patient","active":true}', True, "a byte order mark"),
    ('\ufeff{"resourceType":"Patient","active":true}', True, "a byte order mark in text"),
    (b'{"resourceType":"Patient","gender":"\xff"}', False, "not UTF-8"),
    (b'{"resourceType":"Patient","gender":"\xc3"}', False, "a truncated UTF-8 sequence"),
    (b'{"resourceType":"Patient","gender":"\xc0\xae"}', False, "an overlong UTF-8 sequence"),
    (b'{"resourceType":"Patient","gender":"\xed\xa0\x80"}', False, "a surrogate encoded in UTF-8"),
    (b'{"resourceType":"Patient","gender":"\xe4\xb8\xad\xf0\x9f\x98\x80"}', True, "raw non-ASCII"),
    (b'{"resourceType":"Patient","gender":"\\u00e9\xc3\xa9"}', True, "escaped and raw non-ASCII"),
    ('{"resourceType":"Patient","gender":"\ud800"}', False, "a lone surrogate in the text itself"),
    (b'{"resourceType":"Patient","gender":"a\x00b"}', False, "a raw NUL"),
    (b'{"resourceType":"Patient","active":true}\x00', False, "a NUL after the document"),
    (b'{"resourceType":"Patient","active":tr', False, "truncated in a literal"),
    (b'{"resourceType":"Patient","gender":"fem', False, "truncated in a string"),
    (b'{"resourceType":"Patient","gender":"fem\\', False, "truncated in an escape"),
    (b'{"resourceType":"Patient","gender":"\\u00', False, "truncated in a \\u escape"),
    (b'{"resourceType":"Patient","multipleBirthInteger":1', False, "truncated after a number"),
    (b'{"resourceType":"Patient","active":true', False, "no closing brace"),
    (b'{"resourceType":"Patient","act', False, "truncated in a key"),
    (b'', False, "nothing"),
    (b'[1]', False, "not an object"),
    (b'{"resourceType":"Patient"}', False, "no content"),
    (b'{"active":true,"resourceType":"Patient"}', False, "resourceType not first"),
    (b'{"resourceType":1,"active":true}', False, "resourceType not a string"),
    (b'{"resourceType":"Bogus","active":true}', False, "unknown resourceType"),
    (b'{"resourceType":"Patient","active":true}\x0c', False, "a form feed is not JSON whitespace"),
    (b'{"resourceType":"Patient","active":true}{}', False, "two documents"),
    (b'{ "resourceType" : "Patient" , "active" : true }', True, "spaces everywhere"),
    (b'{\r\n\t"resourceType":\n"Patient",\t"name" : [ { "given" : [ "a" , "b" ] } ] }', True, "all four blanks"),
    (b'{"resourceType":"Patient","contained":' + b'[' * 300 + b']' * 300 + b'}', False, "deep arrays"),
])
def test_documents_are_read_exactly_or_left_to_the_exact_reader(data, taken, why):
    check(data, R4, taken=taken, why=why)


def _nested_extensions(depth: int) -> bytes:
    inner = b'{"url":"u","valueString":"x"}'
    for _ in range(depth):
        inner = b'{"url":"u","extension":[' + inner + b']}'
    return b'{"resourceType":"Patient","extension":[' + inner + b']}'


@pytest.mark.parametrize("depth", [97, 98, 99, 100, 150])
def test_nesting_at_the_depth_limit_is_read_as_the_exact_reader_reads_it(depth):
    """The depth limit (100 objects) counts as the builders count: above it, the exact reader
    refuses, and the bytes reader must step aside."""
    data = _nested_extensions(depth)
    check(data, R4, taken=type(exact(data, R4)) is dict, why=f"depth {depth}")


# -- generated documents in any layout -------------------------------------------------------------

def _string(text: str, rnd: random.Random) -> str:
    """A JSON string for ``text``, each character written raw or escaped, as chance says."""
    out = ['"']
    for char in text:
        code = ord(char)
        choice = rnd.random()
        if char in '"\\' or code < 0x20 or choice < 0.15:
            if char in '"\\/' and choice < 0.5:
                out.append("\\" + char)
            elif char in "\b\f\n\r\t" and choice < 0.5:
                out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[char])
            elif code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04X}")
            else:
                out.append(f"\\u{code:04x}" if choice < 0.1 else f"\\u{code:04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _blank(rnd: random.Random) -> str:
    return "".join(rnd.choice(" \t\n\r") for _ in range(rnd.choice((0, 0, 0, 1, 2))))


def relaid(value, rnd: random.Random, escape_keys: bool = False) -> str:
    """A JSON-form value (numbers as the exact reader's lexeme strings) written again: keys in a
    shuffled order (resourceType kept first, as the bytes reader wants it), blanks anywhere,
    strings (and keys, if asked) escaped at random. The tree it reads to is the same."""
    if type(value) is dict:
        items = list(value.items())
        first = [item for item in items if item[0] == "resourceType"]
        rest = [item for item in items if item[0] != "resourceType"]
        rnd.shuffle(rest)
        members = [_blank(rnd) + (_string(key, rnd) if escape_keys else f'"{key}"') + _blank(rnd) + ":"
                   + _blank(rnd) + relaid(item, rnd, escape_keys) + _blank(rnd) for key, item in first + rest]
        return "{" + ",".join(members) + "}"
    if type(value) is list:
        return "[" + ",".join(_blank(rnd) + relaid(item, rnd, escape_keys) + _blank(rnd) for item in value) + "]"
    if type(value) is json_codec._Number:
        return str.__str__(value)
    if type(value) is str:
        return _string(value, rnd)
    return {True: "true", False: "false", None: "null"}[value]


@pytest.mark.parametrize("version", ["R4", "R5", "R6"])
def test_generated_resources_in_any_layout_are_read_exactly(version):
    defs = DEFS[version]

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(tree=resource(defs), pretty=st.booleans(), rnd=st.randoms(use_true_random=False))
    def run(tree, pretty, rnd):
        written = json_codec.serialize_json(tree, defs, pretty=pretty)
        check(written, defs, taken=True, why="as fhirconv writes it")
        read = exact(written, defs)
        assert read == tree
        form = json_codec.load_json(written.decode())
        for escape_keys in (False, True):
            data = relaid(form, rnd, escape_keys).encode()
            assert ordered(exact(data, defs)) == ordered(read)
            # An escaped key is left to the exact reader; every other layout is read directly.
            check(data, defs, taken=None if escape_keys else True, why=data[:200])

    run()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES[::25]), edits=st.lists(
    st.tuples(st.sampled_from(["delete", "insert", "replace"]), st.floats(0, 1),
              st.sampled_from(list(b'{}[]:,"\\ 0123456789-+.eEtrufalsn_u\x00\x1f\x80\xc3\xed\xff'))),
    min_size=1, max_size=3))
def test_damaged_documents_never_read_differently(name, edits):
    """Bytes deleted, inserted or replaced anywhere in a real document: whatever the result, the
    bytes reader reads it as the exact reader does or steps aside, and the error is the exact one."""
    data = bytearray(orjson.dumps(orjson.loads(PAIRS[name]["json"])))
    for action, where, byte in edits:
        at = int(where * (len(data) - 1))
        if action == "delete":
            del data[at]
        elif action == "insert":
            data.insert(at, byte)
        else:
            data[at] = byte
    check(bytes(data), R4, why=f"{name} {edits}")
