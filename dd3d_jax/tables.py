"""The paper's tables from run folders: `python -m dd3d_jax.tables WORKDIR [WORKDIR ...]`.

Each workdir holds `plan.json` (written when its run starts) and one
`runs/<method>/d<D>_<backbone>_s<S>.json` per finished evaluation run, so a
partly finished run gives a partial table. Rows are (dataset, setting, CPC);
workdirs with the same row are pooled. Columns are the methods of the plans,
ordered by method type with the full-data upper bound last.

    python -m dd3d_jax.tables runs/mn10_cpc1 runs/mn10_cpc1_seed2 --format latex

`--table 3` prints the Table 3 layout instead: rows (dataset, setting, CPC, method),
columns the evaluation backbones of the plans (`eval.backbones`), PointNet first.

Which layouts a workdir takes is its task's (`"task"` in plan.json, a module of
`dd3d_jax.tasks`; a plan without the key is classification): classification workdirs
take Tables 1 and 3; part segmentation takes `--table 2`, the paper's ShapeNet-part
layout: rows (dataset, setting, method), and for each CPC the task's columns
(final-epoch point OA, instance mIoU and class mIoU), the best of the last in bold.

A missing or damaged input stops with one line on stderr and status 2.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import sys
from typing import Sequence

import numpy as np

from dd3d_jax import cli, evaluate, tasks
from dd3d_jax.errors import UserError

# Column order by method type; other types follow alphabetically, then 'full' (the upper bound).
TYPE_ORDER = ('random', 'herding', 'kcenter', 'gm', 'dm', 'tm', 'sadm', 'tddp', 'dd3d')
CAPTION = ("Final-epoch {score} % (mean ± std over runs; best-epoch {score}, the paper's "
           'protocol, in brackets). Backbone: {backbone}.')
_NUMBER = (int, float)
PLAN_KEYS = {'dataset': str, 'rotated': bool, 'cpc': int, 'methods': list, 'types': dict,
             'backbones': list, 'runs_per_method': dict}
RUN_KEYS = {'method': str, 'type': str, 'backbone': str, 'distill': int, 'eval': int,
            'curve': list, 'seconds': _NUMBER}


def run_keys(task: str) -> dict:
  """The keys a run file of `task` must have: RUN_KEYS and final_/best_ of each of its
  scores but those added later (`ADDED_SCORES` of its module: older run files lack them)."""
  return {**RUN_KEYS, **{f'{when}_{s}': _NUMBER for s in tasks.required_scores(task)
                         for when in ('final', 'best')}}


_LATEX_SPECIAL = {'\\': r'\textbackslash{}', '&': r'\&', '%': r'\%', '$': r'\$', '#': r'\#',
                  '_': r'\_', '{': r'\{', '}': r'\}', '~': r'\textasciitilde{}',
                  '^': r'\textasciicircum{}'}


@dataclasses.dataclass(frozen=True)
class Cell:
  """One method in one row: its finished runs and how many the plans expect.

  Attributes:
    type: the method type (dd3d, gm, ..., full).
    runs: the run files' contents, one dict per finished evaluation run.
    expected: the runs the row's plans expect, summed over its workdirs that list the method.
  """
  type: str
  runs: list[dict]
  expected: int


@dataclasses.dataclass(frozen=True)
class Row:
  """One table row: a (dataset, rotated, cpc) key pooled over one or more workdirs.

  Attributes:
    dataset: dataset name from the plans.
    rotated: whether the row is the rotated setting.
    cpc: clouds per class.
    backbone: the evaluation network whose runs the cells hold.
    workdirs: the workdirs pooled into this row, in the order given.
    cells: method name -> Cell, for the methods this row's plans list.
    task: the plans' task, 'classification' or 'segmentation' (workdirs of different tasks
      are never pooled).
  """
  dataset: str
  rotated: bool
  cpc: int
  backbone: str
  workdirs: tuple[str, ...]
  cells: dict[str, Cell]
  task: str = 'classification'

  @property
  def setting(self) -> str:
    return 'rotated' if self.rotated else 'aligned'


def _is(value, kind) -> bool:
  """isinstance, except that a bool is not a number."""
  return isinstance(value, kind) and isinstance(value, bool) == (kind is bool)


def _load(path: str, keys: dict, fix: str) -> dict:
  """Reads a JSON object and checks that it has `keys` with values of their types."""
  try:
    with open(path) as f:
      obj = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise UserError(f'{path} cannot be read as JSON ({e}); {fix}') from e
  if not isinstance(obj, dict):
    raise UserError(f'{path} does not hold a JSON object; {fix}')
  for key, kind in keys.items():
    if key not in obj:
      raise UserError(f'{path} lacks the key {key!r}; {fix}')
    if not _is(obj[key], kind):
      raise UserError(f'{path}: {key!r} has the wrong type ({obj[key]!r}); {fix}')
  return obj


def read_plan(workdir: str) -> dict:
  """The validated `plan.json` of a workdir, with a missing 'task' set to 'classification'
  (plans written before segmentation lack it)."""
  if not os.path.isdir(workdir):
    raise UserError(f'workdir {workdir} does not exist or is not a folder; pass the --workdir '
                    'of a dd3d_jax.main run.')
  path = os.path.join(workdir, 'plan.json')
  if not os.path.exists(path):
    raise UserError(f'{workdir} has no plan.json: it is not a dd3d_jax workdir or its run has '
                    'not started.')
  fix = 'delete it and re-run the pipeline on that workdir to write it again.'
  plan = _load(path, PLAN_KEYS, fix)
  try:
    tasks.module(plan.setdefault('task', 'classification'))
  except UserError:
    raise UserError(f"{path}: 'task' is {plan['task']!r}, not one of "
                    f"{', '.join(tasks.names())} (nor an importable task module); {fix}") from None
  for name in plan['methods']:
    for table in ('types', 'runs_per_method'):
      value = plan[table].get(name) if isinstance(name, str) else None
      if not _is(value, str if table == 'types' else int):
        raise UserError(f'{path}: {table!r} has no valid entry for method {name!r}; {fix}')
  return plan


def read_runs(workdir: str, method: str, backbone: str,
              task: str = 'classification') -> list[dict]:
  """The finished evaluation runs of one method and backbone, sorted by file name; the run
  files must have the keys of the workdir's `task` (`run_keys`)."""
  fix = 'delete it and re-run the pipeline on that workdir to redo that evaluation run.'
  paths = sorted(glob.glob(os.path.join(glob.escape(workdir), 'runs', glob.escape(method),
                                        '*.json')))
  runs = [_load(p, run_keys(task), fix) for p in paths]
  for path, run in zip(paths, runs):
    if run.get('task', 'classification') != task:  # runs written before segmentation lack it
      raise UserError(f"{path} is a {run['task']!r} run in a {task} workdir; {fix}")
  return [r for r in runs if r['backbone'] == backbone]


def _column_key(name: str, kind: str) -> tuple:
  rank = TYPE_ORDER.index(kind) if kind in TYPE_ORDER else len(TYPE_ORDER) + (kind == 'full')
  return rank, kind, name


def collect(workdirs: Sequence[str], backbone: str = 'pointnet') -> list[Row]:
  """Reads workdirs into table rows, sorted by dataset, aligned before rotated, then CPC.

  Workdirs whose plan does not evaluate `backbone` are left out; workdirs are pooled into a
  row when they have the same dataset, setting, CPC and task.

  Raises:
    UserError: a workdir is missing or has no plan, a plan or run file is damaged, one
      method name has two types, or no workdir evaluates `backbone`.
  """
  plans = {w: read_plan(w) for w in dict.fromkeys(os.path.normpath(w) for w in workdirs)}
  types = {}
  for w, plan in plans.items():
    for name in plan['methods']:
      if types.setdefault(name, plan['types'][name]) != plan['types'][name]:
        raise UserError(f'method {name!r} is of type {types[name]!r} in one workdir and '
                        f'{plan["types"][name]!r} in {w}; give the two methods different names.')
  used = {w: p for w, p in plans.items() if backbone in p['backbones']}
  if not used:
    found = sorted({b for p in plans.values() for b in p['backbones']})
    raise UserError(f'no workdir evaluates backbone {backbone!r} (they have {found}); '
                    'choose one with --backbone.')
  key_of = {w: (p['dataset'], p['rotated'], p['cpc'], p['task']) for w, p in used.items()}
  rows = []
  for key in sorted(set(key_of.values())):
    pooled = [w for w in used if key_of[w] == key]
    cells = {}
    for w in pooled:  # each run paired with its workdir's random coreset run (its gain)
      reference = evaluate.reference_method({n: types[n] for n in used[w]['methods']})
      paired = read_runs(w, reference, backbone, key[3]) if reference else []
      for name in used[w]['methods']:
        cell = cells.get(name, Cell(types[name], [], 0))
        runs = evaluate.with_gains(read_runs(w, name, backbone, key[3]), paired,
                                   tasks.gain_score(key[3]))
        cells[name] = Cell(cell.type, cell.runs + runs,
                           cell.expected + used[w]['runs_per_method'][name])
    rows.append(Row(*key[:3], backbone, tuple(pooled), cells, task=key[3]))
  return rows


def columns(rows: Sequence[Row]) -> list[str]:
  """Method names of all rows, ordered by type (TYPE_ORDER, others, 'full'), then name."""
  types = {name: cell.type for row in rows for name, cell in row.cells.items()}
  return sorted(types, key=lambda name: _column_key(name, types[name]))


def count_text(n: float) -> str:
  """A count in three significant figures: 768, 36.9k, 1.57M."""
  for scale, suffix in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
    if abs(n) >= scale:
      return f'{n / scale:.3g}{suffix}'
  return f'{n:.3g}'


def storage_text(cell: Cell | None) -> str:
  """The numbers a cell's sets store (`methods.stored_values`; the largest of its runs'),
  or '—' when a run file is older than the record."""
  if cell is None or not cell.runs or not all('storage' in r for r in cell.runs):
    return '—'
  return count_text(max(r['storage'] for r in cell.runs))


def _mean_final(cell: Cell, key: str) -> float:
  """The mean of the runs' `key` as printed (one decimal), so printed ties are bolded together."""
  return round(float(np.mean([r[key] for r in cell.runs])), 1)


def cell_text(cell: Cell | None, key: str = 'final_oa', best_key: str | None = 'best_oa') -> str:
  """`mean ± std (mean best)` of the runs' `key` and `best_key` (no brackets when `best_key` is
  None), with `[k/N]` when runs are missing; `—` for an unlisted method."""
  if cell is None:
    return '—'
  count = f' [{len(cell.runs)}/{cell.expected}]' if len(cell.runs) < cell.expected else ''
  if not cell.runs:
    return 'not run' + count
  if not all(key in r for r in cell.runs):
    return '—'  # a score its run files are older than
  final = np.array([r[key] for r in cell.runs], dtype=float)
  spread = f' ± {final.std():.1f}' if len(final) > 1 else ''
  best = f' ({np.mean([r[best_key] for r in cell.runs]):.1f})' if best_key else ''
  return f'{final.mean():.1f}{spread}{best}{count}'


def best_methods(row: Row, key: str = 'final_oa') -> set[str]:
  """Methods with the row's highest mean of the runs' `key` (final OA), among those with
  runs, 'full' excluded."""
  means = {name: _mean_final(c, key) for name, c in row.cells.items()
           if c.runs and c.type != 'full' and all(key in r for r in c.runs)}
  top = max(means.values(), default=None)
  return {name for name, m in means.items() if m == top}


def _latex_escape(text: str) -> str:
  return ''.join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _aligned(lines: list[list[str]]) -> list[list[str]]:
  """Pads every column to its widest entry."""
  widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
  return [[text.ljust(w) for text, w in zip(line, widths)] for line in lines]


def _styled(text: str, bold: bool, fmt: str) -> str:
  """A cell's text for format `fmt` ('md' or 'latex'), in bold when `bold`."""
  if fmt == 'latex':
    text = text.replace('±', r'$\pm$').replace('—', '--')
    return rf'\textbf{{{text}}}' if bold else text
  return f'**{text}**' if bold else text


def _layout(caption: str, header: list[str], body: list[list[str]], labels: int, fmt: str,
            notes: Sequence[str] = ()) -> str:
  """A table as GitHub markdown (`fmt='md'`) or a LaTeX booktabs tabular (`fmt='latex'`).

  The first `labels` columns are left-aligned text (escaped for LaTeX), the others
  right-aligned cells already styled for `fmt`; the caption goes above, the notes below.
  """
  if fmt not in ('md', 'latex'):
    raise ValueError(f'unknown format {fmt!r}; use md or latex.')
  if fmt == 'md':
    header, rule, *body = _aligned(
        [header, ['---'] * labels + ['---:'] * (len(header) - labels), *body])
    table = ['| ' + ' | '.join(line) + ' |' for line in (header, rule, *body)]
    return '\n'.join([caption, '', *table, *([''] + list(notes) if notes else [])])
  header = [_latex_escape(h) for h in header]
  body = [[_latex_escape(t) for t in line[:labels]] + line[labels:] for line in body]
  header, *body = _aligned([header, *body])
  return '\n'.join([f'% {caption}',
                    r'\begin{tabular}{' + 'l' * labels + 'r' * (len(header) - labels) + '}',
                    r'\toprule', ' & '.join(header) + r' \\', r'\midrule',
                    *(' & '.join(line) + r' \\' for line in body), r'\bottomrule',
                    r'\end{tabular}', *(f'% {n}' for n in notes)])


def _require_table(rows: Sequence[Row], table: str) -> None:
  """Raises UserError naming a workdir of the rows whose task does not take `table`, or
  when the rows are of several tasks."""
  for row in rows:
    layouts = tasks.module(row.task).TABLES
    if table not in layouts:
      raise UserError(f'{row.workdirs[0]} is a {row.task} workdir; print its table with '
                      + ' or '.join(f'--table {t}' for t in layouts) + '.')
    if row.task != rows[0].task:
      raise UserError(f'{row.workdirs[0]} is a {row.task} workdir and {rows[0].workdirs[0]} a '
                      f'{rows[0].task} one; print each task in a table of its own.')


def _pool_notes(rows: Sequence[Row]) -> list[str]:
  """A note for each row pooled from several workdirs."""
  return [f'{r.dataset} {r.setting} CPC {r.cpc}: pooled from {len(r.workdirs)} workdirs'
          for r in rows if len(r.workdirs) > 1]


def _caption(template: str, rows: Sequence[Row]) -> str:
  """The caption `template` with the rows' backbones and headline score filled in."""
  score = tasks.label(rows[0].task, _headline(rows[0])) if rows else 'OA'
  return template.format(backbone=', '.join(sorted({r.backbone for r in rows})), score=score)


def _headline(row: Row) -> str:
  """The row's task's headline score ('oa' for shape classification)."""
  return tasks.module(row.task).SCORES[0]


def _headline_text(row: Row | None, name: str) -> str:
  """`cell_text` of a method's cell on the row's headline score (final, best-epoch)."""
  if row is None:
    return cell_text(None)
  head = _headline(row)
  return cell_text(row.cells.get(name), f'final_{head}', f'best_{head}')


def render(rows: Sequence[Row], fmt: str = 'md') -> str:
  """Table 1 as GitHub markdown (`fmt='md'`) or a LaTeX booktabs tabular (`fmt='latex'`).

  The caption goes above the table and a note per pooled row below it.

  Raises:
    UserError: a row's task does not take Table 1 (part segmentation takes Table 2).
  """
  _require_table(rows, '1')
  names = columns(rows)
  body = []
  for row in rows:
    best = best_methods(row, f'final_{_headline(row)}')
    body.append([row.dataset, row.setting, str(row.cpc),
                 *(_styled(_headline_text(row, name), name in best, fmt) for name in names)])
  return _layout(_caption(CAPTION, rows), ['dataset', 'setting', 'CPC', *names], body, 2, fmt,
                 _pool_notes(rows))


def render_scores(rows: Sequence[Row], fmt: str = 'md') -> str:
  """Table 2: one row per (dataset, setting, method), and per CPC of the rows the task's
  columns (`COLUMNS` of its module; part segmentation: `CPC k OA`, `CPC k inst. mIoU`,
  `CPC k cls. mIoU`, final-epoch values), and `CPC k cls. mIoU - random` when a workdir
  has a random coreset: the mean and std over runs of each run's `tasks.gain_score`
  (class mIoU for part segmentation, OA otherwise) minus that of the random coreset's run
  with the same distillation and evaluation index (`evaluate.with_gains`; '—' unless
  every run has its pair), and `CPC k stored`, the
  numbers each set stores (`methods.stored_values`), when run files record it; the best
  value of the task's last column of each (dataset, setting, CPC) in bold, 'full'
  excluded.

  The caption goes above the table and a note per pooled row below it.

  Raises:
    UserError: a row's task does not take Table 2.
  """
  _require_table(rows, '2')
  task = rows[0].task if rows else 'segmentation'
  module, scored = tasks.module(task), tasks.gain_score(task)
  cpcs = sorted({row.cpc for row in rows})
  shown = dict(module.COLUMNS)
  gain = f'final_{scored}_gain'
  if any(gain in r for row in rows for c in row.cells.values() for r in c.runs):
    shown[f'{tasks.label(task, scored)} - random'] = gain
  if any('storage' in r for row in rows for c in row.cells.values() for r in c.runs):
    shown['stored'] = 'storage'
  header = ['dataset', 'setting', 'method',
            *(f'CPC {k} {suffix}' for k in cpcs for suffix in shown)]
  marked = list(module.COLUMNS.values())[-1]
  body = []
  for dataset, setting in dict.fromkeys((row.dataset, row.setting) for row in rows):
    by_cpc = {row.cpc: row for row in rows if (row.dataset, row.setting) == (dataset, setting)}
    best = {k: best_methods(row, marked) for k, row in by_cpc.items()}
    for name in columns(list(by_cpc.values())):
      texts = []
      for k in cpcs:
        cell = by_cpc[k].cells.get(name) if k in by_cpc else None
        texts += [storage_text(cell) if key == 'storage' else
                  _styled(cell_text(cell, key, None), key == marked and name in best.get(k, ()),
                          fmt) for key in shown.values()]
      body.append([dataset, setting, name, *texts])
  caption = _caption(module.CAPTION, rows)
  if gain in shown.values():
    caption += (f' {next(c for c, key in shown.items() if key == gain)}: each run minus the '
                "random coreset's run with the same distillation and evaluation index.")
  if 'storage' in shown.values():
    caption += (' stored: the numbers a set stores (points x 3 of a tensor or selection, '
                "DD3D's generator parameters).")
  return _layout(caption, header, body, 3, fmt, _pool_notes(rows))


def render_backbones(workdirs: Sequence[str], fmt: str = 'md') -> str:
  """Table 3: one row per (dataset, setting, CPC, method), one column per backbone;
  the best method of each (dataset, setting, CPC) and backbone in bold.

  Raises:
    UserError: as `collect`, or a workdir's task does not take Table 3.
  """
  plans = [read_plan(w) for w in dict.fromkeys(os.path.normpath(w) for w in workdirs)]
  found = list(dict.fromkeys(b for p in plans for b in p['backbones']))
  backbones = sorted(found, key=lambda b: (b != 'pointnet', found.index(b)))
  by_backbone = {}
  for b in backbones:
    collected = collect(workdirs, b)
    _require_table(collected, '3')
    by_backbone[b] = {(r.dataset, r.setting, r.cpc): r for r in collected}
  keys = sorted({k for rows in by_backbone.values() for k in rows},
                key=lambda k: (k[0], k[1] == 'rotated', k[2]))
  body = []
  for key in keys:
    rows = {b: by_backbone[b].get(key) for b in backbones}
    best = {b: best_methods(r, f'final_{_headline(r)}') if r else set()
            for b, r in rows.items()}
    for name in columns([r for r in rows.values() if r]):
      body.append([key[0], key[1], str(key[2]), name,
                   *(_styled(_headline_text(rows[b], name), name in best[b], fmt)
                     for b in backbones)])
  caption = _caption("Final-epoch {score} % per evaluation backbone (mean ± std over runs; "
                     "best-epoch {score}, the paper's protocol, in brackets).",
                     [r for rows in by_backbone.values() for r in rows.values()])
  return _layout(caption, ['dataset', 'setting', 'CPC', 'method', *backbones], body, 4, fmt)


def main(argv: Sequence[str]) -> int:
  """Prints Table 1, 2 or 3 for the given workdirs; returns 0, or 2 after a one-line error."""
  parser = cli.ArgumentParser(prog='python -m dd3d_jax.tables',
                              description='Print the Table 1, 2 or 3 layout from run folders.')
  parser.add_argument('workdirs', nargs='+', metavar='WORKDIR')
  parser.add_argument('--format', choices=('md', 'latex'), default='md')
  parser.add_argument('--backbone', default='pointnet',
                      help='Tables 1 and 2: the evaluation network')
  parser.add_argument('--table', choices=('1', '2', '3'), default='1',
                      help="1: methods as columns; 2: methods as rows, the task's scores "
                           '(segmentation: OA and mIoUs) per CPC as columns; 3: backbones as '
                           'columns (which a workdir takes is its task\'s)')
  try:
    args = parser.parse_args(argv)
    if args.table == '3':
      text = render_backbones(args.workdirs, args.format)
    else:
      table = render if args.table == '1' else render_scores
      text = table(collect(args.workdirs, args.backbone), args.format)
  except UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(text)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
