"""`kcenter` (Sener & Savarese 2018): per class, start nearest the class mean, then keep
adding the cloud farthest from those chosen. Features: the 1,024-d global feature of a
PointNet trained on the whole training split (`embed_epochs`, cached per workdir)."""

from dd3d_jax.methods._selection import FEATURE_DEFAULTS, FEATURE_FIELDS, Selection, by_features
from dd3d_jax.ops import selection

DEFAULTS, FIELDS = FEATURE_DEFAULTS, FEATURE_FIELDS  # `embed_epochs`


def from_config(settings, context) -> Selection:
  return by_features(selection.k_center, settings, context)
