"""tailtag: multi-label and multi-class image classification on imbalanced, long-tailed data.

The package follows the flow of the data, and a module imports only from the ones upstream of it:

    labels (files -> LabelTable) -> images -> stats -> split -> sampling -> models, losses -> features,
    train -> inference (a run applied to images) -> calibration, thresholds, metrics -> evaluation ->
    report -> predict, export, serve

Label tooling (`labels`, `stats`, `split`) never imports torch.
"""

from tailtag.errors import TailtagError

__version__ = "0.1.0"
__all__ = ["TailtagError", "__version__", "load"]


def load(run, backend: str = "torch"):
    """A run directory as a ready `tailtag.inference.Tagger`: `tailtag.load("runs/exp1").predict(["a.jpg"])`.

    `backend` is "torch" or "onnx" (onnxruntime on the run's exported model.onnx).
    """
    from tailtag.predict.backends import tagger_for

    return tagger_for(run, backend)
