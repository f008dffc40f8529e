"""The device check's driver (`benchmarks/gpu.py`), rehearsed on the CPU at tiny sizes:
it installs without the network, writes its JSON and markdown after every part, and a
part stopped at its time limit leaves a status saying so instead of ending the run."""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      'benchmarks', 'gpu.py')


def run_check(out, *args):
  done = subprocess.run([sys.executable, SCRIPT, 'run', '--out', str(out), '--tiny', *args],
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  with open(out / 'gpu.json') as f:
    return json.load(f), (out / 'gpu.md').read_text()


@pytest.mark.slow  # installs the package and compiles a step and an epoch: about a minute;
# test_gpu rehearses the same computations in the fast suite
def test_parts_write_rows_json_and_tables(tmp_path):
  summary, md = run_check(tmp_path / 'out', '--parts', 'install', 'step', 'evaluation',
                          '--budget', '300')
  assert {p: v['status'] for p, v in summary['parts'].items()} == {
      'install': 'done', 'step': 'done', 'evaluation': 'done'}
  rows = summary['rows']
  versions = next(r for r in rows if r.get('what') == 'versions')
  assert versions['backend'] == 'cpu' and versions['dd3d_jax from'].startswith(
      str(tmp_path / 'out_site'))  # the installed copy, not the tree
  steps = [r for r in rows if r['part'] == 'step']
  assert len(steps) == 3 and all(r['step_ms'] > 0 and r['loss_finite'] for r in steps)
  job = next(r for r in rows if r['part'] == 'evaluation')
  assert job['status'] == 'finished' and 0 <= job['random_final_oa'] <= 100
  assert '## DD3D outer step' in md and '**best**' in md and 'random_final_oa' in md
  assert sorted(os.listdir(tmp_path / 'out')) == ['gpu.json', 'gpu.log', 'gpu.md', 'rows.jsonl']


def test_a_part_stopped_at_its_limit_is_reported_and_the_run_goes_on(tmp_path):
  summary, md = run_check(tmp_path / 'out', '--parts', 'install', 'step', '--limit', 'step=3')
  assert summary['parts']['step']['status'] == 'stopped at its limit'
  assert summary['parts']['install']['status'] == 'done'
  assert '| step | stopped at its limit |' in md
