"""Features computed elsewhere (CLIP, DINOv2, a previous model): read them and match their rows to a label table.

`tailtag train LABELS --features FEATS` trains the head on these vectors instead of running a backbone. FEATS is:

    x.npz         arrays `paths` (N,) strings and `features` (N, D) float16/float32/float64
    x.npy         an (N, D) array, with `--paths FILE`: one image path per line, N lines
    x.parquet     a string column of paths and a list / fixed-size-list column of floats (one vector per row)
    a folder      shards of the above, read in name order as one set; a `.npy` shard takes its paths from the
                  `.txt` file of the same stem beside it (`part-0001.npy` + `part-0001.txt`)

Rows are matched to the label table by path (`match_paths`): exactly after normalisation (`./a.jpg`, `a.jpg`
and `a\\b.jpg` / `a/b.jpg` are one path), else by the label path being the trailing path components of exactly
one feature path (features written with absolute paths `/data/set/img/1.jpg` match label paths `img/1.jpg`).

`.npy` files are memory-mapped (`tailtag.features.shards.ShardBlock`): each read maps the file, copies the rows it
needs and unmaps it again, so a folder larger than memory is streamed, never loaded whole. A folder with a
`manifest.json` (written by `tailtag.features.shards.write_manifest`) is checked against it.
Parquet needs `pyarrow` (a dependency of tailtag); it is imported only when a Parquet file is read.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tailtag.errors import TailtagError
from tailtag.features.shards import ShardBlock, check_manifest
from tailtag.labels.path_arrays import lookup, path_array, repeated_values

FEATURE_SUFFIXES = (".npz", ".npy", ".parquet")
_PATH_COLUMNS = ("path", "paths", "img_path", "image", "image_path", "filename", "file")
_EXAMPLES = 5
_NORMALIZE_BLOCK = 1 << 16


class FeatureFileError(TailtagError):
    """A features file (or folder) that cannot be used as asked; the message names it and the fix."""

    def __init__(self, path: str | Path, problem: str, fix: str | None = None):
        self.path = str(path)
        message = f"{self.path}: {problem}"
        if fix:
            message += f"\n  fix: {fix}"
        super().__init__(message)


@dataclass(frozen=True)
class FeatureSet:
    """Feature vectors of images, as read from one file or folder.

    Attributes:
        paths: (M,) image paths as written in the features file(s), normalised (`normalize_path`).
        blocks: the (m_i, D) arrays of the shards, in order (a `ShardBlock` for `.npy`: read through a
            short-lived memory map); together M rows.
        source: the file or folder, for messages and for `data.json`.
    """

    paths: np.ndarray
    blocks: tuple[np.ndarray | ShardBlock, ...]
    source: str
    _offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sizes = [len(b) for b in self.blocks]
        object.__setattr__(self, "_offsets", np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))

    @property
    def dim(self) -> int:
        return int(self.blocks[0].shape[1])

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def take(self, rows: np.ndarray, dtype: np.dtype | type | None = np.float32) -> np.ndarray:
        """(len(rows), D) features of the given row numbers (in that order), block by block so that a
        memory-mapped shard is read only where it is needed.

        `dtype`: of the result; None keeps the features' own (float16 shards stay float16: half the memory of a
        training window, the same values once the batch is made float32)."""
        rows = np.asarray(rows, dtype=np.int64)
        dtype = np.result_type(*(block.dtype for block in self.blocks)) if dtype is None else dtype
        out = np.empty((len(rows), self.dim), dtype=dtype)
        block_of = np.searchsorted(self._offsets, rows, side="right") - 1
        for b in np.unique(block_of):
            at = np.flatnonzero(block_of == b)
            local = rows[at] - self._offsets[b]
            order = np.argsort(local, kind="stable")  # ascending reads are sequential on a memory map
            out[at[order]] = self.blocks[b][local[order]]
        return out


def normalize_path(path: str) -> str:
    """One spelling per path: forward slashes, no `.` components or repeated slashes, no leading `./`."""
    text = str(path).replace("\\", "/")
    norm = posixpath.normpath(text) if text else text
    return norm[2:] if norm.startswith("./") else norm


def normalize_paths(paths) -> np.ndarray:
    """(N,) `normalize_path` of each path, as a compact array (`tailtag.labels.path_arrays`).

    Only the paths that can change are normalised one by one (at millions of rows, a Python call and a new
    string per path is most of the cost): those with a backslash, an empty component (`//`, a trailing `/`)
    or a component starting with a dot (`.`, `..`, and harmless ones like `.hidden`).
    """
    paths = path_array(paths)
    if paths.dtype == object:  # numpy 1.x: no vectorised string functions on object arrays
        return path_array([normalize_path(p) for p in paths])
    blocks = range(0, len(paths), _NORMALIZE_BLOCK)  # a block at a time: the vectorised tests make int64 arrays
    at = np.concatenate([s + _may_change(paths[s : s + _NORMALIZE_BLOCK]) for s in blocks] + [np.zeros(0, int)])
    if len(at):
        paths = paths.copy()  # `path_array` may have returned the caller's own array
        paths[at] = [normalize_path(p) for p in paths[at]]
    return paths


def _may_change(paths: np.ndarray) -> np.ndarray:
    """Positions of the StringDType paths that `normalize_path` may change (see `normalize_paths`)."""
    changes = (
        (np.strings.find(paths, "\\") >= 0)
        | (np.strings.find(paths, "//") >= 0)
        | (np.strings.find(paths, "/.") >= 0)
        | np.strings.startswith(paths, ".")
        | np.strings.endswith(paths, "/")
    )
    return np.flatnonzero(changes)


def read_features(source: str | Path, *, paths_file: str | Path | None = None) -> FeatureSet:
    """Read a features file or a folder of shards (formats in the module docstring) into a `FeatureSet`."""
    source = Path(source)
    if not source.exists():
        raise FeatureFileError(source, "no such file or folder", "give the .npz / .npy / .parquet file or shard folder")
    if source.is_dir():
        if paths_file is not None:
            raise FeatureFileError(source, "--paths is for a single .npy file", "leave --paths out for a folder")
        shards = sorted(p for p in source.iterdir() if p.suffix in FEATURE_SUFFIXES and not p.name.startswith("."))
        if not shards:
            raise FeatureFileError(source, "the folder holds no .npz, .npy or .parquet shard", "point to the shards")
        parts = [_read_one(p, p.with_suffix(".txt") if p.suffix == ".npy" else None) for p in shards]
        check_manifest(source, {name: arr.shape for name, arr, _ in parts})
    else:
        parts = [_read_one(source, Path(paths_file) if paths_file is not None else None)]
    dims = {p.shape[1] for _, p, _ in parts}
    if len(dims) > 1:
        shapes = ", ".join(f"{name} {arr.shape[1]}" for name, arr, _ in parts[:_EXAMPLES])
        raise FeatureFileError(source, f"shards differ in feature dimension ({shapes})", "use shards of one model")
    paths = np.concatenate([names for _, _, names in parts]) if parts else path_array([])
    _refuse_repeated(paths, source)
    return FeatureSet(paths, tuple(arr for _, arr, _ in parts), str(source))


def _read_one(path: Path, paths_file: Path | None) -> tuple[str, np.ndarray | ShardBlock, np.ndarray]:
    """(file name, (n, D) float array, (n,) normalised paths) of one file."""
    if path.suffix == ".npz":
        features, paths = _read_npz(path)
    elif path.suffix == ".npy":
        features, paths = _read_npy(path, paths_file)
    elif path.suffix == ".parquet":
        features, paths = _read_parquet(path)
    else:
        raise FeatureFileError(
            path, f"unknown features format {path.suffix!r}", "use .npz, .npy (+ --paths) or .parquet"
        )
    if features.ndim != 2 or features.shape[1] == 0:
        raise FeatureFileError(path, f"features must be an (N, D) array, got shape {features.shape}")
    if features.dtype not in (np.float16, np.float32, np.float64):
        raise FeatureFileError(path, f"features must be float16/32/64, got {features.dtype}", "cast them to float32")
    if len(paths) != len(features):
        raise FeatureFileError(path, f"{len(paths)} paths for {len(features)} feature rows", "give one path per row")
    _refuse_non_finite(path, features, paths)
    return path.name, features, normalize_paths(paths)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in ("paths", "features") if key not in data.files]
            if missing:
                raise FeatureFileError(
                    path,
                    f"no array {' or '.join(repr(m) for m in missing)} (arrays: {', '.join(data.files) or 'none'})",
                    "save it as np.savez(FILE, paths=np.array(paths), features=features)",
                )
            features, paths = data["features"], data["paths"]
    except FeatureFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # damaged, or object arrays (no pickles)
        raise FeatureFileError(
            path, f"cannot read it as .npz ({error})", "save paths as a str array, not objects"
        ) from None
    if paths.dtype.kind not in "US":
        raise FeatureFileError(path, f"'paths' must be strings, got {paths.dtype}", "save np.array(paths, dtype=str)")
    return features, paths.astype(str)


def _read_npy(path: Path, paths_file: Path | None) -> tuple[ShardBlock, np.ndarray]:
    if paths_file is None:
        raise FeatureFileError(path, "a .npy file holds no image paths", "pass --paths FILE (one path per line)")
    if not paths_file.is_file():
        raise FeatureFileError(paths_file, "no such paths file", f"give one image path per line for {path.name}")
    try:
        features = ShardBlock(path)
        lines = paths_file.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise FeatureFileError(paths_file, f"not UTF-8 text ({error.reason})", "save the paths as UTF-8") from None
    except (OSError, ValueError) as error:
        raise FeatureFileError(path, f"cannot read it as .npy ({error})") from None
    return features, np.array([line.strip() for line in lines if line.strip()], dtype=object)


def _read_parquet(path: Path) -> tuple[np.ndarray, np.ndarray]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as error:
        raise FeatureFileError(path, f"cannot read it as Parquet ({error})") from None
    strings = [f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
    lists = [
        f.name
        for f in table.schema
        if pa.types.is_list(f.type) or pa.types.is_fixed_size_list(f.type) or pa.types.is_large_list(f.type)
    ]
    named = [c for c in _PATH_COLUMNS if c in strings]
    path_column = named[0] if named else (strings[0] if len(strings) == 1 else None)
    if path_column is None or len(lists) != 1:
        columns = ", ".join(f"{f.name}: {f.type}" for f in table.schema)
        raise FeatureFileError(
            path,
            f"expected one string column of paths and one list column of floats, found {columns or 'no columns'}",
            "write a 'path' string column and one list<float> column",
        )
    column = table.column(lists[0]).combine_chunks()
    lengths = set(column.value_lengths().to_numpy(zero_copy_only=False).tolist()) if len(column) else {0}
    if len(lengths) != 1 or column.null_count:
        raise FeatureFileError(
            path,
            f"column {lists[0]!r} holds vectors of different lengths or nulls",
            "give every row a vector of the same length",
        )
    values = column.flatten().to_numpy(zero_copy_only=False)
    features = values.reshape(len(column), lengths.pop())
    paths = table.column(path_column).to_numpy(zero_copy_only=False)
    if any(p is None for p in paths):
        raise FeatureFileError(path, f"column {path_column!r} has empty paths", "give every row a path")
    return features, paths.astype(str)


def _refuse_non_finite(path: Path, features: np.ndarray | ShardBlock, paths: np.ndarray) -> None:
    for start in range(0, len(features), 65536):  # in blocks: a memory-mapped shard is never read whole
        bad = np.flatnonzero(~np.isfinite(features[start : start + 65536]).all(axis=1))
        if len(bad):
            row = start + int(bad[0])
            raise FeatureFileError(
                path, f"row {row} ({paths[row]}) holds NaN or infinity", "recompute or drop those rows"
            )


def _refuse_repeated(paths: np.ndarray, source: Path) -> None:
    repeated = repeated_values(paths)
    if len(repeated):
        raise FeatureFileError(
            source,
            f"{len(repeated)} image path(s) have more than one feature row, e.g. {', '.join(repeated[:_EXAMPLES])}",
            "give each image one row (drop the repeats, or split the shards by image)",
        )


@dataclass(frozen=True)
class FeatureMatch:
    """How the rows of a label table map onto a `FeatureSet`.

    Attributes:
        rows: (N,) int64 feature row of each label-table row, -1 where the image has no features.
        rule: "exact" (normalised paths equal) or "suffix" (some label paths matched trailing path components).
        missing: label paths without features (all of them).
        unused: number of feature rows that no label row took; `unused_examples` names a few.
    """

    rows: np.ndarray
    rule: str
    missing: list[str]
    unused: int
    unused_examples: list[str]

    @property
    def n_matched(self) -> int:
        return int((self.rows >= 0).sum())

    def summary(self, n_features: int) -> str:
        """One line for the console, e.g. `features: 1,998 of 2,000 label rows matched (exact paths); 2 ...`."""
        text = f"features: {self.n_matched:,} of {len(self.rows):,} label rows matched ({self.rule} paths)"
        if self.missing:
            text += f"; {len(self.missing):,} without features (e.g. {', '.join(self.missing[:3])})"
        if self.unused:
            text += f"; {self.unused:,} of {n_features:,} feature rows have no label row"
        return text


def match_paths(
    label_paths: Sequence[str], features: FeatureSet, *, label_source: str = "the label file"
) -> FeatureMatch:
    """Map each label path onto a feature row (rules in the module docstring); raise when none matches."""
    labels = normalize_paths(label_paths)
    # One sort of both path arrays, not a dict of a million str keys (features.paths are distinct:
    # read_features refuses repeats).
    rows = lookup(features.paths, labels)
    rule = "exact"
    if (rows < 0).any():
        suffix_rows = _match_suffixes(list(labels[rows < 0]), features.paths)
        if (suffix_rows >= 0).any():
            rows[rows < 0] = suffix_rows
            rule = "exact and suffix" if (rows >= 0).sum() > (suffix_rows >= 0).sum() else "suffix"
    used = np.zeros(len(features), dtype=bool)
    taken = rows[rows >= 0]
    used[taken] = True
    if len(np.unique(taken)) < len(taken):
        raise FeatureFileError(
            features.source,
            "two label rows matched the same feature row by path suffix",
            "write the same paths in both files",
        )
    missing = [str(label_paths[i]) for i in np.flatnonzero(rows < 0).tolist()]
    unused_examples = [str(features.paths[i]) for i in np.flatnonzero(~used)[:_EXAMPLES].tolist()]
    match = FeatureMatch(rows, rule, missing, int((~used).sum()), unused_examples)
    if match.n_matched == 0:
        raise FeatureFileError(
            features.source,
            f"none of the {len(labels):,} image paths of {label_source} has a feature row "
            f"(label paths e.g. {', '.join(map(str, label_paths[:3]))}; feature paths e.g. "
            f"{', '.join(map(str, features.paths[:3]))})",
            "write the same image paths in both files (relative paths may be the trailing part of the feature paths)",
        )
    return match


def _match_suffixes(wanted: list[str], feature_paths: np.ndarray) -> np.ndarray:
    """Feature row whose trailing path components equal each wanted path, where exactly one does; else -1."""
    by_depth: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(wanted):
        by_depth[p.count("/") + 1].append(i)
    found = np.full(len(wanted), -1, dtype=np.int64)
    for depth, positions in by_depth.items():
        tails: dict[str, int] = {}
        for j, p in enumerate(feature_paths):
            parts = p.split("/")
            if len(parts) >= depth:
                tail = "/".join(parts[-depth:])
                tails[tail] = -2 if tail in tails else j  # -2: ambiguous, several feature paths end alike
        for i in positions:
            found[i] = max(tails.get(wanted[i], -1), -1)
    return found
