"""Classes split over a device mesh give the single-device result.

The checks run in a child process that sees forced CPU devices
(`--xla_force_host_platform_device_count`, which must be set before JAX starts). On 4
devices: one outer step of gradient matching in float64 for 6 classes (which 4 does
not divide: padded units) and the DM loss, and a tiny DM job stopped mid-distillation that
resumes to the uninterrupted result; the slow checks add a short distillation in
float32, data-parallel training and testing of a BatchNorm network in float64, and 8
devices and 8 classes (which both 4 and 8 divide) for the outer step.
"""

import functools
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_child(devices: int, check: str):
  flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
  env = {**os.environ, 'XLA_FLAGS': flags, 'JAX_PLATFORMS': 'cpu', 'PYTHONPATH': ROOT}
  out = subprocess.run([sys.executable, __file__, check, str(devices)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  assert 'ok' in out.stdout, out.stdout


def test_on_4_devices_a_sharded_step_equals_unsharded_and_a_stopped_run_resumes():
  run_child(4, 'step,resume')  # 6 classes on 4 devices: padded units included


@pytest.mark.slow
def test_on_4_devices_a_distillation_and_an_evaluation_equal_unsharded():
  run_child(4, 'distill,eval')


@pytest.mark.slow
def test_on_4_and_8_devices_of_8_sharded_steps_equal_unsharded():
  run_child(8, 'step')  # one process: meshes of its first 4 and of all 8, 8 and 6 classes


def test_the_log_names_the_jax_version_devices_and_mesh():
  run_child(4, 'describe')


def test_more_units_than_devices_is_a_config_error():
  from dd3d_jax import devices
  from dd3d_jax.errors import ConfigError
  with pytest.raises(ConfigError, match=r'mesh.units is 99, .*set mesh.units to at most'):
    devices.make_mesh(99)
  assert devices.make_mesh(1) is None


# ---- the child process ------------------------------------------------------------------

def _distiller(k: int, cpc: int, **kw):
  from dd3d_jax import distill, models, rotator, synthetic
  from dd3d_jax import generator as gen
  module = gen.ModulatedSiren(num_classes=k, cpc=cpc, w0_initial=30.0, hidden=32)
  return distill.Distiller(
      synthesizer=synthetic.SirenSet(module),
      network=models.make_network('pointnet', k, rotator.SignRotator()), num_classes=k,
      cpc=cpc, batch_real=4, train_points=32, outer_loop=2, inner_loop=1, iterations=4,
      class_chunk=1, **kw)


def _child_step(devices: int) -> None:
  import dataclasses

  import jax
  import jax.numpy as jnp
  import numpy as np

  from dd3d_jax import distill
  from dd3d_jax.devices import make_mesh
  from dd3d_jax.methods import dm

  assert jax.device_count() == devices
  meshes = (make_mesh(4),) if devices == 4 else (make_mesh(4), make_mesh(8))
  # 4 and 8 devices divide 8 classes; neither divides 6 (the fast check: 6 only).
  for k, cpc in ((6, 1),) if devices == 4 else ((8, 1), (6, 1)):
    with jax.enable_x64(True):
      f64 = functools.partial(jax.tree.map, lambda x: jnp.asarray(x, jnp.float64))
      base = _distiller(k, cpc)
      gen_params = f64(base.synthesizer.init(jax.random.key(0)))
      net_vars = f64(base.network.init(jax.random.key(1)))
      rng = np.random.default_rng(k)
      points = jnp.asarray(rng.normal(size=(k, 4, 32, 3)))
      weights = jnp.full((k, 4), 0.25, jnp.float64)
      noise = jnp.asarray(rng.uniform(size=(k, cpc, 32, 1)))
      (loss_a, grads_a), *sharded = (
          jax.jit(functools.partial(distill.matching_loss_and_grad, d))(
              gen_params, net_vars, points, jnp.repeat(jnp.arange(k)[:, None], 4, 1),
              weights, noise)
          for d in (base, *(base._replace(mesh=m) for m in meshes)))
      for loss_b, grads_b in sharded:
        np.testing.assert_allclose(loss_b, loss_a, rtol=1e-12)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-14),
                     grads_a, grads_b)
      if k == 8:
        continue
      method = dm.DistributionMatching(  # DM, SADM: the same map_classes; once is enough
          network=base.network, num_classes=k, cpc=cpc, train_points=32, batch_real=4,
          iterations=1, lr=1e-3, weight_decay=0.0, optimizer='adam', momentum=0.0,
          augment=True, class_chunk=1)
      syn = jnp.asarray(rng.normal(size=(k * cpc, 32, 3)))
      (loss_a, grad_a), (loss_b, grad_b) = (
          jax.jit(m.loss)(syn, net_vars, points, weights, jax.random.key(5))
          for m in (method, dataclasses.replace(method, mesh=meshes[0])))
      np.testing.assert_allclose(loss_b, loss_a, rtol=1e-12)
      np.testing.assert_allclose(grad_b, grad_a, rtol=1e-10, atol=1e-14)
  print('ok')


def _child_distill(devices: int) -> None:
  import chex
  import jax

  from dd3d_jax import distill
  from dd3d_jax.devices import make_mesh
  from tests.test_distill import tiny_real

  real, _ = tiny_real()
  base = _distiller(3, 2)
  finals = []
  for d in (base, base._replace(mesh=make_mesh(4))):
    state = distill.init_state(d, jax.random.key(0))
    step = distill.make_iteration_fn(d)
    for _ in range(2):
      state, metrics = step(state, real)
    finals.append((state.gen_params, metrics['loss']))
  chex.assert_trees_all_close(finals[1], finals[0], rtol=2e-4, atol=1e-6)
  print('ok')


def _child_eval(devices: int) -> None:
  import chex
  import jax
  import jax.numpy as jnp
  import numpy as np

  from dd3d_jax import training
  from dd3d_jax.devices import make_mesh
  from dd3d_jax.models import make_network
  from dd3d_jax.tasks.classification import Classification

  rng = np.random.default_rng(0)
  labels = jnp.asarray(np.repeat(np.arange(3), 5), jnp.int32)
  network = make_network('pointnet_tnet', 3)  # BatchNorm: statistics of the whole batch
  tx = training.torch_sgd(0.01, 0.9)
  with jax.enable_x64(True):  # float32 training amplifies summation-order noise (1e-3)
    points = jnp.asarray(rng.normal(size=(15, 24, 3)) * (1 + np.asarray(labels))[:, None, None])
    variables = jax.tree.map(lambda a: a.astype(jnp.float64),
                             network.init(jax.random.key(0)))
    outs = [jax.jit(lambda v, mesh=mesh: training.train_epochs(
        network, Classification(3), tx, v, tx.init(v['params']), points, labels, labels,
        jax.random.key(1), num_epochs=2, batch_size=8, augment=True, mesh=mesh))(variables)
        for mesh in (None, make_mesh(4))]
    chex.assert_trees_all_close(outs[1], outs[0], rtol=1e-9, atol=1e-12)
    logits = [jax.jit(lambda x, mesh=mesh: training.map_batches(
        lambda b: network.logits(outs[0][0], b), x, 4, mesh))(points)
        for mesh in (None, make_mesh(4))]
    np.testing.assert_allclose(logits[1], logits[0], rtol=1e-9, atol=1e-12)
  print('ok')


def _child_resume(devices: int) -> None:
  """The tiny job's DM over all devices, stopped in its third step and run again, ends
  where the uninterrupted job does (the restored state is placed back on the mesh)."""
  import tempfile

  import numpy as np

  from dd3d_jax import pipeline, runner
  from tests.test_pipeline import crash_on_call
  from tests.tiny import tiny_config

  config = tiny_config('dm')
  config.mesh.units = devices
  with tempfile.TemporaryDirectory() as whole, tempfile.TemporaryDirectory() as stopped:
    expected = pipeline.run(config, whole)
    with pytest.MonkeyPatch.context() as m, pytest.raises(KeyboardInterrupt):
      crash_on_call(m, runner, '_step', 2)  # after steps 1 and 2 and their checkpoints
      pipeline.run(config, stopped)
    resumed = pipeline.run(config, stopped)
    assert [r['final_oa'] for r in resumed['dm']['runs']] == [
        r['final_oa'] for r in expected['dm']['runs']]
    with np.load(f'{whole}/sets/dm_0.npz') as a, np.load(f'{stopped}/sets/dm_0.npz') as b:
      np.testing.assert_array_equal(a['points'], b['points'])
  print('ok')


def _child_describe(devices: int) -> None:
  import jax

  from dd3d_jax.devices import describe
  head = f'JAX {jax.__version__}, cpu backend: 1 process, {devices} devices ({devices} x cpu)'
  assert describe(0) == f'{head}; mesh of {devices} units.', describe(0)
  assert describe(1) == f'{head}; mesh of 1 unit.', describe(1)
  print('ok')


if __name__ == '__main__':
  for check in sys.argv[1].split(','):
    {'step': _child_step, 'distill': _child_distill, 'eval': _child_eval,
     'resume': _child_resume, 'describe': _child_describe}[check](
        int(sys.argv[2]))
