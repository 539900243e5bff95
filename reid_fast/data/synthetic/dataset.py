"""The built-in synthetic vehicle re-ID dataset: seeded identities, cameras and splits.

Train and test identities are disjoint (pids 1..num_train_ids, then the test pids).
Each identity is seen by several cameras, a few frames each (one track per camera).
Each test identity gives ``queries_per_id`` query images, from distinct cameras; the
rest of its images, and all other test identities' images, form the gallery. Because
at least one of an identity's cameras gives no query, every query has a gallery
positive from another camera. Evaluation ignores same-camera positives
(``same_camera_junk``).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from dataclasses import asdict, dataclass
from typing import Optional, Union

import numpy as np

from ... import validation
from ..records import ImageRecord, ReidDataset
from .render import Renderer
from .scenes import Camera, Frame, sample_camera, sample_track
from .vehicles import Vehicle, sample_vehicle

# Bump whenever the records or pixels a configuration gives change (identity, camera or
# rendering model), so caches keyed by :attr:`SyntheticVehicles.cache_key` are rebuilt.
RENDERER_VERSION = 2

LAYOUTS = ("aicity", "aicity-sim", "veri")

# Independent random streams: cameras, identities, tracks.
_CAMERA_STREAM, _IDENTITY_STREAM, _TRACK_STREAM = 1, 2, 3


def _check_range(name: str, value: object, minimum: int, maximum: Optional[int] = None) -> None:
    """An inclusive (low, high) tuple of integers >= minimum (a tuple, so that the frozen
    configuration stays hashable), high <= maximum when given."""
    if not isinstance(value, tuple):
        raise TypeError(f"{name} must be a (low, high) tuple of ints, got {value!r}")
    low, high = validation.integer_range(name, value, minimum)
    if maximum is not None and high > maximum:
        raise ValueError(f"{name} must not exceed {maximum}, got {value!r}")


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and seed of the synthetic dataset.

    ``cameras_per_id`` and ``frames_per_camera`` are inclusive (low, high) ranges drawn
    per identity and per track; ``image_size`` is the rendered (H, W).
    """

    num_train_ids: int = 250
    num_test_ids: int = 100
    num_cameras: int = 8
    cameras_per_id: tuple[int, int] = (3, 5)
    frames_per_camera: tuple[int, int] = (2, 4)
    queries_per_id: int = 1
    image_size: tuple[int, int] = (128, 128)
    seed: int = 0

    def __post_init__(self) -> None:
        validation.integer("num_train_ids", self.num_train_ids, 1)
        validation.integer("num_test_ids", self.num_test_ids, 1)
        validation.integer("num_cameras", self.num_cameras, 2)
        _check_range("cameras_per_id", self.cameras_per_id, 2, self.num_cameras)
        _check_range("frames_per_camera", self.frames_per_camera, 1)
        validation.integer("queries_per_id", self.queries_per_id, 1)
        if self.queries_per_id >= self.cameras_per_id[0]:
            raise ValueError(
                f"queries_per_id must be < cameras_per_id[0] (queries come from distinct cameras and "
                f"one camera must stay in the gallery), got queries_per_id={self.queries_per_id}, "
                f"cameras_per_id={self.cameras_per_id}"
            )
        _check_range("image_size", self.image_size, 16)
        validation.integer("seed", self.seed, 0)


class SyntheticVehicles:
    """The synthetic dataset of one :class:`SyntheticConfig`.

    - ``dataset``: the :class:`ReidDataset` (name "synthetic", root None,
      same_camera_junk True, labelled True). Record paths are
      ``synthetic://<cache_key>/<split>/<index>``; ``attrs`` hold "color" and "type"
      (indices into :data:`BODY_COLORS` / :data:`BODY_TYPES`) and "orientation" (the
      view's yaw relative to the vehicle in whole degrees, an int in 0..359, as the
      VehicleX labels give it: 0 front, 90 left side, 180 rear, 270 right side).
    - ``cache_key``: a stable hash of the configuration and :data:`RENDERER_VERSION`.
    - :meth:`render` draws any record's image, deterministically and in any order.
    """

    def __init__(self, config: SyntheticConfig = SyntheticConfig()) -> None:
        if not isinstance(config, SyntheticConfig):
            raise TypeError(f"config must be a SyntheticConfig, got {config!r}")
        self.config = config
        payload = json.dumps({"config": asdict(config), "renderer": RENDERER_VERSION}, sort_keys=True)
        self.cache_key = hashlib.sha256(payload.encode()).hexdigest()[:16]
        seed = config.seed
        cameras = [
            sample_camera(np.random.default_rng([seed, _CAMERA_STREAM, camid]), camid, config.num_cameras)
            for camid in range(1, config.num_cameras + 1)
        ]
        self._renderer = Renderer(cameras, config.image_size)
        num_ids = config.num_train_ids + config.num_test_ids
        self._vehicles: dict[int, Vehicle] = {
            pid: sample_vehicle(np.random.default_rng([seed, _IDENTITY_STREAM, pid]))
            for pid in range(1, num_ids + 1)
        }
        self._frames: dict[str, Frame] = {}
        train_tracks = [self._tracks(cameras, pid) for pid in range(1, config.num_train_ids + 1)]
        test_tracks = [self._tracks(cameras, pid) for pid in range(config.num_train_ids + 1, num_ids + 1)]
        train_frames = [
            (frame, trackid)
            for trackid, track in enumerate(track for tracks in train_tracks for track in tracks)
            for frame in track
        ]
        train = self._records("train", train_frames)
        query, gallery = self._test_split(test_tracks)
        self.dataset = ReidDataset(
            name="synthetic", train=train, query=query, gallery=gallery, root=None, same_camera_junk=True,
            labelled=True,
        )

    def _tracks(self, cameras: list[Camera], pid: int) -> list[list[Frame]]:
        """One track per camera that sees identity ``pid``."""
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, _TRACK_STREAM, pid])
        count = int(rng.integers(cfg.cameras_per_id[0], cfg.cameras_per_id[1] + 1))
        chosen = sorted(rng.choice(cfg.num_cameras, size=count, replace=False))
        low, high = cfg.frames_per_camera
        return [sample_track(rng, cameras[index], pid, int(rng.integers(low, high + 1))) for index in chosen]

    def _records(self, split: str, frames: list[tuple[Frame, int]]) -> list[ImageRecord]:
        records = []
        for index, (frame, trackid) in enumerate(frames):
            path = f"synthetic://{self.cache_key}/{split}/{index}"
            vehicle = self._vehicles[frame.pid]
            self._frames[path] = frame
            attrs = {
                "color": vehicle.color_index, "type": vehicle.type_index, "orientation": frame.orientation,
            }
            records.append(
                ImageRecord(path=path, pid=frame.pid, camid=frame.camid, trackid=trackid, attrs=attrs)
            )
        return records

    def _test_split(
        self, test_tracks: list[list[list[Frame]]]
    ) -> tuple[list[ImageRecord], list[ImageRecord]]:
        """Queries from ``queries_per_id`` distinct cameras per identity; the rest is gallery."""
        cfg = self.config
        query, gallery = [], []
        trackid = 0
        for tracks in test_tracks:
            rng = np.random.default_rng([cfg.seed, _TRACK_STREAM, tracks[0][0].pid, 1])
            query_tracks = set(rng.choice(len(tracks), size=cfg.queries_per_id, replace=False).tolist())
            for index, track in enumerate(tracks):
                pick = int(rng.integers(len(track))) if index in query_tracks else -1
                for position, frame in enumerate(track):
                    (query if position == pick else gallery).append((frame, trackid))
                trackid += 1
        return self._records("query", query), self._records("gallery", gallery)

    def render(self, record: ImageRecord) -> np.ndarray:
        """(H, W, 3) uint8 image of ``record`` (one of :attr:`dataset`'s records)."""
        frame = self._frames.get(getattr(record, "path", None))
        if frame is None:
            raise ValueError(
                f"record must be an image of this synthetic dataset "
                f"(paths synthetic://{self.cache_key}/...), got {record!r}"
            )
        return self._renderer.render(self._vehicles[frame.pid], frame)

    def write(self, root: Union[str, pathlib.Path], layout: str = "aicity") -> pathlib.Path:
        """Render every image to files under ``root`` in the ``layout`` (one of
        :data:`LAYOUTS`) that :func:`reid_fast.data.formats.aicity.load_aicity` /
        :func:`reid_fast.data.formats.veri.load_veri` read back: "aicity" (all splits, no
        attrs), "aicity-sim" (the VehicleX layout: the training split only, with colorID,
        typeID and orientation) or "veri" (all splits, attrs in the label files). Returns
        ``root``."""
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        root = pathlib.Path(root)
        if layout == "veri":
            from ..formats.veri import write_veri

            write_veri(root, self.dataset, self.render)
        else:
            from ..formats.aicity import write_aicity

            write_aicity(root, self.dataset, self.render, simulated=layout == "aicity-sim")
        return root
