"""What an exported model says about itself: labels, views, preprocessing and the run's fitted decision.

Every value is a JSON string under a plain key, stored as ONNX `metadata_props` or as TorchScript
`_extra_files` (entries `<archive>/extra/<key>` of the zip), so a consumer with only the model file can
reproduce the tags of `tailtag predict`:

    labels        ["clouds", "trees", ...]: the K output columns, in order
    task          "multilabel" or "multiclass"
    output        "sigmoid", "softmax" or "powerset_marginals": how the graph turned logits into probabilities
    views         ["center", "full"]: the views whose outputs are averaged
    preprocess    {"input_size": [H, W], "interpolation": "bicubic", "crop_pct": 0.875, "mean": [3], "std": [3]}
    jpeg_draft    [w, h]: the smallest size a JPEG may be decoded at (PIL's draft mode) without changing the views
    io            {"input": "images", "output": "probabilities", "layout": "NCHW", "dtype": "float32"}
    calibration   RUN/calibration.json (the artifact of `tailtag.calibration`)
    thresholds    RUN/thresholds.json (the artifact of `tailtag.thresholds`)
    run, model_sha256, tailtag_version, tailtag_format: where the model came from

The recipe, per image (tailtag's own decoding is Pillow's, so Pillow reproduces it exactly):

1. Open the file; for a JPEG call `image.draft("RGB", jpeg_draft)` (swap w and h when the EXIF orientation
   turns the image sideways), then apply the EXIF orientation (`ImageOps.exif_transpose`) and convert to RGB
   (alpha composited on white).
2. For each name in `views`, make a (3, H, W) float32 array. "center": resize so the shorter side is
   floor(H / crop_pct) (the longer side in proportion, truncated; for a non-square input resize to
   floor(H / crop_pct) x floor(W / crop_pct)) with `interpolation` (`Image.resize`, Pillow's filters are
   antialiased), then crop H x W at top = round((h - H) / 2), left = round((w - W) / 2) (Python's round);
   "flip": "center" mirrored left-right; "full": resize the whole image to H x W. Scale the pixels to [0, 1],
   subtract `mean` and divide by `std` per channel.
3. Run the model on each view (input `images`, (B, 3, H, W), any B); average its (B, K) `probabilities`
   over the views: these are the raw probabilities p.
4. Calibrate per `calibration["method"]`, with c = clip(p, 1e-7, 1 - 1e-7) and logit(c) = log(c / (1 - c)):
   "none": p; "temperature" (multi-label): sigmoid(logit(c) / temperature[k]); "temperature" with
   params.task == "multiclass": softmax over each row of log(clip(p, 1e-7, 1)) / temperature[0]; "platt":
   sigmoid(slope[k] * logit(c) + intercept[k]). Labels whose map is the identity (temperature 1; slope 1
   and intercept 0) keep p unchanged.
5. Tag label k when calibrated p[k] >= thresholds["thresholds"][k]. For strategy "top_k", rank each row
   (highest first, ties by column order): keep only ranks < params.max_tags (when not null) and always the
   ranks < params.min_tags.

With tailtag installed, `read_metadata(path).decision().predict(raw)` does steps 4 and 5.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailtag import __version__, rundir
from tailtag.errors import LabelFileError
from tailtag.models import PreprocessConfig
from tailtag.thresholds.decision import Decision

FORMAT_VERSION = 1
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
IO = {"input": INPUT_NAME, "output": OUTPUT_NAME, "layout": "NCHW", "dtype": "float32"}
# key -> the JSON type its value must decode to
_TYPES: dict[str, type] = {
    "tailtag_format": int,
    "tailtag_version": str,
    "labels": list,
    "task": str,
    "output": str,
    "views": list,
    "preprocess": dict,
    "jpeg_draft": list,
    "io": dict,
    "calibration": dict,
    "thresholds": dict,
    "run": str,
    "model_sha256": str,
}
_REEXPORT = "re-export it with this tailtag version: tailtag export RUN"


@dataclass(frozen=True)
class ExportMetadata:
    """The metadata of an exported model (see the module docstring for each key).

    Attributes:
        labels: (K,) label names, the output columns in order.
        task: "multilabel" or "multiclass".
        output: "sigmoid", "softmax" or "powerset_marginals".
        views: the views to average (each a `tailtag.models.View`).
        preprocess: `PreprocessConfig.to_dict()`.
        jpeg_draft: (width, height) JPEGs are draft-decoded at (`tailtag.models.draft_size`).
        calibration: the calibration artifact (`Calibrator.to_dict()`).
        thresholds: the thresholds artifact (`Thresholds.to_dict()`).
        run: the run directory the model was exported from.
        model_sha256: hex sha256 of the run's model.safetensors.
        tailtag_version: the tailtag that exported it.
        io: input/output tensor names, layout and dtype.
    """

    labels: list[str]
    task: str
    output: str
    views: list[str]
    preprocess: dict[str, Any]
    jpeg_draft: list[int]
    calibration: dict[str, Any]
    thresholds: dict[str, Any]
    run: str
    model_sha256: str
    tailtag_version: str = __version__
    io: dict[str, Any] = field(default_factory=lambda: dict(IO))

    def to_strings(self) -> dict[str, str]:
        """key -> JSON string, as written into the model file."""
        values = {
            "tailtag_format": FORMAT_VERSION,
            "tailtag_version": self.tailtag_version,
            "labels": self.labels,
            "task": self.task,
            "output": self.output,
            "views": self.views,
            "preprocess": self.preprocess,
            "jpeg_draft": self.jpeg_draft,
            "io": self.io,
            "calibration": self.calibration,
            "thresholds": self.thresholds,
            "run": self.run,
            "model_sha256": self.model_sha256,
        }
        return {key: json.dumps(value, allow_nan=False) for key, value in values.items()}

    @classmethod
    def from_strings(cls, values: dict[str, str], source: str | Path) -> ExportMetadata:
        """Parse and check the key -> JSON strings read from `source`; LabelFileError naming every bad key."""
        parsed, problems = {}, []
        for key, kind in _TYPES.items():
            if key not in values:
                problems.append(f"key {key!r} is missing")
                continue
            try:
                parsed[key] = json.loads(values[key])
            except (json.JSONDecodeError, TypeError) as exc:
                problems.append(f"key {key!r} is not valid JSON ({exc})")
                continue
            if not isinstance(parsed[key], kind) or isinstance(parsed[key], bool):
                problems.append(f"key {key!r} must be a JSON {kind.__name__}, got {type(parsed[key]).__name__}")
        if isinstance(parsed.get("labels"), list) and not all(isinstance(name, str) for name in parsed["labels"]):
            problems.append("key 'labels' must be a list of label names (strings)")
        if not problems and parsed["tailtag_format"] != FORMAT_VERSION:
            problems.append(f"key 'tailtag_format' is {parsed['tailtag_format']}, this tailtag reads {FORMAT_VERSION}")
        if problems:
            raise LabelFileError(source, "tailtag metadata: " + "; ".join(problems), fix=_REEXPORT)
        parsed.pop("tailtag_format")
        return cls(**parsed)

    def preprocess_config(self) -> PreprocessConfig:
        """The preprocessing the views are made with."""
        return PreprocessConfig(**self.preprocess)

    def decision(self) -> Decision:
        """The run's calibration + thresholds, rebuilt from the embedded artifacts (steps 4-5 of the recipe)."""
        from tailtag.calibration import calibration_from_dict
        from tailtag.thresholds import thresholds_from_dict

        return Decision(
            calibration_from_dict(self.calibration, "model metadata key 'calibration'"),
            thresholds_from_dict(self.thresholds, "model metadata key 'thresholds'"),
        )


def run_metadata(model, decision: Decision, views: list[str] | tuple[str, ...]) -> ExportMetadata:
    """The metadata of `model` (a `RunModel`) exported with the run's `decision` and scoring `views`."""
    from tailtag.fileio import file_sha256
    from tailtag.models import draft_size

    files = model.run
    return ExportMetadata(
        labels=list(model.names),
        task=files.task,
        output=files.model.output,
        views=list(views),
        preprocess=model.preprocess.to_dict(),
        jpeg_draft=list(draft_size(model.preprocess, views)),
        calibration=decision.calibrator.to_dict(),
        thresholds=decision.thresholds.to_dict(),
        run=str(files.path.resolve()),
        model_sha256=file_sha256(files.file(rundir.WEIGHTS)),
    )


def read_metadata(path: str | Path) -> ExportMetadata:
    """The tailtag metadata of an exported model: TorchScript (a zip archive) or ONNX (anything else).

    Reads only the metadata: the TorchScript archive is opened as a zip and nothing in it is unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(path, "exported model not found", fix="tailtag export RUN --out FILE")
    if zipfile.is_zipfile(path):
        return ExportMetadata.from_strings(_torchscript_extra_files(path), path)
    return ExportMetadata.from_strings(_onnx_props(path), path)


def _onnx_props(path: Path) -> dict[str, str]:
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and others for damaged files
        raise LabelFileError(path, f"is not a readable ONNX model ({exc})", fix=_REEXPORT) from exc
    return {prop.key: prop.value for prop in proto.metadata_props}


def _torchscript_extra_files(path: Path) -> dict[str, str]:
    try:
        with zipfile.ZipFile(path) as archive:
            extra = {}
            for name in archive.namelist():
                parts = name.split("/")
                if len(parts) == 3 and parts[1] == "extra" and parts[2] in _TYPES:
                    extra[parts[2]] = archive.read(name).decode("utf-8")
            return extra
    except (zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise LabelFileError(path, f"is not a TorchScript archive ({exc})", fix=_REEXPORT) from exc
