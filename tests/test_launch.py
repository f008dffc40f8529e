"""The cloud launch scripts parse, and refuse a call without CONFIG and WORKDIR."""

import os
import subprocess

import pytest

LAUNCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'launch')


@pytest.mark.parametrize('script', ['job.sh', 'table1.sh'])
def test_script_parses(script):
  assert subprocess.run(['bash', '-n', os.path.join(LAUNCH, script)]).returncode == 0


def test_job_without_arguments_prints_usage():
  out = subprocess.run([os.path.join(LAUNCH, 'job.sh')], capture_output=True, text=True)
  assert out.returncode == 2 and out.stderr.startswith('usage:')


def test_table_needs_data_and_runs_folders():
  env = {k: v for k, v in os.environ.items() if k not in ('DATA', 'RUNS')}
  out = subprocess.run([os.path.join(LAUNCH, 'table1.sh')], capture_output=True, text=True,
                       env=env)
  assert out.returncode != 0 and 'DATA' in out.stderr


def test_table_refuses_an_unknown_dataset_before_any_job(tmp_path):
  env = {**os.environ, 'DATA': str(tmp_path), 'RUNS': str(tmp_path / 'runs')}
  out = subprocess.run([os.path.join(LAUNCH, 'table1.sh'), 'modelnet10'], capture_output=True,
                       text=True, env=env)
  assert out.returncode == 2 and "unknown dataset 'modelnet10'" in out.stderr
  assert not (tmp_path / 'runs').exists()
