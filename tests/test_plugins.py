"""The plug-in interfaces are real: a third task (`tests/plugins/extent.py`, per-cloud
height regression) and an objective (`tests/plugins/moments.py`), each one module outside
the package, named by its dotted path, run through `main`, the runner and `tables` with
no other change."""

import json
import os

import numpy as np
import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import main, records, registry, tables
from tests.plugins import extent
from tests.tiny import tiny_config


def run_main(config, workdir) -> dict:
  main.execute(config, str(workdir), ['dd3d_jax.main'])
  with open(os.path.join(workdir, 'results.json')) as f:
    return json.load(f)


def test_a_third_task_runs_through_main_and_tables(tmp_path, capsys):
  c = tiny_config('random,full')
  c.task = 'tests.plugins.extent'
  results = run_main(c, tmp_path)
  for name in ('random', 'full'):
    assert 0 <= results[name]['final_within_mean'] <= 100
  assert results['meta']['task'] == 'tests.plugins.extent'
  # The set file keeps the task's targets under its SET_KEY: the heights of its clouds.
  points, labels, height = records.load_set(str(tmp_path / 'sets' / 'random_0.npz'), 'height')
  np.testing.assert_allclose(height, extent.heights(points), rtol=1e-6)
  assert len(labels) == c.distill.cpc * len(set(labels.tolist()))
  capsys.readouterr()
  assert tables.main([str(tmp_path)]) == 0
  assert tables.main(['--table', '2', str(tmp_path)]) == 0
  out = capsys.readouterr().out
  assert 'CPC 1 within 0.1' in out and 'random' in out
  # A method that cannot label its clouds for the task is refused in one line.
  c.eval.methods = 'dm'
  with pytest.raises(SystemExit) as e:
    main.execute(c, str(tmp_path), ['dd3d_jax.main'])
  assert e.value.code == 2
  assert 'does not do height regression' in capsys.readouterr().err


def test_an_objective_trains_the_generator_through_main_runner_and_tables(tmp_path, capsys):
  c = tiny_config('dd3d')
  c.methods.dd3d.objective = 'tests.plugins.moments'
  c.methods.dd3d.moment_weight = 0.5  # the objective's own setting reaches it
  config_lib.validate(c)
  results = run_main(c, tmp_path)
  assert 0 <= results['dd3d']['final_oa_mean'] <= 100
  losses = [m['loss'] for m in records.read_jsonl(str(tmp_path / 'metrics.jsonl'))
            if m.get('method') == 'dd3d' and 'loss' in m]
  assert len(losses) == c.distill.iterations and np.isfinite(losses).all()
  capsys.readouterr()
  assert tables.main([str(tmp_path)]) == 0 and 'dd3d' in capsys.readouterr().out
  # A setting of another objective is refused, naming the ones this entry takes.
  c.methods.dd3d.lr_rot = 0.1
  with pytest.raises(SystemExit) as e:
    main.execute(c, str(tmp_path / 'other'), ['dd3d_jax.main'])
  assert e.value.code == 2
  assert 'methods.dd3d.lr_rot is not a setting of dd3d' in capsys.readouterr().err
  assert 'moment_weight' in registry.get('methods', 'dd3d').fields_of(
      c.methods.dd3d, 'methods.dd3d')
