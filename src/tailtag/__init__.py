"""tailtag: multi-label and multi-class image classification on imbalanced, long-tailed data.

The package follows the flow of the data, and a module imports only from the ones upstream of it:

    labels (files -> LabelTable) -> images -> stats -> split -> sampling -> models, data, features, losses ->
    train -> inference (a run applied to images) -> metrics -> calibration, thresholds -> evaluation ->
    report -> compare, predict, export, serve -> commands

plus leaf modules every layer may use: `errors`, `fileio` (atomic writes), `config` (TrainConfig), `rundir`
(the run directory's file names and `ModelInfo`), `registry` (the one name lookup of every registry),
`validation` (the one parameter-check family), `artifacts` (saved fitted objects) and `demo` (the generated
data set). `config` checks loss, head and sampler names against their registries through
lazy imports. There is no import cycle, lazy imports included.

Label tooling (`labels`, `stats`, `split`) and `metrics`, `thresholds`, `calibration` never import torch.
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
