"""dd3d_jax: DD3D point-cloud dataset distillation (Bo & Wang, ICML 2025) in JAX/Flax.

Primitives: `geometry` (normalisation, SO(3), PCA, augmentation), `rotator` (sign
canonicalisation), `generator` (modulated SIREN), `models` (networks by name),
`matching` (gradient distances and the GM loss), `ops` (set operations), `convert`
(authors' checkpoints). Methods (`methods`: random, herding, k-center, GM, DM, DD3D,
full) plug into `runner` and `pipeline` by name; `tables` prints the paper's layout.
"""

__version__ = '0.1.0'
