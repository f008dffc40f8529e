"""Evaluation: train fresh networks on a small set, test them on the real test split.

The reference trains with Adam (lr 1e-3, L2 5e-4), cosine to 1e-4 over 200
epochs, batch 256 and train-time augmentation, and reports the MAXIMUM test
accuracy over epochs, i.e. model selection on the test set. Here the headline is
the honest final-epoch accuracy; the best-over-epochs accuracy is reported next to
it, labelled as the paper's protocol.

Part segmentation (`SegEvaluator`, the reference's recipe: SGD 1e-2, momentum 0.9,
L2 1e-2, cosine to 1e-3 over 1,000 epochs, batch 32, no augmentation) scores point
accuracy (`*_oa`), instance mIoU and class mIoU (`tasks.segmentation.part_metrics`),
each network's prediction restricted to the parts of the cloud's class.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from dd3d_jax import training
from dd3d_jax.models import Network
from dd3d_jax.tasks import segmentation


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

  def make_optimizer(self, num_examples: int):
    batches = training.steps_per_epoch(num_examples, self.batch_size)
    if self.schedule == 'cosine':
      lr = training.cosine_lr(self.lr, self.lr_min, self.epochs, batches)
    else:
      lr = training.step_lr(self.lr, self.epochs // 2, batches)
    if self.optimizer == 'adam':
      return training.torch_adam(lr, self.weight_decay)
    return training.torch_sgd(lr, momentum=0.9, weight_decay=self.weight_decay)


# Compiled once per (network, recipe, shapes), however many Evaluators a process makes.
@functools.partial(jax.jit, static_argnames=('network', 'protocol', 'num_epochs', 'mesh'))
def _train_block(variables, opt_state, points, labels, key, parts=None, *, network, protocol,
                 num_epochs, mesh):
  tx = protocol.make_optimizer(points.shape[0])
  return training.train_epochs(network, tx, variables, opt_state, points, labels, key,
                               num_epochs=num_epochs, batch_size=protocol.batch_size,
                               augment=protocol.augment, mesh=mesh, parts=parts)


@functools.partial(jax.jit, static_argnames=('network', 'layout', 'batch_size', 'mesh'))
def _predict_parts(variables, points, labels, *, network, layout, batch_size, mesh):
  """Each point's part among its cloud's class's parts: [T, N] int32."""
  def chunk(batch):
    x, y = batch
    return segmentation.restrict_to_class(network.logits(variables, x, y), y,
                                          layout.offsets, layout.counts)
  return training.map_batches(chunk, (points, labels), batch_size, mesh)


def _train_and_test(network: Any, protocol: Protocol, mesh: Any, points: jax.Array,
                    labels: jax.Array, parts: jax.Array | None, key: jax.Array,
                    test: Callable[[Any], Any], on_test: Callable | None) -> tuple[Any, list]:
  """Trains a fresh `network` by `protocol`, calling `test(variables)` every `test_every`
  epochs and after the last. Returns (variables, [(epoch, test result), ...])."""
  k_init, k_train = jax.random.split(key)
  variables = network.init(k_init)
  opt_state = protocol.make_optimizer(points.shape[0]).init(variables['params'])
  tested, epoch = [], 0
  while epoch < protocol.epochs:
    block = min(protocol.test_every, protocol.epochs - epoch)
    variables, opt_state, _ = _train_block(
        variables, opt_state, points, labels, jax.random.fold_in(k_train, epoch), parts,
        network=network, protocol=protocol, num_epochs=block, mesh=mesh)
    epoch += block
    tested.append((epoch, test(variables)))
    if on_test:
      on_test(*tested[-1])
  return variables, tested


@functools.partial(jax.jit, static_argnames=('network', 'batch_size', 'mesh'))
def _accuracy(variables, points, labels, *, network, batch_size, mesh):
  return training.accuracy(network, variables, points, labels, batch_size, mesh)


class Evaluator:
  """Trains and tests networks for one test split; compiled functions are reused.

  Args:
    network: network (behind its rotator) to train from scratch.
    protocol: the training recipe.
    test_points: [T, P, 3] real test clouds; test_labels: [T].
    mesh: devices every training and test batch is split over (`devices.make_mesh`);
      None: one device.
  """

  def __init__(self, network: Network, protocol: Protocol, test_points: np.ndarray,
               test_labels: np.ndarray, mesh: Any = None):
    self.network, self.protocol, self.mesh = network, protocol, mesh
    self.test_points = jnp.asarray(test_points, jnp.float32)
    self.test_labels = jnp.asarray(test_labels, jnp.int32)

  def _test(self, variables) -> float:
    return 100.0 * float(_accuracy(variables, self.test_points, self.test_labels,
                                   network=self.network,
                                   batch_size=self.protocol.test_batch, mesh=self.mesh))

  def train(self, points: np.ndarray, labels: np.ndarray, key: jax.Array,
            on_test: Callable[[int, float], None] | None = None) -> tuple[Any, dict]:
    """Trains one fresh network on (points, labels) and tests it along the way.

    Args:
      points: [M, P, 3] training clouds (a distilled set, a coreset, the whole split).
      labels: [M].
      key: PRNG key (network init, shuffling, augmentation, dropout).
      on_test: called with (epoch, accuracy %) after each test.
    Returns:
      (the trained network's variables,
       {'final_oa': %, 'best_oa': % (max over tested epochs), 'curve': [[epoch, %], ...]}).
    """
    variables, tested = _train_and_test(
        self.network, self.protocol, self.mesh, jnp.asarray(points, jnp.float32),
        jnp.asarray(labels, jnp.int32), None, key, self._test, on_test)
    curve = [[epoch, oa] for epoch, oa in tested]
    return variables, {'final_oa': curve[-1][1], 'best_oa': max(oa for _, oa in curve),
                       'curve': curve}

  def run(self, points: np.ndarray, labels: np.ndarray, key: jax.Array,
          on_test: Callable[[int, float], None] | None = None) -> dict:
    """`train`'s result dictionary alone."""
    return self.train(points, labels, key, on_test)[1]


class SegEvaluator:
  """Trains and tests part-segmentation networks for one test split (`Evaluator`'s
  interface; a set needs its part labels).

  Args:
    network: network (behind its rotator) to train from scratch.
    protocol: the training recipe.
    test: the real test split (`data.Split` with parts).
    layout: the part ids of each class (`tasks.segmentation.part_layout`).
    mesh: devices every batch is split over; None: one device.
  """

  def __init__(self, network: Network, protocol: Protocol, test: Any,
               layout: segmentation.PartLayout, mesh: Any = None):
    self.network, self.protocol, self.layout, self.mesh = network, protocol, layout, mesh
    self.test_points = jnp.asarray(test.points, jnp.float32)
    self.test_labels = jnp.asarray(test.labels, jnp.int32)
    self.test_parts = np.asarray(test.parts)

  def scores(self, variables: Any) -> dict[str, float]:
    """{'oa' (point accuracy), 'instance_miou', 'class_miou'} in % on the test split."""
    pred = _predict_parts(variables, self.test_points, self.test_labels,
                          network=self.network, layout=self.layout,
                          batch_size=self.protocol.test_batch, mesh=self.mesh)
    m = segmentation.part_metrics(pred, self.test_parts, self.test_labels,
                                  self.layout.offsets, self.layout.counts)
    return {'oa': m['point_acc'], 'instance_miou': m['instance_miou'],
            'class_miou': m['class_miou']}

  def train(self, points: np.ndarray, labels: np.ndarray, parts: np.ndarray, key: jax.Array,
            on_test: Callable[[int, dict], None] | None = None) -> tuple[Any, dict]:
    """Trains one fresh network on (points, labels, parts), testing every `test_every`
    epochs and after the last.

    Args:
      points: [M, P, 3]; labels: [M] shape classes; parts: [M, P] global part ids.
      key: PRNG key (network init, shuffling).
      on_test: called with (epoch, scores %) after each test.
    Returns:
      (variables, {'final_oa', 'best_oa', 'final_instance_miou', 'best_instance_miou',
       'final_class_miou', 'best_class_miou', 'curve': [[epoch, oa, inst, cls], ...]});
      best = the maximum over tested epochs of each score.
    """
    variables, tested = _train_and_test(
        self.network, self.protocol, self.mesh, jnp.asarray(points, jnp.float32),
        jnp.asarray(labels, jnp.int32), jnp.asarray(parts, jnp.int32), key, self.scores,
        on_test)
    curve = [[epoch, s['oa'], s['instance_miou'], s['class_miou']] for epoch, s in tested]
    result = {'curve': curve}
    for i, name in enumerate(('oa', 'instance_miou', 'class_miou'), start=1):
      result[f'final_{name}'] = curve[-1][i]
      result[f'best_{name}'] = max(row[i] for row in curve)
    return variables, result

  def run(self, points: np.ndarray, labels: np.ndarray, parts: np.ndarray, key: jax.Array,
          on_test: Callable[[int, dict], None] | None = None) -> dict:
    """`train`'s result dictionary alone."""
    return self.train(points, labels, parts, key, on_test)[1]


def summarize(runs: list[dict]) -> dict:
  """Mean and (population) std over runs of every final and best score, in %:
  `final_oa_mean`, `final_oa_std`, ... (and the mIoUs of part segmentation)."""
  out = {}
  for key in runs[0]:
    if key.startswith(('final_', 'best_')) and isinstance(runs[0][key], (int, float)):
      values = np.array([r[key] for r in runs], np.float64)
      out[f'{key}_mean'], out[f'{key}_std'] = float(values.mean()), float(values.std())
  return {**out, 'runs': runs}
