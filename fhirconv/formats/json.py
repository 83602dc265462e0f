"""FHIR JSON <-> element tree.

Reading (the exact reader, the reference): the standard library's C scanner with
``parse_int``/``parse_float`` hooks, so every number reaches the tree as the exact text that was
written (``1.00``, ``1E-22``, a 19-digit integer) and never passes through a float; duplicate
keys, ``NaN``/``Infinity`` and lone surrogates are refused. The tree is then built by one walk
driven by per-type fields (``_plans``): ``name``/``_name`` pairs become one primitive node,
null-padded arrays line up, children land in definition order. With the compiled core, two fast
paths come first and step aside for anything they cannot prove they read the same way: the bytes
reader (``_jsonbytes``) and orjson checked by a byte-for-byte round trip (see ``parse_json``).

Writing (the reference): the tree becomes JSON-form Python data in one walk (numbers as
``orjson.Fragment`` so their text is copied verbatim, booleans as JSON literals because the
definition says so) and orjson writes the bytes. The compiled writer (``_fastjson.JsonWriter``)
writes the same bytes itself.
"""

from __future__ import annotations

import json as _stdjson
import re
from decimal import Decimal

import orjson

from ..definitions import Definitions
from ..errors import FhirConvError, FhirSyntaxError, StructureError, UnrepresentableError
from ..tree import Primitive
from . import _jsonpos
from ._plans import (ATTRIBUTE, COMMENTS, COMPLEX, PRIMITIVE, RESOURCE, XHTML, fields_lookup, fields_of,
                     in_definition_order)

try:  # the compiled walks (built from _fastjson.pyx and _jsonbytes.pyx when a compiler is there)
    from ._fastjson import Fallback, JsonTreeBuilder, JsonWriter
    from ._jsonbytes import JsonBytesReader
except ImportError:  # pragma: no cover - pure-Python installs use the reference code only
    JsonWriter = JsonTreeBuilder = JsonBytesReader = None

__all__ = ["parse_json", "serialize_json", "tree_from_json_form", "tree_to_json_form"]


class _Number(str):
    """A JSON number's text, marked so that the tree builder can tell it from a string."""
    __slots__ = ()


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey()
    return obj


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON or FHIR allows")


_DECODER = _stdjson.JSONDecoder(parse_float=_Number, parse_int=_Number,
                                parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
# \ud800-\udbff not followed by a low surrogate, or a low surrogate not preceded by a high one.
_LONE_SURROGATE = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}")


def decode_text(data: bytes | str) -> str:
    """Bytes to text: UTF-8 (a byte order mark is allowed and dropped), nothing else."""
    if isinstance(data, str):
        return data[1:] if data.startswith("\ufeff") else data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise FhirSyntaxError(f"not UTF-8: byte 0x{data[exc.start]:02x} cannot start a character here",
                              line=line, column=column) from None


def load_json(text: str):
    """Parse JSON text, keeping number lexemes; every failure is a located FhirSyntaxError."""
    try:
        value = _DECODER.decode(text)
    except _DuplicateKey:
        path, line, column, key = _jsonpos.first_duplicate_key(text)
        raise FhirSyntaxError(f'duplicate key "{key}" (JSON object keys must be unique)',
                              path=path, line=line, column=column) from None
    except _stdjson.JSONDecodeError as exc:
        raise FhirSyntaxError(f"not valid JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    except ValueError as exc:  # NaN / Infinity
        line, column = _jsonpos.find_constant(text)
        raise FhirSyntaxError(f"not valid JSON: {exc}", line=line, column=column) from None
    except RecursionError:  # far deeper than any FHIR element may nest (see _MAX_DEPTH)
        line, column = _jsonpos.deeper_than(text, 2 * _MAX_DEPTH + 2)
        raise StructureError(f"nested more than {_MAX_DEPTH} levels deep", line=line, column=column) from None
    if "\\u" in text:
        for lone in _LONE_SURROGATE.finditer(text):
            backslashes = 0  # "\\ud800" is an escaped backslash and the text "ud800": no surrogate
            while lone.start() - backslashes > 0 and text[lone.start() - backslashes - 1] == "\\":
                backslashes += 1
            if backslashes % 2:
                continue
            line = text.count("\n", 0, lone.start()) + 1
            column = lone.start() - (text.rfind("\n", 0, lone.start()) + 1) + 1
            raise FhirSyntaxError(f"lone surrogate {lone.group()} is not a Unicode character",
                                  line=line, column=column)
    return value


def parse_json(data: bytes | str, defs: Definitions) -> dict:
    """FHIR JSON text -> tree. Errors carry the element path and its line and column.

    Three readers, fastest first, each stepping aside for what it cannot prove it reads as the
    exact reader does: the compiled bytes reader, orjson with a byte-for-byte check, the exact
    reader (which alone reports errors)."""
    if JsonBytesReader is not None and use_compiled_reader and use_bytes_reader:
        tree = _read_bytes(data, defs)
        if tree is not None:
            return tree
    if JsonTreeBuilder is not None and use_compiled_reader and use_orjson_reader:
        tree = _parse_plain(data, defs)
        if tree is not None:
            return tree
    text = decode_text(data)
    value = load_json(text)
    if JsonTreeBuilder is not None and use_compiled_reader:
        try:
            return _compiled_builder(defs, False).resource(value)
        except Fallback:
            pass  # something to report: the reference builder walks the same values again
    try:
        return _TreeBuilder(defs).resource(value)
    except FhirConvError as err:
        raise _locate(err, text) from None


# Tests switch this off to prove the compiled and the reference builder give the same trees.
use_compiled_reader = True
# Tests switch these off to compare each fast path with the exact reader.
use_orjson_reader = True
use_bytes_reader = True


def _read_bytes(data, defs: Definitions) -> dict | None:
    """The compiled bytes reader's tree, or None for "read it another way"."""
    if type(data) is not bytes:
        if type(data) is not str:
            return None  # bytearray, memoryview: rare
        try:
            data = data.encode()
        except UnicodeEncodeError:  # a lone surrogate in the text: the exact reader says where
            return None
    reader = defs.plans.get("json-bytes-reader")
    if reader is None:
        fields_for, fields_cache = fields_lookup(defs)
        reader = defs.plans.setdefault("json-bytes-reader", JsonBytesReader(
            fields_for, Primitive, _ordered_or_none, defs.resource_types, _MAX_DEPTH, fields_cache))
    try:
        return reader.read(data)
    except Fallback:
        return None


def _parse_plain(data, defs: Definitions) -> dict | None:
    """The fast path: orjson's values, when provably the exact reader's, built by the compiled
    builder. None means "read it exactly" (which also owns every error message)."""
    value = _orjson_exact(data)
    if value is None:
        return None
    try:
        return _compiled_builder(defs, True).resource(value)
    except Fallback:
        return None


_BLANKS = " \t\n\r"  # JSON's whitespace; only these may surround the document
_BLANK_BYTES = _BLANKS.encode()


def _orjson_exact(data):
    """``orjson.loads(data)`` when orjson writes that value back as exactly ``data`` (less the
    whitespace around it, e.g. an NDJSON line's newline), compact or indented as
    ``serialize_json`` writes it; else None.

    orjson alone would lose what the exact reader keeps or refuses: it collapses duplicate keys
    and turns ``-0``, ``1.50`` and ``1e2`` into other text. A byte-for-byte round trip proves none
    of that happened: no key was dropped, every number's text is what orjson writes for its value,
    no escape was normalised (orjson writes ``é``, never ``\\u00e9``). orjson refuses a BOM,
    lone surrogates, NaN and bad UTF-8 itself, so those reach the exact reader too.
    """
    kind = type(data)
    if kind is bytes:
        stripped = data.strip(_BLANK_BYTES)
        option = _orjson_layout(stripped, b"\n", b'{\n  "', b'"', b'": ')
    elif kind is str:
        stripped = data.strip(_BLANKS)
        option = _orjson_layout(stripped, "\n", '{\n  "', '"', '": ')
    else:  # bytearray, memoryview: rare, read exactly
        return None
    if option is None:
        return None
    try:
        value = orjson.loads(stripped)
        written = orjson.dumps(value, option=option)  # refuses nesting deeper than 255: read exactly
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return None
    if kind is str:  # compare as text (a str holding a lone surrogate cannot be encoded)
        written = written.decode()
    return value if written == stripped else None


def _orjson_layout(stripped, newline, indented_start, quote, key_end):
    """The orjson option that could have written ``stripped``: 0 (compact) or OPT_INDENT_2, or
    None when its layout is neither. Only saves a doomed loads + dumps (the publisher's
    ``"key" : value``, say); the byte comparison alone decides what is taken."""
    if newline not in stripped:
        return 0  # compact output never holds a raw newline (orjson escapes it in strings)
    if stripped.startswith(indented_start):  # then the first key ends as orjson ends it, with '": '
        first_key_end = stripped.find(quote, len(indented_start))
        if stripped[first_key_end:first_key_end + 3] == key_end:
            return orjson.OPT_INDENT_2
    return None


def _compiled_builder(defs: Definitions, from_orjson: bool):
    """A JsonTreeBuilder for one parse (it counts depth), over the fields shared by all parses."""
    fields_for, fields_cache = fields_lookup(defs)
    return JsonTreeBuilder(fields_for, Primitive, _Number, _ordered_or_none, defs.resource_types, _MAX_DEPTH,
                           fields_cache, from_orjson)


def _ordered_or_none(out: dict, fields: dict) -> dict | None:
    """For the compiled builder: children in definition order, or None when two share a place."""
    ordered, clash = in_definition_order(out, fields)
    return None if clash else ordered


def tree_from_json_form(obj: dict, defs: Definitions) -> dict:
    """A JSON-form dict (as ``json.loads`` or a caller built it) -> tree."""
    return _TreeBuilder(defs).resource(obj)


def _locate(err: FhirConvError, text: str) -> FhirConvError:
    if err.line is None:
        line, column = _jsonpos.locate(text, list(reversed(err.trail)))
        err.located(line=line, column=column)
    return err


def _json_type_name(value) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "a boolean"
    if isinstance(value, _Number) or type(value) in (int, float, Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# The same element nesting limit as the XML reader, so that whatever one format reads the other
# can read back, and low enough that orjson (255 levels of JSON) can always write it.
_MAX_DEPTH = 100


class _TreeBuilder:
    """One parse: JSON-form data -> tree. Holds nothing between parses."""

    __slots__ = ("defs", "plans", "depth")

    def __init__(self, defs: Definitions):
        self.defs = defs
        self.plans = defs.plans
        self.depth = 0

    def resource(self, obj) -> dict:
        if type(obj) is not dict:
            raise StructureError(f"a FHIR resource must be a JSON object, not {_json_type_name(obj)}")
        rtype = obj.get("resourceType")
        if type(rtype) is not str:
            raise StructureError('missing "resourceType": cannot tell what resource this is' if rtype is None
                                 else '"resourceType" must be a string').at(".resourceType")
        if rtype not in self.defs.resource_types:
            raise StructureError(
                f'unknown resourceType "{rtype}" for FHIR {self.defs.label} ({self.defs.fhir_version})'
            ).at(".resourceType")
        try:
            return self.complex(obj, rtype, True)
        except FhirConvError as err:
            raise err.rooted(rtype) from None

    def nested_resource(self, obj) -> dict:
        """A resource inside a resource: its path continues the outer one."""
        if type(obj) is not dict:
            raise StructureError(f"expected a resource (a JSON object), not {_json_type_name(obj)}")
        rtype = obj.get("resourceType")
        if type(rtype) is not str or rtype not in self.defs.resource_types:
            raise StructureError(f"unknown or missing resourceType {rtype!r}").at(".resourceType")
        return self.complex(obj, rtype, True)

    def complex(self, obj: dict, type_name: str, is_resource: bool = False) -> dict:
        fields = self.plans.get(("fields", type_name)) or fields_of(self.defs, type_name)
        out = {"resourceType": type_name} if is_resource else {}
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise StructureError(f"nested more than {_MAX_DEPTH} levels deep")
        last = -1
        unordered = False
        for key, value in obj.items():
            field = fields.get(key)
            try:
                if field is None:
                    if key[:1] == "_" and key[1:] in fields:  # key[0] fails on the key ""
                        if key[1:] in obj:
                            continue  # read together with its value
                        field = fields[key[1:]]
                        index = field[0]
                        self._companion_alone(key, value, field, out)
                    elif is_resource and key == "resourceType":
                        continue
                    else:
                        raise StructureError(f'unknown element "{key if len(key) <= 80 else key[:40] + "..."}" for FHIR {self.defs.label}'
                                             + (f" {type_name}" if not is_resource else ""))
                else:
                    index, kind, sub, is_list, _, companion_key = field
                    if kind == PRIMITIVE:
                        companion = obj.get(companion_key)
                        if is_list:
                            out[key] = self.primitive_list(value, companion, sub)
                        elif companion is None:
                            out[key] = self.primitive(value, sub)
                        else:
                            out[key] = self.with_companion(self.primitive(value, sub), companion)
                    elif kind == COMPLEX:
                        if is_list:
                            out[key] = self.complex_list(value, sub)
                        elif type(value) is dict:
                            out[key] = self.complex(value, sub)
                        else:
                            raise StructureError(f"expected an object, not {_json_type_name(value)}")
                    elif kind == ATTRIBUTE:
                        if type(value) is not str or not value:
                            raise StructureError(f"expected a non-empty string, not {_json_type_name(value)}")
                        out[key] = value
                    elif kind == RESOURCE:
                        if is_list:
                            out[key] = self.resource_list(value)
                        else:
                            out[key] = self.nested_resource(value)
                    elif kind == XHTML:
                        if type(value) is not str or not value:
                            raise StructureError(f"the narrative div must be a string of XHTML, not {_json_type_name(value)}")
                        companion = obj.get(companion_key)
                        out[key] = value if companion is None else self.with_companion(value, companion)
                    else:  # COMMENTS
                        out[key] = _comments(value)
                        continue
                if index <= last:
                    if index == last:
                        raise StructureError(
                            f"{key} repeats an element already given here (only one type of a choice element, and no key twice)")
                    unordered = True
                last = index
            except FhirConvError as err:
                raise err.at("." + (key if len(key) <= 80 else key[:40] + "...").lstrip("_")) from None
        if not out:
            raise StructureError("empty object: FHIR elements must have a value, children or extensions")
        if unordered:
            out = self._in_definition_order(out, fields)
        self.depth -= 1
        return out

    @staticmethod
    def _in_definition_order(out: dict, fields: dict) -> dict:
        ordered, clash = in_definition_order(out, fields)
        if clash:
            raise StructureError(f"{clash}: only one type of a choice element may be given").at("." + clash)
        return ordered

    def complex_list(self, value, type_name: str) -> list:
        if type(value) is not list:
            raise StructureError(f"a repeating element must be an array, not {_json_type_name(value)}")
        if not value:
            raise StructureError("empty array: leave the element out instead")
        items = []
        for i, item in enumerate(value):
            if type(item) is not dict:
                raise StructureError(f"expected an object, not {_json_type_name(item)}").at(f"[{i}]")
            try:
                items.append(self.complex(item, type_name))
            except FhirConvError as err:
                raise err.at(f"[{i}]") from None
        return items

    def resource_list(self, value) -> list:
        if type(value) is not list or not value:
            raise StructureError(f"a repeating element must be a non-empty array, not {_json_type_name(value)}")
        items = []
        for i, item in enumerate(value):
            try:
                items.append(self.nested_resource(item))
            except FhirConvError as err:
                raise err.at(f"[{i}]") from None
        return items

    def primitive(self, value, json_kind: str) -> str:
        """A JSON value -> the primitive's text, checking the JSON type the definition wants."""
        if json_kind == "string":
            if type(value) is str:
                if value:
                    return value
                raise StructureError('empty string: FHIR values must not be empty (leave the element out)')
        elif json_kind == "number":
            if type(value) is _Number:
                return str.__str__(value)
            if type(value) is int:
                return str(value)
            if type(value) in (float, Decimal):
                return _number_text(value)
        elif json_kind == "integer":        # a fraction or an exponent falls to the error below
            if type(value) is _Number:
                if _INTEGER.fullmatch(value):
                    return str.__str__(value)
            elif type(value) is int:
                return str(value)
        elif value is True:
            return "true"
        elif value is False:
            return "false"
        wanted = {"string": "a string", "integer": "an integer"}.get(json_kind, "a " + json_kind)
        raise StructureError(f"expected {wanted}, "
                             f"not {_json_type_name(value)}{_shown(value)}")

    def with_companion(self, value: str | None, companion) -> Primitive:
        if type(companion) is not dict:
            raise StructureError(f"the _ companion of a primitive must be an object, not {_json_type_name(companion)}")
        if not companion:  # {} carries nothing, and would not survive a trip through XML
            raise StructureError("empty object: FHIR elements must have a value, children or extensions")
        node = Primitive(value)
        for key, part in companion.items():
            if key == "extension":
                node.extension = self.complex_list(part, "Extension")
            elif key == "id":
                if type(part) is not str or not part:
                    raise StructureError("a primitive's id must be a non-empty string").at(".id")
                node.id = part
            elif key == "fhir_comments":
                node.comments = _comments(part)
            else:
                raise StructureError(f'"{key}" is not allowed beside a primitive (only id and extension)').at("." + key)
        if value is None and node.extension is None and node.id is None and node.comments is None:
            raise StructureError("a primitive needs a value or extensions")
        return node

    def primitive_list(self, values, companions, json_kind: str) -> list:
        if type(values) is not list:
            raise StructureError(f"a repeating element must be an array, not {_json_type_name(values)}")
        if companions is not None and type(companions) is not list:
            raise StructureError("the _ companion of a repeating primitive must be an array")
        if companions == []:
            raise StructureError("empty array: leave the element out instead")
        count = max(len(values), len(companions) if companions else 0)
        if count == 0:
            raise StructureError("empty array: leave the element out instead")
        items = []
        for i in range(count):
            value = values[i] if i < len(values) else None
            companion = companions[i] if companions and i < len(companions) else None
            try:
                text = None if value is None else self.primitive(value, json_kind)
                if companion is None:
                    if text is None:
                        raise StructureError("null with no extension: a repeating primitive needs a value or an extension at each position")
                    items.append(text)
                else:
                    items.append(self.with_companion(text, companion))
            except FhirConvError as err:
                raise err.at(f"[{i}]") from None
        return items

    def _companion_alone(self, key: str, companion, field, out: dict) -> None:
        """``_name`` without ``name``: a primitive with extensions but no value."""
        _, kind, sub, is_list, name, _ = field
        if kind not in (PRIMITIVE, XHTML):
            raise StructureError(f"{name} is not a primitive, so {key} is meaningless")
        if is_list:
            out[name] = self.primitive_list([], companion, sub)
        else:
            out[name] = self.with_companion(None, companion)


def _comments(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if type(value) is list and value and all(type(c) is str for c in value):  # [] would not survive XML
        return list(value)
    raise StructureError("fhir_comments must be an array of strings")


def _number_text(value) -> str:
    text = str(value) if isinstance(value, Decimal) else repr(value)
    if text in ("nan", "inf", "-inf", "NaN", "Infinity", "-Infinity"):
        raise StructureError(f"{text} is not a FHIR number")
    return text


def _shown(value) -> str:
    if isinstance(value, (str, bool)) or value is None:
        shown = _stdjson.dumps(value, ensure_ascii=False)
        return f" {shown[:40]}" if len(shown) <= 40 else f" {shown[:37]}..."
    return ""


# -- writing -------------------------------------------------------------------------------

# Tests switch this off to prove the compiled and the reference writer give the same bytes.
use_compiled_writer = True


def serialize_json(tree: dict, defs: Definitions, *, pretty: bool = True) -> bytes:
    """Tree -> FHIR JSON bytes (UTF-8, keys in definition order)."""
    if JsonWriter is not None and use_compiled_writer:
        fields_for, fields_cache = fields_lookup(defs)
        try:
            return JsonWriter(fields_for, Primitive, defs.resource_types, fields_cache, pretty).write(tree)
        except Fallback:
            pass  # something to report: the reference writer walks it again
    form = _JsonFormWriter(defs, raw_numbers=True).resource(tree)
    try:
        return orjson.dumps(form, option=orjson.OPT_INDENT_2 if pretty else 0)
    except orjson.JSONEncodeError as exc:
        raise UnrepresentableError(f"cannot write JSON: {exc}") from None


def tree_to_json_form(tree: dict, defs: Definitions) -> dict:
    """Tree -> JSON-form dict; integers become ``int`` and decimals ``decimal.Decimal``."""
    return _JsonFormWriter(defs, raw_numbers=False).resource(tree)


class _JsonFormWriter:
    __slots__ = ("defs", "plans", "raw_numbers", "depth")

    def __init__(self, defs: Definitions, raw_numbers: bool):
        self.defs = defs
        self.plans = defs.plans
        self.raw_numbers = raw_numbers
        self.depth = 0

    def resource(self, node: dict) -> dict:
        rtype = node.get("resourceType") if type(node) is dict else None
        if rtype not in self.defs.resource_types:
            raise StructureError(f"not a resource of FHIR {self.defs.label}: resourceType {rtype!r}")
        try:
            return self.complex(node, rtype)
        except FhirConvError as err:
            raise err.rooted(rtype) from None
        except RecursionError:  # a caller's tree, deeper than any reader would build
            raise StructureError("tree nested too deeply").rooted(rtype) from None

    def complex(self, node: dict, type_name: str) -> dict:
        fields = self.plans.get(("fields", type_name)) or fields_of(self.defs, type_name)
        out = {}
        # A caller's tree may nest without end; compiled, the recursion would overflow the C stack.
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise StructureError(f"nested more than {_MAX_DEPTH} levels deep")
        for key, value in node.items():
            field = fields.get(key)
            if field is None:
                if key == "resourceType":
                    out[key] = value
                    continue
                raise StructureError(f'"{key}" is not an element of {type_name}').at("." + key)
            kind = field[1]
            try:
                if kind == PRIMITIVE:
                    sub = field[2]
                    if field[3]:
                        self.primitive_list(out, key, value, sub)
                    elif type(value) is str:
                        out[key] = value if sub == "string" else self.value(value, sub)
                    else:
                        if value.value is not None:
                            out[key] = self.value(value.value, sub)
                        out["_" + key] = self.companion(value)
                elif kind == COMPLEX:
                    sub = field[2]
                    out[key] = ([self.complex(item, sub) for item in value] if field[3]
                                else self.complex(value, sub))
                elif kind == RESOURCE:
                    out[key] = ([self.nested(item) for item in value] if field[3] else self.nested(value))
                elif kind == XHTML and type(value) is not str:
                    out[key] = value.value
                    out["_" + key] = self.companion(value)
                else:  # ATTRIBUTE, XHTML, COMMENTS are written as they are
                    out[key] = value
            except FhirConvError as err:
                raise err.at("." + key) from None
            except (AttributeError, TypeError):
                raise StructureError(f"{key}: not a tree node of the expected shape").at("." + key) from None
        self.depth -= 1
        return out

    def nested(self, node: dict) -> dict:
        rtype = node.get("resourceType")
        if rtype not in self.defs.resource_types:
            raise StructureError(f"not a resource: resourceType {rtype!r}")
        return self.complex(node, rtype)

    def value(self, text: str, json_kind: str):
        if json_kind == "string":
            return text
        if json_kind == "number" or json_kind == "integer":
            # A tree built by a caller may hold any text here; as a Fragment it would be written raw.
            if _JSON_NUMBER.fullmatch(text) is None:
                raise StructureError(f"{text[:40]!r} is not a JSON number")
            if self.raw_numbers:
                return orjson.Fragment(text)
            try:
                return int(text) if _INTEGER.fullmatch(text) else Decimal(text)
            except (ValueError, ArithmeticError):  # over int's 4300 digits, or beyond Decimal's exponents
                raise UnrepresentableError(f"the number {text[:40]} is too large for a Python int or Decimal") from None
        if text == "true":
            return True
        if text == "false":
            return False
        raise StructureError(f"a boolean must be true or false, not {text!r}")

    def companion(self, node: Primitive) -> dict:
        out = {}
        if node.comments:
            out["fhir_comments"] = node.comments
        if node.id is not None:
            out["id"] = node.id
        if node.extension:
            out["extension"] = [self.complex(ext, "Extension") for ext in node.extension]
        return out

    def primitive_list(self, out: dict, key: str, items: list, json_kind: str) -> None:
        values = []
        companions = None
        for i, item in enumerate(items):
            if type(item) is str:
                values.append(item if json_kind == "string" else self.value(item, json_kind))
                if companions is not None:
                    companions.append(None)
            else:
                values.append(None if item.value is None else self.value(item.value, json_kind))
                if companions is None:
                    companions = [None] * i
                try:
                    companions.append(self.companion(item))
                except FhirConvError as err:
                    raise err.at(f"[{i}]") from None
        # An array of nulls only says "no values" (R5 json.html#null): leave it out.
        if any(v is not None for v in values):
            out[key] = values
        if companions is not None:
            out["_" + key] = companions


_INTEGER = re.compile(r"-?[0-9]+")      # on a valid JSON number: no fraction, no exponent
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
