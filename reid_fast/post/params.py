"""The constants of the two AICity 2020 post-processing recipes: one home for their
defaults and their checks (docs/design.md section 4).

- :class:`Aicity2020Recipe` / :data:`AICITY2020`: the winning Baidu-UTS system
  (layumi/AICIty-reID-2020, ``pytorch/fast_submit_baidu.py``).
- :class:`VocRecipe` / :data:`VOC2020`: the second place, VOC-ReID
  (Xiangyu-CAS/AICity2020-VOC-ReID).

The functions of :mod:`reid_fast.post` take these values as their defaults; pass the
fields of another instance to run a variant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .. import validation
from ..ops.params import RerankParams

__all__ = ["AICITY2020", "VOC2020", "Aicity2020Recipe", "VocRecipe"]


@dataclass(frozen=True)
class Aicity2020Recipe:
    """The Baidu-UTS recipe's constants; the defaults are the seed's.

    Penalties subtracted from cosine similarities (q-g, q-q and g-g alike, row i's rule):

    Attributes:
        camera_weight: 0.3 on items of row i's predicted camera, when that is known.
        direction_weight: 0.1 on items of the same direction, when row i's camera is
            unknown.
        direction_threshold: "same direction" is a direction similarity >= 0.25.
        cluster_weight: 0.2 on items of row i's camera cluster, when that is known.
        ntop: 29 sequential same-camera suppression steps on the q-g similarities.
        ntop_weight: 0.1 per suppression.
        query_eps: 0.5, DBSCAN radius of the query clusters, on 2 - 2 s
            (``metric=Aicity2020Recipe.eps_metric``).
        query_min_samples: 2, DBSCAN core size of the query clusters (itself included).
        camera_eps: 0.3, DBSCAN radius of the camera clusters, on 2 - 2 s.
        camera_min_samples: 50, DBSCAN core size of the camera clusters for
            ``camera_reference_images`` images; :meth:`camera_min_samples_for` scales it.
        camera_reference_images: 19342, AICity 2020's 1052 query + 18290 test images.
        track_weight: 0.5, weight of the track mean in gallery track fusion.
        min_pixels: 15000, the smallest high-quality image (H x W pixels).
        query_cluster_edit: 0.1, added to q-q similarities within a query cluster and
            subtracted between two different ones.
        track_similarity: 1.0, the g-g similarity within a track.
        camera_threshold: 0.5 (ours; the seed reads its predicted cameras from a file):
            a predicted camera whose classifier probability is below it is unknown.
        rerank: k1 70, k2 10, lambda 0.2.

    Construction validates (TypeError for a wrong type, ValueError for a wrong value).
    """

    eps_metric: ClassVar[str] = "sqeuclidean"
    """The distance the eps fields are on (2 - 2 s), as ``density_clusters`` names it."""

    camera_weight: float = 0.3
    direction_weight: float = 0.1
    direction_threshold: float = 0.25
    cluster_weight: float = 0.2
    ntop: int = 29
    ntop_weight: float = 0.1
    query_eps: float = 0.5
    query_min_samples: int = 2
    camera_eps: float = 0.3
    camera_min_samples: int = 50
    camera_reference_images: int = 19342
    track_weight: float = 0.5
    min_pixels: float = 15000
    query_cluster_edit: float = 0.1
    track_similarity: float = 1.0
    camera_threshold: float = 0.5
    rerank: RerankParams = RerankParams(70, 10, 0.2)

    def __post_init__(self) -> None:
        checked = {
            "camera_weight": validation.real("camera_weight", self.camera_weight),
            "direction_weight": validation.real("direction_weight", self.direction_weight),
            "direction_threshold": validation.real("direction_threshold",
                                                   self.direction_threshold, -1.0, 1.0),
            "cluster_weight": validation.real("cluster_weight", self.cluster_weight),
            "ntop": validation.integer("ntop", self.ntop, 0),
            "ntop_weight": validation.real("ntop_weight", self.ntop_weight),
            "query_eps": validation.real("query_eps", self.query_eps, 0.0),
            "query_min_samples": validation.integer("query_min_samples", self.query_min_samples, 1),
            "camera_eps": validation.real("camera_eps", self.camera_eps, 0.0),
            "camera_min_samples": validation.integer("camera_min_samples",
                                                     self.camera_min_samples, 1),
            "camera_reference_images": validation.integer("camera_reference_images",
                                                          self.camera_reference_images, 1),
            "track_weight": validation.real("track_weight", self.track_weight, 0.0),
            "min_pixels": validation.real("min_pixels", self.min_pixels, 0.0),
            "query_cluster_edit": validation.real("query_cluster_edit", self.query_cluster_edit),
            "track_similarity": validation.real("track_similarity", self.track_similarity),
            "camera_threshold": validation.probability("camera_threshold", self.camera_threshold),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if not isinstance(self.rerank, RerankParams):
            raise TypeError(f"rerank must be a RerankParams, got {type(self.rerank).__name__} "
                            f"{self.rerank!r}")

    def camera_min_samples_for(self, images: int) -> int:
        """The camera clusters' DBSCAN core size for ``images`` query + gallery images:
        ``max(2, round(camera_min_samples * images / camera_reference_images))`` (Python's
        round, half to even), so 50 for AICity's 19342 images and a proportionally denser
        core for smaller sets (our rule; the seed only ran on the full test set).

        Raises:
            TypeError, ValueError: ``images`` not an integer >= 0.
        """
        images = validation.integer("images", images, 0)
        return max(2, round(self.camera_min_samples * images / self.camera_reference_images))


@dataclass(frozen=True)
class VocRecipe:
    """VOC-ReID's constants: ``s = s_id - camera_weight s_camera - orientation_weight
    s_orientation``, with the continuous cosine similarities of the camera-model and
    orientation-model embeddings (their ``distmat - 0.1 * cam_distmat - 0.1 *
    ori_distmat``).

    Attributes:
        camera_weight: 0.1.
        orientation_weight: 0.1.
    """

    camera_weight: float = 0.1
    orientation_weight: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "camera_weight",
                           validation.real("camera_weight", self.camera_weight))
        object.__setattr__(self, "orientation_weight",
                           validation.real("orientation_weight", self.orientation_weight))


AICITY2020 = Aicity2020Recipe()
"""The Baidu-UTS defaults."""

VOC2020 = VocRecipe()
"""The VOC-ReID defaults."""
