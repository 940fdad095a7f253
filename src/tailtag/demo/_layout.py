"""Where things go in a demo scene: horizon, mountains, sun, clouds, shore, road, house, trees, boat.

`draw` places every element of a `Scene` so that each labelled one stays visible (the sun above the
ridges, clouds clear of the sun and of snowy peaks, trees off the road and the house) and paints them
back to front with the painters of `_draw`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from tailtag.demo import _draw as paint

if TYPE_CHECKING:
    from tailtag.demo.scenes import Scene

_DAY = ((30, 70), (90, 130), (170, 215)), ((160, 200), (195, 225), (225, 245))
_SUNSET = ((60, 110), (50, 80), (120, 160)), ((235, 255), (140, 180), (70, 110))
_NIGHT = ((10, 25), (15, 30), (50, 80)), ((50, 70), (60, 80), (110, 140))
_NIGHT_DIMMING = np.asarray((0.55, 0.6, 0.75), np.float32)


@dataclass
class _Plan:
    """Geometry shared between the placement steps, in pixels of the (S, S) canvas."""

    size: int
    horizon: float
    land_top: float  # first row of land (the horizon, or the shore line in a sea scene), size if none
    peaks: list[tuple[float, float]] = field(default_factory=list)
    snowy: list[tuple[float, float]] = field(default_factory=list)
    ridge_mask: np.ndarray | None = None  # (S, S) float, mountains
    light: tuple[float, float, float] | None = None  # (x, y, radius) of the sun or moon
    taken: list[tuple[float, float]] = field(default_factory=list)  # x spans on the ground in use


def draw(scene: Scene, rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float32 canvas with every element of `scene` painted, back to front."""
    labels = scene.labels
    plan = _plan(scene, rng, size)
    palette = _NIGHT if scene.night else _SUNSET if scene.sunset else _DAY
    top, bottom = (_pick(rng, p) for p in palette)
    canvas = np.array(paint.vertical_gradient(size, top, bottom, 0, plan.horizon, gamma=0.8), dtype=np.float32)
    if scene.night:
        paint.paint_stars(canvas, rng, np.ones((size, size), bool), int(rng.integers(40, 90)) * size // 256)
    mountains = _mountains(rng, plan, "snow" in labels) if "mountain" in labels else []
    if "sun" in labels or "moon" in labels:
        plan.light = _place_light(rng, plan)
    if "sun" in labels:
        sun_colour = (255.0, 196.0, 110.0) if scene.sunset else (255.0, 250.0, 215.0)
        paint.paint_sun(canvas, *plan.light, sun_colour)
    if scene.hills and "mountain" not in labels and plan.land_top < size:
        _paint_hills(canvas, rng, plan)
    for polygon, mask, colour, snow_line in mountains:
        paint.paint_mountain(canvas, rng, mask, polygon["peak"][0], colour)
        if snow_line is not None:
            paint.paint_snow(canvas, rng, mask, polygon["peak"], snow_line)
    if "clouds" in labels:
        _clouds(canvas, rng, plan, night=scene.night, sunset=scene.sunset)
    if "sea" in labels:
        _sea(canvas, rng, plan, bottom, sunset=scene.sunset, sun="sun" in labels)
    if plan.land_top < size:
        _land(canvas, rng, plan, scene, "sea" in labels)
    _ground_objects(canvas, rng, plan, labels)
    if scene.night:
        canvas *= _NIGHT_DIMMING
        paint.paint_moon(canvas, rng, *plan.light)
    return canvas


def _pick(rng: np.random.Generator, ranges) -> tuple[float, float, float]:
    return tuple(float(rng.uniform(low, high)) for low, high in ranges)


def _plan(scene: Scene, rng: np.random.Generator, size: int) -> _Plan:
    labels = scene.labels
    horizon = size * rng.uniform(0.4, 0.55) if "sea" in labels else size * rng.uniform(0.45, 0.62)
    if "mountain" in labels:
        horizon = max(horizon, size * 0.5)  # leave the peaks room to rise
    land_top = float(size)
    if "sea" not in labels:
        land_top = horizon
    elif labels & {"trees", "road", "house"} or rng.random() < 0.35:
        land_top = horizon + (size - horizon) * rng.uniform(0.5, 0.62)
    return _Plan(size=size, horizon=horizon, land_top=land_top)


def _mountains(rng: np.random.Generator, plan: _Plan, snow: bool) -> list:
    """1-3 peaks, far ones paler; the main (last, nearest) peak is tall and carries the snow."""
    size, horizon = plan.size, plan.horizon
    n = int(rng.integers(1, 4))
    masks = np.zeros((size, size), np.float32)
    out = []
    for k in range(n):
        main = k == n - 1
        height = size * (rng.uniform(0.2, 0.32) if main else rng.uniform(0.12, 0.22))
        peak = (size * rng.uniform(0.2, 0.8), horizon - height)
        outline = paint.mountain_polygon(rng, peak, size * rng.uniform(0.24, 0.4), horizon + 2)
        mask = paint.shape_mask(size, lambda d, o=outline: d.polygon(o, fill=255))
        haze = 0.0 if main else 0.25  # aerial perspective: distant rock turns towards the sky colour
        rock = np.asarray(_pick(rng, ((95, 135), (90, 120), (85, 115))))
        colour = tuple(rock * (1 - haze) + np.asarray((150.0, 170.0, 200.0)) * haze)
        has_snow = snow and (main or rng.random() < 0.5)
        snow_line = peak[1] + height * rng.uniform(0.4, 0.55) if has_snow else None
        plan.peaks.append(peak)
        if has_snow:
            plan.snowy.append(peak)
        masks = np.maximum(masks, mask)
        out.append(({"peak": peak}, mask, colour, snow_line))
    plan.ridge_mask = masks
    return out


def _place_light(rng: np.random.Generator, plan: _Plan) -> tuple[float, float, float]:
    """A sun or moon position in open sky: above the ridges, inside the frame, not at the very top."""
    size, horizon = plan.size, plan.horizon
    radius = size * rng.uniform(0.055, 0.085)
    best, best_cover = None, 2.0
    for _ in range(30):
        x = size * rng.uniform(0.12, 0.88)
        y = rng.uniform(radius + 0.04 * size, max(horizon - radius - 0.03 * size, radius + 0.05 * size))
        cover = _covered(plan, x, y, radius)
        if cover < best_cover:
            best, best_cover = (x, y, radius), cover
        if cover == 0.0:
            break
    return best


def _covered(plan: _Plan, x: float, y: float, radius: float) -> float:
    """Fraction of the disc's bounding box hidden by mountains."""
    if plan.ridge_mask is None:
        return 0.0
    y0, y1 = int(max(y - radius, 0)), int(min(y + radius + 1, plan.size))
    x0, x1 = int(max(x - radius, 0)), int(min(x + radius + 1, plan.size))
    return float(plan.ridge_mask[y0:y1, x0:x1].mean())


def _clouds(canvas: np.ndarray, rng: np.random.Generator, plan: _Plan, *, night: bool, sunset: bool) -> None:
    """1-3 clouds, kept clear of the sun or moon, snowy peaks and mountain tops so those stay visible."""
    size = plan.size
    colour = (150.0, 155.0, 170.0) if night else (252.0, 222.0, 205.0) if sunset else (250.0, 250.0, 252.0)
    # (x, y, radius, margin in cloud widths): a cloud's puffs reach ~0.8 widths from its centre.
    avoid = [(*plan.light, 0.8)] if plan.light else []
    avoid += [(x, y + 0.05 * size, 0.08 * size, 0.8) for x, y in plan.snowy]
    avoid += [(x, y, 0.0, 0.35) for x, y in plan.peaks]
    for _ in range(int(rng.integers(1, 4))):
        best, best_clearance = None, -np.inf
        for _try in range(25):  # the clearest of a few random spots
            width = size * rng.uniform(0.24, 0.4)
            x = size * rng.uniform(0.1, 0.9)
            y = rng.uniform(0.08 * size, max(plan.horizon - 0.12 * size, 0.1 * size))
            clearance = min((np.hypot(x - ax, y - ay) - r - m * width for ax, ay, r, m in avoid), default=1.0)
            if clearance > best_clearance:
                best, best_clearance = (x, y, width), clearance
            if clearance > 0:
                break
        paint.paint_cloud(canvas, rng, best, colour)
        avoid.append((best[0], best[1], 0.3 * best[2], 0.3))


def _sea(canvas, rng: np.random.Generator, plan: _Plan, sky_bottom, *, sunset: bool, sun: bool) -> None:
    deep = _pick(rng, ((15, 40), (55, 90), (100, 140)))
    near_horizon = tuple(0.55 * np.asarray(sky_bottom) + 0.45 * np.asarray(deep))
    bottom = min(plan.land_top + 0.03 * plan.size, plan.size)
    paint.paint_sea(canvas, rng, plan.horizon, bottom, (near_horizon, deep))
    if sun and plan.light is not None:
        glint = (255.0, 190.0, 110.0) if sunset else (250.0, 245.0, 220.0)
        paint.paint_reflection(canvas, rng, plan.light[0], plan.horizon, bottom, glint)


def _land(canvas, rng: np.random.Generator, plan: _Plan, scene: Scene, sea: bool) -> None:
    size = plan.size
    xs = np.linspace(-2, size + 2, 17)
    wave = rng.normal(0, 0.012 * size if sea else 0.004 * size, xs.size)
    outline = [(float(x), float(plan.land_top + w)) for x, w in zip(xs, wave, strict=True)]
    outline += [(size + 2.0, size + 2.0), (-2.0, size + 2.0)]
    if sea and rng.random() < 0.6:  # a sandy beach between the water and the grass
        beach = [(x, y - 0.015 * size) for x, y in outline[:-2]] + outline[-2:]
        paint.paint_ground(canvas, rng, beach, _pick(rng, ((200, 225), (180, 200), (130, 150))))
        outline = [(x, y + 0.03 * size) for x, y in outline[:-2]] + outline[-2:]
    dry = ((160, 190), (150, 170), (90, 110))
    grass = ((70, 110), (120, 160), (40, 70))
    paint.paint_ground(canvas, rng, outline, _pick(rng, dry if scene.dry_ground else grass))


def _paint_hills(canvas: np.ndarray, rng: np.random.Generator, plan: _Plan) -> None:
    """Low rolling green hills on the horizon: an unlabelled look-alike for mountains."""
    size = plan.size
    xs = np.linspace(-2, size + 2, 40)
    heights = 0.05 * size * (1 + np.sin(xs / size * rng.uniform(4, 9) + rng.uniform(0, 6)))
    outline = [(float(x), float(plan.horizon - h)) for x, h in zip(xs, heights, strict=True)]
    outline += [(size + 2.0, plan.horizon + 4), (-2.0, plan.horizon + 4)]
    paint.paint_ground(canvas, rng, outline, _pick(rng, ((80, 110), (120, 150), (70, 100))))


def _ground_objects(canvas: np.ndarray, rng: np.random.Generator, plan: _Plan, labels: frozenset[str]) -> None:
    """Road, house, boat and trees, far to near, each on its own stretch of ground."""
    size, top = plan.size, plan.land_top
    if "road" in labels:
        bottom_x, width = size * rng.uniform(0.3, 0.7), size * rng.uniform(0.4, 0.58)
        paint.paint_road(canvas, rng, top, bottom_x, size * rng.uniform(0.35, 0.65), width)
        plan.taken.append((bottom_x - 0.5 * width, bottom_x + 0.5 * width))
    if "boat" in labels:
        sea_bottom = min(top, size)
        waterline = plan.horizon + (sea_bottom - plan.horizon) * rng.uniform(0.45, 0.85)
        paint.paint_boat(canvas, rng, size * rng.uniform(0.2, 0.8), waterline, size * rng.uniform(0.16, 0.24))
    items = []
    if "house" in labels:
        base = top + (size - top) * rng.uniform(0.35, 0.75)
        items.append(("house", base, size * rng.uniform(0.2, 0.28) * _depth(plan, base)))
    if "trees" in labels:
        for _ in range(int(rng.integers(1, 4) if "sea" in labels else rng.integers(2, 7))):
            base = top + (size - top) * rng.uniform(0.2, 1.0)
            items.append(("tree", base, size * rng.uniform(0.26, 0.4) * _depth(plan, base)))
    conifers = rng.random()
    for kind, base, extent in sorted(items, key=lambda item: item[1]):  # far ones first
        # Trees may overlap each other (a grove) but never the house or the road.
        x = _free_x(rng, plan, 0.5 * extent if kind == "house" else 0.35 * extent, claim=kind == "house")
        if kind == "house":
            paint.paint_house(canvas, rng, x, base, extent)
        elif rng.random() < conifers:
            paint.paint_conifer(canvas, rng, x, base, extent)
        else:
            paint.paint_broadleaf(canvas, rng, x, base, extent)


def _depth(plan: _Plan, base: float) -> float:
    """Perspective scale: things near the land's far edge are drawn at 0.6x, at the bottom at 1x."""
    span = max(plan.size - plan.land_top, 1.0)
    return 0.6 + 0.4 * (base - plan.land_top) / span


def _free_x(rng: np.random.Generator, plan: _Plan, half: float, claim: bool) -> float:
    """A centre x whose span [x - half, x + half] overlaps no claimed span (best effort); `claim` keeps it."""
    size = plan.size
    x = size * rng.uniform(0.1, 0.9)
    for _ in range(30):
        if all(x + half < lo or x - half > hi for lo, hi in plan.taken):
            break
        x = size * rng.uniform(0.08, 0.92)
    if claim:
        plan.taken.append((x - half, x + half))
    return x
