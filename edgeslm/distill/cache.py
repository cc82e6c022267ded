"""Offline teacher logits: run the teacher once, train students from disk with no teacher in memory.

A cache folder holds, per split ("train", "validation"), one .npy array per
entry of ``ARRAYS`` (memory-mapped on read) and ``cache.json``, which records
what it was built from and a sha256 per file. Per position it keeps the
teacher's top-k log-probabilities and the log of the mass outside them:
k * 4 + 2 bytes instead of V * 4 (k=64, V=8192: 258 B instead of 32 KiB).

The folder is written beside its final name and renamed when complete, so a
killed build leaves no cache; a cache that fails its checks raises CacheError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgeslm.distill.losses import log1m_exp
from edgeslm.errors import CacheError, UsageError
from edgeslm.manifest import file_sha256
from edgeslm.outputs import atomic_path

FORMAT_VERSION = 1
HEADER = "cache.json"
SPLITS = ("train", "validation")

# name -> (shape, what it holds). Token ids are uint16 when the vocabulary fits, else int32.
ARRAYS = {
    "tokens": ("(M, T+1)", "the token windows the student trains on"),
    "topk_idx": ("(M, T, k)", "teacher's top-k next-token ids, most probable first"),
    "topk_logp": ("(M, T, k)", "their log-probabilities at the cache temperature, float16"),
    "rest_logp": ("(M, T)", "log of the probability mass outside the top-k, float16"),
}

# What must agree between a cache and the run that reads it; anything else may differ.
IDENTITY = ("teacher_sha256", "vocab_size", "seq_len", "top_k", "temperature", "data_sha256")


@torch.no_grad()
def teacher_topk(teacher, windows: np.ndarray, k: int, temperature: float, batch_size: int = 8,
                 progress: Callable[[int], None] = lambda _: None) -> dict[str, np.ndarray]:
    """The cache arrays for ``windows`` (M, T+1) under ``teacher``."""
    teacher.eval()
    m, t1 = windows.shape
    idx_dtype = np.uint16 if teacher.config.vocab_size <= 65536 else np.int32
    out = {"tokens": windows.astype(idx_dtype), "topk_idx": np.empty((m, t1 - 1, k), idx_dtype),
           "topk_logp": np.empty((m, t1 - 1, k), np.float16), "rest_logp": np.empty((m, t1 - 1), np.float16)}
    for i in range(0, m, batch_size):
        x = torch.from_numpy(windows[i : i + batch_size, :-1].astype(np.int64))
        logp = torch.log_softmax(teacher(x).logits.float() / temperature, -1)  # (b, T, V)
        top, idx = logp.topk(k, dim=-1)  # (b, T, k), sorted descending
        rest = log1m_exp(torch.logsumexp(top, -1))  # log(1 - top-k mass)
        out["topk_idx"][i : i + len(x)] = idx.numpy().astype(idx_dtype)
        out["topk_logp"][i : i + len(x)] = top.numpy().astype(np.float16)
        out["rest_logp"][i : i + len(x)] = rest.numpy().astype(np.float16)
        progress(min(i + batch_size, m))
    return out


def build_cache(folder: Path, teacher, windows: dict[str, np.ndarray], identity: dict,
                progress: Callable[[str], None] = print) -> None:
    """Run ``teacher`` over ``windows`` (split -> (M, T+1)) and write the cache to ``folder``."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder, folder=True) as tmp:
        _write_cache(tmp, teacher, windows, identity, progress)


def _write_cache(tmp: Path, teacher, windows: dict[str, np.ndarray], identity: dict, progress) -> None:
    files = {}
    for split, w in windows.items():
        progress(f"teacher cache: {split}, {len(w)} windows of {w.shape[1] - 1} tokens, top-{identity['top_k']}")
        arrays = teacher_topk(teacher, w, identity["top_k"], identity["temperature"])
        for name, a in arrays.items():
            f = tmp / f"{split}.{name}.npy"
            np.save(f, a, allow_pickle=False)
            files[f.name] = {"sha256": file_sha256(f), "shape": list(a.shape), "dtype": a.dtype.str}
    (tmp / HEADER).write_text(json.dumps({"format_version": FORMAT_VERSION, **identity, "files": files,
                                          "arrays": {k: list(v) for k, v in ARRAYS.items()}}, indent=1))


@dataclass(frozen=True)
class TeacherCache:
    folder: Path
    header: dict
    splits: dict  # split -> {name: memory-mapped (M, ...) array}

    @property
    def top_k(self) -> int:
        return self.header["top_k"]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for s in self.splits.values() for a in s.values())


def open_cache(folder: Path, identity: dict | None = None, verify: bool = True) -> TeacherCache:
    """Memory-map a cache. Raises CacheError if it is incomplete or corrupt (``verify`` checks every
    file's sha256) and UsageError if it was built for another teacher, data or settings."""
    fix = f"delete {folder} and run again to rebuild it"
    hdr_path = folder / HEADER
    if not hdr_path.is_file():
        raise CacheError(f"{folder} is not a teacher cache: it has no {HEADER}.", hint=f"point --cache-teacher at a new folder, or {fix}")
    try:
        header = json.loads(hdr_path.read_text())
        files = header["files"]
        _ = [header[k] for k in IDENTITY]
    except (ValueError, KeyError, TypeError) as e:
        raise CacheError(f"{hdr_path} is unreadable or incomplete ({e}).", hint=fix) from e
    if header.get("format_version") != FORMAT_VERSION:
        raise CacheError(f"{folder} has cache format {header.get('format_version')}; this edgeslm reads {FORMAT_VERSION}.", hint=fix)
    if identity is not None:
        diff = {k: (header[k], identity[k]) for k in IDENTITY if header[k] != identity[k]}
        if diff:
            what = ", ".join(f"{k}: {a} in the cache, {b} now" for k, (a, b) in diff.items())
            raise UsageError(f"the teacher cache {folder} was built for something else ({what}).",
                             hint=f"use another --cache-teacher folder, or {fix}")
    splits: dict = {}
    for split in SPLITS:
        for name in ARRAYS:
            fname = f"{split}.{name}.npy"
            f, want = folder / fname, files.get(fname)
            if want is None or not f.is_file():
                raise CacheError(f"{folder} is missing {fname}.", hint=fix)
            if verify and file_sha256(f) != want["sha256"]:
                raise CacheError(f"{f} does not match its checksum in {HEADER}: the cache is corrupt.", hint=fix)
            try:
                a = np.load(f, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as e:
                raise CacheError(f"{f} cannot be read ({e}).", hint=fix) from e
            if list(a.shape) != want["shape"] or a.dtype.str != want["dtype"]:
                raise CacheError(f"{f} holds {a.dtype.str} {list(a.shape)}, not the {want['dtype']} {want['shape']} "
                                 f"{HEADER} records.", hint=fix)
            splits.setdefault(split, {})[name] = a
    return TeacherCache(folder, header, splits)
