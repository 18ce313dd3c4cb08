"""The lean stratified and shuffled samples pick exactly the members scikit-learn's ``train_test_split``
picks, and fail exactly where it fails, over many label layouts and seeds (so a scikit-learn upgrade that
changes its draws is caught here, not in users' datasets)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from flywheel.datasets.split import shuffled_sample, stratified_sample


def _layouts():
    rng = np.random.default_rng(7)
    for case in range(60):
        n = int(rng.integers(4, 400))
        n_classes = int(rng.integers(1, 9))
        weights = rng.dirichlet(np.ones(n_classes) * (0.3 if case % 3 == 0 else 2.0))
        codes = rng.choice(n_classes, size=n, p=weights)
        test_size = int(rng.integers(1, n))
        yield case, codes, test_size, int(rng.integers(0, 10_000))


@pytest.mark.parametrize(("case", "codes", "test_size", "seed"), list(_layouts()), ids=lambda v: None)
def test_same_members_and_same_failures_as_scikit_learn(case, codes, test_size, seed):
    idx = np.arange(100, 100 + len(codes))
    try:
        rest, test = train_test_split(idx, test_size=test_size, stratify=codes, random_state=seed)
    except ValueError:
        with pytest.raises(ValueError):
            stratified_sample(idx, codes, test_size, seed)
        return
    ours = stratified_sample(idx, codes, test_size, seed)
    assert ours[0].tolist() == sorted(rest.tolist())
    assert ours[1].tolist() == sorted(test.tolist())


@pytest.mark.parametrize(("case", "codes", "test_size", "seed"), list(_layouts()), ids=lambda v: None)
def test_unstratified_sample_has_the_same_members_and_failures_as_scikit_learn(case, codes, test_size, seed):
    idx = np.arange(100, 100 + len(codes), dtype=np.int32)
    for size in (test_size, 0, len(codes)):
        try:
            rest, test = train_test_split(idx, test_size=size, random_state=seed, shuffle=True)
        except ValueError:
            with pytest.raises(ValueError):
                shuffled_sample(idx, size, seed)
            continue
        ours = shuffled_sample(idx, size, seed)
        assert ours[0].tolist() == sorted(rest.tolist())
        assert ours[1].tolist() == sorted(test.tolist())
