"""Baselines that a distilled set is compared with."""
