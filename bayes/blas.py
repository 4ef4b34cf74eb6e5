"""Point PyTensor at the OpenBLAS that SciPy's wheel already ships.

Why: installed with pip, PyTensor finds no BLAS (it looks for ``libblas.so``/MKL in system
folders), warns "could not link to a BLAS installation" and compiles its matrix products to a
slow fallback. SciPy's manylinux wheel bundles OpenBLAS (``scipy.libs/libscipy_openblas*.so``)
but renames every symbol with a ``scipy_`` prefix (``scipy_dgemm_``), so pointing
``blas__ldflags`` at it is not enough: we also map each Fortran BLAS name PyTensor's C code
calls to the prefixed one with ``-D`` preprocessor flags (PyTensor passes non ``-l``/``-L``
flags of ``blas__ldflags`` to the compiler). Nothing is downloaded and nothing is changed when
the user configured a BLAS themselves (``PYTENSOR_FLAGS`` or ``.pytensorrc``), when
``BAYES_BLAS=off``, or when the library is not there (other platforms, conda installs).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

#: the Fortran BLAS routines PyTensor's C code declares (pytensor/tensor/blas_headers.py)
ROUTINES = tuple(
    f"{t}{name}_"
    for t in "sd"
    for name in ("gemm", "gemv", "ger", "dot", "copy", "axpy", "scal", "swap", "symm", "syrk")
)


def scipy_openblas() -> Path | None:
    """The OpenBLAS shared library bundled in SciPy's wheel, if this install has one."""
    try:
        import scipy
    except ImportError:  # pragma: no cover - scipy is a dependency
        return None
    libs = Path(scipy.__file__).resolve().parent.parent / "scipy.libs"
    found = sorted(libs.glob("libscipy_openblas*.so")) if libs.is_dir() else []
    return found[0] if found else None


def _prefixed_symbols(lib: Path) -> set[str]:
    """The routines (without prefix) that ``lib`` exports as ``scipy_<name>``."""
    try:
        out = subprocess.run(
            ["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True, timeout=20
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set(ROUTINES)  # no binutils: the wheel is known to export all of them
    return {m for m in re.findall(r"\bscipy_(\w+_)\b", out)}


def ldflags_for(lib: Path) -> str:
    """``blas__ldflags`` that link ``lib`` and rename the routines to its prefixed symbols."""
    exported = _prefixed_symbols(lib)
    defines = [f"-D{r}=scipy_{r}" for r in ROUTINES if r in exported]
    link = [f"-L{lib.parent}", f"-l{lib.stem.removeprefix('lib')}", f"-Wl,-rpath,{lib.parent}"]
    return " ".join([*link, *defines])


def _user_configured() -> bool:
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    rc = Path(os.environ.get("PYTENSORRC", Path.home() / ".pytensorrc"))
    return "blas__ldflags" in flags or (rc.is_file() and "ldflags" in rc.read_text())


def configure() -> str:
    """Set PyTensor's ``blas__ldflags`` to SciPy's OpenBLAS unless told otherwise.

    Call before any PyTensor function is compiled. Returns what was done (for the benchmark).
    """
    if os.environ.get("BAYES_BLAS", "auto").lower() in ("off", "0", "no", "false"):
        return "off (BAYES_BLAS=off)"
    if _user_configured():
        return "user's PyTensor setting"
    lib = scipy_openblas()
    if lib is None:
        return "none found (PyTensor's own search)"
    import pytensor

    pytensor.config.blas__ldflags = ldflags_for(lib)
    return f"scipy's OpenBLAS ({lib.name})"
