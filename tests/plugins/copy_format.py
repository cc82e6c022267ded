"""A fourth artifact format, added from a plugin module: what adding a format takes.

"gguf-copy" is GGUF written under a suffix of its own (.ggufc) with a config
class of its own. llama.cpp reads a model file by its content, so the GGUF
runner runs it. Loaded through $EDGESLM_PLUGINS (with this folder on
PYTHONPATH), so the runtime processes edgeslm starts know it too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from edgeslm.export.gguf import GGUFConfig, export_gguf, read_lineage
from edgeslm.formats import Format, register_format
from edgeslm.formats import gguf as gguf_format
from edgeslm.quantize.gguf import GGUF_QUANTS, get_quant


@dataclass(frozen=True)
class CopyConfig:
    quant: str = "Q8_0"

    def __post_init__(self) -> None:
        object.__setattr__(self, "quant", get_quant(self.quant).name)


def export_copy(ckpt, config: CopyConfig, out, lineage):
    return replace(export_gguf(ckpt, GGUFConfig(quant=config.quant), out, lineage), format="gguf-copy")


register_format(Format(
    name="gguf-copy",
    title="GGUF under another name (test plugin)",
    summary="a .ggufc file: GGUF bytes, registered from tests/plugins/copy_format.py",
    config=CopyConfig,
    quants=GGUF_QUANTS,
    export=export_copy,
    runner=gguf_format.FORMAT.runner,
    probe=gguf_format.FORMAT.probe,
    read_lineage=read_lineage,
    bytes_per_token=gguf_format.FORMAT.bytes_per_token,
    suffix=".ggufc",
    name_pattern="{model}-copy-{quant}.ggufc",
))
