"""Knowledge distillation: train a student on the teacher's soft targets.

    loss = kd_weight * KD(student, teacher) + (1 - kd_weight) * CE(student, data)
           [+ hidden_weight * hidden-state matching, for pruned students]

It runs on edgeslm's training loop (edgeslm.train.loop): AdamW with warm-up and
cosine decay, gradient accumulation, clipping, bf16 autocast, atomic
checkpoints, exact resume and torchrun data parallelism. The teacher is either
online (same process, eval mode, no gradients) or a top-k cache on disk
(edgeslm.distill.cache), in which case it is never loaded during training.
Online and cached runs see the same windows in the same order.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from edgeslm.data import TextSet
from edgeslm.distill.cache import TeacherCache, build_cache, open_cache
from edgeslm.distill.generate import GenerateConfig, generate_stream, text_prompts
from edgeslm.distill.hidden import HiddenMatch, hidden_loss
from edgeslm.distill.losses import KDConfig, coarse_student, coarse_teacher, kd_loss, kd_loss_topk
from edgeslm.outputs import atomic_path, check_output, stage_output, start_run_folder
from edgeslm.errors import DataError, TokenizerError, UsageError
from edgeslm.models.loader import CheckpointDir, load_model, open_checkpoint
from edgeslm.models.provenance import DISTILL_RECORD
from edgeslm.prune.record import PrunedCheckpoint
from edgeslm.train.batches import Batch, WindowSet, eval_windows, window_starts
from edgeslm.train.dist import Dist
from edgeslm.train.loop import StepInfo, TokenEval, TrainConfig, TrainResult, train

RECORD = DISTILL_RECORD
LOSS_PNG = "loss.png"
HOLDOUT = 0.05  # share of --data held out for evaluation when no --eval-data is given


@dataclass(frozen=True)
class DistilledCheckpoint:
    """What `edgeslm distill` returns: the student it wrote, distill.json's record, and the training curves."""

    checkpoint: CheckpointDir
    record: dict  # distill.json: teacher and student hashes, recipe, data, result
    curves: TrainResult  # loss per step and held-out KL, ppl, top-1 per evaluation


@dataclass(frozen=True)
class DistillConfig:
    kd: KDConfig = KDConfig()
    kd_weight: float = 1.0  # 1: pure distillation; 0: plain cross-entropy training
    hidden: HiddenMatch | None = None
    top_k: int = 64  # teacher cache only

    def __post_init__(self) -> None:
        if not 0 <= self.kd_weight <= 1:
            raise UsageError(f"--kd-weight must be in [0, 1], not {self.kd_weight}")
        if self.top_k < 1:
            raise UsageError(f"--top-k must be at least 1, not {self.top_k}")


# --- losses ----------------------------------------------------------------------


def make_loss(teacher, cfg: DistillConfig) -> Callable:
    """loss_fn(student, batch) with the teacher online; batch["tokens"] is (B, T+1)."""
    hm = cfg.hidden if cfg.hidden is not None and cfg.hidden.weight > 0 else None

    def loss_fn(student, batch: Batch):
        tokens = batch["tokens"]
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        out = student(inputs, output_hidden_states=hm is not None)
        s = out.logits.flatten(0, 1)  # (B*T, V)
        loss = (1 - cfg.kd_weight) * F.cross_entropy(s.float(), targets.flatten()) if cfg.kd_weight < 1 else 0.0
        if cfg.kd_weight > 0 or hm is not None:
            with torch.no_grad():
                t_out = teacher(inputs, output_hidden_states=hm is not None)
            if cfg.kd_weight > 0:
                loss = loss + cfg.kd_weight * kd_loss(s, t_out.logits.flatten(0, 1), cfg.kd)
            if hm is not None:
                loss = loss + hm.weight * hidden_loss(out.hidden_states, t_out.hidden_states, hm)
        return loss

    return loss_fn


def make_cached_loss(cfg: DistillConfig) -> Callable:
    """loss_fn(student, batch) against a teacher cache: batch adds topk_idx/topk_logp (B, T, k), rest_logp (B, T)."""

    def loss_fn(student, batch: Batch):
        tokens = batch["tokens"]
        s = student(tokens[:, :-1]).logits.flatten(0, 1)  # (B*T, V)
        loss = (1 - cfg.kd_weight) * F.cross_entropy(s.float(), tokens[:, 1:].flatten()) if cfg.kd_weight < 1 else 0.0
        if cfg.kd_weight > 0:
            loss = loss + cfg.kd_weight * kd_loss_topk(
                s, batch["topk_idx"].flatten(0, 1), batch["topk_logp"].flatten(0, 1), batch["rest_logp"].flatten(), cfg.kd)
        return loss

    return loss_fn


# --- evaluation --------------------------------------------------------------------


@dataclass(frozen=True)
class DistillEval(TokenEval):
    """TokenEval's sums plus KL(teacher || student) at temperature 1 ("kl") and top-1 agreement
    with the teacher ("top1")."""

    teacher: torch.nn.Module | None = None

    def more(self, rows: slice, x: torch.Tensor, ls: torch.Tensor, out: dict) -> None:
        kl, t_top1 = self.against_teacher(rows, x, ls)
        out["kl"] = out.get("kl", 0.0) + float(kl.sum())
        out["top1"] = out.get("top1", 0.0) + float((ls.argmax(-1) == t_top1).sum())

    def against_teacher(self, rows: slice, x: torch.Tensor, ls: torch.Tensor):
        """Per-position KL(teacher || student) (b, T) and the teacher's top-1 token (b, T)."""
        lt = torch.log_softmax(self.teacher(x).logits.float(), -1)  # (b, T, V)
        return (lt.exp() * (lt - ls)).sum(-1), lt.argmax(-1)


@dataclass(frozen=True)
class CachedEval(DistillEval):
    """DistillEval against the cache's validation split: KL over top-k + rest bins (a lower bound)."""

    cache: dict | None = None  # the cache's validation arrays
    temperature: float = 1.0  # the cache's: its log-probs are at this temperature

    def against_teacher(self, rows: slice, x: torch.Tensor, ls: torch.Tensor):
        c = self.cache
        idx = torch.from_numpy(c["topk_idx"][rows].astype(np.int64)).to(ls.device)  # (b, T, k)
        # np.array copies out of the read-only memory map
        lt = coarse_teacher(torch.from_numpy(np.array(c["topk_logp"][rows])),
                            torch.from_numpy(np.array(c["rest_logp"][rows]))).to(ls.device)
        # log_softmax(ls / T) == log_softmax(logits / T): compare at the cache's temperature
        lsc = coarse_student(ls.flatten(0, 1), idx.flatten(0, 1), self.temperature).view_as(lt)
        return (lt.exp() * (lt - lsc)).sum(-1), idx[..., 0]


# --- checks and data ------------------------------------------------------------------


def check_pair(teacher: CheckpointDir, student: CheckpointDir) -> list[str]:
    """Refuse a student whose tokenizer differs from the teacher's; warn when it is not smaller."""
    t_vocab = json.loads(teacher.tokenizer_file.read_text(encoding="utf-8"))["model"].get("vocab")
    s_vocab = json.loads(student.tokenizer_file.read_text(encoding="utf-8"))["model"].get("vocab")
    if t_vocab != s_vocab or teacher.spec.vocab_size != student.spec.vocab_size:
        raise TokenizerError(
            f"the student ({student.path}) and the teacher ({teacher.path}) use different tokenizers; "
            "logit distillation compares distributions over the same vocabulary.",
            hint="prune the teacher (edgeslm prune) or start from a checkpoint that shares its tokenizer.json",
        )
    notes = []
    if student.spec.num_params >= teacher.spec.num_params:
        notes.append(
            f"the student ({student.spec.num_params:,} parameters) is not smaller than the teacher "
            f"({teacher.spec.num_params:,}); distillation will run, but it will not shrink the model"
        )
    return notes


@dataclass(frozen=True)
class DistillData:
    """The windows a run trains and evaluates on, and where they came from."""

    train: np.ndarray  # (M, T+1) int64
    validation: np.ndarray  # (N, T+1) int64
    sources: dict

    @property
    def sha256(self) -> str:
        return ids_sha256(self.train, self.validation)


def ids_sha256(*arrays: np.ndarray) -> str:
    """sha256 of token ids, independent of the integer type they are held in."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()


def encode(tokenizer, text: TextSet) -> np.ndarray:
    return np.asarray(tokenizer.encode(text.text, add_special_tokens=False), dtype=np.int64)


def split_text(tokenizer, train_text: TextSet, val_text: TextSet | None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Token ids for training and held-out evaluation; without ``val_text`` the last 5% of the data is held out."""
    ids = encode(tokenizer, train_text)
    sources = {"train": train_text.source, "train_sha256": train_text.sha256}
    if val_text is None:
        cut = int(len(ids) * (1 - HOLDOUT))
        ids, val = ids[:cut], ids[cut:]
        sources["validation"] = f"last {HOLDOUT:.0%} of the training data"
    else:
        val = encode(tokenizer, val_text)
        sources.update(validation=val_text.source, validation_sha256=val_text.sha256)
    return ids, val, sources


def prepare_data(train_ids: np.ndarray, val_ids: np.ndarray, sources: dict, tcfg: TrainConfig) -> DistillData:
    """min(all, max_steps x batch_size) seeded non-overlapping training windows, and eval_batches x batch_size
    held-out ones. Raises DataError when there is too little text."""
    need = tcfg.seq_len + 1
    if len(train_ids) < need or len(val_ids) < need:
        raise DataError(
            f"{sources['train']} gives {len(train_ids):,} training and {len(val_ids):,} held-out tokens; --seq-len "
            f"{tcfg.seq_len} needs at least {need} of each.",
            hint="give more text with --data (or --eval-data), or lower --seq-len")
    starts = window_starts(len(train_ids), tcfg.seq_len, tcfg.max_steps * tcfg.batch_size, seed=tcfg.seed)
    train = np.stack([train_ids[s : s + need] for s in starts])
    validation = eval_windows(val_ids, tcfg.seq_len, tcfg.eval_batches * tcfg.batch_size).numpy()
    return DistillData(train, validation, sources)


# --- the stage ------------------------------------------------------------------------


def _final_student(model, dist: Dist):
    """The trained student as one unsharded model (a collective under FSDP: every rank calls it)."""
    if not dist.fsdp:
        return model
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from transformers import AutoModelForCausalLM

    sd = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    fresh = AutoModelForCausalLM.from_config(model.config)
    fresh.load_state_dict(sd, strict=False)  # tied heads may be listed once
    fresh.tie_weights()
    return fresh


def distill_checkpoints(
    teacher_ckpt: CheckpointDir,
    student: CheckpointDir | PrunedCheckpoint,
    out: Path,
    train_text: TextSet,
    val_text: TextSet | None,
    cfg: DistillConfig,
    tcfg: TrainConfig,
    *,
    cache_dir: Path | None = None,
    auto_cache: bool = True,
    generate: GenerateConfig | None = None,
    prompts: list[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Callable[[str], None] = print,
    on_step: Callable[[StepInfo], None] | None = None,
    dist: Dist = Dist(),
) -> DistilledCheckpoint:
    """Distill and write the final student, distill.json, loss.png and stage.json to ``out`` (run checkpoints in
    ``out/run``). A PrunedCheckpoint student's record is what hidden-state matching (``cfg.hidden``) was planned from.

    A large teacher (``AUTO_CACHE_MIN_PARAMS``) with no ``cache_dir`` is cached anyway, outside ``out``
    ($EDGESLM_CACHE/teacher-cache/<identity>), when the run covers most of the training windows: that is
    the fast path (``auto_cache=False``, the CLI's --online-teacher, keeps the teacher online).

    ``out`` follows the output rule (edgeslm/outputs.py), except with ``resume``, which continues the
    run already there. ``overwrite`` starts afresh over an earlier edgeslm output, removing it.

    Raises TokenizerError (different vocabularies), DataError (too little text), CacheError (a corrupt
    teacher cache), OutputPathError, UsageError (bad settings, or --resume of a run with another configuration)."""
    student_ckpt = student.checkpoint if isinstance(student, PrunedCheckpoint) else student
    if not dist.is_main:
        progress = lambda _: None  # noqa: E731
    for n in check_pair(teacher_ckpt, student_ckpt):
        if dist.is_main:
            warnings.warn(n, stacklevel=2)
    inputs = [teacher_ckpt.path, student_ckpt.path, *([cache_dir] if cache_dir else [])]
    if not resume:
        check_output(out, folder=True, inputs=inputs, overwrite=overwrite)
    elif not (out / "run").is_dir():
        raise UsageError(f"--resume: {out} holds no run to continue ({out}/run is missing).",
                         hint="drop --resume to start a new run")
    if cache_dir is not None and cfg.hidden is not None:
        raise UsageError("--hidden-weight needs the teacher's hidden states, which a --cache-teacher cache does not hold.",
                         hint="drop one of --cache-teacher and --hidden-weight")
    if resume:
        from edgeslm.train.loop import check_resumable

        check_resumable(out / "run" / "last", tcfg)  # before minutes of loading and caching
        _check_same_recipe(out / "run", cfg, cache_dir, generate)
    loaded = load_model(student_ckpt)
    tok = loaded.tokenizer
    teacher = None
    train_ids, val_ids, sources = split_text(tok, train_text, val_text)
    if not resume and dist.is_main:
        start_run_folder(out)
    dist.barrier()
    if generate is not None:
        train_ids, teacher = _generated(out / "run", teacher_ckpt, tok, train_ids, prompts, generate, dist, progress)
        sources["train"] = f"{len(train_ids):,} tokens written by the teacher from prompts in {sources['train']}"
        sources["train_sha256"] = ids_sha256(train_ids)
    data = prepare_data(train_ids, val_ids, sources, tcfg)
    progress(f"data: {len(data.train):,} training windows, {len(data.validation):,} held-out, {tcfg.seq_len} tokens each")

    if cache_dir is None and auto_cache and cfg.hidden is None and generate is None:
        cache_dir = _auto_cache_dir(teacher_ckpt, data, cfg, tcfg, progress)
    cache: TeacherCache | None = None
    if cache_dir is not None:
        cache = _cache(cache_dir, teacher_ckpt, teacher, data, cfg, dist, progress)
        teacher = None  # training and evaluation read the cache; the teacher leaves memory
        batches = WindowSet(cache.splits["train"], tcfg.batch_size, tcfg.seed)
        loss_fn = make_cached_loss(cfg)
        evaluator = CachedEval(torch.from_numpy(cache.splits["validation"]["tokens"].astype(np.int64)), cache=cache.splits["validation"],
                               temperature=cache.header["temperature"])
    else:
        teacher = teacher or load_model(teacher_ckpt).model.requires_grad_(False).to(dist.device)
        batches = WindowSet({"tokens": data.train}, tcfg.batch_size, tcfg.seed)
        loss_fn = make_loss(teacher, cfg)
        evaluator = DistillEval(torch.from_numpy(data.validation), teacher=teacher)
    if dist.is_main:
        (out / "run" / "recipe.json").write_text(json.dumps(_recipe(cfg, cache_dir, generate)))
    result = train(loaded.model, batches, tcfg, out / "run", evaluator=evaluator, resume=resume, loss_fn=loss_fn,
                   progress=progress, on_step=on_step, dist=dist)

    final = _final_student(loaded.model, dist)
    record = {
        "teacher": {"path": str(teacher_ckpt.path), "sha256": teacher_ckpt.sha256, "params": teacher_ckpt.spec.num_params},
        "student": {"path": str(student_ckpt.path), "sha256": student_ckpt.sha256, "params": student_ckpt.spec.num_params},
        "recipe": _recipe(cfg, cache_dir, generate), "train": asdict(tcfg), "processes": dist.world,
        "data": {**data.sources, "train_windows": len(data.train), "validation_windows": len(data.validation),
                 "windows_sha256": data.sha256},
        "eval_kl": "full, temperature 1" if cache is None else
                   f"top-{cache.top_k} + rest bin at temperature {cache.header['temperature']} (a lower bound on the full KL)",
        "result": asdict(result),
    }
    if dist.is_main:
        inputs = {"teacher": teacher_ckpt.sha256, "student": student_ckpt.sha256, "train": data.sources["train_sha256"],
                  "windows": data.sha256}
        with stage_output(out, "distill", {"recipe": record["recipe"], "train": record["train"]}, inputs,
                          carry=("run",)) as tmp:
            _write_student(final, student_ckpt, teacher_ckpt, tmp, record, result)
    dist.barrier()
    return DistilledCheckpoint(open_checkpoint(out), record, result)


def _write_student(final, student_ckpt: CheckpointDir, teacher_ckpt: CheckpointDir, tmp: Path, record: dict,
                   result: TrainResult) -> None:
    """The final student as a Hugging Face checkpoint, with its tokenizer, loss.png and distill.json."""
    # saved in the precision the student came in (trained in fp32 either way)
    stored = student_ckpt.config.get("dtype") or student_ckpt.config.get("torch_dtype") or "float32"
    final.to(getattr(torch, str(stored), torch.float32)).save_pretrained(tmp, safe_serialization=True)
    from edgeslm.export.base import copy_tokenizer
    from edgeslm.train.plot import plot_losses

    copy_tokenizer(student_ckpt, tmp)
    plot_losses(result, tmp / LOSS_PNG, f"distilling {student_ckpt.name} from {teacher_ckpt.name}")
    (tmp / RECORD).write_text(json.dumps(record, indent=1))


def _recipe(cfg: DistillConfig, cache_dir: Path | None, generate: GenerateConfig | None) -> dict:
    return {"kd": asdict(cfg.kd), "kd_weight": cfg.kd_weight, "hidden": asdict(cfg.hidden) if cfg.hidden else None,
            "teacher": f"cache top-{cfg.top_k}" if cache_dir is not None else "online",
            "generate": asdict(generate) if generate else None}


def _check_same_recipe(run: Path, cfg: DistillConfig, cache_dir: Path | None, generate: GenerateConfig | None) -> None:
    saved_path = run / "recipe.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text())
    now = json.loads(json.dumps(_recipe(cfg, cache_dir, generate)))  # tuples -> lists, as saved
    if saved != now:
        diff = ", ".join(f"{k}: {saved.get(k)} then, {now.get(k)} now" for k in now if saved.get(k) != now.get(k))
        raise UsageError(f"--resume: {run} was distilled with a different recipe ({diff}).",
                         hint="resume with the original settings, or start a new run in another folder")


def _generated(run: Path, teacher_ckpt, tok, train_ids, prompts, gcfg, dist, progress):
    """The teacher-written token stream, generated once (rank 0) and kept in run/ for --resume."""
    path = run / "generated.npy"
    run.mkdir(parents=True, exist_ok=True)
    teacher = None
    if not path.is_file():
        teacher = load_model(teacher_ckpt).model.requires_grad_(False)
        if dist.is_main:
            if prompts is not None:
                plist = [tok.encode(p, add_special_tokens=False) for p in prompts[: gcfg.num_prompts]]
            else:
                plist = text_prompts(train_ids, gcfg)
            stream = generate_stream(teacher, plist, tok.eos_token_id, gcfg, progress)
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, stream, allow_pickle=False)
        dist.barrier()
    stream = np.load(path, allow_pickle=False)
    if len(stream) == 0:
        raise DataError("the teacher generated no text.")
    return stream, teacher


def _cache_identity(teacher_ckpt, data: DistillData, cfg: DistillConfig) -> dict:
    return {"teacher_sha256": teacher_ckpt.sha256, "vocab_size": teacher_ckpt.spec.vocab_size,
            "seq_len": int(data.train.shape[1] - 1), "top_k": cfg.top_k, "temperature": cfg.kd.temperature,
            "data_sha256": data.sources["train_sha256"]}


# At 135M (teacher) -> 67M (student), fp32 on 2 cores, a cached top-64 teacher trained at 91 tokens/s against
# 52 online, and filling the cache ran at 191 tokens/s (benchmarks/results/distill_throughput-135M-fp32.json):
# caching pays for itself once the run reads at least ~60% of the windows it caches.
AUTO_CACHE_MIN_PARAMS = 50_000_000
AUTO_CACHE_MIN_COVERAGE = 0.6


def _auto_cache_dir(teacher_ckpt, data: DistillData, cfg: DistillConfig, tcfg, progress) -> Path | None:
    """Where a large teacher's cache goes when none was asked for, or None when online is faster."""
    import hashlib

    from edgeslm.util import cache_root

    if teacher_ckpt.spec.num_params < AUTO_CACHE_MIN_PARAMS:
        return None
    read = tcfg.max_steps * tcfg.batch_size + 64  # + the held-out windows, cached too
    if read < AUTO_CACHE_MIN_COVERAGE * (len(data.train) + len(data.validation)):
        return None
    key = hashlib.sha256(json.dumps(_cache_identity(teacher_ckpt, data, cfg), sort_keys=True).encode()).hexdigest()[:16]
    folder = cache_root() / "teacher-cache" / key
    progress(f"the teacher has {teacher_ckpt.spec.num_params / 1e6:.0f}M parameters: training from its top-{cfg.top_k} "
             f"cache in {folder} (--online-teacher to keep it in memory)")
    return folder


def _cache(cache_dir: Path, teacher_ckpt, teacher, data: DistillData, cfg: DistillConfig, dist: Dist, progress) -> TeacherCache:
    identity = _cache_identity(teacher_ckpt, data, cfg)
    if not (cache_dir / "cache.json").exists() and not cache_dir.exists():
        if dist.is_main:
            if teacher is None:
                progress(f"loading the teacher {teacher_ckpt.name} to fill the cache")
                teacher = load_model(teacher_ckpt).model.requires_grad_(False)
            build_cache(cache_dir, teacher, {"train": data.train, "validation": data.validation}, identity, progress)
        dist.barrier()
    cache = open_cache(cache_dir, identity)
    progress(f"teacher cache {cache_dir}: {cache.nbytes / (1 << 20):.1f} MiB, top-{cache.top_k}")
    return cache
