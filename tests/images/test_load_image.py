"""`load_image` / `read_header` on every odd and broken kind of file, generated in tmp_path."""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tailtag.errors import BadImageError, OptionError
from tailtag.images import load_image, read_header, to_rgb


def _gradient(width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 smooth image (JPEG-friendly, so decoded values stay close to these)."""
    x = np.linspace(0, 255, width)[None, :]
    y = np.linspace(0, 255, height)[:, None]
    return np.stack([x + 0 * y, y + 0 * x, np.full((height, width), 128.0)], axis=-1).astype(np.uint8)


def _save(tmp_path: Path, name: str, image: Image.Image, **kwargs) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def _png_claiming(tmp_path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose IHDR declares `width` x `height` (the pixel data do not match: never decoded)."""
    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = 8  # after the signature: length (4), b"IHDR" (4), then width and height
    struct.pack_into(">II", data, ihdr + 8, width, height)
    crc = zlib.crc32(bytes(data[ihdr + 4 : ihdr + 8 + 13]))
    struct.pack_into(">I", data, ihdr + 8 + 13, crc)
    path = tmp_path / "bomb.png"
    path.write_bytes(bytes(data))
    return path


def test_rgb_jpeg_round_trip(tmp_path):
    array = _gradient(40, 30)
    image = load_image(_save(tmp_path, "a.jpg", Image.fromarray(array), quality=95))
    assert image.mode == "RGB" and image.size == (40, 30)
    assert np.abs(np.asarray(image).astype(int) - array).mean() < 3


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    cmyk = Image.new("CMYK", (16, 12), (0, 255, 255, 0))  # pure red in CMYK
    image = load_image(_save(tmp_path, "cmyk.jpg", cmyk, quality=95))
    assert image.mode == "RGB"
    r, g, b = np.asarray(image).reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60


def test_palette_png_with_transparency_is_white_where_transparent(tmp_path):
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)  # index 0 black (transparent), 1 green
    palette.putpixel((0, 0), 1)
    path = _save(tmp_path, "p.png", palette, transparency=0)
    pixels = np.asarray(load_image(path))
    assert tuple(pixels[0, 0]) == (10, 200, 30)
    assert tuple(pixels[5, 5]) == (255, 255, 255)


def test_palette_without_transparency(tmp_path):
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert tuple(np.asarray(load_image(_save(tmp_path, "p.gif", palette)))[1, 1]) == (10, 200, 30)


def test_la_png_composites_on_white(tmp_path):
    la = np.zeros((2, 2, 2), dtype=np.uint8)
    la[0, 0] = (100, 255)  # opaque gray
    la[0, 1] = (0, 0)  # fully transparent black -> white
    la[1, 0] = (0, 128)  # half transparent black -> mid gray
    pixels = np.asarray(load_image(_save(tmp_path, "la.png", Image.fromarray(la, "LA"))))
    assert tuple(pixels[0, 0]) == (100, 100, 100)
    assert tuple(pixels[0, 1]) == (255, 255, 255)
    assert abs(int(pixels[1, 0, 0]) - 127) <= 2


def test_rgba_transparent_pixel_is_white_not_black(tmp_path):
    rgba = np.zeros((3, 3, 4), dtype=np.uint8)
    rgba[..., :3] = (200, 10, 10)
    rgba[..., 3] = 255
    rgba[1, 1] = (0, 0, 0, 0)
    pixels = np.asarray(load_image(_save(tmp_path, "rgba.png", Image.fromarray(rgba, "RGBA"))))
    assert tuple(pixels[1, 1]) == (255, 255, 255)
    assert tuple(pixels[0, 0]) == (200, 10, 10)


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    path = _save(tmp_path, "deep.png", Image.fromarray(values))
    assert read_header(path).mode.startswith("I")
    pixels = np.asarray(load_image(path))[0, :, 0]
    assert pixels.tolist() == [0, 1, 128, 255]


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("1", np.array([[0, 1]], dtype=bool), [0, 255]),
        ("L", np.array([[7, 250]], dtype=np.uint8), [7, 250]),
        ("I", np.array([[0, 200]], dtype=np.int32), [0, 200]),  # fits 8 bits: kept
        ("I", np.array([[0, 65535]], dtype=np.int32), [0, 255]),  # 16-bit range
        ("I", np.array([[-1000, 1000]], dtype=np.int32), [0, 255]),  # stretched
        ("F", np.array([[0.0, 0.5, 1.0]], dtype=np.float32), [0, 128, 255]),
        ("F", np.array([[-2.0, 2.0]], dtype=np.float32), [0, 255]),
    ],
)
def test_gray_modes(mode, values, expected):
    image = Image.fromarray(values.astype(np.uint8) * 255, "L").convert("1") if mode == "1" else Image.fromarray(values)
    assert image.mode == mode
    rgb = np.asarray(to_rgb(image))
    assert rgb.shape == (*values.shape, 3)
    assert rgb[0, :, 0].tolist() == expected


def test_exif_orientation_6_swaps_dimensions(tmp_path):
    array = np.zeros((20, 60, 3), dtype=np.uint8)
    array[:, :10] = 255  # white band on the left of the stored image
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display needs a 90-degree clockwise turn
    path = _save(tmp_path, "rot.jpg", Image.fromarray(array), exif=exif, quality=95)
    image = load_image(path)
    assert image.size == (20, 60)
    pixels = np.asarray(image)
    assert pixels[:10].mean() > 200 and pixels[-10:].mean() < 50  # the band is now on top


def test_draft_decodes_smaller_but_not_below_draft_size(tmp_path):
    path = _save(tmp_path, "big.jpg", Image.fromarray(_gradient(1600, 1200)), quality=90)
    full = load_image(path)
    drafted = load_image(path, draft_size=(224, 224))
    assert full.size == (1600, 1200)
    assert drafted.size == (400, 300)  # 1/4: 1/8 would give 150 < 224 rows
    assert drafted.width >= 224 and drafted.height >= 224
    assert load_image(path, draft_size=(100, 100)).size == (200, 150)


def test_draft_respects_exif_rotation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(tmp_path, "rot.jpg", Image.fromarray(_gradient(1600, 800)), exif=exif)
    drafted = load_image(path, draft_size=(150, 300))  # upright is 800 x 1600
    assert drafted.size == (200, 400)


def test_draft_size_is_ignored_for_png_and_small_jpegs(tmp_path):
    png = _save(tmp_path, "a.png", Image.fromarray(_gradient(300, 200)))
    assert load_image(png, draft_size=(16, 16)).size == (300, 200)
    jpg = _save(tmp_path, "s.jpg", Image.fromarray(_gradient(100, 80)))
    assert load_image(jpg, draft_size=(224, 224)).size == (100, 80)


def test_truncated_jpeg(tmp_path):
    source = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(source)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    read_header(cut)  # the header is intact: only decoding finds the problem
    with pytest.raises(BadImageError, match=r"truncated JPEG") as caught:
        load_image(cut)
    assert caught.value.path == str(cut)


def test_truncated_png(tmp_path):
    source = _save(tmp_path, "full.png", Image.fromarray(_gradient(200, 200)))
    cut = tmp_path / "cut.png"
    cut.write_bytes(source.read_bytes()[:300])
    with pytest.raises(BadImageError, match=r"(truncated|corrupt) PNG"):
        load_image(cut)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_bytes(b""), r"^file is empty \(0 bytes\)$"),
        (lambda p: p.write_text("hello, this is not a picture\n"), r"^not an image \(.*it is plain text\)$"),
        (lambda p: p.write_text("<!DOCTYPE html><html>404</html>"), r"^not an image \(.*HTML"),
        (lambda p: p.write_bytes(bytes(range(256))), r"^not an image \(not a recognised image format\)$"),
        (lambda p: p.write_bytes(b"%PDF-1.7\n" + bytes(range(256))), r"^not an image \(.*it is a PDF document\)$"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40)), r"^corrupt PNG: the file starts like a PNG"),
        (
            lambda p: p.write_bytes(b"\0\0\0\x18ftypheic" + bytes(12)),
            r"^not an image Pillow can read \(.*'heic'.*pillow-heif",
        ),
        (lambda p: p.mkdir(), r"^is a directory"),
        (lambda p: None, r"^file not found$"),
    ],
    ids=["empty", "text", "html", "binary", "pdf", "png-header", "heic", "directory", "missing"],
)
def test_unusable_files(tmp_path, make, reason):
    path = tmp_path / "x.jpg"
    make(path)
    for reader in (load_image, read_header):
        with pytest.raises(BadImageError) as caught:
            reader(path)
        assert re.search(reason, caught.value.reason), caught.value.reason
        assert str(caught.value) == f"{path}: {caught.value.reason}"


def test_pixel_limit_from_the_header(tmp_path):
    path = _png_claiming(tmp_path, 12_000, 12_500)  # 150,000,000 pixels
    # Pillow's global guard warns above its own limit; tailtag's per-call limit is what refuses the file.
    with pytest.warns(Image.DecompressionBombWarning), pytest.raises(BadImageError) as caught:
        read_header(path, max_pixels=100_000_000)
    assert caught.value.reason == (
        "image has 150,000,000 pixels (12,000 x 12,500), over the limit of 100,000,000; "
        "decoding it could take up to 3,000 MB; raise --max-pixels if you trust it"
    )
    small = _save(tmp_path, "s.png", Image.new("RGB", (100, 50)))
    with pytest.raises(BadImageError, match=r": image has 5,000 pixels \(100 x 50\), over the limit of 4,999;"):
        load_image(small, max_pixels=4_999)
    assert load_image(small, max_pixels=5_000).size == (100, 50)


@pytest.mark.filterwarnings("error")
def test_pillow_bomb_warning_as_error_becomes_bad_image_error(tmp_path):
    path = _png_claiming(tmp_path, 10_000, 10_000)  # above Pillow's warning threshold, below its error one
    with pytest.raises(BadImageError, match=r"100,000,000 pixels.*over the limit of 50,000,000"):
        load_image(path)


def test_pillow_hard_limit_is_reported(tmp_path):
    path = _png_claiming(tmp_path, 20_000, 20_000)
    with pytest.raises(BadImageError, match=r"400,000,000 pixels, over Pillow's hard limit"):
        load_image(path, max_pixels=10**9)
    with pytest.raises(BadImageError, match=r"over the limit of 1,000,000; decoding it could take up to 8,000 MB"):
        load_image(path, max_pixels=1_000_000)


def test_bad_options():
    with pytest.raises(OptionError, match="max_pixels"):
        load_image("x.jpg", max_pixels=0)
    with pytest.raises(OptionError, match="draft_size"):
        load_image("x.jpg", draft_size=(0, 10))


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files through /proc")
def test_files_are_closed_after_loads_and_errors(tmp_path):
    good = _save(tmp_path, "g.jpg", Image.fromarray(_gradient(64, 64)))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:300])
    text = tmp_path / "t.jpg"
    text.write_text("not an image")
    bomb = _png_claiming(tmp_path, 500, 500)
    load_image(good)  # warm up lazy plugin imports before counting
    before = _open_fds()
    images = [load_image(good, draft_size=(8, 8)) for _ in range(5)]
    for path, kwargs in [(cut, {}), (text, {}), (bomb, {"max_pixels": 100})]:
        with pytest.raises(BadImageError):
            load_image(path, **kwargs)
        with pytest.raises(BadImageError):
            read_header(path, **kwargs) if path != cut else load_image(path)
    assert _open_fds() == before
    good.unlink()
    assert all(np.asarray(image).shape == (8, 8, 3) for image in images)  # independent of the file


def test_global_pillow_state_untouched(tmp_path):
    before = (Image.MAX_IMAGE_PIXELS, __import__("PIL.ImageFile").ImageFile.LOAD_TRUNCATED_IMAGES)
    cut = tmp_path / "cut.jpg"
    source = _save(tmp_path, "a.jpg", Image.fromarray(_gradient(64, 64)))
    cut.write_bytes(source.read_bytes()[:200])
    with pytest.raises(BadImageError):
        load_image(cut, max_pixels=10**9, draft_size=(8, 8))
    after = (Image.MAX_IMAGE_PIXELS, __import__("PIL.ImageFile").ImageFile.LOAD_TRUNCATED_IMAGES)
    assert before == after


def test_import_does_not_pull_in_torch():
    code = "import sys, tailtag.images, tailtag.demo; sys.exit(int('torch' in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_extreme_aspect_ratio_is_refused_before_decoding(tmp_path):
    from PIL import Image

    from tailtag.images.load import MAX_ASPECT_RATIO

    strip = tmp_path / "strip.png"
    Image.new("RGB", (MAX_ASPECT_RATIO * 3 + 1, 3)).save(strip)
    with pytest.raises(BadImageError, match="extreme aspect ratio"):
        load_image(strip)
    fine = tmp_path / "panorama.png"
    Image.new("RGB", (MAX_ASPECT_RATIO * 3, 3)).save(fine)
    assert load_image(fine).size == (MAX_ASPECT_RATIO * 3, 3)


def test_reasons_never_echo_the_file_contents(tmp_path):
    """Paths can come from someone else's label file, and reasons go to stderr, CSV and JSON reports."""
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    binary = tmp_path / "blob.jpg"
    binary.write_bytes(b"SECRETKEY" + bytes(range(200)))
    for path in (secret, binary):
        for reader in (load_image, read_header):
            with pytest.raises(BadImageError) as caught:
                reader(path)
            assert "root" not in caught.value.reason and "SECRET" not in caught.value.reason
            assert "53 45 43" not in caught.value.reason and "not a recognised image format" in caught.value.reason


def test_a_nul_byte_in_a_path_is_a_bad_image_not_a_crash(tmp_path):
    for reader in (load_image, read_header):
        with pytest.raises(BadImageError, match="NUL byte"):
            reader(str(tmp_path / "x\0.jpg"))


def test_default_pixel_limit_passes_50_mp_photos_and_refuses_bombs(tmp_path):
    from tailtag.images import DEFAULT_MAX_PIXELS

    assert DEFAULT_MAX_PIXELS == 50_000_000
    assert read_header(_png_claiming(tmp_path, 8_160, 6_120)).size == (8_160, 6_120)  # a 50 MP sensor
    bomb = _png_claiming(tmp_path, 8_200, 6_200)  # 50.8 MP, a few hundred bytes on disk
    for reader in (load_image, read_header):
        with pytest.raises(BadImageError, match=r"over the limit of 50,000,000; decoding it could take up to 1,017 MB"):
            reader(bomb)
