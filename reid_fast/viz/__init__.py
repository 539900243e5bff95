"""Pictures: training curves (more views — ranked lists, heatmaps — come with the
test-time pipeline)."""

from __future__ import annotations

from .curves import plot_training_curves

__all__ = ["plot_training_curves"]
