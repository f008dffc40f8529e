"""Coreset baselines: real training clouds chosen per class."""

from __future__ import annotations

import numpy as np


def random_coreset(labels: np.ndarray, num_classes: int, cpc: int, seed: int) -> np.ndarray:
  """`cpc` distinct random training clouds of every class (all of a smaller class).

  Args:
    labels: [N] int class of each training cloud.
    num_classes: K.
    cpc: clouds per class.
    seed: the draw (same seed, same coreset).
  Returns:
    [<= K * cpc] int indices into the training split, class-major.
  """
  rng = np.random.default_rng(seed)
  return np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:cpc]
                         for c in range(num_classes)])
