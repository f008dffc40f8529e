"""Every config file loads, validates, and carries the reference values of its dataset."""

import importlib.util
import os
import re

import pytest

from dd3d_jax import config as config_lib
from dd3d_jax import registry
from dd3d_jax.errors import ConfigError

CONFIGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')


def get_config(name, arg=None):
  spec = importlib.util.spec_from_file_location(name, os.path.join(CONFIGS, f'{name}.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert 'python -m dd3d_jax.main' in module.__doc__  # each docstring gives its command
  return config_lib.validate(module.get_config(arg))


@pytest.mark.parametrize('name, arg, loops, w0, iterations', [
    ('modelnet40', 'cpc=1', (10, 1), 100.0, 400),
    ('modelnet40', 'cpc=10', (20, 1), 100.0, 400),
    ('modelnet40', 'cpc=50', (40, 5), 100.0, 400),
    ('modelnet40', 'cpc=1,rotated', (5, 5), 100.0, 400),
    ('modelnet40', 'cpc=10,rotated', (20, 10), 100.0, 400),
    ('scanobjectnn', 'cpc=1', (10, 1), 50.0, 200),
    ('scanobjectnn', 'cpc=10', (20, 10), 50.0, 200),
    ('scanobjectnn', 'cpc=50', (30, 5), 50.0, 200),
    ('scanobjectnn', 'cpc=50,rotated', (40, 5), 50.0, 200),
    ('mvpnet100', 'cpc=10', (20, 1), 100.0, 400),
])
def test_reference_hyperparameters(name, arg, loops, w0, iterations):
  c = get_config(name, arg)
  assert (c.distill.outer_loop, c.distill.inner_loop) == loops
  assert c.methods.dd3d.w0_initial == w0 and c.distill.iterations == iterations
  assert c.data.rotated == ('rotated' in arg)
  assert c.distill.lr == 1e-3 and c.distill.weight_decay == 5e-4 and c.distill.lr_net == 1e-3
  assert c.eval.epochs == 200 and c.eval.batch_size == 256 and c.eval.lr_min == 1e-4
  assert (c.num_distills, c.eval.num_evals) == (2, 5)
  assert c.eval.methods == config_lib.TABLE1_METHODS  # one command per cell, every method


@pytest.mark.parametrize('name', ['modelnet40', 'scanobjectnn', 'mvpnet100', 'modelnet10'])
def test_dc_variant_gives_gm_and_dm_dcs_optimisers(name):
  paper, dc = get_config(name), get_config(name, 'dc')
  for c in (paper, dc):  # every Table 1 method resolves to valid settings
    for method in config_lib.parse_methods(c.eval.methods):
      config_lib.method_settings(c, method)
  gm, dm = (config_lib.method_settings(paper, m) for m in ('gm', 'dm'))
  assert (gm.optimizer, gm.lr, dm.optimizer, dm.lr) == ('adam', 1e-3, 'adam', 1e-3)  # Table 7
  gm, dm = (config_lib.method_settings(dc, m) for m in ('gm', 'dm'))
  assert (gm.optimizer, gm.lr, gm.momentum, gm.weight_decay) == ('sgd', 0.1, 0.5, 0.0)
  assert (dm.optimizer, dm.lr, dm.momentum, dm.weight_decay, dm.batch_real) == (
      'sgd', 1.0, 0.5, 0.0, 256)
  assert config_lib.method_settings(dc, 'dd3d').lr == 1e-3  # DD3D keeps the paper's


@pytest.mark.parametrize('name', ['modelnet40', 'scanobjectnn', 'modelnet10'])
def test_sadm_eval_variant_gives_sadms_evaluation_recipe(name):
  c, paper = get_config(name, 'sadm_eval'), get_config(name)
  protocol = {k: c.eval[k] for k in ('backbones', 'epochs', 'batch_size', 'optimizer', 'lr',
                                     'weight_decay', 'schedule', 'augment')}
  assert protocol == dict(backbones='pointnet_tnet', epochs=500, batch_size=8, optimizer='sgd',
                          lr=0.01, weight_decay=5e-4, schedule='step', augment=False)
  assert c.distill == paper.distill and c.methods == paper.methods  # the sets are the same


def test_method_settings_fall_back_to_the_distill_budget():
  c = config_lib.base_config()
  c.distill.lr, c.distill.iterations = 0.02, 7
  assert config_lib.method_settings(c, 'gm').lr == 0.02
  assert config_lib.method_settings(c, 'dm').iterations == 7
  c.methods.dm.iterations = 70
  assert config_lib.method_settings(c, 'dm').iterations == 70
  assert config_lib.method_settings(c, 'gm').iterations == 7
  assert c.distill.iterations == 7  # resolving never writes back


@pytest.mark.parametrize('field, value, message', [
    ('eval.methods', 'dd3d,gn', "eval.methods names 'gn', which config.methods does not define"),
    ('methods.gm.type', 'gradmatch', "methods.gm.type 'gradmatch' is unknown; use one of "
                                     f"{', '.join(registry.names('methods'))}."),
    ('model.arch', 'pointnet3', "model.arch 'pointnet3' is unknown; use one of "
                                f"{', '.join(registry.names('networks'))}."),
    ('model.rotator', 'spin', "model.rotator 'spin' is unknown; use one of fixed, learnable, none."),
    ('distill.metric', 'l1', "distill.metric 'l1' is unknown; use one of cos, mse, ours."),
    ('data.format', 'ply', "data.format 'ply' is unknown; use one of auto, "),
    ('methods.dm.lr', -1.0, 'methods.dm.lr must be a finite number > 0, got -1.0'),
    ('methods.gm.optimizer', 'lbfgs', "methods.gm.optimizer 'lbfgs' is unknown; use one of adam"),
    ('methods.dm.momentum', 1.5, 'methods.dm.momentum must be a finite number in [0, 1), got 1.5'),
    ('methods.full.eval_epochs', 0, 'methods.full.eval_epochs must be a positive integer, got 0'),
    ('methods.gm.weight_decay', -0.1, 'methods.gm.weight_decay must be a finite number >= 0'),
    ('seed', -1, 'seed must be an integer in [0, 2**63), got -1'),
    ('distill.lr', float('nan'), 'distill.lr must be a finite number > 0, got nan'),
])
def test_every_name_and_method_setting_is_checked(field, value, message):
  c = get_config('modelnet10')
  section, _, leaf = field.rpartition('.')
  target = c
  for part in filter(None, section.split('.')):
    target = target[part]
  target[leaf] = value
  with pytest.raises(ConfigError, match=re.escape(message)):
    config_lib.validate(c)


def test_mvpnet_batch_and_no_rotated_variant():
  assert get_config('mvpnet100').distill.batch_real == 128
  with pytest.raises(ConfigError, match="config variant 'rotated' is unknown"):
    get_config('mvpnet100', 'rotated')


@pytest.mark.parametrize('arg', [None, 'cpc=10', 'rotated'])
def test_shapes_quickstart_config(arg):
  c = get_config('shapes', arg)
  assert c.data.format == 'shapes' and c.distill.train_points < c.data.num_points


def test_validation_names_the_field():
  c = get_config('shapes')
  c.distill.train_points = 4096
  with pytest.raises(ConfigError, match=r'distill.train_points \(4096\) exceeds data.num_points'):
    config_lib.validate(c)
  c = get_config('shapes')
  c.eval.num_evals = 0
  with pytest.raises(ConfigError, match='eval.num_evals must be a positive integer, got 0'):
    config_lib.validate(c)


def test_parse_variant():
  allowed = {'cpc': int, 'rotated': bool}
  assert config_lib.parse_variant('cpc=10,rotated', allowed) == {'cpc': 10, 'rotated': True}
  assert config_lib.parse_variant('rotated=false', allowed) == {'rotated': False}
  assert config_lib.parse_variant(None, allowed) == {}
  with pytest.raises(ConfigError, match="cpc='x' is not a int"):
    config_lib.parse_variant('cpc=x', allowed)
  assert config_lib.parse_variant(' rotated = yes ', allowed) == {'rotated': True}


@pytest.mark.parametrize('arg, says', [
    ('rotated=maybe', "rotated='maybe' is not true or false"),
    ('cpc=1,cpc=10', 'config variant cpc is given twice'),
    ('rotated=', 'config variant rotated= has no value'),
    ('cpc=', 'config variant cpc= has no value'),
    ('cpcs=10', "config variant 'cpcs' is unknown"),
])
def test_parse_variant_refuses_what_it_cannot_read(arg, says):
  with pytest.raises(ConfigError, match=re.escape(says)):
    config_lib.parse_variant(arg, {'cpc': int, 'rotated': bool})


@pytest.mark.parametrize('arg, loops, runs', [('cpc=1', (10, 1), 2), ('cpc=10', (20, 1), 1),
                                              ('cpc=1,rotated', (5, 5), 2),
                                              ('cpc=10,rotated', (20, 10), 1)])
def test_modelnet10_budget_config(arg, loops, runs):
  c = get_config('modelnet10', arg)
  assert (c.distill.outer_loop, c.distill.inner_loop) == loops
  assert (c.distill.iterations, c.distill.train_points, c.data.num_points) == (40, 256, 1024)
  assert c.eval.methods == config_lib.TABLE1_METHODS and c.eval.epochs == 200
  assert (c.num_distills, c.eval.num_evals) == (runs, runs)
  dm = config_lib.method_settings(c, 'dm')
  assert dm.iterations == 40 * loops[0]  # as many updates of the set as DD3D's
  assert config_lib.method_settings(c, 'herding').embed_epochs == 10
  assert config_lib.method_settings(c, 'full').eval_epochs == 10


def test_modelnet10_full_variant_evaluates_only_the_full_data():
  c = get_config('modelnet10', 'full')
  assert c.eval.methods == 'full' and c.eval.num_evals == 1
  with pytest.raises(ConfigError, match='has reference loops for cpc in'):
    get_config('modelnet10', 'cpc=50')


def test_beyond_variant_adds_dd3d_variants_that_differ_only_in_init_and_objective():
  c = get_config('modelnet10', 'cpc=1,beyond')
  config_lib.validate(c)
  base = config_lib.method_settings(c, 'dd3d')
  names = c.eval.methods.split(',')
  assert {'random', 'dd3d', 'sadm', 'tddp', 'tm'} | set(config_lib.DD3D_VARIANTS) == set(names)
  for name, (init, objective) in config_lib.DD3D_VARIANTS.items():
    s = config_lib.method_settings(c, name)
    assert (s.type, s.init, s.objective) == ('dd3d', init, objective)
    # gradient matching keeps DD3D's loop; one update per iteration gets DM's updates
    assert s.iterations == (base.iterations if objective == 'gm'
                            else config_lib.method_settings(c, 'dm').iterations)
    differ = {k for k in base if base[k] != s[k]}
    assert differ <= {'init', 'objective', 'iterations'}
  assert config_lib.method_settings(c, 'sadm').iterations == 400
  tddp = config_lib.method_settings(c, 'tddp')  # 3DDP's ModelNet10 rule: 16 morphs
  assert (tddp.iterations, tddp.morphs, tddp.train_points) == (400, 16, 256)
  assert 'dd3d_real' not in get_config('modelnet10', 'cpc=1').methods


@pytest.mark.parametrize('cpc, epochs', [(1, 100), (10, 10)])
def test_transfer_variant_evaluates_every_set_on_table_3s_networks(cpc, epochs):
  c, plain = get_config('modelnet10', f'cpc={cpc},transfer'), get_config('modelnet10', f'cpc={cpc}')
  assert config_lib.eval_backbones(c) == tuple(config_lib.TABLE3_BACKBONES.split(','))
  assert (c.eval.epochs, c.eval.batch_size, c.eval.test_batch, c.eval.densify) == (
      epochs, 8, 32, True)
  assert c.distill == plain.distill
  for name, (kind, changes) in config_lib.TRANSFER_VARIANTS.items():
    s, base = config_lib.method_settings(c, name), config_lib.method_settings(c, kind)
    assert s.type == kind and {k for k in base if base[k] != s[k]} == set(changes)
  assert set(config_lib.TRANSFER_VARIANTS) <= set(c.eval.methods.split(','))


@pytest.mark.parametrize('method, changes, field', [
    ('gm', dict(augment_up=True), 'augment_up'),
    ('gm', dict(augment_dropout=0.5), 'augment_dropout'),
    ('dm', dict(augment=False, augment_dropout=0.5), 'augment_dropout'),
    ('dd3d', dict(objective='dm', augment=False, augment_up=True), 'augment_up'),
    ('dd3d', dict(augment_up=True), 'augment_up'),  # the gm objective: off by default
])
def test_augmentation_extras_are_refused_without_augment(method, changes, field):
  c = get_config('modelnet10', 'cpc=1')
  c.eval.methods = method
  c.methods[method].update(changes)
  needs = f'methods.{method}.{field} needs methods.{method}.augment, which is off'
  with pytest.raises(ConfigError, match=re.escape(needs)):
    config_lib.validate(c)
  c.methods[method].augment = True
  config_lib.validate(c)


def test_shapes_parts_beyond_adds_dd3ds_part_candidates_beside_the_quickstart():
  c, plain = get_config('shapes_parts', 'beyond'), get_config('shapes_parts')
  plain.eval.methods = c.eval.methods
  assert c.distill == plain.distill and c.eval == plain.eval
  assert c.eval.methods.split(',') == ['random', 'kmedoids', 'gm', 'dd3d',
                                        *config_lib.PART_VARIANTS]
  base = config_lib.method_settings(c, 'dd3d')
  for name, changes in config_lib.PART_VARIANTS.items():
    s = config_lib.method_settings(c, name)
    assert s.type == 'dd3d' and {k for k in base if base[k] != s[k]} == set(changes)


def test_shapes_parts_tools_is_the_second_family_and_only_that():
  c, plain = get_config('shapes_parts', 'beyond,tools'), get_config('shapes_parts', 'beyond')
  assert c.data.shapes.family == 'tools' and plain.data.shapes.family == 'objects'
  plain.data.shapes.family = 'tools'
  assert c == plain


def test_part_latents_need_parts():
  c = get_config('modelnet10', 'cpc=1')
  c.methods.dd3d.part_latents = True
  with pytest.raises(ConfigError, match="part_latents .* task 'classification' has no parts"):
    config_lib.validate(c)
  c = get_config('shapes_parts')
  c.methods.dd3d.part_latents = True
  config_lib.validate(c)


@pytest.mark.parametrize('arg, loops', [('cpc=1', (10, 1)), ('cpc=10', (10, 2)),
                                        ('cpc=10,rotated', (10, 2))])
def test_shapenetpart_has_the_reference_segmentation_settings(arg, loops):
  c = get_config('shapenetpart', arg)
  assert c.task == 'segmentation' and c.data.rotated == ('rotated' in arg)
  assert (c.distill.outer_loop, c.distill.inner_loop) == loops
  assert (c.distill.iterations, c.distill.batch_real, c.distill.batch_syn) == (400, 32, 32)
  assert (c.distill.lr, c.distill.weight_decay, c.methods.dd3d.w0_initial) == (5e-4, 1e-5, 400.0)
  assert c.data.num_points == c.distill.train_points == 2048
  e = c.eval
  assert (e.optimizer, e.lr, e.lr_min, e.weight_decay, e.epochs, e.batch_size) == (
      'sgd', 1e-2, 1e-3, 1e-2, 1000, 32)
  assert not e.augment and e.test_every == e.epochs and c.model.w0_sign == 10.0
  assert e.methods == 'random,gm,dd3d,full,kmedoids'


@pytest.mark.parametrize('change, message', [
    (dict(methods='random,dm'), 'methods.dm (dm) does not do part segmentation'),
    (dict(objective='dm'), "methods.dd3d.objective 'dm' does not do part segmentation; use one of gm."),
    (dict(backbones='dgcnn'), 'part segmentation trains and evaluates the segmentation PointNet'),
    (dict(networks='pointnet,dgcnn'), 'and distill.networks'),
    (dict(methods='random,gm', init='feature_mean'), "methods.gm.init 'feature_mean' ranks"),
])
def test_segmentation_refuses_what_it_cannot_do(change, message):
  c = get_config('shapes_parts')
  if 'methods' in change:
    c.eval.methods = change['methods']
  if 'objective' in change:
    c.methods.dd3d.objective = change['objective']
  if 'backbones' in change:
    c.eval.backbones = change['backbones']
  if 'networks' in change:
    c.methods.dd3d.networks = change['networks']
  if 'init' in change:
    c.methods.gm.init = change['init']
  with pytest.raises(ConfigError, match=re.escape(message)):
    config_lib.validate(c)


@pytest.mark.parametrize('name, arg, method', [
    ('shapes_parts', 'beyond', 'dd3d_real_parts'), ('modelnet10', 'cpc=1,beyond', 'dd3d_real'),
    ('modelnet10', 'cpc=1,transfer', 'gm_aug')])
def test_a_variants_inherited_fields_can_be_set_by_a_flag(name, arg, method):
  """Its None fields (the `distill` value) keep their type, which flags need to set them."""
  c = get_config(name, arg)
  entry, base = c.methods[method], c.methods[c.methods[method].type]
  assert entry.iterations is None and entry.get_type('iterations') is int
  entry.iterations = 0
  assert base.iterations is None and config_lib.method_settings(c, method).iterations == 0
