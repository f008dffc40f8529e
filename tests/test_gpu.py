"""The device check's correctness half: each computation on the accelerator against
XLA:CPU's result for the same inputs (`pytest -m gpu`; `benchmarks/gpu.py` runs it).

The reference side is always the CPU with the CPU's defaults (classes looped one at a
time, `class_chunk` 1), jitted. The other side is the accelerator with its defaults (all
classes in one vmap, chunk 0); where there is no accelerator it is the CPU again under a
second setting, so that every comparison is rehearsed here: chunk 0 for the methods, and
op-by-op execution (`jax.disable_jit`, a different XLA program per operation) for the
ops, the networks and the evaluation epoch. That rehearsal runs one case of each kind
(`REHEARSED`: DM's step, the cheapest to compile, PointNet's logits, ...) to keep the CPU
suite short and skips the others, which differ from those only in what they compute, not
in how they compare.
Both sides take the same inputs, keys included (JAX's PRNG gives the same bits on every
backend).

Float32 throughout. Matmuls run at 'highest' precision on both sides (a GPU's 'default'
float32 matmul may round its inputs to TF32); the DD3D step is also compared at
'default' precision, with the looser tolerance that rounding calls for. Tolerances:
  exact (0): sorting network values, argsort and gradient; farthest point sampling,
             kNN, ball query indices (random points: no ties)
  1e-5 abs:  canonical pose (PCA then the sign rotator), whatever signs eigh returns
  1e-4 rel:  Chamfer distances; each network's logits (eval mode); an evaluation epoch's
             mean loss
  1e-3 rel:  a method's loss at the step; 2e-2 at 'default' precision
  cos 0.99:  a method's or an evaluation epoch's update of the learned parameters
             (new - old), as a cosine between the two sides: Adam's first steps are
             nearly sign(gradient), so a coordinate whose gradient is float32 noise
             may flip, which a cosine tolerates and an elementwise bound does not
Each comparison appends one JSON line (check, measured value, tolerance, devices) to the
file named by DD3D_GPU_REPORT, for the device check's table.
"""

import contextlib
import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import evaluate, geometry, registry, rotator
from dd3d_jax.methods import step_inputs
from dd3d_jax.models import make_network
from dd3d_jax.ops import chamfer, neighbors, sampling, sorting
from dd3d_jax.tasks.classification import Classification

from tests.methods.test_methods import METHODS, tiny_setup

pytestmark = pytest.mark.gpu

CPU = jax.devices('cpu')[0]
ACCELERATOR = next((d for d in jax.devices() if d.platform != 'cpu'), None)
DEVICE = ACCELERATOR or CPU


# The cases that the CPU-only rehearsal runs (all run where there is an accelerator).
REHEARSED = ('dm step', 'pointnet logits', 'evaluation epoch', 'canonical pose', 'sorting',
             'point ops')


def rehearsed(case: str) -> None:
  """Skips `case` on a machine without an accelerator unless it is in `REHEARSED`."""
  if ACCELERATOR is None and case not in REHEARSED:
    pytest.skip(f'no accelerator: the CPU rehearsal runs one case of each kind ({case!r} '
                'is not one of them)')


def report(check: str, measured: float, tolerance: float, passed: bool, **extra) -> None:
  """One line of the device check's table (DD3D_GPU_REPORT names the file)."""
  path = os.environ.get('DD3D_GPU_REPORT')
  if path:
    with open(path, 'a') as f:
      f.write(json.dumps({'check': check, 'measured': float(measured), 'tolerance': tolerance,
                          'passed': bool(passed), 'reference': str(CPU),
                          'device': str(DEVICE) + ('' if ACCELERATOR else ' (second setting)'),
                          **extra}) + '\n')


def on(device, fn, *args, eager=False):
  """`jax.jit(fn)(*args)` with every input and new array on `device`, as host arrays
  (`eager`: op by op instead)."""
  with jax.default_device(device), (jax.disable_jit() if eager else contextlib.nullcontext()):
    out = jax.jit(fn)(*jax.device_put(args, device))
    return jax.tree.map(np.asarray, jax.block_until_ready(out))


def both(fn, *args):
  """(CPU result, device result) of `fn(*args)`; without an accelerator the device side
  is the CPU op by op."""
  return on(CPU, fn, *args), on(DEVICE, fn, *args, eager=ACCELERATOR is None)


def check_exact(name, reference, device):
  leaves = zip(jax.tree.leaves(reference), jax.tree.leaves(device))
  mismatched = sum(int(np.sum(a != b)) for a, b in leaves)
  report(name, mismatched, 0, mismatched == 0, unit='mismatched elements')
  assert mismatched == 0


def check_close(name, reference, device, rtol=0.0, atol=0.0):
  """max |device - reference| / (atol + rtol |reference|) <= 1 over all leaves; the
  report gives the largest relative error (rtol) or absolute error (atol alone)."""
  pairs = list(zip(jax.tree.leaves(reference), jax.tree.leaves(device)))
  worst = max(float(np.max(np.abs(b - a) / (atol + rtol * np.abs(a)), initial=0.0))
              for a, b in pairs)
  if rtol:
    error = max(float(np.max(np.abs(b - a) / np.maximum(np.abs(a), atol or 1e-30),
                             initial=0.0)) for a, b in pairs)
  else:
    error = max(float(np.max(np.abs(b - a), initial=0.0)) for a, b in pairs)
  report(name, error, rtol or atol, worst <= 1, unit='relative' if rtol else 'absolute')
  assert worst <= 1, f'{name}: max difference {error:.3g} exceeds rtol {rtol} / atol {atol}'


def update_cosine(old, new_reference, new_device) -> float:
  """Cosine between the two sides' updates (new - old) of the same parameters."""
  flat = lambda tree: np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])  # noqa: E731
  a = flat(new_reference) - flat(old)
  b = flat(new_device) - flat(old)
  return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def check_update(name, old, reference, device, minimum=0.99):
  cos = update_cosine(old, reference, device)
  report(name, cos, minimum, cos >= minimum, unit='update cosine')
  assert cos >= minimum, f'{name}: the updates point apart (cosine {cos:.4f})'


@functools.lru_cache(maxsize=None)
def method_pair(name: str):
  """The method built with the CPU's class chunk (1) and with the accelerator's (0)."""
  base, _, task = name.partition('/')
  c, context, real = tiny_setup(task or 'classification')
  built = []
  for chunk in (1, 0):
    c2 = c.copy_and_resolve_references()
    c2.distill.class_chunk = chunk
    built.append(registry.get('methods', base).from_config(config_lib.method_settings(c2, base),
                                                          context))
  return (*built, real)


STEPPED = [n for n in METHODS if method_pair(n)[0].num_steps > 0]


def learned(state):
  """The set's parameters in a method's state (GM for parts: (state, part labels))."""
  return (state[0] if isinstance(state, tuple) else state).gen_params


@pytest.mark.parametrize('name,precision',
                         [*((n, 'highest') for n in STEPPED), ('dd3d', 'default')])
def test_method_step(name, precision):
  rehearsed(f'{name} step' if precision == 'highest' else 'default precision')
  ref_method, dev_method, real = method_pair(name)
  state = ref_method.init(jax.random.key(0), real)
  inputs = step_inputs(ref_method, real)
  with jax.default_matmul_precision(precision):
    (ref_state, ref_metrics) = on(CPU, ref_method.step, state, inputs)
    (dev_state, dev_metrics) = on(DEVICE, dev_method.step, state, inputs)
  tag = f'{name} step' + ('' if precision == 'highest' else ' (default precision)')
  check_close(f'{tag}: loss', ref_metrics['loss'], dev_metrics['loss'],
              rtol=1e-3 if precision == 'highest' else 2e-2)
  check_update(f'{tag}: update', learned(state), learned(ref_state), learned(dev_state))


def tiny_classification():
  c, context, _ = tiny_setup('classification')
  return context.dataset


def test_evaluation_epoch():
  dataset = tiny_classification()
  k = dataset.num_classes
  net = make_network('pointnet', k)
  task = Classification(k)
  protocol = evaluate.Protocol(epochs=1, batch_size=8, test_every=1)
  points, labels = dataset.train.points[:16], dataset.train.labels[:16]  # two batches
  variables = net.init(jax.random.key(0))
  opt_state = protocol.make_optimizer(len(points)).init(variables['params'])

  def epoch(variables, opt_state, points, labels, key):
    return evaluate._train_block(variables, opt_state, points, labels, labels, key,
                                 network=net, task=task, protocol=protocol, num_epochs=1,
                                 mesh=None)

  with jax.default_matmul_precision('highest'):
    ref, dev = both(epoch, variables, opt_state, points, labels, jax.random.key(1))
  check_close('evaluation epoch: mean loss', ref[2], dev[2], rtol=1e-4)
  check_update('evaluation epoch: update', variables['params'], ref[0]['params'],
               dev[0]['params'])


@pytest.mark.parametrize('name', registry.names('networks'))
def test_network_logits(name):
  rehearsed(f'{name} logits')
  net = make_network(name, 5)
  points = jax.random.uniform(jax.random.key(2), (4, 64, 3), minval=-1, maxval=1)
  variables = net.init(jax.random.key(3))
  with jax.default_matmul_precision('highest'):
    ref, dev = both(net.logits, variables, points)
  check_close(f'{name}: logits', ref, dev, rtol=1e-4, atol=1e-5)


def test_canonical_pose():
  clouds = jax.random.normal(jax.random.key(4), (16, 128, 3)) * jnp.array([3.0, 2.0, 1.0])
  rotated = clouds @ geometry.random_rotation(jax.random.key(5), (16,))

  def pose(points):
    canonical, _, _ = geometry.pca_canonicalize(points)
    return rotator.sign_canonicalize(canonical)

  with jax.default_matmul_precision('highest'):
    ref, dev = both(pose, rotated)
  check_close('PCA + sign rotator', ref, dev, atol=1e-5)
  learnable = rotator.LearnableSignRotator()
  params = learnable.init(None)
  ref, dev = both(learnable.apply, params, rotated)
  check_close('learnable rotator', ref, dev, atol=1e-5)


def test_sorting_network():
  x = jax.random.normal(jax.random.key(6), (4, 100, 16))  # 100: padded to 128
  cotangent = jax.random.normal(jax.random.key(7), x.shape)

  def sort_and_grad(x, cotangent):
    values, vjp = jax.vjp(lambda x: sorting.sort_descending(x, axis=1), x)
    return values, sorting.argsort_descending(x, axis=1), vjp(cotangent)[0]

  check_exact('sorting network: values, argsort, gradient', *both(sort_and_grad, x, cotangent))


def test_point_ops():
  points = jax.random.uniform(jax.random.key(8), (4, 512, 3), minval=-1, maxval=1)
  other = jax.random.uniform(jax.random.key(9), (4, 300, 3), minval=-1, maxval=1)

  def indices(points):
    centres = sampling.farthest_point_sampling(points, 64)
    queries = jnp.take_along_axis(points, centres[..., None], axis=1)
    return (centres, neighbors.knn(queries, points, 16),
            neighbors.ball_query(queries, points, 0.3, 16))

  check_exact('FPS, kNN, ball query indices', *both(indices, points))
  with jax.default_matmul_precision('highest'):
    ref, dev = both(chamfer.chamfer_distance, points, other)
  check_close('Chamfer distance', ref, dev, rtol=1e-4)
