"""Tables 1, 2 and 3 from fixture workdirs: cell format, column and row order, pooling, LaTeX,
errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from dd3d_jax import tables
from dd3d_jax.errors import UserError


def make_workdir(root, name: str, methods: dict, runs_per_method: int = 2,
                 dataset: str = 'modelnet10', rotated: bool = False, cpc: int = 1,
                 backbones=('pointnet',), task: str | None = None) -> str:
  """A workdir with only plan.json; `methods` maps method name -> type; without `task` the
  plan has no 'task' key, as plans written before segmentation."""
  workdir = os.path.join(str(root), name)
  os.makedirs(workdir)
  plan = {'dataset': dataset, 'rotated': rotated, 'cpc': cpc, 'methods': list(methods),
          'types': dict(methods), 'backbones': list(backbones),
          'runs_per_method': {m: runs_per_method for m in methods}}
  if task is not None:
    plan['task'] = task
  with open(os.path.join(workdir, 'plan.json'), 'w') as f:
    json.dump(plan, f)
  return workdir


def add_runs(workdir: str, method: str, finals, bests=None, backbone: str = 'pointnet',
             mious=None) -> None:
  """One run file per final OA (best OA defaults to final + 1), as the pipeline names them.

  `mious`, one (instance, class) final mIoU pair per run, makes them segmentation runs
  (best mIoUs final + 1).
  """
  with open(os.path.join(workdir, 'plan.json')) as f:
    kind = json.load(f)['types'][method]
  folder = os.path.join(workdir, 'runs', method)
  os.makedirs(folder, exist_ok=True)
  bests = [f + 1 for f in finals] if bests is None else bests
  for s, (final, best) in enumerate(zip(finals, bests)):
    run = {'method': method, 'type': kind, 'backbone': backbone, 'distill': 0, 'eval': s,
           'final_oa': final, 'best_oa': best, 'curve': [[50, final]], 'seconds': 1.0}
    if mious is not None:
      instance, klass = mious[s]
      run.update(task='segmentation', final_instance_miou=instance, final_class_miou=klass,
                 best_instance_miou=instance + 1, best_class_miou=klass + 1)
    with open(os.path.join(folder, f'd0_{backbone}_s{s}.json'), 'w') as f:
      json.dump(run, f)


def md_table(text: str) -> list[dict]:
  """The markdown table's rows as {column header: cell text}."""
  lines = [[c.strip() for c in line.strip('|').split('|')]
           for line in text.splitlines() if line.startswith('|')]
  header, rule, *body = lines
  assert set(''.join(rule)) <= set('-:')
  return [dict(zip(header, line, strict=True)) for line in body]


def table(*workdirs, **kwargs) -> list[dict]:
  return md_table(tables.render(tables.collect(workdirs, **kwargs), 'md'))


def test_complete_cell_is_population_mean_and_std(tmp_path):
  w = make_workdir(tmp_path, 'w', {'dd3d': 'dd3d', 'random': 'random'}, runs_per_method=3)
  finals, bests = [60.0, 70.5, 62.7], [61.0, 72.0, 63.0]
  add_runs(w, 'dd3d', finals, bests)
  add_runs(w, 'random', [50.0, 80.0, 65.0])
  [row] = table(w)
  assert row['dd3d'] == f'{np.mean(finals):.1f} ± {np.std(finals):.1f} ({np.mean(bests):.1f})'
  assert row['random'] == '**65.0 ± 12.2 (66.0)**'  # ddof 0: ddof 1 would give 15.0


def test_single_run_has_no_spread(tmp_path):
  w = make_workdir(tmp_path, 'w', {'full': 'full'}, runs_per_method=1)
  add_runs(w, 'full', [89.4], [89.6])
  assert table(w)[0]['full'] == '89.4 (89.6)'


def test_columns_ordered_by_type_then_name_with_full_last(tmp_path):
  methods = {'full': 'full', 'dd3d_real': 'dd3d', 'abc': 'zzz', 'dd3d': 'dd3d', 'sadm': 'sadm',
             'xyz': 'aaa', 'tm': 'tm', 'dm': 'dm', 'gm': 'gm', 'kcenter': 'kcenter',
             'herding': 'herding', 'random': 'random'}
  w = make_workdir(tmp_path, 'w', methods)
  assert list(table(w)[0]) == ['dataset', 'setting', 'CPC', 'random', 'herding', 'kcenter', 'gm',
                               'dm', 'tm', 'sadm', 'dd3d', 'dd3d_real', 'xyz', 'abc', 'full']


def test_bold_marks_row_best_excluding_full_and_all_ties(tmp_path):
  w = make_workdir(tmp_path, 'w', {'random': 'random', 'gm': 'gm', 'dd3d': 'dd3d',
                                   'full': 'full'}, runs_per_method=1)
  add_runs(w, 'random', [60.0])
  add_runs(w, 'gm', [70.0])
  add_runs(w, 'dd3d', [70.0])
  add_runs(w, 'full', [90.0])
  row = table(w)[0]
  assert row['gm'] == row['dd3d'] == '**70.0 (71.0)**'
  assert row['random'] == '60.0 (61.0)' and row['full'] == '90.0 (91.0)'


def test_partial_missing_and_unlisted_cells(tmp_path):
  a = make_workdir(tmp_path, 'a', {'random': 'random', 'herding': 'herding', 'dd3d': 'dd3d'},
                   runs_per_method=3)
  b = make_workdir(tmp_path, 'b', {'dd3d': 'dd3d'}, runs_per_method=3, cpc=10)
  add_runs(a, 'dd3d', [70.0, 72.0])
  add_runs(a, 'random', [60.0])
  add_runs(b, 'dd3d', [80.0, 80.0, 80.0])
  first, second = table(a, b)
  assert first['dd3d'] == '**71.0 ± 1.0 (72.0) [2/3]**'
  assert first['random'] == '60.0 (61.0) [1/3]'
  assert first['herding'] == 'not run [0/3]'
  assert second['dd3d'] == '**80.0 ± 0.0 (81.0)**'
  assert second['random'] == second['herding'] == '—'


def test_same_key_workdirs_are_pooled_with_a_note(tmp_path):
  a = make_workdir(tmp_path, 'a', {'dd3d': 'dd3d'})
  b = make_workdir(tmp_path, 'b', {'dd3d': 'dd3d', 'gm': 'gm'})
  c = make_workdir(tmp_path, 'c', {'dd3d': 'dd3d'}, cpc=10)
  add_runs(a, 'dd3d', [60.0])
  add_runs(b, 'dd3d', [70.0, 80.0])
  text = tables.render(tables.collect([a, b, c]), 'md')
  pooled, single = md_table(text)
  assert pooled['dd3d'] == f'**70.0 ± {np.std([60.0, 70.0, 80.0]):.1f} (71.0) [3/4]**'
  assert pooled['gm'] == 'not run [0/2]' and single['gm'] == '—'
  assert text.splitlines()[-1] == 'modelnet10 aligned CPC 1: pooled from 2 workdirs'
  assert 'CPC 10: pooled' not in text


def test_rows_sorted_by_dataset_setting_and_numeric_cpc(tmp_path):
  keys = [('modelnet40', False, 2), ('modelnet10', True, 2), ('modelnet10', False, 10),
          ('modelnet10', False, 2)]
  dirs = [make_workdir(tmp_path, f'w{i}', {'dd3d': 'dd3d'}, dataset=d, rotated=r, cpc=c)
          for i, (d, r, c) in enumerate(keys)]
  rows = [(r['dataset'], r['setting'], r['CPC']) for r in table(*dirs)]
  assert rows == [('modelnet10', 'aligned', '2'), ('modelnet10', 'aligned', '10'),
                  ('modelnet10', 'rotated', '2'), ('modelnet40', 'aligned', '2')]


def test_caption_above_the_table(tmp_path):
  w = make_workdir(tmp_path, 'w', {'dd3d': 'dd3d'})
  lines = tables.render(tables.collect([w]), 'md').splitlines()
  assert lines[0] == ("Final-epoch OA % (mean ± std over runs; best-epoch OA, the paper's "
                      'protocol, in brackets). Backbone: pointnet.')
  assert lines[2].startswith('| dataset')


def test_latex_uses_booktabs_pm_bold_dashes_and_escapes(tmp_path):
  a = make_workdir(tmp_path, 'a', {'dd3d_real': 'dd3d', 'gm': 'gm'})
  b = make_workdir(tmp_path, 'b', {'dd3d_real': 'dd3d'}, rotated=True)
  add_runs(a, 'dd3d_real', [70.0, 72.0])
  text = tables.render(tables.collect([a, b]), 'latex')
  lines = text.splitlines()
  assert lines[0].startswith('% Final-epoch OA')
  assert lines[1] == r'\begin{tabular}{llrrr}' and lines[-1] == r'\end{tabular}'
  assert [l for l in lines if l.startswith('\\') and 'rule' in l] == [
      r'\toprule', r'\midrule', r'\bottomrule']
  assert r'dd3d\_real' in text and 'dd3d_real' not in text
  assert r'\textbf{71.0 $\pm$ 1.0 (72.0)}' in text
  assert lines[-3].split('&')[-2].strip() == '--'  # gm is not in the rotated plan
  assert '±' not in '\n'.join(lines[1:]) and '—' not in text


def test_tmp_files_and_other_backbones_are_ignored(tmp_path):
  w = make_workdir(tmp_path, 'w', {'dd3d': 'dd3d'}, backbones=('pointnet', 'dgcnn'))
  add_runs(w, 'dd3d', [70.0])
  add_runs(w, 'dd3d', [40.0], backbone='dgcnn')
  with open(os.path.join(w, 'runs', 'dd3d', 'd0_pointnet_s1.json.tmp'), 'w') as f:
    f.write('{"final_oa": 1')
  assert table(w)[0]['dd3d'] == '**70.0 (71.0) [1/2]**'
  assert table(w, backbone='dgcnn')[0]['dd3d'] == '**40.0 (41.0) [1/2]**'


def test_cli_prints_markdown(tmp_path, capsys):
  w = make_workdir(tmp_path, 'w', {'dd3d': 'dd3d'}, runs_per_method=1)
  add_runs(w, 'dd3d', [70.0])
  assert tables.main([w]) == 0
  out, err = capsys.readouterr()
  assert out == tables.render(tables.collect([w]), 'md') + '\n' and err == ''
  assert tables.main([w, '--format', 'latex']) == 0
  assert r'\toprule' in capsys.readouterr().out


# Each damages a workdir and returns the argument to pass, the path the error must name and
# words it must contain.
def _break_run_file(w):
  path = os.path.join(w, 'runs', 'dd3d', 'd0_pointnet_s0.json')
  with open(path, 'w') as f:
    f.write('{"final_oa": 7')
  return w, path, 'delete it'


def _drop_run_key(w):
  path = os.path.join(w, 'runs', 'dd3d', 'd0_pointnet_s0.json')
  with open(path) as f:
    run = json.load(f)
  del run['best_oa']
  with open(path, 'w') as f:
    json.dump(run, f)
  return w, path, 'best_oa'


def _break_plan(w):
  with open(os.path.join(w, 'plan.json'), 'w') as f:
    json.dump({'dataset': 'modelnet10'}, f)
  return w, os.path.join(w, 'plan.json'), 'delete it'


def _remove_plan(w):
  os.remove(os.path.join(w, 'plan.json'))
  return w, w, 'not a dd3d_jax workdir'


def _missing_folder(w):
  return w + '_missing', w + '_missing', 'does not exist'


@pytest.mark.parametrize('damage', [_break_run_file, _drop_run_key, _break_plan, _remove_plan,
                                    _missing_folder])
def test_cli_user_errors_are_one_line_and_status_2(tmp_path, capsys, damage):
  w = make_workdir(tmp_path, 'w', {'dd3d': 'dd3d'})
  add_runs(w, 'dd3d', [70.0])
  arg, path, words = damage(w)
  assert tables.main([arg]) == 2
  out, err = capsys.readouterr()
  assert out == '' and err.startswith('error: ') and err.count('\n') == 1
  assert path in err and words in err


def test_refuses_a_name_with_two_types_and_an_unknown_backbone(tmp_path):
  a = make_workdir(tmp_path, 'a', {'mine': 'dd3d'})
  b = make_workdir(tmp_path, 'b', {'mine': 'gm'})
  with pytest.raises(UserError, match="'mine' is of type 'dd3d' .* 'gm' in .*b;"):
    tables.collect([a, b])
  with pytest.raises(UserError, match=r"backbone 'dgcnn' \(they have \['pointnet'\]\)"):
    tables.collect([a], backbone='dgcnn')


def test_table3_has_a_column_per_backbone_pointnet_first_and_missing_cells_shown(tmp_path):
  w = make_workdir(tmp_path, 'w', {'dd3d': 'dd3d', 'gm': 'gm'}, runs_per_method=1,
                   backbones=('dgcnn', 'pointnet', 'pct'))
  add_runs(w, 'dd3d', [70.0], backbone='pointnet')
  add_runs(w, 'gm', [72.0], backbone='pointnet')
  add_runs(w, 'dd3d', [60.0], backbone='dgcnn')
  add_runs(w, 'gm', [55.0], backbone='dgcnn')
  add_runs(w, 'dd3d', [50.0], backbone='pct')  # gm on pct not run yet
  rows = md_table(tables.render_backbones([w]))
  assert list(rows[0]) == ['dataset', 'setting', 'CPC', 'method', 'pointnet', 'dgcnn', 'pct']
  by_method = {r['method']: r for r in rows}
  assert by_method['gm']['pointnet'] == '**72.0 (73.0)**'  # the best of its column
  assert by_method['dd3d']['dgcnn'] == '**60.0 (61.0)**'
  assert by_method['gm']['pct'] == 'not run [0/1]'
  assert r'\begin{tabular}{llllrrr}' in tables.render_backbones([w], 'latex')


SEGMENTATION_METHODS = {'full': 'full', 'dd3d': 'dd3d', 'gm': 'gm', 'random': 'random'}


def make_segmentation_workdirs(root) -> tuple[str, str]:
  """ShapeNet-part workdirs at CPC 1 (gm has one of its two runs) and CPC 10 (no gm)."""
  one = make_workdir(root, 'seg1', SEGMENTATION_METHODS, dataset='shapenetpart', cpc=1,
                     task='segmentation')
  add_runs(one, 'random', [70.0, 72.0], mious=[(60.0, 50.0), (62.0, 54.0)])
  add_runs(one, 'gm', [74.0], mious=[(63.0, 55.5)])
  add_runs(one, 'dd3d', [80.0, 80.0], mious=[(70.0, 58.0), (72.0, 60.0)])
  add_runs(one, 'full', [90.0, 92.0], mious=[(80.0, 75.0), (82.0, 77.0)])
  ten = make_workdir(root, 'seg10', {'random': 'random', 'dd3d': 'dd3d', 'full': 'full'},
                     dataset='shapenetpart', cpc=10, task='segmentation')
  add_runs(ten, 'random', [75.0, 75.0], mious=[(65.0, 61.96), (65.0, 62.04)])  # 62.0 as dd3d
  add_runs(ten, 'dd3d', [82.0, 84.0], mious=[(74.0, 62.0), (76.0, 62.0)])
  add_runs(ten, 'full', [93.0, 93.0], mious=[(85.0, 80.0), (85.0, 80.0)])
  return one, ten


def test_table2_has_oa_and_mious_per_cpc_and_bolds_the_best_class_miou(tmp_path):
  rows = md_table(tables.render_scores(tables.collect(make_segmentation_workdirs(tmp_path))))
  assert list(rows[0]) == ['dataset', 'setting', 'method',
                           'CPC 1 OA', 'CPC 1 inst. mIoU', 'CPC 1 cls. mIoU',
                           'CPC 1 cls. mIoU - random', 'CPC 10 OA', 'CPC 10 inst. mIoU',
                           'CPC 10 cls. mIoU', 'CPC 10 cls. mIoU - random']
  assert [(r['dataset'], r['setting'], r['method']) for r in rows] == [
      ('shapenetpart', 'aligned', m) for m in ('random', 'gm', 'dd3d', 'full')]
  random, gm, dd3d, full = (list(r.values())[3:] for r in rows)
  assert random == ['71.0 ± 1.0', '61.0 ± 1.0', '52.0 ± 2.0', '0.0 ± 0.0',
                    '75.0 ± 0.0', '65.0 ± 0.0', '**62.0 ± 0.0**', '0.0 ± 0.0']  # a printed tie
  # the gain over random is of class mIoU, the score the table ranks by
  assert gm == ['74.0 [1/2]', '63.0 [1/2]', '55.5 [1/2]', '5.5 [1/2]', '—', '—', '—', '—']
  assert dd3d == ['80.0 ± 0.0', '71.0 ± 1.0', '**59.0 ± 1.0**', '7.0 ± 1.0',  # 58-50, 60-54
                  '83.0 ± 1.0', '75.0 ± 1.0', '**62.0 ± 0.0**', '0.0 ± 0.0']
  assert full == ['91.0 ± 1.0', '81.0 ± 1.0', '76.0 ± 1.0', '24.0 ± 1.0',  # the upper bound
                  '93.0 ± 0.0', '85.0 ± 0.0', '80.0 ± 0.0', '18.0 ± 0.0']


def test_table2_caption_and_latex(tmp_path):
  one, ten = make_segmentation_workdirs(tmp_path)
  rows = tables.collect([one, ten])
  assert tables.render_scores(rows).splitlines()[0] == (
      'Final-epoch point OA, instance mIoU and class mIoU % (mean ± std over runs). '
      "Backbone: pointnet. cls. mIoU - random: each run minus the random coreset's run with "
      'the same distillation and evaluation index.')
  text = tables.render_scores(rows, 'latex')
  lines = text.splitlines()
  assert lines[0].startswith('% Final-epoch point OA')
  assert lines[1] == r'\begin{tabular}{lll' + 'r' * 8 + '}' and lines[-1] == r'\end{tabular}'
  assert lines[3].split('&')[-1].rstrip(' \\') == ' CPC 10 cls. mIoU - random'
  assert r'\textbf{59.0 $\pm$ 1.0}' in text
  gm = next(l for l in lines if '& gm ' in l)
  assert [c.strip() for c in gm.rstrip(' \\').split('&')[-4:]] == ['--'] * 4
  assert '±' not in '\n'.join(lines[1:]) and '—' not in text and '**' not in text


def test_missing_plan_task_is_classification_and_an_unknown_one_is_refused(tmp_path):
  old = make_workdir(tmp_path, 'old', {'dd3d': 'dd3d'})
  assert tables.read_plan(old)['task'] == 'classification'
  odd = make_workdir(tmp_path, 'odd', {'dd3d': 'dd3d'}, task='detection')
  with pytest.raises(UserError, match=r"'task' is 'detection', not one of classification, "
                                      r"segmentation \(nor an importable task module\); delete it"):
    tables.read_plan(odd)


@pytest.mark.parametrize('table, wrong', [
    ('2', 'seg1 is a segmentation workdir and '),
    ('1', 'seg1 is a segmentation workdir; print its table with --table 2.'),
    ('3', 'seg1 is a segmentation workdir; print its table with --table 2.')])
def test_cli_refuses_a_workdir_of_the_other_task_in_one_line(tmp_path, capsys, table, wrong):
  seg1, _ = make_segmentation_workdirs(tmp_path)
  cls = make_workdir(tmp_path, 'cls', {'dd3d': 'dd3d'})  # its plan has no 'task'
  add_runs(cls, 'dd3d', [70.0])
  assert tables.main([seg1, cls, '--table', table]) == 2
  out, err = capsys.readouterr()
  assert out == '' and err.startswith('error: ') and err.count('\n') == 1
  assert f'{tmp_path}{os.sep}{wrong}' in err


@pytest.mark.parametrize('damage, words', [(lambda run: run.pop('final_class_miou'),
                                            " lacks the key 'final_class_miou'; delete it"),
                                           (lambda run: run.update(best_instance_miou='high'),
                                            ": 'best_instance_miou' has the wrong type"),
                                           (lambda run: run.update(task='classification'),
                                            " is a 'classification' run in a segmentation "
                                            "workdir; delete it")])
def test_cli_damaged_segmentation_run_is_one_line_and_status_2(tmp_path, capsys, damage, words):
  one, _ = make_segmentation_workdirs(tmp_path)
  path = os.path.join(one, 'runs', 'gm', 'd0_pointnet_s0.json')
  with open(path) as f:
    run = json.load(f)
  damage(run)
  with open(path, 'w') as f:
    json.dump(run, f)
  assert tables.main([one, '--table', '2']) == 2
  out, err = capsys.readouterr()
  assert out == '' and err.startswith('error: ') and err.count('\n') == 1
  assert path + words in err


def test_cli_prints_table2(tmp_path, capsys):
  workdirs = make_segmentation_workdirs(tmp_path)
  assert tables.main([*workdirs, '--table', '2', '--format', 'latex']) == 0
  out, err = capsys.readouterr()
  assert out == tables.render_scores(tables.collect(workdirs), 'latex') + '\n'
  assert err == ''


@pytest.mark.parametrize('argv, says', [
    ([], 'the following arguments are required: WORKDIR'),
    (['--table', '9', 'w'], "argument --table: invalid choice: '9'"),
])
def test_bad_arguments_are_one_line(argv, says, capsys):
  assert tables.main(argv) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and says in err and '--help' in err


def test_table_2_of_classification_has_oa_and_mean_class_accuracy(tmp_path, capsys):
  w = make_workdir(tmp_path, 'cls', {'dd3d': 'dd3d', 'random': 'random'}, task='classification')
  add_runs(w, 'dd3d', [70.0, 72.0])  # run files older than mAcc: its cell says so
  add_runs(w, 'random', [60.0, 62.0])
  for s, macc in enumerate((50.0, 54.0)):  # random's runs have it
    path = os.path.join(w, 'runs', 'random', f'd0_pointnet_s{s}.json')
    with open(path) as f:
      run = json.load(f)
    with open(path, 'w') as f:
      json.dump({**run, 'final_macc': macc, 'best_macc': macc + 1}, f)
  assert tables.main([w, '--table', '2']) == 0
  out = capsys.readouterr().out
  assert '| CPC 1 OA' in out and 'CPC 1 mAcc' in out and 'mAcc' in out.splitlines()[0]
  dd3d = next(line for line in out.splitlines() if '| dd3d' in line)
  random = next(line for line in out.splitlines() if '| random' in line)
  assert '71.0 ± 1.0' in dd3d and '—' in dd3d
  assert '61.0 ± 1.0' in random and '**52.0 ± 2.0**' in random
