"""One suite over every registered task (and the third task of `tests/plugins`): the
module's constants, and the task object's network, loss, predictions and scores on a
tiny split, so that a new task module is tested without being listed here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import tasks as tasks_lib
from dd3d_jax.rotator import IdentityRotator
from tests.methods.test_methods import tiny_setup

TASKS = [*tasks_lib.names(), 'tests.plugins.extent']


@pytest.mark.parametrize('name', TASKS)
def test_module_constants_are_consistent(name):
  module = tasks_lib.module(name)
  assert module.SCORES and all(isinstance(s, str) for s in module.SCORES)
  assert set(module.COLUMNS.values()) <= {f'final_{s}' for s in module.SCORES}
  assert set(module.TABLES) <= {'1', '2', '3'} and module.TABLES
  assert isinstance(module.DESCRIPTION, str) and isinstance(module.CAPTION, str)
  assert module.SET_KEY is None or isinstance(module.SET_KEY, str)


@pytest.fixture(scope='module', params=TASKS)
def setup(request):
  """(task, train split, network, variables) on the tiny shapes (which carry part ids)."""
  _, context, _ = tiny_setup('classification')
  task = tasks_lib.make(request.param, context.dataset)
  network = task.network('pointnet', IdentityRotator())
  return task, context.dataset, network, network.init(jax.random.key(0))


def test_task_is_hashable_and_named_as_its_module(setup):
  task, _, _, _ = setup
  hash(task)
  assert tasks_lib.module(task.name).make is not None
  assert isinstance(task.per_point, bool) and isinstance(task.bn_from_real, bool)


def test_loss_weights_masks_predictions_and_scores(setup):
  task, dataset, network, variables = setup
  train = dataset.train
  targets = np.asarray(task.targets(train))
  assert len(targets) == len(train.labels)
  if task.per_point:
    assert targets.shape == train.points.shape[:2]
  points, labels = jnp.asarray(train.points[:3]), jnp.asarray(train.labels[:3])
  apply = jax.jit(network.apply)  # one program per batch shape, not one per operation
  outputs, _ = apply(variables, points, labels)
  t = jnp.asarray(targets[:3])
  loss = task.loss(outputs, t)
  assert loss.shape == () and np.isfinite(float(loss))
  # Uniform weights are the mean; a one-hot weight is that cloud's loss alone.
  np.testing.assert_allclose(task.loss(outputs, t, jnp.full(3, 1 / 3)), loss, rtol=1e-5)
  single = task.loss(outputs[1:2], t[1:2])
  np.testing.assert_allclose(task.loss(outputs, t, jnp.array([0.0, 1.0, 0.0])), single,
                             rtol=1e-5)
  mask = jnp.ones(t.shape, jnp.float32)  # counting every point (or cloud) changes nothing
  np.testing.assert_allclose(task.loss(outputs, t, None, mask), loss, rtol=1e-5)
  test = dataset.test
  outputs, _ = apply(variables, jnp.asarray(test.points), jnp.asarray(test.labels))
  predictions = np.asarray(task.predict(outputs, jnp.asarray(test.labels)))
  assert len(predictions) == len(test.labels)
  scores = task.score(predictions, test)
  assert set(scores) == set(tasks_lib.module(task.name).SCORES)
  assert all(0.0 <= v <= 100.0 for v in scores.values())
  # Perfect predictions score 100 on the headline.
  perfect = np.asarray(task.targets(test))
  assert task.score(perfect, test)[tasks_lib.module(task.name).SCORES[0]] == pytest.approx(100.0)
