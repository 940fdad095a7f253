"""Every loss and sampler chosen by name works at the seed system's 6,941 tags, or refuses with a clear message
before any work (issue: the 6,941-tag tagger at full size)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tailtag.errors import OptionError
from tailtag.losses import LOSSES, create_loss, labelsets_from_matrix
from tailtag.sampling import SAMPLERS, create_sampler

N_IMAGES, N_TAGS = 3000, 6941


@pytest.fixture(scope="module")
def zipf_tags() -> sp.csr_matrix:
    """(3,000, 6,941) multi-hot, about 5 tags per image, Zipf-like tag frequencies: most tags have < 20 positives
    and some none at all, as in a scraped tag set."""
    rng = np.random.default_rng(0)
    p = 1.0 / (np.arange(N_TAGS) + 5.0)
    cols = rng.choice(N_TAGS, size=(N_IMAGES, 5), p=p / p.sum())
    rows = np.repeat(np.arange(N_IMAGES), 5)
    matrix = sp.csr_matrix((np.ones(rows.size, np.uint8), (rows, cols.ravel())), shape=(N_IMAGES, N_TAGS))
    matrix.data[:] = 1
    return matrix


def _multilabel(name: str) -> bool:
    return LOSSES[name].task != "multiclass"


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_at_6941_tags(zipf_tags, name):
    counts = np.asarray(zipf_tags.sum(axis=0)).ravel()
    assert (counts < 20).mean() > 0.5 and (counts == 0).any()
    extra = {"labelsets": labelsets_from_matrix(zipf_tags)[0]} if name == "powerset" else {}
    if not _multilabel(name):  # a multi-class loss on multi-label rows: refused before any work
        with pytest.raises(OptionError, match="needs exactly one label per image.*\n  fix: use a multi-label loss"):
            create_loss(name, class_counts=counts, n_samples=N_IMAGES)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels without positives warn; that is the point of this data
        loss = create_loss(name, class_counts=counts, n_samples=N_IMAGES, **extra)
    # the powerset loss scores its ~3,000 label sets (its refusal past 10,000 is tested with the loss)
    logits = torch.randn(64, loss.n_outputs or N_TAGS, requires_grad=True)
    targets = torch.from_numpy(zipf_tags[:64].toarray().astype(np.float32))
    value = loss(logits, targets)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()
    probabilities = loss.probabilities(logits.detach())
    assert probabilities.shape == (64, N_TAGS) and ((probabilities >= 0) & (probabilities <= 1)).all()


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_at_6941_tags(zipf_tags, name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = create_sampler(name, zipf_tags, seed=0)
        epoch = sampler.sample(0)
    assert epoch.ndim == 1 and len(epoch) > 0
    assert epoch.min() >= 0 and epoch.max() < N_IMAGES
    np.testing.assert_array_equal(epoch, sampler.sample(0))  # deterministic in (seed, epoch)


def test_powerset_refuses_more_label_sets_than_it_can_learn(zipf_tags):
    # ~3,000 distinct sets here; past the limit (10,000 by default) the refusal names the count and the fix
    with pytest.raises(OptionError, match=r"distinct label combinations in 3,000 images .*\n  fix:"):
        labelsets_from_matrix(zipf_tags, max_labelsets=1000)
