"""Plots: the three PNGs are written, are real images, and the large-label path works."""

import numpy as np
import scipy.sparse as sp
from PIL import Image

from tailtag.labels import LabelTable, from_label_lists
from tailtag.stats import describe
from tailtag.stats.plots import write_plots

ROWS = [["a"], ["a", "b"], ["a"], ["a", "c"], ["b"], ["a", "b", "c"], []]


def assert_png(path, min_size=(300, 150)):
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= min_size[0] and image.size[1] >= min_size[1]
        # not a blank canvas: a plot has many distinct colours
        assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 20


def test_write_plots_small_table(tmp_path):
    table = from_label_lists([str(i) for i in range(len(ROWS))], ROWS, names=["a", "b", "c", "d"])
    paths = write_plots(describe(table, head_min=4, tail_max=2), tmp_path / "plots", top=3)
    assert [p.name for p in paths] == ["label_frequency.png", "labelsets.png", "cooccurrence.png"]
    for path in paths:
        assert_png(path)


def test_write_plots_many_labels(tmp_path):
    rng = np.random.default_rng(0)
    n, n_labels = 3000, 1500
    cols = np.minimum(rng.zipf(1.5, size=3 * n) - 1, n_labels - 1)
    matrix = sp.csr_matrix((np.ones(3 * n, np.uint8), (np.repeat(np.arange(n), 3), cols)), shape=(n, n_labels))
    matrix.data[:] = 1
    table = LabelTable(paths=np.arange(n).astype(str), names=[f"tag{j}" for j in range(n_labels)], matrix=matrix)
    for path in write_plots(describe(table), tmp_path, top=25):
        assert_png(path)


def test_plots_of_a_table_without_positives(tmp_path):
    table = from_label_lists(["x", "y"], [[], []], names=["a", "b"])
    for path in write_plots(describe(table), tmp_path):
        assert_png(path, min_size=(200, 100))


def test_plots_do_not_touch_pyplot_state(tmp_path):
    import matplotlib.pyplot as pyplot  # a required dependency: a missing one must fail, not skip

    before = pyplot.get_fignums()
    write_plots(describe(from_label_lists(["x"], [["a"]])), tmp_path)
    assert pyplot.get_fignums() == before


def test_label_names_are_drawn_literally(tmp_path):
    """`$` would start mathtext (an odd count raises) and a LaTeX rc would choke on `_`/`%`: names are data."""
    import matplotlib

    names = [r"$\frac{$", "$x$", "a_b%", "#&{}"]
    table = from_label_lists([str(i) for i in range(4)], [[n] for n in names] + [], names=names)
    with matplotlib.rc_context({"text.usetex": True}):  # a user's matplotlibrc must not change that
        paths = write_plots(describe(table), tmp_path, top=4)
    for path in paths:
        assert_png(path, min_size=(200, 100))
    assert matplotlib.rcParams["text.parse_math"] is True  # the literal setting does not leak
