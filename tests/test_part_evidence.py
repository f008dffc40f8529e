"""The part-segmentation evidence: its measures on clouds whose answer is known, and the
command end to end at test size."""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dd3d_jax import part_evidence
from dd3d_jax.models import Network, PointNetSeg
from dd3d_jax.rotator import IdentityRotator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def clouds(n=24):
  rng = np.random.default_rng(0)
  points = jnp.asarray(rng.normal(size=(3, n, 3)), jnp.float32)
  parts = jnp.asarray(np.arange(n) % 2 + np.zeros((3, 1), int), jnp.int32)
  return points, parts


def test_a_cloud_of_the_pool_is_found_with_no_gap_and_swapped_parts_are_all_wrong():
  pool, pool_parts = clouds()
  found = part_evidence.against_nearest(pool[1], pool_parts[1], pool, pool_parts)
  assert {k: float(v) for k, v in found.items()} == {
      'part_chamfer': 0.0, 'shape_chamfer': 0.0, 'wrong_part': 0.0}
  swapped = part_evidence.against_nearest(pool[1], 1 - pool_parts[1], pool, pool_parts)
  assert float(swapped['wrong_part']) == 1.0 and float(swapped['shape_chamfer']) == 0.0
  assert float(swapped['part_chamfer']) > 0.0


def test_batch_statistics_are_what_a_training_pass_mixes_into_the_running_ones():
  network = Network(PointNetSeg(num_parts=4, num_shape_classes=2), IdentityRotator(),
                    conditioned=True)
  net_vars = network.init(jax.random.key(0))
  points, _ = clouds()
  labels = jnp.array([0, 1, 0])
  batch = part_evidence.batch_statistics(network, net_vars, points, labels)
  running = network.apply(net_vars, points, labels, train=True)[1]['batch_stats']
  for b, start, after in zip(*(part_evidence.layers(s) for s in (
      batch, net_vars['batch_stats'], running))):
    for stat in ('mean', 'var'):  # the reference network's momentum: 0.1 of the batch
      np.testing.assert_allclose(0.9 * start[stat] + 0.1 * b[stat], after[stat], rtol=1e-4,
                                 atol=1e-5)
  # the frozen statistics of distillation keep 90 % of the initial variance 1
  evidence = part_evidence.batch_norm_evidence(running, batch, batch)
  assert evidence['bn_gap'] == 0.0 and evidence['bn_scale'] > 0.0


def test_cosine_of_pytrees():
  a = {'x': jnp.array([1.0, 0.0]), 'y': jnp.array([[0.0]])}
  assert part_evidence.cosine(a, a) == pytest.approx(1.0)
  assert part_evidence.cosine(a, {'x': jnp.array([-1.0, 0.0]), 'y': jnp.array([[0.0]])}
                              ) == pytest.approx(-1.0)


def test_it_imports_beside_the_main_command():
  """A test run collects every module in one process: this one's flags must not clash
  with `dd3d_jax.main`'s `--config` (they are defined only when it runs as a program)."""
  done = subprocess.run([sys.executable, '-c', 'import dd3d_jax.main, dd3d_jax.part_evidence'],
                        cwd=ROOT, capture_output=True, text=True)
  assert done.returncode == 0, done.stderr


@pytest.mark.slow  # compiles a segmentation distillation and an evaluation: about 2 min
def test_the_command_writes_its_record(tmp_path):
  out = tmp_path / 'evidence.json'
  subprocess.run(
      [sys.executable, '-m', 'dd3d_jax.part_evidence', '--config=configs/shapes_parts.py',
       '--config.distill.iterations=2', '--config.eval.epochs=2', '--config.eval.num_evals=1',
       '--config.data.shapes.num_train_per_class=20', '--config.data.shapes.num_test_per_class=2',
       '--networks=1', '--coarse=0,16', f'--out={out}'], cwd=ROOT, check=True)
  record = json.loads(out.read_text())
  assert [r['iteration'] for r in record['iterations']] == [0, 1, 2]
  assert -1.0 <= record['networks_last']['conflict'] <= 1.0
  assert set(record['coarse']) == {'0', '16'}


@pytest.mark.parametrize('args, message', [
    (['--config=configs/shapes_parts.py', '--method=dd3d_parts'],
     '--method=dd3d_parts is not a method of the config'),
    (['--config=configs/shapes_parts.py', '--method=gm'], "not method 'gm' (gm)"),
    (['--config=configs/shapes.py'], "of task 'classification'"),
    (['--config=configs/shapes_parts.py', '--coarse=0,half'], '--coarse=0,half: give points'),
])
def test_a_wrong_config_or_method_stops_in_one_line(args, message, tmp_path):
  out = tmp_path / 'evidence.json'
  done = subprocess.run([sys.executable, '-m', 'dd3d_jax.part_evidence', *args, f'--out={out}'],
                        cwd=ROOT, capture_output=True, text=True)
  assert done.returncode == 2 and message in done.stderr, done.stderr
  assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()
