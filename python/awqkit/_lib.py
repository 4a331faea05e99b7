"""Loading libawqkit.so and declaring the C functions used (ctypes).

The library is looked up in this order: $AWQKIT_LIBRARY, the copy inside
the package (awqkit/_native/lib*/, put there by `pip install .`), then the
system's (ctypes.util.find_library, e.g. a `cmake --install` prefix on the
loader path).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
from ctypes import POINTER, c_bool, c_char_p, c_int, c_uint64, c_void_p
from typing import Optional

LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)
PROGRESS_FN = ctypes.CFUNCTYPE(c_bool, c_void_p, c_char_p, c_uint64, c_uint64)

_HERE = os.path.dirname(os.path.abspath(__file__))
NATIVE = os.path.join(_HERE, "_native")


def _candidates() -> list[str]:
    env = os.environ.get("AWQKIT_LIBRARY")
    if env:
        return [env]
    found = sorted(glob.glob(os.path.join(NATIVE, "lib*", "libawqkit.so*")), key=len)
    sys_lib = ctypes.util.find_library("awqkit")
    if sys_lib:
        found.append(sys_lib)
    return found


def _load() -> ctypes.CDLL:
    errors = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError(
        "awqkit: cannot load libawqkit.so ("
        + ("; ".join(errors) if errors else "not in the package and not on the loader path")
        + "); reinstall with `pip install .` from the awqkit source tree, or set AWQKIT_LIBRARY"
    )


lib = _load()


def _fn(name: str, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


awq_version = _fn("awq_version", c_char_p)
awq_strerror = _fn("awq_strerror", c_char_p, c_int)
awq_built_with_cuda = _fn("awq_built_with_cuda", c_bool)
awq_ctx_errmsg = _fn("awq_ctx_errmsg", c_char_p, c_void_p)
awq_ctx_free = _fn("awq_ctx_free", None, c_void_p)
awq_api_ctx_create = _fn(
    "awq_api_ctx_create", c_int, c_int, c_int, LOG_FN, PROGRESS_FN, c_void_p, POINTER(c_void_p)
)
awq_api_free = _fn("awq_api_free", None, c_void_p)
# Results come back as char ** filled with malloc'd text: declared as
# c_void_p so ctypes leaves the pointer for awq_api_free.
awq_api_count = _fn("awq_api_count", c_int, c_void_p, c_char_p, POINTER(c_void_p))
awq_api_inspect = _fn("awq_api_inspect", c_int, c_void_p, c_char_p, POINTER(c_void_p))
awq_api_verify = _fn("awq_api_verify", c_int, c_void_p, c_char_p, c_char_p, POINTER(c_void_p))
awq_api_repack = _fn(
    "awq_api_repack", c_int, c_void_p, c_char_p, c_char_p, c_char_p, POINTER(c_void_p)
)
awq_api_quantize = _fn(
    "awq_api_quantize", c_int, c_void_p, c_char_p, c_char_p, c_char_p, POINTER(c_void_p)
)
awq_hub_resolve = _fn("awq_hub_resolve", c_int, c_void_p, c_char_p, POINTER(c_void_p))
awq_data_dir = _fn("awq_data_dir", c_char_p)


def take_bytes(p: c_void_p) -> Optional[bytes]:
    """Copy a malloc'd C string returned by the API and free it."""
    if not p.value:
        return None
    try:
        return ctypes.string_at(p.value)
    finally:
        awq_api_free(p)
