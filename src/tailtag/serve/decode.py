"""Uploaded bytes -> the run's views of the image, through the very loader batch prediction uses.

The pixel limit is checked on the header read from memory before anything is written or decoded, so a
decompression bomb costs a few hundred bytes of parsing. Accepted bytes then go through
`Tagger.decode` on a private scratch file (the loader takes files): the same `load_image` (EXIF rotation,
CMYK / 16-bit / alpha handling, JPEG draft decoding) and the same views as `tailtag predict`, so the service
gives the same tags for the same file. The scratch name is random; nothing of the client's names a path.
"""

from __future__ import annotations

import io
import os
import struct
import uuid
import warnings
from pathlib import Path

import torch
from PIL import Image

from tailtag.errors import BadImageError
from tailtag.inference import Tagger
from tailtag.serve.limits import ApiError, image_name
from tailtag.serve.upload import Upload

# What Pillow's format plugins raise on damaged headers (UnidentifiedImageError is an OSError).
_HEADER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError)
_FIX_BROKEN = "send the complete, original image file (JPEG, PNG, WebP, GIF, BMP or TIFF)"


def decode_upload(upload: Upload, tagger: Tagger, max_pixels: int, scratch: Path) -> torch.Tensor:
    """(V, 3, H, W) float32 views of one uploaded image; ApiError 413 (too many pixels) or 422 (unusable).

    Args:
        upload: the image's bytes and its place in the request.
        tagger: supplies the run's decoding (`Tagger.decode`).
        max_pixels: most width x height allowed, from the header.
        scratch: a directory only the service writes to.
    """
    who = image_name(upload.index, upload.filename)
    if not upload.data:
        raise ApiError(422, "empty_image", f"{who} is empty (0 bytes)", _FIX_BROKEN)
    resize = tagger.model.preprocess.resize_size
    check_pixels(upload.data, who, max_pixels, resize_short=resize if isinstance(resize, int) else None)
    path = scratch / f"{uuid.uuid4().hex}.img"
    try:
        with open(path, "xb") as handle:
            handle.write(upload.data)
        return tagger.decode(path, max_pixels=max_pixels)
    except BadImageError as error:
        raise ApiError(422, "bad_image", f"{who}: {error.reason}", _FIX_BROKEN) from error
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def check_pixels(data: bytes, who: str, max_pixels: int, *, resize_short: int | None = None) -> None:
    """ApiError 413 when the header declares more than `max_pixels` pixels, or when resizing the shorter side to
    `resize_short` (the evaluation transform) would: a 1 x 50,000 strip holds few pixels but becomes
    256 x 12,800,000 on the way to the model. Unreadable headers pass through: the loader names what is wrong
    with the file, which is a 422, not a size problem."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own limit and raises above twice it; only the latter matters here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        problem = f"declares more pixels than Pillow's hard limit of {2 * (Image.MAX_IMAGE_PIXELS or 0):,}"
    except _HEADER_ERRORS:  # an unreadable header is the loader's to explain
        return
    else:
        problem = _size_problem(width, height, max_pixels, resize_short)
        if problem is None:
            return
    raise ApiError(
        413,
        "too_many_pixels",
        f"{who} {problem}, over the limit of {max_pixels:,} (decompression-bomb guard)",
        "downscale (or crop) the image before sending it, or start the service with a larger --max-pixels",
    )


def _size_problem(width: int, height: int, max_pixels: int, resize_short: int | None) -> str | None:
    if width * height > max_pixels:
        return f"declares {width:,} x {height:,} = {width * height:,} pixels"
    if resize_short and min(width, height) > 0:
        scale = resize_short / min(width, height)
        resized = round(width * scale) * round(height * scale)
        if resized > max_pixels:
            return (
                f"is {width:,} x {height:,}; resizing its shorter side to {resize_short} px for the model would "
                f"make {resized:,} pixels"
            )
    return None
