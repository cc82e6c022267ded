"""Export: checkpoint -> device artifact.

Each format is a frozen config dataclass with a handler registered against its
type (torchao's pattern): adding a format means one dataclass and one function,
and no central if/elif.

    from edgeslm.export import export, GGUFConfig
    artifact = export(open_checkpoint("ckpt/"), GGUFConfig(quant="Q4_K_M"), "model.gguf")
"""

from edgeslm.export.base import FORMATS, Artifact, export, register_exporter
from edgeslm.export.executorch import ExecuTorchConfig
from edgeslm.export.gguf import GGUFConfig
from edgeslm.export.onnx import ONNXConfig

__all__ = ["Artifact", "FORMATS", "ExecuTorchConfig", "GGUFConfig", "ONNXConfig", "export", "register_exporter"]
