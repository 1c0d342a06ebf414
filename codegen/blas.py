"""Find the BLAS that NumPy already ships and make its GEMM callable from JIT code.

NumPy 2.x wheels bundle OpenBLAS as `numpy.libs/libscipy_openblas64_-*.so` (`numpy/.dylibs`
on macOS): ILP64, every symbol prefixed `scipy_` and suffixed `64_`. We look for that file
next to the numpy package, then among the libraries the process has already mapped, and
accept it only if it exports both `scipy_cblas_sgemm64_` and `scipy_cblas_dgemm64_`. A NumPy
built against MKL, Accelerate or a system BLAS has no such library; then `find_blas()` is
`None` and codegen uses its builtin kernel instead.

Invariants:
- The library is searched for and loaded at most once per process (`find_blas` caches,
  under a lock); loading it with `ctypes.CDLL` maps the very same copy NumPy uses, so thread
  settings are shared with `np.matmul`.
- Its GEMM addresses are handed to LLVM with `llvm.add_symbol` exactly once per process,
  before `find_blas()` returns them, so any module (or cached object code) that references
  the symbol names links against them. Its LAPACK addresses are registered once, by
  `ensure_lapack(code)` (which `runtime.ensure` calls before any code is linked), when
  code may call one.
- `TRACEJIT_BLAS=0` is read on every `use_blas()` call, never cached: it selects the builtin
  kernel for code generated from then on and makes `blas_info()` say `"builtin"`.
"""
from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass

import llvmlite.binding as llvm

from ..ir import settings
from ..ir.caches import on_clear

# Symbol names by dtype, as exported by NumPy's bundled OpenBLAS (ILP64 interface).
GEMM_SYMBOLS: dict[str, str] = {"f32": "scipy_cblas_sgemm64_", "f64": "scipy_cblas_dgemm64_"}
# The LAPACK routines (and BLAS `trsm`) `codegen.lower_lapack` calls, in the Fortran ILP64
# interface: `scipy_<s|d><routine>_64_`. Whichever of them the library exports are
# registered with LLVM before the first code that may call one links (`ensure_lapack`).
LAPACK_ROUTINES = ("potrf", "trsm", "gesv", "getrf", "getrs", "syevd", "geqrf", "orgqr", "gesdd")
_CONFIG_SYMBOL = "scipy_openblas_get_config64_"
# The bundled library's file name: this prefix, then one of these (`.so` may carry a version).
_LIB_PREFIX = "libscipy_openblas"
_LIB_SUFFIXES = (".so", ".dylib", ".dll")


@dataclass(frozen=True)
class BlasLibrary:
    """A loaded BLAS whose GEMM symbols are registered with LLVM."""

    path: str
    version: str          # e.g. "OpenBLAS 0.3.31.188.0", or "" if the library cannot say
    handle: ctypes.CDLL   # kept alive for the lifetime of the process

    def describe(self) -> str:
        """One line for cache keys and logs: `scipy_openblas64 <version> at <path>`."""
        return f"scipy_openblas64 {self.version or 'unknown-version'} at {self.path}"


_lock = threading.Lock()
_searched = False
_found: BlasLibrary | None = None


def use_blas() -> bool:
    """True if generated code should call BLAS: the library exists and is not disabled.

    >>> use_blas() in (True, False)
    True
    """
    if not settings.switch("TRACEJIT_BLAS"):
        return False
    return find_blas() is not None


def blas_info() -> str:
    """Which GEMM new code will call; part of every compiled-object cache key.

    `"scipy_openblas64 OpenBLAS 0.3.x at /path/libscipy_openblas64_-....so"` or `"builtin"`.
    Calling it also registers the BLAS and LAPACK symbols with LLVM (LAPACK is called even
    when `TRACEJIT_BLAS=0` selects the builtin GEMM), so object code loaded from a disk
    cache under this key links.
    """
    lib = find_blas()
    return lib.describe() if lib is not None and use_blas() else "builtin"


def find_blas() -> BlasLibrary | None:
    """Load NumPy's bundled OpenBLAS once per process and register its GEMM symbols."""
    global _searched, _found
    with _lock:
        if not _searched:
            _searched = True
            # Libraries already mapped into the process (reading /proc/self/maps costs
            # about 1 ms) are looked for only when none of the bundled paths loads.
            _found = (_load_first(_candidate_paths(mapped=False))
                      or _load_first(_candidate_paths()))
        return _found


def _forget_search() -> None:
    """Search again at the next `find_blas()` (a loaded library stays loaded)."""
    global _searched, _found
    with _lock:
        _searched, _found = False, None


on_clear("BLAS library search", _forget_search)


def _candidate_paths(mapped: bool = True) -> list[str]:
    """Bundled-library paths next to the numpy package, then (if `mapped`) any already
    mapped ones, without repeats. (The bundled ones alone, each a file of one listing of
    its own folder, cannot repeat: they are not resolved through links, which took
    0.1 ms of a warm first call.)"""
    paths: list[str] = []
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is a hard dependency
        return paths
    pkg = os.path.dirname(os.path.abspath(numpy.__file__))
    for folder in (os.path.join(os.path.dirname(pkg), "numpy.libs"), os.path.join(pkg, ".dylibs")):
        paths.extend(_bundled_in(folder))
    if not mapped:
        return paths
    paths.extend(_mapped_openblas_paths())
    unique: list[str] = []
    for p in paths:
        real = os.path.realpath(p)
        if real not in unique:
            unique.append(real)
    return unique


def _bundled_in(folder: str) -> list[str]:
    """The paths of bundled OpenBLAS files in `folder`, sorted by suffix kind then name
    (as `glob` of `libscipy_openblas*.so*`, `*.dylib`, `*.dll` in turn; one listing of
    the folder instead of three globs, 0.3 ms of a warm first call)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for suffix in _LIB_SUFFIXES:
        for name in sorted(names):
            if name.startswith(_LIB_PREFIX) and (
                    suffix in name[len(_LIB_PREFIX):] if suffix == ".so"
                    else name.endswith(suffix)):
                found.append(os.path.join(folder, name))
    return found


def _mapped_openblas_paths() -> list[str]:
    """OpenBLAS libraries already loaded into this process (Linux `/proc/self/maps`)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    found: list[str] = []
    for line in lines:
        fields = line.split(maxsplit=5)
        path = fields[5] if len(fields) == 6 else ""
        if "scipy_openblas" in os.path.basename(path) and path not in found:
            found.append(path)
    return found


def _load_first(paths: list[str]) -> BlasLibrary | None:
    for path in paths:
        try:
            handle = ctypes.CDLL(path)
        except OSError:
            continue
        try:
            addresses = {name: ctypes.cast(getattr(handle, name), ctypes.c_void_p).value
                         for name in GEMM_SYMBOLS.values()}
        except AttributeError:  # an OpenBLAS without the ILP64 `scipy_` interface
            continue
        if not all(addresses.values()):
            continue
        for name, address in addresses.items():
            llvm.add_symbol(name, address)
        return BlasLibrary(path=path, version=_version(handle), handle=handle)
    return None


_lapack_registered: set[str] = set()    # libraries whose LAPACK symbols LLVM knows


def ensure_lapack(code: str | bytes) -> None:
    """Register the LAPACK symbols with LLVM if `code` (LLVM IR text or object code about
    to be linked) may call one: each `scipy_<s|d><routine>_64_` name contains `_64_`, no
    GEMM name does. Looking up and registering the 18 symbols cost 0.2 ms of a warm first
    call that never calls LAPACK."""
    if b"_64_" not in code if isinstance(code, bytes) else "_64_" not in code:
        return
    lib = find_blas()
    if lib is None:
        return
    with _lock:
        if lib.path in _lapack_registered:
            return
        for name in lapack_symbols():
            address = _address(lib.handle, name)
            if address:
                llvm.add_symbol(name, address)
        _lapack_registered.add(lib.path)


def lapack_symbol(routine: str, dtype: str) -> str:
    """The exported name of LAPACK `routine` for dtype "f32"/"f64": `scipy_dpotrf_64_`."""
    return f"scipy_{'s' if dtype == 'f32' else 'd'}{routine}_64_"


def lapack_symbols() -> list[str]:
    return [lapack_symbol(r, d) for r in LAPACK_ROUTINES for d in ("f32", "f64")]


def _address(handle: ctypes.CDLL, name: str) -> int | None:
    try:
        return ctypes.cast(getattr(handle, name), ctypes.c_void_p).value
    except AttributeError:
        return None


def _version(handle: ctypes.CDLL) -> str:
    """`"OpenBLAS 0.3.31.188.0"` from the library's config string, without the core name.

    The config string also names the kernel chosen at run time (it changes with
    `OPENBLAS_CORETYPE`); that does not change our object code, so it stays out of the key.
    """
    try:
        get_config = getattr(handle, _CONFIG_SYMBOL)
    except AttributeError:
        return ""
    get_config.restype = ctypes.c_char_p
    get_config.argtypes = []
    words = (get_config() or b"").decode("ascii", "replace").split()
    return " ".join(words[:2])
