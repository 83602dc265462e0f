"""Which codecs are under test: the compiled core or the pure-Python modules.

fhirconv works either way; CI sets FHIRCONV_EXPECT=compiled for the main run (so a build that
silently fell back to pure Python cannot pass as the fast one) and FHIRCONV_EXPECT=pure for a
second run of the corpus tests against the plain source tree.
"""

import importlib
import os

import pytest

from fhirconv.formats import json as json_codec
from fhirconv.formats import xml as xml_codec

migration_engine = importlib.import_module("fhirconv.migrate.engine")   # (fhirconv.migrate.migrate is a function)

EXPECT = os.environ.get("FHIRCONV_EXPECT")


def _compiled() -> bool:
    return (xml_codec.FastReader is not None and not json_codec.__file__.endswith(".py")
            and not migration_engine.__file__.endswith(".py"))


@pytest.mark.skipif(EXPECT is None, reason="FHIRCONV_EXPECT not set: either build is acceptable here")
def test_the_expected_build_is_under_test():
    assert EXPECT in ("compiled", "pure")
    assert _compiled() == (EXPECT == "compiled"), f"expected the {EXPECT} codecs, got {json_codec.__file__}"
