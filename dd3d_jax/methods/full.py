"""`full`: the whole training split, the upper bound every method is compared with."""

from __future__ import annotations

import numpy as np

from dd3d_jax.methods._selection import Selection


# The tasks (`config.task`) it does.
TASKS = '*'  # a selection of real clouds, with their targets


def from_config(settings, context) -> Selection:
  del settings
  n = len(context.dataset.train)
  return Selection(context.dataset, context.targets_task, lambda key: np.arange(n),
                   writes_set=False)
