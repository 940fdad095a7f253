"""Features computed elsewhere: every file format, shard folders, path matching and its messages."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tailtag.errors import TailtagError
from tailtag.features.external import FeatureFileError, match_paths, normalize_path, read_features
from tailtag.features.shards import ShardBlock
from tailtag.labels.path_arrays import path_array


def _data(n: int = 6, d: int = 4, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    return [f"img/{i}.jpg" for i in range(n)], rng.normal(size=(n, d)).astype(np.float32)


def test_npz_round_trip(tmp_path):
    paths, x = _data()
    np.savez(tmp_path / "f.npz", paths=np.array(paths), features=x.astype(np.float16))
    fs = read_features(tmp_path / "f.npz")
    assert list(fs.paths) == paths and fs.dim == 4 and len(fs) == 6
    np.testing.assert_array_equal(fs.take(np.arange(6)), x.astype(np.float16).astype(np.float32))


def test_npy_with_paths_file_is_memory_mapped(tmp_path):
    paths, x = _data()
    np.save(tmp_path / "f.npy", x)
    (tmp_path / "p.txt").write_text("\n".join(paths) + "\n")
    fs = read_features(tmp_path / "f.npy", paths_file=tmp_path / "p.txt")
    assert isinstance(fs.blocks[0], ShardBlock) and fs.blocks[0].shape == x.shape
    np.testing.assert_array_equal(fs.take(np.array([5, 0, 3])), x[[5, 0, 3]])


def test_npy_without_paths_names_the_flag(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(FeatureFileError, match=r"f\.npy: a \.npy file holds no image paths\n  fix: pass --paths"):
        read_features(tmp_path / "f.npy")


@pytest.mark.parametrize("fixed", [False, True])
def test_parquet_list_and_fixed_size_list(tmp_path, fixed):
    paths, x = _data()
    values = pa.array(x.ravel())
    column = pa.FixedSizeListArray.from_arrays(values, 4) if fixed else pa.array(list(map(list, x)))
    pq.write_table(pa.table({"img_path": paths, "emb": column}), tmp_path / "f.parquet")
    fs = read_features(tmp_path / "f.parquet")
    assert list(fs.paths) == paths
    np.testing.assert_allclose(fs.take(np.arange(6)), x)


def test_parquet_without_a_list_column_says_what_it_found(tmp_path):
    pq.write_table(pa.table({"path": ["a"], "x": [1.0]}), tmp_path / "f.parquet")
    with pytest.raises(FeatureFileError, match=r"one list column.*path: string, x: double"):
        read_features(tmp_path / "f.parquet")


def test_parquet_ragged_vectors_refused(tmp_path):
    pq.write_table(pa.table({"path": ["a", "b"], "v": [[1.0, 2.0], [1.0]]}), tmp_path / "f.parquet")
    with pytest.raises(FeatureFileError, match="different lengths"):
        read_features(tmp_path / "f.parquet")


def test_folder_of_mixed_shards_reads_in_name_order(tmp_path):
    paths, x = _data(9)
    np.savez(tmp_path / "part-0.npz", paths=np.array(paths[:3]), features=x[:3])
    np.save(tmp_path / "part-1.npy", x[3:6])
    (tmp_path / "part-1.txt").write_text("\n".join(paths[3:6]))
    pq.write_table(pa.table({"path": paths[6:], "v": list(map(list, x[6:]))}), tmp_path / "part-2.parquet")
    (tmp_path / ".part-3.npz.tmp").write_bytes(b"half-written")  # ignored, like the cache's temp files
    fs = read_features(tmp_path)
    assert list(fs.paths) == paths and len(fs.blocks) == 3
    np.testing.assert_allclose(fs.take(np.array([8, 0, 4, 4])), x[[8, 0, 4, 4]])


def test_folder_shards_of_different_dimension(tmp_path):
    np.savez(tmp_path / "a.npz", paths=np.array(["x"]), features=np.zeros((1, 3), np.float32))
    np.savez(tmp_path / "b.npz", paths=np.array(["y"]), features=np.zeros((1, 4), np.float32))
    with pytest.raises(FeatureFileError, match=r"differ in feature dimension \(a\.npz 3, b\.npz 4\)"):
        read_features(tmp_path)


def test_repeated_path_across_shards_is_named(tmp_path):
    np.savez(tmp_path / "a.npz", paths=np.array(["x.jpg"]), features=np.zeros((1, 3), np.float32))
    np.savez(tmp_path / "b.npz", paths=np.array(["./x.jpg"]), features=np.ones((1, 3), np.float32))
    with pytest.raises(FeatureFileError, match=r"1 image path\(s\) have more than one feature row, e\.g\. x\.jpg"):
        read_features(tmp_path)


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"paths": np.array(["a"])}, r"no array 'features' \(arrays: paths\)"),
        ({"paths": np.array(["a", "b"]), "features": np.zeros((1, 2), np.float32)}, "2 paths for 1 feature rows"),
        ({"paths": np.array(["a"]), "features": np.zeros(3, np.float32)}, r"\(N, D\) array, got shape \(3,\)"),
        ({"paths": np.array(["a"]), "features": np.zeros((1, 2), np.int64)}, "float16/32/64, got int64"),
        ({"paths": np.array(["a"]), "features": np.array([[0.0, np.nan]], np.float32)}, r"row 0 \(a\) holds NaN"),
        ({"paths": np.array([1, 2]), "features": np.zeros((2, 2), np.float32)}, "'paths' must be strings"),
    ],
)
def test_bad_npz_messages(tmp_path, arrays, message):
    np.savez(tmp_path / "f.npz", **arrays)
    with pytest.raises(FeatureFileError, match=message) as caught:
        read_features(tmp_path / "f.npz")
    assert isinstance(caught.value, TailtagError) and str(tmp_path / "f.npz") in str(caught.value)


def test_damaged_npz_and_missing_file(tmp_path):
    (tmp_path / "f.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FeatureFileError, match="cannot read it as .npz"):
        read_features(tmp_path / "f.npz")
    with pytest.raises(FeatureFileError, match="no such file or folder"):
        read_features(tmp_path / "absent.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatureFileError, match="holds no .npz, .npy or .parquet shard"):
        read_features(tmp_path / "empty")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("./a/b.jpg", "a/b.jpg"), ("a\\b.jpg", "a/b.jpg"), ("a//./b.jpg", "a/b.jpg"), ("/x/../y.jpg", "/y.jpg")],
)
def test_normalize_path(given, expected):
    assert normalize_path(given) == expected


def _feature_set(tmp_path, paths):
    np.savez(
        tmp_path / "f.npz", paths=np.array(paths), features=np.arange(len(paths) * 2, dtype=np.float32).reshape(-1, 2)
    )
    return read_features(tmp_path / "f.npz")


def test_exact_match_with_missing_and_unused_rows(tmp_path):
    fs = _feature_set(tmp_path, ["c.jpg", "a.jpg", "z.jpg"])
    match = match_paths(["a.jpg", "./c.jpg", "b.jpg"], fs)
    assert match.rows.tolist() == [1, 0, -1] and match.rule == "exact"
    assert match.missing == ["b.jpg"] and match.unused == 1 and match.unused_examples == ["z.jpg"]
    assert match.summary(3) == (
        "features: 2 of 3 label rows matched (exact paths); 1 without features (e.g. b.jpg); "
        "1 of 3 feature rows have no label row"
    )


def test_suffix_match_of_absolute_feature_paths(tmp_path):
    fs = _feature_set(tmp_path, ["/data/set/img/1.jpg", "/data/set/img/2.jpg", "/data/other/img/3.jpg"])
    match = match_paths(["img/2.jpg", "img/1.jpg"], fs)
    assert match.rows.tolist() == [1, 0] and match.rule == "suffix"


def test_ambiguous_suffix_is_not_matched(tmp_path):
    fs = _feature_set(tmp_path, ["/a/img/1.jpg", "/b/img/1.jpg", "/b/img/2.jpg"])
    match = match_paths(["img/1.jpg", "img/2.jpg"], fs)
    assert match.rows.tolist() == [-1, 2] and match.missing == ["img/1.jpg"]


def test_no_match_names_examples_of_both(tmp_path):
    fs = _feature_set(tmp_path, ["x/1.jpg", "x/2.jpg"])
    with pytest.raises(
        FeatureFileError, match=r"none of the 2 image paths of labels\.csv.*a\.jpg, b\.jpg.*x/1\.jpg"
    ) as e:
        match_paths(["a.jpg", "b.jpg"], fs, label_source="labels.csv")
    assert "fix: write the same image paths" in str(e.value)


@pytest.mark.parametrize("block", [2, 1 << 16])
def test_normalize_paths_equals_normalize_path_on_every_spelling(monkeypatch, block):
    from tailtag.features import external

    monkeypatch.setattr(external, "_NORMALIZE_BLOCK", block)
    spellings = ["a.jpg", "./a.jpg", "a//b.jpg", "a\\b.jpg", "a/./b.jpg", "a/../b.jpg", "../a.jpg", "a/b/",
                 "/abs/a.jpg", "//srv/a.jpg", ".", "", ".hidden/a.jpg", "a/.hidden", "a/b/.", "é/ü.jpg",
                 "a/very/long/folder/name/beyond/fifteen/bytes/./x.jpg"]  # fmt: skip
    original = path_array(spellings)
    normalised = external.normalize_paths(original)
    assert [str(p) for p in normalised] == [normalize_path(p) for p in spellings]
    assert [str(p) for p in original] == spellings  # the caller's array is not changed in place
    assert len(external.normalize_paths([])) == 0
