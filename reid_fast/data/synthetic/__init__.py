"""The built-in synthetic vehicle re-ID dataset (procedural, seeded, deterministic).

>>> data = SyntheticVehicles(SyntheticConfig(num_train_ids=20, num_test_ids=10))
>>> image = data.render(data.dataset.query[0])   # (128, 128, 3) uint8

Modules: :mod:`.vehicles` (identities), :mod:`.mesh` (their geometry), :mod:`.scenes`
(cameras and frames), :mod:`.render` (drawing), :mod:`.dataset` (splits and records).
"""

from __future__ import annotations

from .dataset import LAYOUTS, RENDERER_VERSION, SyntheticConfig, SyntheticVehicles
from .vehicles import BODY_COLORS, BODY_TYPES

__all__ = ["BODY_COLORS", "BODY_TYPES", "LAYOUTS", "RENDERER_VERSION", "SyntheticConfig", "SyntheticVehicles"]
