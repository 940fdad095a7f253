"""A procedural, long-tailed, multi-label data set of landscape scenes, for demos, tutorials and tests.

`make_demo_dataset` draws `n_images` small landscapes (numpy + Pillow only) and writes them with their
labels in the two layouts tailtag reads most (a one-hot CSV and a tags CSV). The labels are chosen to
behave like real long-tailed data:

- skewed frequencies: clouds and trees are in about half of the images, boat and moon in 2-4 %;
- co-occurrence: snow only on mountains, boats only on the sea, the sun mostly over the sea;
- rare combinations (a moon over a snowy range, a boat below mountains) and about 8 % of images with
  no label at all (sky over an empty field), which are valid negatives;
- every labelled element is drawn large enough to be seen at 128 px, so a small CNN or a frozen
  backbone can learn each label, tail ones included, given enough examples.

Every image draws from its own generator seeded by (seed, image number): the output is byte-identical
for a given seed (with the same numpy/Pillow/libjpeg), and image k does not change with `n_images`.

Example:
    >>> from tailtag.demo import make_demo_dataset
    >>> labels_csv = make_demo_dataset(Path("demo"), n_images=600)  # ~7 s of CPU
    >>> labels_csv.read_text().splitlines()[0]
    'path,clouds,trees,mountain,sea,sun,road,snow,house,boat,moon'
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tailtag.demo import _layout
from tailtag.errors import OptionError, TailtagError

#: Label columns, from the most to the least frequent.
LABELS: tuple[str, ...] = ("clouds", "trees", "mountain", "sea", "sun", "road", "snow", "house", "boat", "moon")
_NEGATIVE_RATE = 0.025
_JPEG_QUALITY = 90
_SUPERSAMPLE = 2  # draw at twice the size, then downscale: anti-aliased edges for free


@dataclass(frozen=True)
class Scene:
    """What one image shows: its labels plus the unlabelled look.

    Attributes:
        labels: subset of `LABELS` drawn in the image; empty for a negative (sky over a field).
        night: dark sky with stars (always with the moon).
        sunset: orange sky; with or without the sun, so colour alone does not give the sun away.
        dry_ground: sandy instead of green land.
        hills: low green hills on the horizon, an unlabelled look-alike for mountains.
    """

    labels: frozenset[str]
    night: bool = False
    sunset: bool = False
    dry_ground: bool = False
    hills: bool = False


def sample_scene(rng: np.random.Generator) -> Scene:
    """Draw one scene's labels with the data set's skew and co-occurrence structure.

    Marginal rates over 40,000 draws: clouds 0.50, trees 0.40, mountain 0.39, sea 0.31, sun 0.20,
    road 0.12, snow 0.08, house 0.055, boat 0.034, moon 0.027; 7.9 % of scenes have no label.
    P(sun | sea) = 0.41 against P(sun | no sea) = 0.10; 313 distinct label sets.
    """
    look = {"dry_ground": bool(rng.random() < 0.25), "hills": bool(rng.random() < 0.3)}
    night = bool(rng.random() < 0.026)
    if not night and rng.random() < _NEGATIVE_RATE:
        return Scene(frozenset(), sunset=bool(rng.random() < 0.15), **look)
    draw = rng.random
    sea = draw() < 0.32
    land = not sea or draw() < 0.6  # a sea scene may keep a strip of foreground shore
    mountain = draw() < (0.22 if sea else 0.48)
    sun = not night and draw() < (0.42 if sea else 0.11)
    labels = {
        "sea": sea,
        "mountain": mountain,
        "snow": mountain and draw() < 0.21,
        "sun": sun,
        "moon": night,
        "clouds": draw() < (0.33 if sun else 0.56),
        "trees": land and draw() < (0.4 if sea else 0.5),
        "road": land and draw() < (0.12 if sea else 0.15),
        "house": land and draw() < 0.065,
        "boat": sea and draw() < 0.11,
    }
    sunset = (sun and draw() < 0.5) or (not sun and not night and draw() < 0.08)  # orange skies without a sun too
    return Scene(frozenset(k for k, v in labels.items() if v), night=night, sunset=bool(sunset), **look)


def render_scene(scene: Scene, rng: np.random.Generator, size: int) -> Image.Image:
    """(size, size) RGB image of `scene`; deterministic in the generator's state."""
    canvas = _layout.draw(scene, rng, size * _SUPERSAMPLE)
    drawn = Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8))
    pixels = np.asarray(drawn.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
    pixels += rng.normal(0.0, 2.5, pixels.shape).astype(np.float32)  # sensor-like grain, at the final scale
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def make_demo_dataset(
    out_dir: Path, n_images: int = 600, size: int = 128, seed: int = 0, *, overwrite: bool = False
) -> Path:
    """Write the demo data set under `out_dir` and return the path of its `labels.csv`.

    Args:
        out_dir: folder to create; gets `images/NNNN.jpg`, `labels.csv`, `labels_tags.csv`, `README.txt`.
        n_images: number of images (>= 1); 600 gives ~15 images of the rarest label.
        size: side of the square images in pixels (32 to 1024).
        seed: integer seed; the same seed gives byte-identical files.
        overwrite: replace a data set already in `out_dir` (and its extra numbered images).

    Returns:
        `out_dir / "labels.csv"`, columns `path,clouds,...,moon`, paths relative to `out_dir`
        (e.g. `images/0001.jpg`). `labels_tags.csv` has `img_path,tags` with comma-separated tags.

    Raises:
        OptionError: a bad argument. TailtagError: `out_dir` already holds a data set and not `overwrite`.
    """
    _validate(n_images, size, seed)
    out_dir = Path(out_dir)
    labels_csv = out_dir / "labels.csv"
    if labels_csv.exists() and not overwrite:
        raise TailtagError(f"{labels_csv} already exists\n  fix: choose an empty folder, or pass overwrite=True")
    image_dir = out_dir / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    digits = max(4, len(str(n_images)))
    names = [f"images/{k:0{digits}d}.jpg" for k in range(1, n_images + 1)]
    scenes = []
    for k, name in enumerate(names, start=1):
        rng = np.random.default_rng([seed, k])
        scene = sample_scene(rng)
        render_scene(scene, rng, size).save(out_dir / name, quality=_JPEG_QUALITY)
        scenes.append(scene)
    _remove_stale(image_dir, {Path(name).name for name in names})
    _write_tables(out_dir, names, scenes)
    (out_dir / "README.txt").write_text(_readme(n_images, size, seed, scenes), encoding="utf-8")
    return labels_csv


def _validate(n_images: int, size: int, seed: int) -> None:
    for name, value, low, high in (("n_images", n_images, 1, 10**7), ("size", size, 32, 1024), ("seed", seed, 0, None)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high and value > high):
            bound = f"between {low:,} and {high:,}" if high else f">= {low}"
            raise OptionError(f"{name} must be an integer {bound}; got {value!r}")


def _remove_stale(image_dir: Path, keep: set[str]) -> None:
    """Drop numbered images left by an earlier, larger run, so the folder matches the label files."""
    for path in image_dir.iterdir():
        if re.fullmatch(r"\d{4,}\.jpg", path.name) and path.name not in keep:
            path.unlink()


def _write_tables(out_dir: Path, names: list[str], scenes: list[Scene]) -> None:
    # The tags file first: labels.csv is the entry point, so its presence marks a complete data set.
    with open(out_dir / "labels_tags.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["img_path", "tags"])
        writer.writerows(
            [name, ",".join(label for label in LABELS if label in scene.labels)]
            for name, scene in zip(names, scenes, strict=True)
        )
    with open(out_dir / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["path", *LABELS])
        writer.writerows(
            [name, *(int(label in scene.labels) for label in LABELS)] for name, scene in zip(names, scenes, strict=True)
        )


def _readme(n_images: int, size: int, seed: int, scenes: list[Scene]) -> str:
    counts = {label: sum(label in scene.labels for scene in scenes) for label in LABELS}
    negatives = sum(not scene.labels for scene in scenes)
    table = "\n".join(f"  {label:<9} {count:>6,}  {count / n_images:6.1%}" for label, count in counts.items())
    return f"""tailtag demo data set: procedural landscape scenes
==================================================

{n_images:,} images of {size} x {size} pixels, generated by tailtag.demo.make_demo_dataset(n_images={n_images},
size={size}, seed={seed}). Every image is drawn with numpy and Pillow from a random generator seeded by
(seed, image number): no photograph and no downloaded data are involved, and the same call writes the
same bytes again.

Files
  images/NNNN.jpg    the images (JPEG, quality {_JPEG_QUALITY})
  labels.csv         one-hot: path,{",".join(LABELS)}
  labels_tags.csv    tags: img_path,tags (comma-separated label names; empty = no label)

How a scene is made
  A sky gradient (day, sunset or night) over a horizon, then, by label: mountains with jagged ridges
  and shaded rock (snow caps only on mountains), the sea with waves and whitecaps (with the sun's
  reflection), textured land, a road in perspective, a house, fir or broadleaf trees, a sailing boat,
  the sun or the moon with stars, puffy clouds; finally a little grain. Unlabelled distractors: orange
  skies without a sun, low green hills, dry or green ground.

Label structure (built to be long-tailed and correlated, like real data)
  snow only with mountain; boat only with sea; sun far more often over the sea; moon only at night;
  {negatives:,} images ({negatives / n_images:.1%}) have no label at all and are valid negatives.

Label counts in this data set
{table}
"""
