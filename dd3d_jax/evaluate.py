"""Evaluation: train fresh networks on a small set, test them on the real test split.

The reference trains with Adam (lr 1e-3, L2 5e-4), cosine to 1e-4 over 200
epochs, batch 256 and train-time augmentation, and reports the MAXIMUM test
accuracy over epochs, i.e. model selection on the test set. Here the headline is
the honest final-epoch score; the best-over-epochs one is reported next to it,
labelled as the paper's protocol. What is scored is the task's (`dd3d_jax.tasks`):
overall accuracy for shape classification; point accuracy (`*_oa`), instance and class
mIoU for part segmentation (whose reference recipe, `config.use_segmentation`, is SGD
1e-2, momentum 0.9, L2 1e-2, cosine to 1e-3 over 1,000 epochs, batch 32).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dd3d_jax import geometry, training


@dataclasses.dataclass(frozen=True)
class Protocol:
  """How a set is evaluated (defaults: the authors' code).

  Attributes:
    epochs: training epochs.
    batch_size: mini-batch size (the paper's Table 8 says 8; the code uses 256).
    optimizer: 'adam' or 'sgd' (momentum 0.9).
    lr, lr_min, weight_decay: learning rate, its floor, L2 weight decay.
    schedule: 'cosine' (to lr_min over `epochs`) or 'step' (x0.1 at half).
    augment: scale / jitter / small-rotation augmentation of training batches.
    test_every: epochs between test-set evaluations for the best-epoch metric;
      the final epoch is always tested.
    test_batch: clouds per chunk at test time.
    densify: a set of fewer points per cloud than the test clouds is first brought up to
      their resolution (`geometry.densify`, a fresh draw per run), so that networks that
      group points by radius or k nearest neighbours see the density they are tested at
      (the tensor methods' 256-point clouds against 1,024-point test clouds).
  """
  epochs: int = 200
  batch_size: int = 256
  optimizer: str = 'adam'
  lr: float = 1e-3
  lr_min: float = 1e-4
  weight_decay: float = 5e-4
  schedule: str = 'cosine'
  augment: bool = True
  test_every: int = 1
  test_batch: int = 256
  densify: bool = False

  def make_optimizer(self, num_examples: int):
    batches = training.steps_per_epoch(num_examples, self.batch_size)
    if self.schedule == 'cosine':
      lr = training.cosine_lr(self.lr, self.lr_min, self.epochs, batches)
    else:
      lr = training.step_lr(self.lr, self.epochs // 2, batches)
    if self.optimizer == 'adam':
      return training.torch_adam(lr, self.weight_decay)
    return training.torch_sgd(lr, momentum=0.9, weight_decay=self.weight_decay)

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, epochs: int | None = None
                  ) -> Protocol:
    """The protocol of `config.eval`, trained for `epochs` epochs (None: `eval.epochs`)."""
    e = config.eval
    return cls(epochs=epochs or e.epochs, batch_size=e.batch_size, optimizer=e.optimizer,
               lr=e.lr, lr_min=e.lr_min, weight_decay=e.weight_decay, schedule=e.schedule,
               augment=e.augment, test_every=e.test_every, test_batch=e.test_batch,
               densify=e.densify)


# Folded into a run's key for its densification, so that the other draws of a run stay
# those of a run without it.
DENSIFY_STREAM = 0x64656e73


def protocol_record(protocol: Protocol) -> dict:
  """What a run file records of its evaluation protocol: every field that changes the
  result (`test_batch` does not)."""
  return {k: v for k, v in dataclasses.asdict(protocol).items() if k != 'test_batch'}


# Compiled once per (network, task, recipe, shapes), however many Evaluators a process makes.
@functools.partial(jax.jit, static_argnames=('network', 'task', 'protocol', 'num_epochs', 'mesh'))
def _train_block(variables, opt_state, points, labels, targets, key, *, network, task, protocol,
                 num_epochs, mesh):
  tx = protocol.make_optimizer(points.shape[0])
  return training.train_epochs(network, task, tx, variables, opt_state, points, labels, targets,
                               key, num_epochs=num_epochs, batch_size=protocol.batch_size,
                               augment=protocol.augment, mesh=mesh)


@functools.partial(jax.jit, static_argnames=('network', 'task', 'batch_size', 'mesh'))
def _predict(variables, points, labels, *, network, task, batch_size, mesh):
  return training.predict(network, task, variables, points, labels, batch_size, mesh)


class Evaluator:
  """Trains and tests networks for one test split; compiled functions are reused.

  Args:
    network: the network (behind its rotator) to train from scratch.
    task: what the targets are, their loss and scores (`dd3d_jax.tasks`).
    protocol: the training recipe.
    test: the real test split (`data.Split`).
    mesh: devices every training and test batch is split over (`devices.make_mesh`);
      None: one device.
  """

  def __init__(self, network: Any, task: Any, protocol: Protocol, test: Any, mesh: Any = None):
    self.network, self.task, self.protocol, self.test, self.mesh = (network, task, protocol,
                                                                    test, mesh)
    self.test_points = jnp.asarray(test.points, jnp.float32)
    self.test_labels = jnp.asarray(test.labels, jnp.int32)

  def scores(self, variables: Any) -> dict[str, float]:
    """The task's scores (%) of `variables` on the test split."""
    predictions = _predict(variables, self.test_points, self.test_labels, network=self.network,
                           task=self.task, batch_size=self.protocol.test_batch, mesh=self.mesh)
    return self.task.score(np.asarray(predictions), self.test)

  def train(self, points: np.ndarray, labels: np.ndarray, targets: np.ndarray, key: jax.Array,
            on_test: Callable[[int, dict], None] | None = None) -> tuple[Any, dict]:
    """Trains one fresh network on a set and tests it every `test_every` epochs and after
    the last.

    Args:
      points: [M, P, 3] training clouds (a distilled set, a coreset, the whole split).
      labels: [M] shape classes; targets: [M, ...] the task's targets.
      key: PRNG key (network init, shuffling, augmentation, dropout, densification).
      on_test: called with (epoch, {score: %}) after each test.
    Returns:
      (the trained network's variables,
       {'final_<s>', 'best_<s>' (the maximum over tested epochs) for each score s,
        'curve': [[epoch, score, ...], ...]}).
    """
    k_init, k_train = jax.random.split(key)
    variables = self.network.init(k_init)
    points, labels = jnp.asarray(points, jnp.float32), jnp.asarray(labels, jnp.int32)
    targets = jnp.asarray(targets)
    if self.protocol.densify and points.shape[1] < self.test_points.shape[1]:
      per_point = targets.shape == points.shape[:-1]
      points, dense = geometry.densify(jax.random.fold_in(key, DENSIFY_STREAM), points,
                                       targets if per_point else None,
                                       self.test_points.shape[1])
      targets = dense if per_point else targets
    opt_state = self.protocol.make_optimizer(points.shape[0]).init(variables['params'])
    curve, epoch = [], 0
    while epoch < self.protocol.epochs:
      block = min(self.protocol.test_every, self.protocol.epochs - epoch)
      variables, opt_state, _ = _train_block(
          variables, opt_state, points, labels, targets, jax.random.fold_in(k_train, epoch),
          network=self.network, task=self.task, protocol=self.protocol, num_epochs=block,
          mesh=self.mesh)
      epoch += block
      scores = self.scores(variables)
      curve.append([epoch, *scores.values()])
      if on_test:
        on_test(epoch, scores)
    result = {}
    for i, name in enumerate(scores, start=1):
      result[f'final_{name}'] = curve[-1][i]
      result[f'best_{name}'] = max(row[i] for row in curve)
    return variables, {**result, 'curve': curve}

  def run(self, points: np.ndarray, labels: np.ndarray, targets: np.ndarray, key: jax.Array,
          on_test: Callable[[int, dict], None] | None = None) -> dict:
    """`train`'s result dictionary alone."""
    return self.train(points, labels, targets, key, on_test)[1]


def reference_method(types: dict[str, str]) -> str | None:
  """The random coreset that gains are measured against, of the methods `types` (name ->
  type): the one named 'random', else the first of type 'random'; None if there is none."""
  randoms = [name for name, kind in types.items() if kind == 'random']
  return 'random' if 'random' in randoms else next(iter(randoms), None)


def with_gains(runs: list[dict], reference: list[dict], score: str) -> list[dict]:
  """`runs`, each with `final_<score>_gain`: its final score minus that of the reference
  run with the same distillation and evaluation index (same evaluation key: the pair
  differs only in the set). A run without such a partner is returned as it is."""
  key = f'final_{score}'
  partner = {(r['distill'], r['eval']): r[key] for r in reference if key in r}
  return [{**r, f'{key}_gain': r[key] - partner[r['distill'], r['eval']]}
          if key in r and (r['distill'], r['eval']) in partner else r for r in runs]


def summarize(runs: list[dict]) -> dict:
  """Mean and (population) std over runs of every final and best score, in %:
  `final_oa_mean`, `final_oa_std`, ... (and the mIoUs of part segmentation)."""
  out = {}
  for key in runs[0]:  # a score that older run files lack is left out
    if (key.startswith(('final_', 'best_')) and isinstance(runs[0][key], (int, float))
        and all(key in r for r in runs)):
      values = np.array([r[key] for r in runs], np.float64)
      out[f'{key}_mean'], out[f'{key}_std'] = float(values.mean()), float(values.std())
  return {**out, 'runs': runs}
