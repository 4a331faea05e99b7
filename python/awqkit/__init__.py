"""awqkit: AWQ 4-bit quantization, AWQ/GPTQ repacking, logical parameter
counts and checks of Hugging Face checkpoints, over the C library
libawqkit (ctypes; no torch).

Each function returns a dict with the same fields as the command's
``--json`` output (``awqkit count MODEL --json`` and so on: the library
builds both). A MODEL is a directory, a ``.safetensors`` file, or a
Hugging Face Hub id ``org/name[@revision]`` already in the local cache
(``HF_HUB_CACHE`` / ``HF_HOME`` / ``~/.cache/huggingface/hub``; nothing is
downloaded). Failures raise :class:`AwqError`.

Long calls (quantize, repack, verify) report progress through
``progress``: a callable ``(phase, done, total) -> bool | None`` (return
False to cancel), True / False for a tqdm bar or none; by default a tqdm bar
when tqdm is installed and stderr is a terminal. Ctrl-C cancels cleanly
(nothing half-written is left). Library warnings go to the ``awqkit``
logger.
"""
from __future__ import annotations

import ctypes
import enum
import json
import logging
import os
import re
import sys
from typing import Any, Callable, Dict, Optional, Union

from . import _lib

__all__ = [
    "AwqError",
    "Status",
    "count",
    "inspect",
    "verify",
    "repack",
    "quantize",
    "resolve_model",
    "data_dir",
    "version",
    "built_with_cuda",
    "__version__",
]

PathLike = Union[str, "os.PathLike[str]"]
Progress = Union[None, bool, Callable[[str, int, int], Optional[bool]]]
Result = Dict[str, Any]

_log = logging.getLogger("awqkit")


class Status(enum.IntEnum):
    """awq_status values (pinned in awqkit/core.h)."""

    OK = 0
    INVALID_ARG = 1
    NOMEM = 2
    IO = 3
    FORMAT = 4
    UNSUPPORTED = 5
    NOT_FOUND = 6
    RANGE = 7
    MISMATCH = 8
    EXISTS = 9
    LOSSY = 10
    CUDA = 11
    NO_DEVICE = 12
    CANCELLED = 13
    INTERNAL = 14


class AwqError(Exception):
    """A libawqkit failure: ``awq_status`` (a :class:`Status` when known),
    ``message`` (what went wrong, naming the file / tensor / option) and
    ``status_name`` (the status in words)."""

    def __init__(self, awq_status: int, message: str):
        try:
            status: int = Status(awq_status)
        except ValueError:
            status = awq_status
        self.awq_status = status
        self.status_name = (_lib.awq_strerror(awq_status) or b"").decode()
        self.message = message or self.status_name
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"AwqError({self.awq_status!r}, {self.message!r})"


def version() -> str:
    """The library's version and build features, e.g. "0.1.0 (openblas)"."""
    return _lib.awq_version().decode()


__version__ = version().split()[0]


def built_with_cuda() -> bool:
    return bool(_lib.awq_built_with_cuda())


def data_dir() -> Optional[str]:
    """Directory of the bundled calibration / evaluation text, or None."""
    d = _lib.awq_data_dir()
    return d.decode() if d else None


# ----------------------------------------------------------------- calls

_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.DEBUG}


def _tqdm_progress() -> Optional[Callable[[str, int, int], bool]]:
    try:
        from tqdm import tqdm  # type: ignore
    except ImportError:
        return None
    state: Dict[str, Any] = {"bar": None, "total": None, "done": 0}

    def cb(phase: str, done: int, total: int) -> bool:
        bar = state["bar"]
        # a new job: another total, or the count went back (as the CLI)
        if bar is None or total != state["total"] or done < state["done"]:
            if bar is not None:
                bar.close()
            bar = tqdm(total=total or None, desc=phase, leave=False, dynamic_ncols=True)
            state["bar"], state["total"] = bar, total
        bar.set_description(phase, refresh=False)
        bar.update(done - bar.n)
        state["done"] = done
        if total and done >= total:
            bar.close()
            state["bar"] = None
        return True

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()
            state["bar"] = None

    cb.close = close  # type: ignore[attr-defined]
    return cb


def _pick_progress(progress: Progress) -> Optional[Callable[[str, int, int], Any]]:
    if callable(progress):
        return progress
    if progress is False:
        return None
    if progress is True or (progress is None and sys.stderr is not None and sys.stderr.isatty()):
        return _tqdm_progress()
    return None


class _Call:
    """One library context with Python callbacks for one call. A Python
    exception inside a callback (Ctrl-C included) cancels the job and is
    re-raised once the library has cleaned up."""

    def __init__(self, threads: int, progress: Progress):
        self.user_progress = _pick_progress(progress)
        self.exc: Optional[BaseException] = None
        self._log_cb = _lib.LOG_FN(self._on_log)
        self._progress_cb = _lib.PROGRESS_FN(self._on_progress)
        level = 3 if _log.isEnabledFor(logging.DEBUG) else 2 if _log.isEnabledFor(logging.INFO) else 1
        ctx = ctypes.c_void_p()
        s = _lib.awq_api_ctx_create(int(threads), level, self._log_cb, self._progress_cb, None,
                                    ctypes.byref(ctx))
        if s != 0:
            raise AwqError(s, "cannot create the library context")
        self.ctx = ctx

    def _on_log(self, _user: Any, level: int, msg: bytes) -> None:
        try:
            _log.log(_LEVELS.get(level, logging.DEBUG), "%s", msg.decode("utf-8", "replace"))
        except BaseException as e:  # never unwind through C
            if self.exc is None:
                self.exc = e

    def _on_progress(self, _user: Any, phase: bytes, done: int, total: int) -> bool:
        try:
            if self.user_progress is None:
                return True
            r = self.user_progress(phase.decode("utf-8", "replace"), int(done), int(total))
            return r is None or bool(r)
        except BaseException as e:
            if self.exc is None:
                self.exc = e
            return False

    def run(self, fn: Callable[..., int], *args: Any) -> Result:
        out = ctypes.c_void_p()
        try:
            s = fn(self.ctx, *args, ctypes.byref(out))
            text = _lib.take_bytes(out)
            if self.exc is not None:
                raise self.exc
            if s != 0:
                msg = (_lib.awq_ctx_errmsg(self.ctx) or b"").decode("utf-8", "replace")
                raise AwqError(s, msg)
            assert text is not None
            return json.loads(text.decode("utf-8"))
        finally:
            close = getattr(self.user_progress, "close", None)
            if close:
                close()
            _lib.awq_ctx_free(self.ctx)
            self.ctx = ctypes.c_void_p()


def _path(p: PathLike) -> bytes:
    return os.fsencode(os.fspath(p))


def _options(**kw: Any) -> bytes:
    return json.dumps({k: v for k, v in kw.items() if v is not None}).encode()


_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([KMGT]i?B?|B)?\s*$", re.I)
_UNITS = {"": 1, "B": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "KI": 1024, "MI": 1024**2, "GI": 1024**3, "TI": 1024**4}


def _bytes(v: Union[None, int, str]) -> Optional[int]:
    """A byte size: an int, or "5GB", "500MB", "2GiB" (as the CLI)."""
    if v is None or isinstance(v, int):
        return v
    m = _SIZE.match(str(v))
    if not m:
        raise ValueError(f"max_shard_size: {v!r} is not a size (examples: 5GB, 500MB, 2GiB)")
    unit = (m.group(2) or "").upper().rstrip("B")
    return int(round(float(m.group(1)) * _UNITS[unit]))


def count(model: PathLike, *, threads: int = 0) -> Result:
    """Parameter counts: stored, loaded and logical (``awqkit count --json``)."""
    return _Call(threads, False).run(_lib.awq_api_count, _path(model))


def inspect(model: PathLike, *, threads: int = 0) -> Result:
    """Checkpoint kind, quantization config check, tensors (``awqkit inspect --json``)."""
    return _Call(threads, False).run(_lib.awq_api_inspect, _path(model))


def verify(path: PathLike, *, against: Optional[PathLike] = None,
           max_rel_err: Optional[float] = None, gptq_zeros: Optional[str] = None,
           threads: int = 0, progress: Progress = None) -> Result:
    """Check a packed checkpoint, against its source when given
    (``awqkit verify --json``). A failing checkpoint returns ``ok: False``."""
    opts = _options(against=os.fspath(against) if against is not None else None,
                    max_rel_err=max_rel_err, gptq_zeros=gptq_zeros)
    return _Call(threads, progress).run(_lib.awq_api_verify, _path(path), opts)


def repack(src: PathLike, out: PathLike, *, to: str, allow_lossy: bool = False,
           force: bool = False, max_shard_size: Union[None, int, str] = None,
           gptq_zeros: Optional[str] = None, threads: int = 0,
           progress: Progress = None) -> Result:
    """Convert a packed checkpoint to ``to`` ("awq", "awq-gemv", "gptq",
    "gptq-v2"), losslessly unless ``allow_lossy`` (``awqkit repack --json``)."""
    opts = _options(to=to, allow_lossy=allow_lossy, force=force,
                    max_shard_size=_bytes(max_shard_size), gptq_zeros=gptq_zeros)
    return _Call(threads, progress).run(_lib.awq_api_repack, _path(src), _path(out), opts)


def quantize(model: PathLike, out: PathLike, *, method: Optional[str] = None,
             format: Optional[str] = None, bits: Optional[int] = None,
             group_size: Optional[int] = None, sym: Optional[bool] = None,
             calib: Optional[PathLike] = None, text_field: Optional[str] = None,
             samples: Optional[int] = None, seqlen: Optional[int] = None,
             shuffle: Optional[bool] = None, seed: Optional[int] = None,
             calib_tokens: Optional[PathLike] = None, n_grid: Optional[int] = None,
             duo_scaling: Optional[str] = None, screen: Optional[float] = None,
             race_z: Optional[float] = None, finalists: Optional[int] = None,
             clip: Optional[bool] = None,
             clip_tokens: Optional[int] = None, clip_max_shrink: Optional[float] = None,
             propagate: Optional[str] = None, device: Optional[str] = None,
             max_shard_size: Union[None, int, str] = None, chunk_seqs: Optional[int] = None,
             offload_activations: Optional[bool] = None, force: Optional[bool] = None,
             resume: Optional[bool] = None, allow_lossy: Optional[bool] = None,
             dump_scales: Optional[PathLike] = None, load_scales: Optional[PathLike] = None,
             stop_after_layers: Optional[int] = None, threads: int = 0,
             progress: Progress = None) -> Result:
    """AWQ (or RTN) quantization of an FP16/BF16 checkpoint into ``out``
    (``awqkit quantize --json``). Options are the command's flags (see
    ``awqkit quantize --help``); None keeps the default. Without ``calib``
    the bundled calibration text is used."""
    fs = lambda p: os.fspath(p) if p is not None else None  # noqa: E731
    opts = _options(method=method, format=format, bits=bits, group_size=group_size, sym=sym,
                    calib=fs(calib), text_field=text_field, samples=samples, seqlen=seqlen,
                    shuffle=shuffle, seed=seed, calib_tokens=fs(calib_tokens), n_grid=n_grid,
                    duo_scaling=duo_scaling, screen=screen, race_z=race_z,
                    finalists=finalists,
                    clip=clip, clip_tokens=clip_tokens,
                    clip_max_shrink=clip_max_shrink, propagate=propagate, device=device,
                    max_shard_size=_bytes(max_shard_size), chunk_seqs=chunk_seqs,
                    offload_activations=offload_activations, force=force, resume=resume,
                    allow_lossy=allow_lossy, dump_scales=fs(dump_scales),
                    load_scales=fs(load_scales), stop_after_layers=stop_after_layers)
    return _Call(threads, progress).run(_lib.awq_api_quantize, _path(model), _path(out), opts)


def resolve_model(model: PathLike) -> str:
    """The directory a MODEL argument names: a path as given, or a Hub id's
    snapshot in the local Hugging Face cache (AwqError NOT_FOUND, saying how
    to download it, when absent)."""
    call = _Call(1, False)
    out = ctypes.c_void_p()
    try:
        s = _lib.awq_hub_resolve(call.ctx, _path(model), ctypes.byref(out))
        path = _lib.take_bytes(out)
        if s != 0:
            raise AwqError(s, (_lib.awq_ctx_errmsg(call.ctx) or b"").decode("utf-8", "replace"))
        assert path is not None
        return os.fsdecode(path)
    finally:
        _lib.awq_ctx_free(call.ctx)
