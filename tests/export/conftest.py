"""The export tests' second run: `powerset_run`, head mode with top_blocks=0 (pooled features, no top) and the
label-powerset loss (probabilities are softmax marginals). `small_run` comes from tests/conftest.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def powerset_run(tmp_path_factory, train_small_run) -> Path:
    """A top_blocks=0 run trained with the label-powerset loss."""
    return train_small_run(
        tmp_path_factory.mktemp("export-powerset"), "top_blocks=0", "views=[center]", "loss=powerset"
    )
