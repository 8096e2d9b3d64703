"""Builds the Cython extension in dld/_fast; everything else is declared in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension("dld._fast.expand", ["dld/_fast/expand.pyx"], extra_compile_args=["-O3"]),
    Extension("dld._fast.sink", ["dld/_fast/sink.pyx"], extra_compile_args=["-O3"]),
]

setup(ext_modules=cythonize(extensions, language_level=3, compiler_directives={"boundscheck": False, "wraparound": False}))
