"""Builds the Cython extensions in dld/_fast; everything else is declared in pyproject.toml.

The sink links the official BLAKE3 C implementation (dld/_fast/vendor/blake3, from the blake3-py 1.0.11 sdist,
BLAKE3 1.3.3, CC0/Apache-2.0). On x86-64 Unix its SSE2/SSE4.1/AVX2/AVX-512 kernels are the upstream assembly
files, chosen at run time by CPU; on aarch64 the NEON intrinsics; elsewhere the portable C code. See
dld/_fast/vendor/blake3/README.md for what was taken and the one function added.
"""

import platform
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

B3 = "dld/_fast/vendor/blake3/"
machine = platform.machine().lower()
b3_sources = [B3 + "blake3.c", B3 + "blake3_dispatch.c", B3 + "blake3_portable.c"]
b3_macros: list[tuple[str, str | None]] = []
if machine in ("x86_64", "amd64") and sys.maxsize > 2**32 and sys.platform != "win32":
    b3_sources += [B3 + f"blake3_{k}_x86-64_unix.S" for k in ("sse2", "sse41", "avx2", "avx512")]
elif machine in ("aarch64", "arm64"):
    b3_sources += [B3 + "blake3_neon.c"]
    b3_macros += [("BLAKE3_USE_NEON", "1")]
else:
    b3_macros += [(f"BLAKE3_NO_{k}", None) for k in ("SSE2", "SSE41", "AVX2", "AVX512")]


class BuildExt(build_ext):
    """Lets the C compiler take the upstream ``.S`` files (gcc/clang assemble them; setuptools lists only C)."""

    def build_extensions(self) -> None:
        if ".S" not in self.compiler.src_extensions:
            self.compiler.src_extensions.append(".S")
        super().build_extensions()


extensions = [
    Extension("dld._fast.expand", ["dld/_fast/expand.pyx"], extra_compile_args=["-O3"]),
    Extension("dld._fast.sink", ["dld/_fast/sink.pyx", "dld/_fast/csrc/offload.c", "dld/_fast/csrc/crc32c.c",
                                         "dld/_fast/csrc/b3stream.c", *b3_sources],
              define_macros=b3_macros, extra_compile_args=["-O3"], extra_link_args=["-pthread"]),
]

setup(ext_modules=cythonize(extensions, language_level=3, compiler_directives={"boundscheck": False, "wraparound": False}),
      cmdclass={"build_ext": BuildExt})
