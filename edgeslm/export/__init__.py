"""Export: checkpoint -> device artifact.

Each format is a frozen config dataclass plus one record in the format
registry (edgeslm.formats) naming its exporter: adding a format means one
dataclass, one function and one record, and no central if/elif.

    from edgeslm.export import export, GGUFConfig
    artifact = export(open_checkpoint("ckpt/"), GGUFConfig(quant="Q4_K_M"), "model.gguf")
"""

from edgeslm.export.base import Artifact, ArtifactLineage, export, open_artifact
from edgeslm.export.executorch import ExecuTorchConfig
from edgeslm.export.gguf import GGUFConfig
from edgeslm.export.onnx import ONNXConfig

__all__ = ["Artifact", "ArtifactLineage", "ExecuTorchConfig", "GGUFConfig", "ONNXConfig", "export", "open_artifact"]
