"""A trained run applied to images: read its directory, rebuild its model, score image files.

Downstream of `tailtag.train` (which writes the run directory) and upstream of evaluation, prediction,
export and serving, which all score images through `score_images` or `RunModel.tag_model()`.
The submodules are imported on first use (`tailtag.lazy`), so reading a run does not load timm.
"""

from typing import TYPE_CHECKING

from tailtag.lazy import lazy_exports

if TYPE_CHECKING:
    from tailtag.inference.model import OUTPUTS, Probabilities, RunModel, load_model
    from tailtag.inference.run_files import DATA_FILE, RunFiles, read_json, read_run
    from tailtag.inference.score import Scores, score_features, score_images, scoring_views
    from tailtag.inference.tagger import Scorer, Tagger, Tags, torch_scorer

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "model": ("OUTPUTS", "Probabilities", "RunModel", "load_model"),
        "run_files": ("DATA_FILE", "RunFiles", "read_json", "read_run"),
        "score": ("Scores", "score_features", "score_images", "scoring_views"),
        "tagger": ("Scorer", "Tagger", "Tags", "torch_scorer"),
    },
)

__all__ = [
    "DATA_FILE",
    "OUTPUTS",
    "Probabilities",
    "RunFiles",
    "RunModel",
    "Scorer",
    "Scores",
    "Tagger",
    "Tags",
    "load_model",
    "read_json",
    "read_run",
    "score_features",
    "score_images",
    "scoring_views",
    "torch_scorer",
]
