"""A tiny polygon mesh for the synthetic vehicles: convex solids carrying flat decals.

Coordinates are metres in the vehicle frame: x forward, y to the vehicle's left, z up,
origin on the ground under the vehicle's centre. A :class:`Mesh` is drawn with the
painter's algorithm (see :mod:`.render`): parts are sorted by (layer, depth), and inside
a convex part the visible faces never overlap, so they are drawn in build order, each
face's decals right after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

# Materials: how a polygon reacts to light (see render.shade).
PAINT, GLASS, MATTE, LAMP = 0, 1, 2, 3

# Draw layers, lowest first.
LAYER_HIDDEN = 0  # wheels and attachments on the far side of the vehicle
LAYER_BODY = 1  # the lower body
LAYER_NEAR = 2  # wheels and attachments on the near side
LAYER_ON_BODY = 3  # cabin, cargo box, spoiler: resting on the lower body
LAYER_ROOF = 4  # roof racks, signs, light bars: on top of everything

# Face corner order of a hexahedron (corners b0..b3 at the bottom, t0..t3 on top, each
# ring ordered (x0, y0), (x1, y0), (x1, y1), (x0, y1) with x0 rear, y0 right). Each face
# lists its corners as (s0, t0), (s1, t0), (s1, t1), (s0, t1) for decal coordinates:
# sides and top run rear -> front in s; front and rear run right -> left in s; side,
# front and rear run bottom -> top in t; the top runs right -> left in t.
HEXA_FACES = {
    "right": (0, 1, 5, 4),
    "left": (3, 2, 6, 7),
    "front": (1, 2, 6, 5),
    "rear": (0, 3, 7, 4),
    "top": (4, 5, 6, 7),
}


@dataclass(frozen=True)
class Face:
    """A quadrilateral face that decals can be placed on: its polygon and (4, 3) corners."""

    part: int
    polygon: int
    corners: np.ndarray

    def points(self, st: Sequence[tuple[float, float]]) -> np.ndarray:
        """(k, 3) points at face coordinates (s, t) in [0, 1]^2, bilinear in the corners."""
        st = np.asarray(st, dtype=np.float64)
        s, t = st[:, :1], st[:, 1:]
        c = self.corners
        return (1 - s) * (1 - t) * c[0] + s * (1 - t) * c[1] + s * t * c[2] + (1 - s) * t * c[3]


@dataclass
class Part:
    """A convex solid and its decals: polygon indices in draw order and the layer rule.

    The part is drawn in ``layer``; when ``anchor`` (a unit vector) is given and points
    away from the camera (``anchor . view <= anchor_threshold``) it is drawn in
    ``hidden_layer`` instead.
    """

    polygons: list[int]
    center: np.ndarray
    layer: int
    hidden_layer: int
    anchor: Optional[np.ndarray]
    anchor_threshold: float = 0.2


@dataclass
class Mesh:
    """All polygons of one vehicle.

    - ``vertices``: (V, 3) float64 metres.
    - ``polygons``: per polygon, an int array of vertex indices.
    - ``normals``: (F, 3) float64 unit outward normals.
    - ``albedo``: (F, 3) float64 reflectance in [0, 1].
    - ``material``: (F,) int8, one of PAINT, GLASS, MATTE, LAMP.
    - ``parts``: the draw groups.
    """

    vertices: np.ndarray
    polygons: list[np.ndarray]
    normals: np.ndarray
    albedo: np.ndarray
    material: np.ndarray
    parts: list[Part]


def hexahedron(
    x0: float,
    x1: float,
    half_width: float,
    z0: float,
    z1: float,
    top_x: Optional[tuple[float, float]] = None,
    top_half_width: Optional[float] = None,
    y_center: float = 0.0,
) -> np.ndarray:
    """(8, 3) corners of a box whose top rectangle may be shorter and narrower (a frustum).

    The bottom spans x0..x1 and y_center +- half_width at height z0; the top spans
    top_x (default x0, x1) and y_center +- top_half_width (default half_width) at z1.
    """
    tx0, tx1 = top_x if top_x is not None else (x0, x1)
    tw = half_width if top_half_width is None else top_half_width
    yb0, yb1 = y_center - half_width, y_center + half_width
    yt0, yt1 = y_center - tw, y_center + tw
    return np.array(
        [
            [x0, yb0, z0], [x1, yb0, z0], [x1, yb1, z0], [x0, yb1, z0],
            [tx0, yt0, z1], [tx1, yt0, z1], [tx1, yt1, z1], [tx0, yt1, z1],
        ],
        dtype=np.float64,
    )


def _outward_normal(points: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Unit normal of a planar polygon (Newell's method), flipped to point away from ``inside``."""
    nxt = np.roll(points, -1, axis=0)
    normal = np.array(
        [
            np.sum((points[:, 1] - nxt[:, 1]) * (points[:, 2] + nxt[:, 2])),
            np.sum((points[:, 2] - nxt[:, 2]) * (points[:, 0] + nxt[:, 0])),
            np.sum((points[:, 0] - nxt[:, 0]) * (points[:, 1] + nxt[:, 1])),
        ]
    )
    normal /= np.linalg.norm(normal)
    if np.dot(normal, points.mean(axis=0) - inside) < 0:
        normal = -normal
    return normal


class MeshBuilder:
    """Accumulates solids and decals, then freezes them into a :class:`Mesh`."""

    def __init__(self) -> None:
        self._vertices: list[np.ndarray] = []
        self._count = 0
        self._polygons: list[np.ndarray] = []
        self._normals: list[np.ndarray] = []
        self._albedo: list[tuple[float, float, float]] = []
        self._material: list[int] = []
        self._parts: list[Part] = []

    def _polygon(
        self, part: int, points: np.ndarray, normal: np.ndarray, rgb: Sequence[int], material: int
    ) -> int:
        self._vertices.append(points)
        self._polygons.append(np.arange(self._count, self._count + len(points)))
        self._count += len(points)
        self._normals.append(normal)
        self._albedo.append(tuple(c / 255.0 for c in rgb))
        self._material.append(material)
        self._parts[part].polygons.append(len(self._polygons) - 1)
        return len(self._polygons) - 1

    def _part(
        self, center: np.ndarray, layer: int, hidden_layer: Optional[int], anchor: Optional[Sequence[float]]
    ) -> int:
        self._parts.append(
            Part(
                polygons=[],
                center=center,
                layer=layer,
                hidden_layer=layer if hidden_layer is None else hidden_layer,
                anchor=None if anchor is None else np.asarray(anchor, dtype=np.float64),
            )
        )
        return len(self._parts) - 1

    def solid(
        self,
        corners: np.ndarray,
        faces: dict[str, tuple[Sequence[int], int]],
        layer: int,
        hidden_layer: Optional[int] = None,
        anchor: Optional[Sequence[float]] = None,
    ) -> dict[str, Face]:
        """Add a hexahedron (corners from :func:`hexahedron`) as one part.

        ``faces`` maps face names of HEXA_FACES to (rgb 0..255, material); faces not
        listed are left out. Returns the added faces by name, for decals.
        """
        center = corners.mean(axis=0)
        part = self._part(center, layer, hidden_layer, anchor)
        added = {}
        for name, (rgb, material) in faces.items():
            quad = corners[list(HEXA_FACES[name])]
            polygon = self._polygon(part, quad, _outward_normal(quad, center), rgb, material)
            added[name] = Face(part, polygon, quad)
        return added

    def prism(
        self,
        cap: np.ndarray,
        depth: np.ndarray,
        frame: np.ndarray,
        cap_rgb: Sequence[int],
        side_rgb: Sequence[int],
        layer: int,
        hidden_layer: Optional[int] = None,
        anchor: Optional[Sequence[float]] = None,
    ) -> Face:
        """Add a convex prism (a wheel) as one part: the outer ``cap`` polygon (k, 3) and
        its sides, extruded by the vector ``depth``; the inner cap is omitted (it faces
        the body). Returns the cap as a :class:`Face` whose decal coordinates span the
        (4, 3) ``frame`` (a square around the cap, in its plane)."""
        inner = cap + depth
        center = (cap.mean(axis=0) + inner.mean(axis=0)) / 2
        part = self._part(center, layer, hidden_layer, anchor)
        cap_polygon = self._polygon(part, cap, _outward_normal(cap, center), cap_rgb, MATTE)
        for i in range(len(cap)):
            j = (i + 1) % len(cap)
            quad = np.stack([cap[i], cap[j], inner[j], inner[i]])
            self._polygon(part, quad, _outward_normal(quad, center), side_rgb, MATTE)
        return Face(part, cap_polygon, frame)

    def decal(
        self, face: Face, st: Sequence[tuple[float, float]], rgb: Sequence[int], material: int = PAINT
    ) -> None:
        """A flat polygon on ``face`` at face coordinates ``st`` (drawn right after it)."""
        self._polygon(face.part, face.points(st), self._normals[face.polygon], rgb, material)

    def build(self) -> Mesh:
        return Mesh(
            vertices=np.concatenate(self._vertices),
            polygons=self._polygons,
            normals=np.stack(self._normals),
            albedo=np.asarray(self._albedo, dtype=np.float64),
            material=np.asarray(self._material, dtype=np.int8),
            parts=self._parts,
        )


def rect(s0: float, s1: float, t0: float, t1: float) -> list[tuple[float, float]]:
    """Face coordinates of an axis-aligned rectangle."""
    return [(s0, t0), (s1, t0), (s1, t1), (s0, t1)]


def ellipse(s: float, t: float, rs: float, rt: float, sides: int = 8) -> list[tuple[float, float]]:
    """Face coordinates of a regular polygon inscribed in an ellipse (a round logo)."""
    angles = np.linspace(0.0, 2 * np.pi, sides, endpoint=False) + np.pi / sides
    return [(s + rs * np.cos(a), t + rt * np.sin(a)) for a in angles]
