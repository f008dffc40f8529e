"""Distillation objectives: what makes a synthetic set like the real one."""
