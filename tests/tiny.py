"""A config small enough for end-to-end tests (seconds per run on 2 CPU cores)."""

from dd3d_jax import config as config_lib


def tiny_config(methods='dd3d,random', render=False, **distill_overrides):
  """The procedural shapes at 64 points, 5 training clouds per class, 3 iterations,
  one 2-epoch evaluation per method, pictures only if `render` (the tests that look at
  them)."""
  c = config_lib.base_config()
  c.data.format = 'shapes'
  c.data.num_points = 64
  c.data.shapes.num_train_per_class = 5
  c.data.shapes.num_test_per_class = 2
  c.distill.update({**dict(cpc=1, iterations=3, outer_loop=2, inner_loop=1, batch_real=4,
                           train_points=32, checkpoint_every=1, log_every=1),
                    **distill_overrides})
  c.methods.dd3d.hidden = 32
  c.methods.herding.embed_epochs = c.methods.kcenter.embed_epochs = 1
  c.methods.tm.update(num_experts=2, max_start_epoch=1, expert_epochs=1, syn_steps=2,
                      expert_batch=8)
  c.eval.update(dict(num_evals=1, epochs=2, test_every=1, methods=methods))
  c.render = render
  return c


def get_config(arg=None):
  """As a config file: `--config=tests/tiny.py:iterations=8`."""
  v = config_lib.parse_variant(arg, {'iterations': int, 'methods': str})
  c = tiny_config(v.get('methods', 'dd3d,random'))
  c.distill.iterations = v.get('iterations', c.distill.iterations)
  return c
