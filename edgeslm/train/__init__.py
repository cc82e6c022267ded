"""Training: the one loop used for the demo teacher (and, later, distillation)."""

from edgeslm.train.loop import TrainConfig, TrainResult, train

__all__ = ["TrainConfig", "TrainResult", "train"]
