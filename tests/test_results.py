"""Reporting: results.json's text table and a damaged results.json, one that is not JSON
or not the summary of the plan (the run files and results.json end to end:
tests/test_pipeline.py, tests/test_main.py)."""

import json

import pytest

from dd3d_jax import plan as plan_lib
from dd3d_jax import results as results_lib
from dd3d_jax import tasks
from tests.tiny import tiny_config


def summary(final, best, n=2, **more):
  return {'final_oa_mean': final, 'final_oa_std': 0.5, 'best_oa_mean': best, 'best_oa_std': 0.25,
          'runs': [{}] * n, **more}


def test_table_has_a_row_per_method_and_a_block_per_backbone():
  label = tasks.label('classification', tasks.module('classification').SCORES[0])
  assert label == 'OA'
  results = {'dd3d': summary(61.0, 62.0), 'random': summary(40.0, 41.5, n=3),
             'by_backbone': {'pointnet': {'dd3d': summary(61.0, 62.0)},
                             'dgcnn': {'dd3d': summary(55.0, 56.0),
                                       'random': summary(30.0, 31.0)}},
             'meta': {'task': 'classification'}}
  lines = results_lib.results_table(results).splitlines()
  assert lines[0].split() == ['method', 'final-epoch', 'OA', '%', 'best-epoch', 'OA', '%',
                              '(paper', 'protocol)', 'runs', 'mAcc', '%']
  # Summaries older than mean class accuracy show '-' in its column.
  assert lines[1].split() == ['dd3d', '61.00', '+-', '0.50', '62.00', '+-', '0.25', '2', '-']
  assert lines[2].split() == ['random', '40.00', '+-', '0.50', '41.50', '+-', '0.25', '3', '-']
  # The header names the headline score (it once named the last method of the rows above).
  assert lines[4] == f'final-epoch {label} % by backbone'
  assert lines[5].split() == ['method', 'pointnet', 'dgcnn']
  assert lines[6].split() == ['dd3d', '61.00', '+-', '0.50', '55.00', '+-', '0.50']
  assert lines[7].split() == ['random', '-', '30.00', '+-', '0.50']
  assert len(lines) == 8


def test_table_of_part_segmentation_has_its_mious():
  seg = {f'final_{s}_{k}': v for s in ('instance_miou', 'class_miou')
         for k, v in (('mean', 70.0), ('std', 1.0))}
  results = {'dd3d': summary(80.0, 81.0, **seg), 'meta': {'task': 'segmentation'}}
  header, row = results_lib.results_table(results).splitlines()
  assert header.split()[-6:] == ['inst.', 'mIoU', '%', 'cls.', 'mIoU', '%']
  assert row.split()[-6:] == ['70.00', '+-', '1.00', '70.00', '+-', '1.00']


@pytest.mark.parametrize('text', ['{"dd3d": ', '[]', '{"dd3d": 5}', '{"dd3d": {}}',
                                  '{"dd3d": {}, "meta": {}}', '{"random": 5, "meta": {}}'])
def test_damaged_results_json_is_none_with_a_warning(text, tmp_path, caplog):
  plan = plan_lib.make_plan(tiny_config('dd3d'))
  path = tmp_path / 'results.json'
  path.write_text(text)
  with caplog.at_level('WARNING', logger='dd3d_jax'):
    assert results_lib.read_results(str(path), plan, ('pointnet',), 'classification') is None
  assert 'results.json is damaged' in caplog.text


def test_results_json_of_the_plan_is_read_as_it_is(tmp_path):
  plan = plan_lib.make_plan(tiny_config('dd3d'))
  good = {'dd3d': summary(61.0, 62.0), 'meta': {'task': 'classification'}}
  path = tmp_path / 'results.json'
  path.write_text(json.dumps(good))
  assert results_lib.read_results(str(path), plan, ('pointnet',), 'classification') == good
  # Evaluated on two backbones, it must hold the summary per backbone.
  assert results_lib.read_results(str(path), plan, ('pointnet', 'dgcnn'),
                                  'classification') is None
  good['by_backbone'] = {b: {'dd3d': summary(60.0, 61.0)} for b in ('pointnet', 'dgcnn')}
  path.write_text(json.dumps(good))
  assert results_lib.read_results(str(path), plan, ('pointnet', 'dgcnn'),
                                  'classification') == good


def test_gains_pair_runs_by_distillation_and_evaluation_index():
  from dd3d_jax import evaluate
  assert evaluate.reference_method({'dd3d': 'dd3d', 'rnd': 'random', 'random': 'random'}) == 'random'
  assert evaluate.reference_method({'dd3d': 'dd3d', 'rnd': 'random'}) == 'rnd'
  assert evaluate.reference_method({'dd3d': 'dd3d'}) is None
  def run(d, s, oa):
    return {'distill': d, 'eval': s, 'final_oa': oa}
  random = [run(0, 0, 40.0), run(0, 1, 44.0), run(1, 0, 50.0)]
  runs = [run(1, 0, 53.0), run(0, 1, 45.0), run(0, 0, 41.0), run(2, 0, 60.0)]  # any order
  gains = evaluate.with_gains(runs, random, 'oa')
  assert [g.get('final_oa_gain') for g in gains] == [3.0, 1.0, 1.0, None]  # (2, 0): no partner
  assert [g['final_oa'] for g in gains] == [53.0, 45.0, 41.0, 60.0]
  assert all(g['final_oa_gain'] == 0 for g in evaluate.with_gains(random, random, 'oa'))
  # the summary reports a gain only when every run has its pair
  assert 'final_oa_gain_mean' not in evaluate.summarize(gains)
  assert evaluate.summarize(gains[:3])['final_oa_gain_mean'] == pytest.approx(5 / 3)


def test_table_shows_the_gain_over_random_when_results_have_it():
  results = {'dd3d': summary(61.0, 62.0, final_oa_gain_mean=3.5, final_oa_gain_std=1.25),
             'full': summary(90.0, 91.0), 'meta': {'task': 'classification'}}
  lines = results_lib.results_table(results).splitlines()
  assert lines[0].split()[-4:] == ['%', 'OA', '-', 'random']
  assert lines[1].split()[-3:] == ['+3.50', '+-', '1.25'] and lines[2].split()[-1] == '-'
