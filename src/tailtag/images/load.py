"""Robust image loading: every readable file becomes an RGB `PIL.Image`, everything else a `BadImageError`.

Real data sets hold CMYK JPEGs, palette PNGs with transparency, 16-bit scans, phone photos rotated by an
EXIF tag, half-downloaded files and HTML error pages saved as `.jpg`. `load_image` turns the first group
into plain RGB and the second into a `BadImageError` whose reason a person can act on.

The pixel limit is checked per call against the size in the file header, before any pixel is decoded.
Pillow's own global guard (`PIL.Image.MAX_IMAGE_PIXELS`: a warning above it, an error above twice it)
still runs inside `Image.open`; tailtag never changes it, so a `max_pixels` above twice Pillow's value
only takes effect if the caller raises Pillow's limit too.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from tailtag.errors import BadImageError, OptionError

#: Pillow's default `Image.MAX_IMAGE_PIXELS` (a 1 GiB RGBA buffer / 4 / 3): about a 9,459 x 9,459 image. Pillow
#: warns above it and refuses above twice it, whatever `max_pixels` says.
PILLOW_MAX_PIXELS = 89_478_485
#: Peak bytes per pixel of one `load_image`, measured on 48 MP PNGs: about 8 for RGB (the decoded image and
#: its RGB copy), up to 19 for a PNG with transparency (RGBA, a white canvas, the composite, the RGB result).
DECODE_BYTES_PER_PIXEL = 20
#: Default `max_pixels` (`--max-pixels`) of every command: the largest common photos pass (48 and 50 MP phone
#: and camera sensors, 8,000 x 6,000 and 8,160 x 6,120), while one decode stays under about 1 GB
#: (50 M x 20 bytes) per worker; Pillow's 89.5 M let a 97 KB PNG cost 400 MB to 1.7 GB.
DEFAULT_MAX_PIXELS = 50_000_000
# Longer side / shorter side above which an image is refused: resizing the shorter side to the network input
# (the evaluation transform) would turn a 1 x 50,000 strip of a few kB into billions of pixels.
MAX_ASPECT_RATIO = 100

# Errors Pillow raises for broken files. They vary by plugin (a short PNG chunk is a SyntaxError, a bad
# TIFF tag a struct.error or KeyError), and a warning turned into an error by `-W error` is one too.
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    Image.DecompressionBombError,
    Warning,
)
_EXIF_ORIENTATION = 0x0112
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_PIXELS_IN_MESSAGE = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True)
class ImageHeader:
    """What the file header says, read without decoding pixels.

    Attributes:
        format: Pillow's format name, e.g. "JPEG", "PNG".
        mode: Pillow mode as stored, e.g. "RGB", "CMYK", "P", "I;16".
        size: (width, height) as stored, before EXIF rotation.
        n_bytes: file size in bytes.
    """

    format: str
    mode: str
    size: tuple[int, int]
    n_bytes: int


def read_header(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageHeader:
    """Identify an image from its header and check its pixel count, without decoding it.

    Raises:
        BadImageError: missing, empty, not a file, not an image, or over `max_pixels`.
    """
    with _open(path, max_pixels) as (image, n_bytes):
        return ImageHeader(format=image.format or "?", mode=image.mode, size=image.size, n_bytes=n_bytes)


def load_image(
    path: str | Path,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode an image file into an upright RGB image, or explain why it cannot be used.

    Args:
        path: image file.
        max_pixels: refuse images whose header declares more than this many pixels (width x height),
            before decoding anything (`--max-pixels`); the default bounds one decode near 1 GB (see
            `DEFAULT_MAX_PIXELS`).
        draft_size: (width, height) the caller will resize to. For JPEGs the decoder then scales by
            1/2, 1/4 or 1/8 in the DCT domain (`Image.draft`), which is several times faster on large
            photos; both sides stay >= `draft_size` (sizes of the upright image) unless the file is
            already smaller. Other formats decode at full size.

    Returns:
        A loaded, file-independent `PIL.Image` in mode "RGB" (H, W, 3 uint8 as an array), with the EXIF
        orientation applied. Alpha is composited on white; 16-bit and float data are rescaled to 8 bits.

    Raises:
        BadImageError: missing, empty, unreadable, truncated, corrupt, not an image, or too many pixels.
        OptionError: `max_pixels` or `draft_size` is not positive.
    """
    if draft_size is not None and (len(draft_size) != 2 or min(draft_size) < 1):
        raise OptionError(f"draft_size must be a (width, height) pair of positive ints; got {draft_size!r}")
    with _open(path, max_pixels) as (image, _):
        try:
            if draft_size is not None and image.format == "JPEG":
                _draft(image, draft_size)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
        except _DECODE_ERRORS as error:
            raise BadImageError(path, _decode_reason(image.format, error)) from error
        try:
            return to_rgb(image)
        except (ValueError, OSError) as error:
            raise BadImageError(path, f"cannot convert colour mode {image.mode} to RGB: {_describe(error)}") from error


@contextmanager
def _open(path: str | Path, max_pixels: int) -> Iterator[tuple[ImageFile.ImageFile, int]]:
    """Open `path` lazily after the file-system checks; the file is closed when the block exits."""
    if not isinstance(max_pixels, int) or max_pixels < 1:
        raise OptionError(f"max_pixels must be a positive int (--max-pixels); got {max_pixels!r}")
    n_bytes = _file_size(path)
    try:
        image = Image.open(path)
    except UnidentifiedImageError as error:
        raise BadImageError(path, _unidentified_reason(path)) from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow's global guard fired first (the warning only arrives here under `-W error`).
        raise BadImageError(path, _too_large_reason(_pixels_from(error), max_pixels, pillow=True)) from error
    except _DECODE_ERRORS as error:
        raise BadImageError(path, f"cannot read the header: {_describe(error)}") from error
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise BadImageError(path, _too_large_reason(width * height, max_pixels, size=image.size))
        if max(width, height) > MAX_ASPECT_RATIO * max(min(width, height), 1):
            raise BadImageError(
                path,
                f"extreme aspect ratio {width}x{height} (over {MAX_ASPECT_RATIO}:1): resizing its short side for "
                "the model would blow it up; crop or tile it first",
            )
        yield image, n_bytes


def _file_size(path: str | Path) -> int:
    """Size in bytes of a readable, non-empty regular file; BadImageError otherwise."""
    p = Path(path)
    if "\0" in str(path):  # the OS call would raise ValueError; label and list readers refuse these earlier
        raise BadImageError(repr(str(path)), "the path contains a NUL byte, which no file name can hold")
    try:
        stat = p.stat()
    except FileNotFoundError as error:
        raise BadImageError(path, "file not found") from error
    except OSError as error:
        raise BadImageError(path, f"cannot access the file: {error.strerror or error}") from error
    if p.is_dir():
        raise BadImageError(path, "is a directory, not an image file")
    if not p.is_file():
        raise BadImageError(path, "is not a regular file")
    if stat.st_size == 0:
        raise BadImageError(path, "file is empty (0 bytes)")
    return stat.st_size


def _draft(image: ImageFile.ImageFile, draft_size: tuple[int, int]) -> None:
    """Ask the JPEG decoder for the smallest DCT scale that keeps the upright image >= draft_size."""
    width, height = draft_size
    if image.getexif().get(_EXIF_ORIENTATION) in _SWAPS_AXES:
        width, height = height, width  # the stored image is sideways; compare like with like
    image.draft("RGB", (width, height))


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB without losing what the pixels show.

    Alpha (RGBA, LA, PA, P with a transparent index) is composited on white, so transparent areas are
    not turned black; 16-bit, 32-bit integer and float images are rescaled, not clipped at 255.
    """
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        gray = Image.fromarray(_to_uint8(np.asarray(image), mode))
        return gray.convert("RGB")
    if not image.has_transparency_data:  # also true for a tRNS colour key in an RGB, L or P PNG
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """(H, W) 16/32-bit int or float -> (H, W) uint8, scaled by the range the mode can hold.

    16-bit modes map 0..65535 onto 0..255 (divide by 257, so 65535 -> 255 exactly). A 32-bit "I" image
    carries no declared depth: data within 0..255 is kept, within 0..65535 is treated as 16-bit, and
    anything else is min-max stretched. Floats within 0..1 are scaled by 255, others min-max stretched.
    """
    data = values.astype(np.float32)  # exact enough for an 8-bit result, half the memory of float64
    low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    if mode.startswith("I;16"):
        scaled = data / 257.0
    elif mode == "F" and low >= 0.0 and high <= 1.0:
        scaled = data * 255.0
    elif mode == "I" and low >= 0 and high <= 255:
        scaled = data
    elif mode == "I" and low >= 0 and high <= 65535:
        scaled = data / 257.0
    else:
        scaled = (data - low) * (255.0 / (high - low)) if high > low else np.zeros_like(data)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _decode_reason(image_format: str | None, error: BaseException) -> str:
    """'truncated JPEG: ...' or 'corrupt PNG: ...' from a decoder error."""
    text = _describe(error)
    lowered = text.lower()
    kind = "truncated" if any(w in lowered for w in ("truncated", "broken data stream", "eof", "end of")) else "corrupt"
    return f"{kind} {image_format or 'image'}: {text}"


def _too_large_reason(
    pixels: int | None, max_pixels: int, *, size: tuple[int, int] | None = None, pillow: bool = False
) -> str:
    """The pixel-limit reason; names Pillow's own limit only when that one, not `max_pixels`, refused."""
    shape = f" ({size[0]:,} x {size[1]:,})" if size else ""
    count = f"{pixels:,} pixels{shape}" if pixels else "more pixels than Pillow allows"
    if pillow and (pixels is None or pixels <= max_pixels):
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        return (
            f"image has {count}, over Pillow's hard limit of {limit:,} (2 x PIL.Image.MAX_IMAGE_PIXELS); "
            "raise PIL.Image.MAX_IMAGE_PIXELS and --max-pixels if you trust it"
        )
    cost = f"; decoding it could take up to {_megabytes(pixels * DECODE_BYTES_PER_PIXEL)}" if pixels else ""
    return f"image has {count}, over the limit of {max_pixels:,}{cost}; raise --max-pixels if you trust it"


def _megabytes(n_bytes: int) -> str:
    return f"{max(1, round(n_bytes / 1e6)):,} MB"


def _pixels_from(error: BaseException) -> int | None:
    match = _PIXELS_IN_MESSAGE.search(str(error))
    return int(match.group(1)) if match else None


def _describe(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# Leading bytes of formats Pillow reads; a file that starts like one but is unreadable is corrupt, not a non-image.
_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"BM": "BMP",
}


# Leading bytes of common files that are not images, to name what the file is instead of showing its bytes.
_NOT_IMAGES = {
    b"%PDF-": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an Office document)",
    b"\x1f\x8b": "gzip-compressed data",
    b"\x7fELF": "an executable (ELF)",
    b"\xef\xbb\xbf": "UTF-8 text",
}


def _unidentified_reason(path: str | Path) -> str:
    """Why Pillow could not identify a file: a damaged header of a known format, or not an image at all.

    The reason names the kind of file only, never its bytes: paths can come from someone else's label file,
    and the reason is printed and written to reports (`skipped_images.csv`, JSON).
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
    except OSError as error:
        return f"cannot read the file: {error.strerror or error}"
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return f"corrupt {name}: the file starts like a {name} but its header cannot be read"
    if head[4:8] == b"ftyp":  # ISO media: HEIC/AVIF photos from phones need a Pillow plugin
        brand = head[8:12].decode("ascii", "replace")
        brand = f", brand {brand!r}" if brand.isalnum() else ""  # a format name, never arbitrary bytes
        return f"not an image Pillow can read (ISO media{brand}: HEIC/AVIF need a plugin such as pillow-heif)"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html", b"<?xml", b"<svg")):
        return (
            "not an image (no known image format; it looks like HTML/XML text, maybe an error page saved as an image)"
        )
    kind = next((name for magic, name in _NOT_IMAGES.items() if head.startswith(magic)), None)
    if kind is None and head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        kind = "plain text"
    if kind is None:
        return "not an image (not a recognised image format)"
    return f"not an image (not a recognised image format; it is {kind})"
