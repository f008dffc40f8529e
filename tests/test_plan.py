"""The plan: the methods of eval.methods in order, their runs, plan.json, and the setting
a divergence names."""

import json

from dd3d_jax import plan as plan_lib
from dd3d_jax.workdir import Workdir
from tests.tiny import tiny_config


def test_plan_lists_the_methods_in_order_with_their_runs():
  c = tiny_config('full, dm,random')
  c.num_distills, c.eval.num_evals = 2, 3
  c.methods.full.eval_epochs = 7
  plan = plan_lib.make_plan(c)
  assert [(p.name, p.type, p.num_runs) for p in plan] == [
      ('full', 'full', 6), ('dm', 'dm', 6), ('random', 'random', 6)]
  assert plan[1].settings.lr == c.distill.lr  # resolved: distill's value where None
  assert [plan_lib.eval_epochs(c, p) for p in plan] == [7, 2, 2]
  assert [plan_lib.writes_set(p) for p in plan] == [False, True, True]  # full saves no set


def test_a_test_interval_longer_than_the_training_is_one_warning_per_length():
  c = tiny_config('full,dm,random')
  c.methods.full.eval_epochs = 7
  c.eval.test_every = 2
  assert plan_lib.untested_epochs(c, plan_lib.make_plan(c)) == []  # equal: tested at the end
  c.eval.test_every = 5
  assert plan_lib.untested_epochs(c, plan_lib.make_plan(c)) == [
      'eval.test_every=5 exceeds the 2 evaluation epochs of dm, random: their networks are '
      'tested only after the last epoch, so the best-epoch scores equal the final ones; set '
      '--config.eval.test_every=2 or lower to follow the best epoch.']
  c.eval.test_every = 8
  assert [w.split(' of ')[1].split(':')[0] for w in plan_lib.untested_epochs(
      c, plan_lib.make_plan(c))] == ['dm, random', 'full']


def test_plan_json_keeps_the_methods_of_earlier_runs(tmp_path, caplog):
  wd, c = Workdir(str(tmp_path)), tiny_config('random,dm')
  plan_lib.write_plan(wd, plan_lib.make_plan(c), ('pointnet',), 'shapes', c)
  c.eval.methods, c.eval.num_evals = 'gm,random', 2
  plan_lib.write_plan(wd, plan_lib.make_plan(c), ('dgcnn',), 'shapes', c)
  with open(tmp_path / 'plan.json') as f:
    plan = json.load(f)
  assert plan['methods'] == ['random', 'dm', 'gm'] and plan['backbones'] == ['pointnet', 'dgcnn']
  assert plan['runs_per_method'] == {'random': 2, 'dm': 1, 'gm': 2}
  assert plan['types'] == {'random': 'random', 'dm': 'dm', 'gm': 'gm'}
  assert (plan['dataset'], plan['task'], plan['cpc']) == ('shapes', 'classification', 1)
  (tmp_path / 'plan.json').write_text('{"methods": [')
  with caplog.at_level('WARNING', logger='dd3d_jax'):
    plan_lib.write_plan(wd, plan_lib.make_plan(c), ('pointnet',), 'shapes', c)
  assert 'plan.json is damaged' in caplog.text
  with open(tmp_path / 'plan.json') as f:
    assert json.load(f)['methods'] == ['gm', 'random']


def test_a_divergence_names_the_methods_own_step_size_else_distill_lr():
  c = tiny_config('gm,tm')
  assert plan_lib.lr_field(c, 'gm') == ('distill.lr', c.distill.lr)
  c.methods.gm.lr = 0.5
  assert plan_lib.lr_field(c, 'gm') == ('methods.gm.lr', 0.5)
  assert plan_lib.lr_field(c, 'tm') == ('methods.tm.lr_lr', c.methods.tm.lr_lr)
