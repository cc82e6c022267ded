"""Knowledge distillation: train a student on the teacher's soft targets.

    loss = kd_weight * KD(student, teacher) + (1 - kd_weight) * CE(student, data)

It runs on edgeslm's training loop (edgeslm.train.loop): AdamW with warm-up and
cosine decay, clipping, bf16 autocast, atomic checkpoints and exact resume.
The teacher runs in the same process, in eval mode, without gradients.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from edgeslm.data import TextSet
from edgeslm.distill.losses import KDConfig, kd_loss
from edgeslm.errors import DataError, TokenizerError, UsageError
from edgeslm.models.loader import CheckpointDir, load_model
from edgeslm.train.loop import TrainConfig, TrainResult, train

RECORD = "distill.json"


@dataclass(frozen=True)
class DistillConfig:
    kd: KDConfig = KDConfig()
    kd_weight: float = 1.0  # 1: pure distillation; 0: plain cross-entropy training

    def __post_init__(self) -> None:
        if not 0 <= self.kd_weight <= 1:
            raise UsageError(f"--kd-weight must be in [0, 1], not {self.kd_weight}")


def make_loss(teacher, cfg: DistillConfig) -> Callable:
    """loss_fn(student, batch) for the training loop; batch is (B, T+1) token ids."""
    import torch
    import torch.nn.functional as F

    def loss_fn(student, batch):
        inputs, targets = batch[:, :-1], batch[:, 1:]
        s = student(inputs).logits.flatten(0, 1)  # (B*T, V)
        ce = F.cross_entropy(s.float(), targets.flatten())
        if cfg.kd_weight == 0:
            return ce
        with torch.no_grad():
            t = teacher(inputs).logits.flatten(0, 1)
        return cfg.kd_weight * kd_loss(s, t, cfg.kd) + (1 - cfg.kd_weight) * ce

    return loss_fn


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


def distill_checkpoints(
    teacher_ckpt: CheckpointDir,
    student_ckpt: CheckpointDir,
    out: Path,
    train_text: TextSet,
    val_text: TextSet,
    cfg: DistillConfig,
    tcfg: TrainConfig,
    *,
    resume: bool = False,
    progress: Callable[[str], None] = print,
) -> TrainResult:
    """Distill and write the final student to ``out`` (run checkpoints in ``out/run``)."""
    import numpy as np

    for n in check_pair(teacher_ckpt, student_ckpt):
        warnings.warn(n, stacklevel=2)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory.")
    if not out.resolve().parent.is_dir():
        raise UsageError(f"output directory {out.resolve().parent} does not exist.", hint=f"mkdir -p {out.resolve().parent}")
    teacher = load_model(teacher_ckpt)
    student = load_model(student_ckpt)
    teacher.model.requires_grad_(False)
    tok = student.tokenizer
    ids = {k: np.asarray(tok.encode(t.text, add_special_tokens=False), dtype=np.int64) for k, t in
           (("train", train_text), ("val", val_text))}
    if len(ids["train"]) < tcfg.seq_len + 2:
        raise DataError(f"{train_text.source} has {len(ids['train'])} tokens; --seq-len {tcfg.seq_len} needs at least {tcfg.seq_len + 2}.")
    if len(ids["val"]) < tcfg.seq_len + 2:
        ids["val"] = ids["train"][-(tcfg.seq_len + 2) * 4 :]
    out.mkdir(exist_ok=True)
    result = train(student.model, ids["train"], ids["val"], tcfg, out / "run", resume=resume,
                   loss_fn=make_loss(teacher.model, cfg), progress=progress)
    tmp = out / ".final.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    import torch

    # save in the precision the student came in (trained in fp32 either way)
    stored = student_ckpt.config.get("dtype") or student_ckpt.config.get("torch_dtype") or "float32"
    dtype = getattr(torch, str(stored), torch.float32)
    student.model.to(dtype).save_pretrained(tmp, safe_serialization=True)
    from edgeslm.export.base import copy_tokenizer

    copy_tokenizer(student_ckpt, tmp)
    (tmp / RECORD).write_text(json.dumps({
        "teacher": {"path": str(teacher_ckpt.path), "sha256": teacher_ckpt.sha256},
        "student": {"path": str(student_ckpt.path), "sha256": student_ckpt.sha256},
        "distill": {"kd": asdict(cfg.kd), "kd_weight": cfg.kd_weight}, "train": asdict(tcfg),
        "data": {"train": train_text.source, "train_sha256": train_text.sha256, "val": val_text.source},
        "result": asdict(result),
    }, indent=1))
    for f in tmp.iterdir():
        os.replace(f, out / f.name)  # file by file: each final file appears whole
    tmp.rmdir()
    return result
