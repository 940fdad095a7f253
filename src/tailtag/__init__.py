"""tailtag: multi-label and multi-class image classification on imbalanced, long-tailed data.

The package follows the flow of the data, and a module imports only from the ones upstream of it:

    labels (files -> LabelTable) -> images -> stats -> split -> ... (sampling, models, losses, train,
    thresholds, metrics, report, predict, export, serve)

Label tooling (`labels`, `stats`, `split`) never imports torch.
"""

from tailtag.errors import TailtagError

__version__ = "0.1.0"
__all__ = ["TailtagError", "__version__"]
