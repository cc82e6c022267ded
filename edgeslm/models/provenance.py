"""Where a checkpoint came from, read from the records edgeslm leaves beside the weights."""

from __future__ import annotations

import json

from edgeslm.models.loader import CheckpointDir

DISTILL_RECORD = "distill.json"  # written by edgeslm.distill


def teacher_sha256(ckpt: CheckpointDir) -> str:
    """The sha256 of the teacher ``ckpt`` was distilled or pruned from; "" when edgeslm did not make it.

    A distilled student names its teacher; a pruned one, the checkpoint it was cut from.
    """
    from edgeslm.prune.record import PruneRecord

    try:
        return str(json.loads((ckpt.path / DISTILL_RECORD).read_text())["teacher"]["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    record = PruneRecord.read(ckpt.path)
    return str(record.source.get("sha256", "")) if record is not None else ""
