"""Fuzzing every label reader: random and mutated bytes give a table or a `TailtagError` naming the file.

Each `--format` starts from a small valid file; hypothesis then flips, inserts, deletes and truncates bytes,
or writes random bytes. Whatever comes in, the reader must not raise anything but the project's user error
(the CLI turns that into exit status 2), and the message must name the file it is about. Derandomized with
bounded examples, so CI runs the same cases every time in a few seconds.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tailtag.cli import main
from tailtag.errors import LabelFileError, TailtagError
from tailtag.labels.options import ReadOptions
from tailtag.labels.readers import read_labels
from tailtag.labels.table import LabelTable

FUZZ = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow], database=None
)


def _npz_bytes() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, y=np.array([[1, 0], [0, 1]], dtype=np.uint8))
    return buffer.getvalue()


def _mat_bytes() -> bytes:
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"targets": np.array([[1, -1], [-1, 1]]), "class_name": np.array(["a", "b"])})
    return buffer.getvalue()


# format -> (file name of the fuzzed file, its valid seed bytes, other files beside it, options)
SEEDS: dict[str, tuple[str, bytes, dict[str, bytes], dict]] = {
    "onehot": ("l.csv", b"path,a,b\nx.jpg,1,0\ny.jpg,0,1\n", {}, {}),
    "tags": ("l.csv", b"path,tags\nx.jpg,a|b|a\ny.jpg,b\n", {}, {}),
    "paddle": ("l.txt", b"x.jpg\t1,0\ny.jpg\t0,1\n", {"classes.txt": b"a\nb\n"}, {"classes": "classes.txt"}),
    "coco": (
        "c.json",
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "x.jpg"}, {"id": 2, "file_name": "y.jpg"}],
                "categories": [{"id": 1, "name": "a"}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1}],
            }
        ).encode(),
        {},
        {},
    ),
    "npz": ("m.npz", _npz_bytes(), {"paths.txt": b"x.jpg\ny.jpg\n", "tags.txt": b"a\nb\n"}, {}),
    "mat": ("m.mat", _mat_bytes(), {}, {}),
    "voc": (
        "ImageSets/Main/cat_trainval.txt",
        b"000005 -1\n000007  1\n",
        {"ImageSets/Main/dog_trainval.txt": b"000005 1\n000007 0\n"},
        {},
    ),
}  # fmt: skip


@st.composite
def _mutated(draw, seed: bytes) -> bytes:
    """`seed` with a few bytes flipped, inserted, deleted or cut off, or random bytes (1 in 5)."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.binary(max_size=300))
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from([b"\0", b"\n", b'"', b",", b"["]))
        elif kind == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif kind == "cut":
            del data[at:]
    return bytes(data)


def _write_case(folder: Path, fmt: str, data: bytes) -> tuple[Path, ReadOptions]:
    name, _, others, options = SEEDS[fmt]
    for other, content in others.items():
        (folder / other).parent.mkdir(parents=True, exist_ok=True)
        (folder / other).write_bytes(content)
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    paths = {key: folder / value for key, value in options.items()}
    label_path = folder if fmt == "voc" else target
    return label_path, ReadOptions(format=fmt, **paths)


def _read(fmt: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, options = _write_case(folder, fmt, data)
        try:
            table = read_labels(path, options)
        except TailtagError as error:
            # the file it is about: the fuzzed file, a file beside it, or the folder read
            named = [str(p) for p in (path, *folder.rglob("*")) if str(p) in str(error)]
            assert named or not isinstance(error, LabelFileError), str(error)
            assert named or "--" in str(error), f"names neither a file nor a flag: {error}"
        else:
            assert isinstance(table, LabelTable) and table.matrix.shape == (len(table.paths), len(table.names))
            assert set(np.unique(table.matrix.data).tolist()) <= {1}


@pytest.mark.parametrize("fmt", list(SEEDS))
def test_seeds_are_valid(fmt):
    with tempfile.TemporaryDirectory() as tmp:
        path, options = _write_case(Path(tmp), fmt, SEEDS[fmt][1])
        assert read_labels(path, options).n_images == 2


@pytest.mark.parametrize("fmt", list(SEEDS))
def test_fuzzed_bytes_give_a_table_or_a_user_error(fmt):
    @FUZZ
    @given(data=_mutated(SEEDS[fmt][1]))
    def check(data: bytes) -> None:
        _read(fmt, data)

    check()


@pytest.mark.parametrize(
    "content",
    [b"path,a,b\nx\0.jpg,1,0\n", b"\xff\xfe\x00p\x00a", b"path,tags\nx.jpg,\"['a'\n", b"\x89PNG\r\n\x1a\n" + bytes(20)],
    ids=["nul", "utf16", "open-quote", "binary"],
)
def test_cli_exits_2_naming_the_file(tmp_path, capsys, content):
    path = tmp_path / "labels.csv"
    path.write_bytes(content)
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tailtag inspect: error: ") and str(path) in err and "Traceback" not in err
