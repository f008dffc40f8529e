"""Methods: what turns the real training split into a small training set, by name.

A method is a module here that defines `from_config(settings, context) -> Method`
(found by `dd3d_jax.registry`; `settings` is `config.method_settings(config, name)`).
The pipeline and the runner name no method; they only use this interface:

    num_steps: int                    0 for selections (random, herding, k-center, full)
    writes_set: bool                  whether the set is worth saving (False for `full`)
    init(key, real) -> state          a checkpointable pytree
    step(state, real) -> (state, {'loss': scalar})   pure; the runner jits and donates it
    export(state, key, num_points) -> SmallSet
    inputs(real) -> pytree            optional: what `step` gets instead of `real`
                                      (TM: its expert trajectories), called once per run
    mesh                              optional: the devices `step` splits classes over;
                                      the runner keeps the state whole on each of them

and the module may set
    DIVERGES_WITH = 'field'           the setting a non-finite loss tells the user to lower
                                      (default `lr`, else `distill.lr`; TM: `lr_lr`)
    TASKS = ('classification', ...)   the tasks (`config.task`) it does (default: only
                                      'classification'; random, GM, DD3D, full: also
                                      'segmentation')
    memory(settings, num_classes, cpc)   a lower bound of a step's bytes, refused before
                                      the run when it exceeds the device (`set_memory`)
    check(settings, config, where)    raises `ConfigError` for settings that are each in
                                      range but not together (`config.validate` calls it;
                                      `where` is 'methods.NAME')
    WRITES_SET = False                its methods' `writes_set` is False (`full`), so that
                                      a finished run knows which set files to restore
                                      without loading the data (default True)

`real` is the training split on the device (`distill.RealData`). Randomness comes
only from the keys given, and `step` folds the state's own iteration count into
its key, so a resumed run repeats an uninterrupted one exactly.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Protocol

import jax
import numpy as np

from dd3d_jax import devices, geometry, resources
from dd3d_jax import generator as gen_lib
from dd3d_jax.data import PointCloudDataset
from dd3d_jax.distill import DistillState, RealData
from dd3d_jax.models import Network
from dd3d_jax.tasks.classification import Classification


class SmallSet(NamedTuple):
  """A small training set (host arrays).

  Attributes:
    points: [M, N, 3] float32, each cloud in the unit sphere.
    labels: [M] int32 classes, class-major.
    targets: [M, ...] the task's targets (`dd3d_jax.tasks`): the classes again for
      shape classification, every point's part id [M, N] int32 for part segmentation.
  """
  points: np.ndarray
  labels: np.ndarray
  targets: np.ndarray


class Context(NamedTuple):
  """What a method may use besides its settings.

  Attributes:
    dataset: the prepared dataset (host arrays, evaluation resolution).
    network: the distillation network behind its rotator.
    cpc: clouds per class of the small set.
    embeddings: `embeddings(epochs) -> [N_train, F]` features of every training cloud
      from a network trained on the whole training split for `epochs` epochs (trained
      once per workdir and cached: `dd3d_jax.features`).
    cache: `cache(path, make) -> {name: array}`: the arrays stored at `path` (relative
      to the workdir; an absolute path is kept), or `make()`'s, stored there first
      (the job's: `Workdir.cache`). The default stores nothing.
    mesh: the devices a method splits its classes over (`devices.make_mesh`); None:
      one device.
    task: what the set is for (`dd3d_jax.tasks`): its targets, loss and network;
      None: shape classification (`targets_task` resolves it).
  """
  dataset: PointCloudDataset
  network: Network
  cpc: int
  embeddings: Callable[[int], np.ndarray]
  cache: Callable[[str, Callable[[], dict]], dict] = lambda path, make: make()
  mesh: Any = None
  task: Any = None

  @property
  def targets_task(self) -> Any:
    """`task`, or shape classification of the dataset's classes when it is None."""
    return Classification(self.dataset.num_classes) if self.task is None else self.task


class Method(Protocol):
  num_steps: int
  writes_set: bool

  def init(self, key: jax.Array, real: RealData) -> Any: ...

  def step(self, state: Any, real: RealData) -> tuple[Any, dict]: ...

  def export(self, state: Any, key: jax.Array, num_points: int) -> SmallSet: ...


def export_clouds(generate: Callable[[jax.Array], jax.Array], key: jax.Array, num_classes: int,
                  cpc: int, num_points: int, noise_dim: int = 1) -> SmallSet:
  """A classification set as the tensor and distribution methods export it: its
  `num_classes * cpc` clouds `generate(noise)` at `num_points` points (noise drawn from
  `key`; a tensor ignores it), renormalised to the unit sphere, labelled class-major."""
  noise = gen_lib.sample_noise(key, num_classes * cpc, num_points, noise_dim)
  points = geometry.normalize_to_unit_sphere(generate(noise))
  labels = np.asarray(gen_lib.synthetic_labels(num_classes, cpc))
  return SmallSet(np.asarray(points, np.float32), labels, labels)


def set_memory(settings, num_classes: int, cpc: int) -> int:
  """A lower bound of the memory of a step that differentiates through the synthetic
  clouds of the classes it maps at once (`class_chunk`; 0: all) in the widest layer: the
  `memory` of the methods that distil a set (`resources.check_methods`)."""
  chunk = devices.resolve_class_chunk(settings.class_chunk)
  classes = num_classes if chunk == 0 else min(chunk, num_classes)
  return resources.activation_bytes(classes * cpc, settings.train_points)


def stored_values(state: Any, small: SmallSet) -> int:
  """How many numbers a set stores, to compare methods at equal storage: the parameters
  of a learned set (its `DistillState`'s `gen_params`: a tensor's points; DD3D's generator
  weights and per-cloud codes, from which noise of a seed draws clouds at any resolution;
  SADM's rotations and TM's learned step size with them) and the part ids a tensor keeps
  beside them; for a selection, the exported clouds' coordinates and per-point targets."""
  learned, *kept = state if isinstance(state, tuple) else (state,)
  if isinstance(learned, DistillState):
    return int(sum(np.size(x) for x in jax.tree.leaves((learned.gen_params, kept))))
  return int(small.points.size + (small.targets.size if small.targets.ndim > 1 else 0))


def step_inputs(method: Method, real: RealData) -> Any:
  """What `method.step` takes besides its state: `method.inputs(real)`, or `real`."""
  inputs = getattr(method, 'inputs', None)
  return real if inputs is None else inputs(real)


from dd3d_jax.methods._networks import build  # noqa: E402 (needs the names above)

__all__ = ['Context', 'Method', 'SmallSet', 'build', 'export_clouds', 'set_memory',
           'step_inputs', 'stored_values']
