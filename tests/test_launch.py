"""The cloud launch scripts parse, refuse a call without CONFIG and WORKDIR, and (dry
run) issue the exact commands their headers document."""

import os
import shlex
import subprocess

import pytest

LAUNCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'launch')


SCRIPTS = ['job.sh', 'table1.sh', 'tpu_slice.sh', 'slurm.sbatch']


@pytest.mark.parametrize('script', SCRIPTS)
def test_script_parses(script):
  assert subprocess.run(['bash', '-n', os.path.join(LAUNCH, script)]).returncode == 0


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


@pytest.mark.parametrize('script', ['job.sh', 'tpu_slice.sh', 'slurm.sbatch'])
def test_without_config_and_workdir_prints_usage(script):
  out = subprocess.run([os.path.join(LAUNCH, script)], capture_output=True, text=True)
  assert out.returncode == 2 and out.stderr.startswith('usage:')


def dry_run(*args) -> list[str]:
  out = subprocess.run([os.path.join(LAUNCH, args[0]), *args[1:]], capture_output=True,
                       text=True, env={**os.environ, 'DRY_RUN': '1'})
  assert out.returncode == 0, out.stderr
  return out.stdout.splitlines()


def test_job_dry_run_installs_then_runs_the_main_command():
  install, main = dry_run('job.sh', 'configs/modelnet40.py:cpc=10', '/runs/a b', '--config.seed=1')
  assert install.startswith('python3 -m pip install') and 'pip install -q -e .' in install
  assert shlex.split(main) == ['python3', '-m', 'dd3d_jax.main',
                               '--config=configs/modelnet40.py:cpc=10', '--workdir=/runs/a b',
                               '--config.seed=1']


def test_tpu_slice_dry_run_copies_the_checkout_and_starts_job_sh_on_every_host():
  scp, ssh = dry_run('tpu_slice.sh', 'dd3d-v4-32', 'us-central2-b', 'configs/mvpnet100.py:cpc=10',
                     '/mnt/shared/w', '--config.seed=1')
  scp, ssh = shlex.split(scp), shlex.split(ssh)
  assert scp[:5] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'scp'] and '--worker=all' in scp
  assert scp[-2:] == ['.', 'dd3d-v4-32:~/dd3d_jax']
  assert ssh[:6] == ['gcloud', 'compute', 'tpus', 'tpu-vm', 'ssh', 'dd3d-v4-32']
  assert '--zone=us-central2-b' in ssh and '--worker=all' in ssh
  remote = ssh[-1].split('=', 1)[1]
  assert shlex.split(remote) == ['cd', '~/dd3d_jax', '&&', 'launch/job.sh',
                                 'configs/mvpnet100.py:cpc=10', '/mnt/shared/w', '--config.seed=1']


def test_slurm_dry_run_starts_one_main_per_task():
  (line,) = dry_run('slurm.sbatch', 'configs/modelnet40.py:cpc=10', '/shared/w')
  assert shlex.split(line) == ['srun', '--kill-on-bad-exit=1', 'python3', '-m', 'dd3d_jax.main',
                               '--config=configs/modelnet40.py:cpc=10', '--workdir=/shared/w']
