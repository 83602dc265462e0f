"""Builds the optional compiled core. Metadata lives in pyproject.toml.

The codecs and the migration engine are plain Python and work as they are; when a C compiler
is available, Cython compiles them (same source, roughly 1.4x faster for the codecs, 1.7x for
the engine) and builds ``_fastxml``, which reads libxml2's nodes through lxml's C API (several
times faster XML reading), ``_fastjson``, the JSON codec's typed walks (tree -> JSON bytes,
orjson's values -> tree), and ``_jsonbytes``, the reader that parses JSON bytes straight into the
tree. If anything here fails, the install still succeeds with the pure-Python codecs.
"""

import os

from setuptools import setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """A failed compile must never fail the install: the pure-Python modules are complete."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure means "no compiled core"
            print(f"fhirconv: compiled core not built ({exc}); using the pure-Python codecs")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            print(f"fhirconv: {ext.name} not built ({exc}); using the pure-Python code")


def extensions():
    if os.environ.get("FHIRCONV_PURE_PYTHON"):
        return []
    try:
        import lxml
        from Cython.Build import cythonize
    except ImportError:
        return []
    directives = {"language_level": 3}
    compiled_python = cythonize(
        ["fhirconv/formats/json.py", "fhirconv/formats/xml.py", "fhirconv/formats/_plans.py"],
        compiler_directives=directives, quiet=True)
    # The migration engine, the checks its repairs run and the tree helpers, compiled as they are. The
    # engine's .pxd files type its hot classes for the compiled build only. No
    # annotation typing: an annotation such as ``src: dict`` must stay a comment, as in the
    # pure-Python modules, not become a type check that refuses a dict subclass.
    compiled_migration = cythonize(
        ["fhirconv/migrate/engine.py", "fhirconv/migrate/operations.py", "fhirconv/migrate/repairs.py",
         "fhirconv/migrate/report.py", "fhirconv/migrate/xver.py", "fhirconv/validation.py", "fhirconv/tree.py"],
        compiler_directives={**directives, "annotation_typing": False}, quiet=True)
    fast_xml = cythonize(
        ["fhirconv/formats/_fastxml.pyx", "fhirconv/formats/_fastjson.pyx", "fhirconv/formats/_jsonbytes.pyx"], compiler_directives=directives,
        quiet=True,
        include_path=lxml.get_include())
    for ext in fast_xml:
        ext.include_dirs.extend(lxml.get_include())
    return compiled_python + compiled_migration + fast_xml


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
