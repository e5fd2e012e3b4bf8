"""Training loop, hooks, checkpointing, launching and inference (DefaultPredictor)."""
from localstyle.engine.predictor import DefaultPredictor

__all__ = ["DefaultPredictor"]
