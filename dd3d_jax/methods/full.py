"""`full`: the whole training split, the upper bound every method is compared with."""

from __future__ import annotations

import numpy as np

from dd3d_jax import fields
from dd3d_jax.methods._selection import Selection


# The tasks (`config.task`) it does.
TASKS = '*'  # a selection of real clouds, with their targets
# Its settings (`config.methods.full`): the epochs of its evaluation runs (inherit:
# `eval.epochs`; any method takes `eval_epochs`).
DEFAULTS, FIELDS = {'eval_epochs': fields.inherit(int)}, {}
WRITES_SET = False  # the whole split: no set file, no renders


def from_config(settings, context) -> Selection:
  del settings
  n = len(context.dataset.train)
  return Selection(context.dataset, context.targets_task, lambda key: np.arange(n),
                   writes_set=WRITES_SET)
