"""Options that steer the label readers; one dataclass so every command exposes the same flags."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LabelFormat = Literal["onehot", "tags", "paddle", "mat", "npz", "coco", "voc", "folders"]
LABEL_FORMATS: tuple[str, ...] = typing.get_args(LabelFormat)  # derived: the Literal is the one list
DifficultPolicy = Literal["negative", "positive"]


@dataclass(frozen=True)
class ReadOptions:
    """How to read a label file. Every field is optional; readers auto-detect what is left unset.

    Attributes:
        format: one of LABEL_FORMATS; None auto-detects from the file name and content (`--format`).
        delimiter: field separator of a CSV/TSV (`--delimiter`); None sniffs it from the header.
        tag_sep: separator between tags inside a tags cell (`--tag-sep`); None detects it per file.
        path_column: CSV column with the image paths (`--path-column`); None uses a column named like
            filename/img_path/image/path, else the first column.
        tags_column: CSV column with delimited tags (`--tags-column`), for the tags format.
        group_column: CSV column kept as per-image metadata for grouped splits (`--group-column`).
        classes: text file with one label name per line, in column order (`--classes`), for formats
            that carry no names (PaddleClas lists, NPZ matrices).
        paths_file: CSV (or text, one per line) giving the image path of each NPZ row (`--paths`).
        npz_key: array name inside an NPZ with several arrays (`--npz-key`).
        voc_split: which VOC image set to read: train, val, trainval or test (`--voc-split`).
        voc_difficult: VOC's 0 ("difficult") entries become negatives or positives (`--voc-difficult`).
        image_ext: extension appended to ids that have none (VOC ids, MATLAB numbering), e.g. ".jpg".
        images: folder the image paths are relative to (`--images`); None: the label file's folder (VOC:
            its root; class folders: the folder itself). Paths must stay inside it (see `image_paths`).
        allow_outside_images: accept absolute paths and `..` paths outside `images`
            (`--allow-outside-images`); by default they are an error naming the line.
    """

    format: LabelFormat | None = None
    delimiter: str | None = None
    tag_sep: str | None = None
    path_column: str | None = None
    tags_column: str | None = None
    group_column: str | None = None
    classes: Path | None = None
    paths_file: Path | None = None
    npz_key: str | None = None
    voc_split: str = "trainval"
    voc_difficult: DifficultPolicy = "negative"
    image_ext: str = ".jpg"
    images: Path | None = None
    allow_outside_images: bool = False
