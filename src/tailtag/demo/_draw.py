"""Painters for the procedural demo scenes: each draws one element onto an (S, S, 3) float32 canvas.

A painter takes the canvas, a numpy `Generator` and the element's geometry in pixels, and blends a
textured colour through a soft 0..1 mask. Masks come from `PIL.ImageDraw` shapes, textures from value
noise (random grids upsampled bicubically), so every scene is numpy + Pillow only and deterministic in
the generator's state.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Colour = tuple[float, float, float]


def value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """(size, size) float32 smooth noise, roughly in [-1, 1], with about `cells` blobs per side."""
    grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    return np.asarray(Image.fromarray(grid, "F").resize((size, size), Image.Resampling.BICUBIC))


def shape_mask(size: int, draw: Callable[[ImageDraw.ImageDraw], None], blur: float = 0.0) -> np.ndarray:
    """(size, size) float32 0..1 mask of whatever `draw` paints with fill=255 (blurred for soft edges)."""
    image = Image.new("L", (size, size), 0)
    draw(ImageDraw.Draw(image))
    box = image.getbbox()
    if blur > 0 and box is not None:
        # Blur only around the shape: a full-canvas Gaussian costs more than all the drawing.
        pad = int(3 * blur) + 1
        box = (max(box[0] - pad, 0), max(box[1] - pad, 0), min(box[2] + pad, size), min(box[3] + pad, size))
        image.paste(image.crop(box).filter(ImageFilter.GaussianBlur(blur)), box[:2])
    return np.asarray(image, dtype=np.float32) / 255.0


def blend(canvas: np.ndarray, mask: np.ndarray, colour: Colour | np.ndarray, texture: np.ndarray | None = None) -> None:
    """canvas <- canvas * (1 - mask) + paint * mask, where paint = colour x (1 + texture), in place.

    Args:
        canvas: (S, S, 3) float32, 0..255.
        mask: (S, S) float32 in 0..1.
        colour: RGB triple, or an (S, S, 3) array of colours.
        texture: (S, S) float32 relative brightness variation (0.1 = +-10 %), or None.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return
    # Work on the mask's bounding box only: most elements cover a small part of the canvas.
    box = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    paint = np.asarray(colour, dtype=np.float32)
    if paint.ndim == 3:
        paint = paint[box]
    if texture is not None:
        paint = paint * (1.0 + texture[box][..., None])
    region = canvas[box]
    region += (paint - region) * mask[box][..., None]


def vertical_gradient(size: int, top: Colour, bottom: Colour, y0: float, y1: float, gamma: float = 1.0) -> np.ndarray:
    """(S, S, 3) colours going from `top` at row y0 to `bottom` at row y1 (clamped outside)."""
    t = np.clip((np.arange(size, dtype=np.float32) - y0) / max(y1 - y0, 1.0), 0.0, 1.0) ** gamma
    column = np.asarray(top, np.float32) + (np.asarray(bottom, np.float32) - np.asarray(top, np.float32)) * t[:, None]
    return np.broadcast_to(column[:, None, :], (size, size, 3))


def disc_alpha(size: int, cx: float, cy: float, radius: float) -> np.ndarray:
    """(S, S) anti-aliased disc and the distance field, stacked: returns (alpha, distance)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    distance = np.hypot(xs - cx, ys - cy)
    return np.clip(radius - distance + 0.5, 0.0, 1.0), distance


def paint_sun(canvas: np.ndarray, cx: float, cy: float, radius: float, colour: Colour) -> None:
    """A bright disc with a wide soft glow around it."""
    size = canvas.shape[0]
    alpha, distance = disc_alpha(size, cx, cy, radius)
    glow = np.clip(1.0 - (distance - radius) / (2.5 * radius), 0.0, 1.0) ** 2 * 0.55
    blend(canvas, glow, (255.0, 240.0, 190.0))
    blend(canvas, alpha, colour)


def paint_moon(canvas: np.ndarray, rng: np.random.Generator, cx: float, cy: float, radius: float) -> None:
    """A pale full or crescent moon with a faint halo; craters on the full moon."""
    size = canvas.shape[0]
    alpha, distance = disc_alpha(size, cx, cy, radius)
    halo = np.clip(1.0 - (distance - radius) / (1.5 * radius), 0.0, 1.0) ** 2 * 0.25
    blend(canvas, halo, (200.0, 210.0, 230.0))
    if rng.random() < 0.5:  # crescent: cut the disc with a shifted one
        angle = rng.uniform(0, 2 * np.pi)
        shift = rng.uniform(0.45, 0.7) * radius
        cut, _ = disc_alpha(size, cx + shift * np.cos(angle), cy + shift * np.sin(angle), radius)
        alpha = alpha * (1.0 - cut)
    texture = 0.08 * value_noise(rng, size, 24)
    blend(canvas, alpha, (238.0, 236.0, 214.0), texture)


def paint_stars(canvas: np.ndarray, rng: np.random.Generator, sky: np.ndarray, count: int) -> None:
    """`count` small points of light, only where `sky` (S, S bool) is still open sky."""
    size = canvas.shape[0]
    ys = rng.integers(0, size - 1, count)
    xs = rng.integers(0, size - 1, count)
    brightness = rng.uniform(150, 255, count).astype(np.float32)
    for y, x, b in zip(ys, xs, brightness, strict=True):
        if sky[y, x]:
            canvas[y : y + 2, x : x + 2] = np.maximum(canvas[y : y + 2, x : x + 2], b)


def paint_cloud(canvas: np.ndarray, rng: np.random.Generator, box: tuple[float, float, float], colour: Colour) -> None:
    """A puffy cloud of overlapping ellipses, lit from above; box = (centre x, centre y, width)."""
    size = canvas.shape[0]
    cx, cy, width = box
    n_puffs = int(rng.integers(5, 9))
    offsets = rng.uniform(-0.5, 0.5, (n_puffs, 2)) * (width, 0.25 * width)
    radii = rng.uniform(0.14, 0.26, n_puffs) * width

    def draw(shift: float) -> Callable[[ImageDraw.ImageDraw], None]:
        def puffs(d: ImageDraw.ImageDraw) -> None:
            for (dx, dy), r in zip(offsets, radii, strict=True):
                flat = 0.8 * r if dy > 0 else r  # flatter underside
                d.ellipse((cx + dx - 1.3 * r, cy + dy - flat - shift, cx + dx + 1.3 * r, cy + dy + flat - shift), 255)

        return puffs

    shade = tuple(0.78 * c for c in colour)
    blend(canvas, shape_mask(size, draw(0.0), blur=size * 0.006), shade, 0.05 * value_noise(rng, size, 12))
    blend(canvas, shape_mask(size, draw(0.06 * width), blur=size * 0.008), colour)


def ridge(rng: np.random.Generator, start: tuple[float, float], end: tuple[float, float], depth: int) -> list:
    """Jagged line from start to end by midpoint displacement (each level halves the jitter)."""
    points = [start, end]
    jitter = 0.18 * np.hypot(end[0] - start[0], end[1] - start[1])
    for _ in range(depth):
        refined = [points[0]]
        for (x0, y0), (x1, y1) in zip(points[:-1], points[1:], strict=True):
            refined += [((x0 + x1) / 2 + rng.normal(0, jitter * 0.3), (y0 + y1) / 2 + rng.normal(0, jitter)), (x1, y1)]
        points = refined
        jitter *= 0.5
    return points


def mountain_polygon(rng: np.random.Generator, peak: tuple[float, float], half_width: float, base_y: float) -> list:
    """Outline of one mountain: a jagged left slope up to the peak and down the right slope."""
    left = ridge(rng, (peak[0] - half_width, base_y), peak, depth=4)
    right = ridge(rng, peak, (peak[0] + half_width, base_y), depth=4)
    return left + right[1:] + [(peak[0] + half_width, base_y + 4), (peak[0] - half_width, base_y + 4)]


def paint_mountain(canvas: np.ndarray, rng: np.random.Generator, mask: np.ndarray, peak_x: float, colour: Colour):
    """Rock texture with the side away from the light darker; `mask` from `mountain_polygon`."""
    size = canvas.shape[0]
    xs = np.arange(size, dtype=np.float32)[None, :]
    wobble = 0.03 * size * value_noise(rng, size, 10)
    sunlit = 1.0 - 0.28 * (xs + wobble > peak_x)
    texture = 0.12 * value_noise(rng, size, 30) + 0.06 * value_noise(rng, size, 60)
    blend(canvas, mask, np.asarray(colour, np.float32) * sunlit[..., None], texture)


def paint_snow(
    canvas: np.ndarray, rng: np.random.Generator, mask: np.ndarray, peak: tuple[float, float], line_y: float
):
    """White cap on the part of a mountain above `line_y`, with a ragged lower edge."""
    size = canvas.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    ragged = line_y + 0.05 * size * value_noise(rng, size, 16)
    cap = mask * np.clip((ragged - ys) / 2.0, 0.0, 1.0)
    shade = np.where(xs > peak[0], 0.84, 1.0).astype(np.float32)[..., None]
    blend(canvas, cap, np.asarray((238.0, 242.0, 250.0), np.float32) * shade, 0.04 * value_noise(rng, size, 40))


def paint_sea(canvas: np.ndarray, rng: np.random.Generator, top: float, bottom: float, colours: tuple[Colour, Colour]):
    """Water between rows top and bottom: lighter at the horizon, wave bands that crowd towards it."""
    size = canvas.shape[0]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    depth = np.clip((ys - top) / max(bottom - top, 1.0), 0.0, 1.0)
    wobble = 2.5 * value_noise(rng, size, 8)
    bands = np.sin(22.0 * np.sqrt(depth + 1e-3) * (1 + 0.4 * depth) + wobble + 0.05 * xs * (depth > 0.05))
    texture = 0.10 * bands * (0.4 + depth) + 0.05 * value_noise(rng, size, 40)
    water = vertical_gradient(size, colours[0], colours[1], top, bottom)
    inside = ((ys >= top) & (ys < bottom)).astype(np.float32)
    blend(canvas, inside, water, texture)
    n_caps = int(rng.integers(6, 16))
    caps = shape_mask(size, lambda d: _whitecaps(d, rng, top, bottom, size, n_caps), blur=0.6)
    blend(canvas, caps * 0.55 * inside, (235.0, 242.0, 248.0))


def _whitecaps(draw: ImageDraw.ImageDraw, rng: np.random.Generator, top: float, bottom: float, size: int, n: int):
    for _ in range(n):
        y = rng.uniform(top + 0.15 * (bottom - top), bottom)
        length = size * rng.uniform(0.03, 0.09) * (0.4 + (y - top) / max(bottom - top, 1.0))
        x = rng.uniform(0, size)
        draw.ellipse((x - length, y - 0.8, x + length, y + 0.8 + 0.01 * size), 255)


def paint_reflection(canvas: np.ndarray, rng: np.random.Generator, x: float, top: float, bottom: float, colour: Colour):
    """Broken vertical streak of light on the water below the sun (or moon)."""
    size = canvas.shape[0]

    def dashes(d: ImageDraw.ImageDraw) -> None:
        y = top + 1
        while y < bottom:
            half = size * (0.015 + 0.07 * (y - top) / max(bottom - top, 1.0)) * rng.uniform(0.4, 1.0)
            jitter = rng.normal(0, 0.01 * size)
            d.rectangle((x + jitter - half, y, x + jitter + half, y + max(1.0, 0.008 * size)), 255)
            y += size * rng.uniform(0.012, 0.03)

    blend(canvas, shape_mask(size, dashes, blur=0.8) * 0.8, colour)


def paint_ground(canvas: np.ndarray, rng: np.random.Generator, outline: list, colour: Colour) -> np.ndarray:
    """Textured land inside polygon `outline`, darker towards the bottom; returns its mask."""
    size = canvas.shape[0]
    mask = shape_mask(size, lambda d: d.polygon(outline, fill=255))
    shade = vertical_gradient(size, colour, tuple(0.72 * c for c in colour), size * 0.4, size)
    texture = 0.10 * value_noise(rng, size, 20) + 0.08 * value_noise(rng, size, 90)
    blend(canvas, mask, shade, texture)
    return mask


def paint_road(canvas: np.ndarray, rng: np.random.Generator, top: float, bottom_x: float, far_x: float, width: float):
    """Asphalt narrowing towards (far_x, top), with a dashed centre line spaced by perspective."""
    size = canvas.shape[0]
    far_half = 0.012 * size
    outline = [
        (far_x - far_half, top),
        (far_x + far_half, top),
        (bottom_x + width / 2, size),
        (bottom_x - width / 2, size),
    ]
    mask = shape_mask(size, lambda d: d.polygon(outline, fill=255))
    grey = float(rng.uniform(85, 120))
    blend(canvas, mask, (grey, grey, grey * 1.04), 0.07 * value_noise(rng, size, 60))
    line = (250.0, 215.0, 70.0) if rng.random() < 0.5 else (245.0, 245.0, 240.0)

    def dashes(d: ImageDraw.ImageDraw) -> None:
        for k in range(8):  # t ~ k^2: dashes get longer and further apart towards the viewer
            t0, t1 = (k / 8) ** 2, ((k + 0.5) / 8) ** 2
            (x0, y0), (x1, y1) = _along(far_x, top, bottom_x, size, t0), _along(far_x, top, bottom_x, size, t1)
            h0, h1 = 0.5 + 0.02 * width * t0 * 4, 0.5 + 0.02 * width * t1 * 4
            d.polygon([(x0 - h0, y0), (x0 + h0, y0), (x1 + h1, y1), (x1 - h1, y1)], fill=255)

    blend(canvas, shape_mask(size, dashes), line)


def _along(x_far: float, y_far: float, x_near: float, y_near: float, t: float) -> tuple[float, float]:
    return x_far + (x_near - x_far) * t, y_far + (y_near - y_far) * t


def paint_house(canvas: np.ndarray, rng: np.random.Generator, x: float, base: float, width: float) -> None:
    """Walls, a pitched roof, a door and two windows; x is the centre, base the ground row."""
    size = canvas.shape[0]
    height = width * rng.uniform(0.6, 0.8)
    left, right, top = x - width / 2, x + width / 2, base - height
    walls = [(230, 220, 200), (200, 70, 60), (240, 240, 235), (120, 150, 190), (215, 180, 110)]
    roofs = [(130, 50, 40), (70, 60, 60), (150, 80, 50), (60, 80, 110)]
    wall = walls[int(rng.integers(len(walls)))]
    roof = roofs[int(rng.integers(len(roofs)))]
    blend(canvas, shape_mask(size, lambda d: d.rectangle((left, top, right, base), 255)), wall, None)
    overhang, peak = 0.12 * width, top - width * rng.uniform(0.35, 0.5)
    roof_outline = [(left - overhang, top + 1), (right + overhang, top + 1), (x, peak)]
    blend(canvas, shape_mask(size, lambda d: d.polygon(roof_outline, fill=255)), roof, None)
    door_w, door_x = 0.2 * width, x + rng.uniform(-0.2, 0.2) * width
    blend(
        canvas,
        shape_mask(
            size, lambda d: d.rectangle((door_x - door_w / 2, base - 0.6 * height, door_x + door_w / 2, base), 255)
        ),
        (90, 60, 40),
    )
    glass = (150, 200, 230)
    for wx in (left + 0.12 * width, right - 0.32 * width):
        if abs(wx + 0.1 * width - door_x) > 0.2 * width:
            window = (wx, top + 0.2 * height, wx + 0.2 * width, top + 0.45 * height)
            blend(canvas, shape_mask(size, lambda d, w=window: d.rectangle(w, 255)), glass)


def paint_conifer(canvas: np.ndarray, rng: np.random.Generator, x: float, base: float, height: float) -> None:
    """A fir: short trunk and three stacked triangles of dark green."""
    size = canvas.shape[0]
    trunk = (x - 0.04 * height, base - 0.15 * height, x + 0.04 * height, base)
    blend(canvas, shape_mask(size, lambda d: d.rectangle(trunk, 255)), (90, 60, 35))
    green = np.asarray((rng.uniform(20, 50), rng.uniform(80, 120), rng.uniform(35, 60)), np.float32)
    width = height * rng.uniform(0.38, 0.5)

    def tiers(d: ImageDraw.ImageDraw) -> None:
        for k in range(3):
            bottom = base - 0.12 * height - k * 0.26 * height
            half = width / 2 * (1.0 - 0.22 * k)
            d.polygon([(x - half, bottom), (x + half, bottom), (x, bottom - 0.45 * height)], fill=255)

    blend(canvas, shape_mask(size, tiers), tuple(green), 0.12 * value_noise(rng, size, 50))


def paint_broadleaf(canvas: np.ndarray, rng: np.random.Generator, x: float, base: float, height: float) -> None:
    """A deciduous tree: a trunk under a cluster of round leafy blobs, lit from the top left."""
    size = canvas.shape[0]
    trunk = [(x - 0.05 * height, base), (x + 0.05 * height, base), (x + 0.03 * height, base - 0.55 * height),
             (x - 0.03 * height, base - 0.55 * height)]  # fmt: skip
    blend(canvas, shape_mask(size, lambda d: d.polygon(trunk, fill=255)), (100, 70, 40))
    centres = rng.normal(0, 0.13 * height, (5, 2)) + (x, base - 0.68 * height)
    radii = rng.uniform(0.17, 0.26, 5) * height
    green = np.asarray((rng.uniform(40, 90), rng.uniform(110, 160), rng.uniform(30, 60)), np.float32)

    def crown(shift: float, scale: float) -> Callable[[ImageDraw.ImageDraw], None]:
        def blobs(d: ImageDraw.ImageDraw) -> None:
            for (cx, cy), r in zip(centres, radii * scale, strict=True):
                d.ellipse((cx - r - shift, cy - r - shift, cx + r - shift, cy + r - shift), 255)

        return blobs

    blend(canvas, shape_mask(size, crown(0.0, 1.0), blur=0.7), tuple(0.75 * green), 0.15 * value_noise(rng, size, 60))
    blend(
        canvas, shape_mask(size, crown(0.05 * height, 0.7), blur=1.2), tuple(green), 0.15 * value_noise(rng, size, 60)
    )


def paint_boat(canvas: np.ndarray, rng: np.random.Generator, x: float, waterline: float, width: float) -> None:
    """A sailing boat: coloured hull, mast, and a white triangular sail."""
    size = canvas.shape[0]
    hull_h = 0.22 * width
    hull = [(x - width / 2, waterline - hull_h), (x + width / 2, waterline - hull_h),
            (x + 0.35 * width, waterline), (x - 0.35 * width, waterline)]  # fmt: skip
    colours = [(150, 40, 35), (240, 240, 240), (60, 70, 90), (170, 110, 60)]
    blend(canvas, shape_mask(size, lambda d: d.polygon(hull, fill=255)), colours[int(rng.integers(len(colours)))])
    mast_top = waterline - hull_h - 1.0 * width
    blend(canvas, shape_mask(size, lambda d: d.line((x, waterline - hull_h, x, mast_top), 255, 2)), (70, 50, 30))
    sail = [(x + 2, mast_top + 2), (x + 2, waterline - hull_h - 2), (x + 0.42 * width, waterline - hull_h - 2)]
    jib = [(x - 2, mast_top + 0.25 * width), (x - 2, waterline - hull_h - 2), (x - 0.3 * width, waterline - hull_h - 2)]
    blend(canvas, shape_mask(size, lambda d: (d.polygon(sail, fill=255), d.polygon(jib, fill=255))), (245, 243, 235))
