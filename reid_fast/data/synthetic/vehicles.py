"""Procedural vehicle identities: a body type, a paint colour and the details that tell
two vehicles of the same type and colour apart.

An identity is sampled from a NumPy generator and built into a :class:`~.mesh.Mesh`:
the body type's solids (lower body, cabin or cab and cargo box, wheels) with
per-identity dimension jitter; lights, grille, bumpers and plates in per-identity
styles; windows with a per-identity tint; 0-3 markings (stripes, swooshes, logos,
lettering, two-tone bands, checker bands, hood stripes, roof marks) in colours that
differ from the paint; accessories (roof rack, roof box, light bar, roof sign, ladder, spoiler, spare
wheel, bull bar, toolbox, sunroof). Colours and types follow skewed distributions, so
many identities share a colour and a type, as in real fleets. Side details are
mirror-symmetric, so a horizontal flip shows the same vehicle from its other side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .mesh import (
    GLASS,
    LAMP,
    LAYER_BODY,
    LAYER_HIDDEN,
    LAYER_NEAR,
    LAYER_ON_BODY,
    LAYER_ROOF,
    MATTE,
    PAINT,
    Face,
    Mesh,
    MeshBuilder,
    ellipse,
    hexahedron,
    rect,
)

BODY_TYPES = ("sedan", "hatchback", "suv", "van", "pickup", "truck", "bus")
_TYPE_WEIGHTS = (0.27, 0.13, 0.22, 0.12, 0.10, 0.09, 0.07)

BODY_COLORS = (
    "white", "black", "silver", "grey", "blue", "red", "beige", "green", "yellow", "brown", "orange",
)
_BODY_RGB = (
    (236, 236, 232), (24, 24, 27), (178, 181, 186), (108, 110, 114), (32, 62, 140), (168, 28, 28),
    (204, 190, 156), (34, 92, 52), (226, 188, 34), (98, 64, 40), (218, 108, 32),
)
_COLOR_WEIGHTS = (0.24, 0.17, 0.14, 0.13, 0.07, 0.07, 0.04, 0.04, 0.04, 0.03, 0.03)

_MARK_RGB = (
    (200, 30, 30), (30, 70, 190), (240, 200, 30), (40, 150, 60), (240, 120, 20), (20, 20, 22),
    (240, 240, 238), (90, 170, 230), (110, 40, 140), (150, 152, 156),
)
_TIRE, _TREAD = (28, 28, 30), (44, 44, 46)
_RIM_RGB = ((190, 192, 196), (30, 30, 32), (196, 160, 70), (235, 235, 235))
_PLATE_RGB = ((236, 236, 230), (240, 205, 40))
_HEADLIGHT_RGB = ((246, 240, 214), (222, 232, 255))
_TAIL_RGB = (205, 22, 24)
_TRIM_RGB = ((26, 26, 28), (180, 182, 188), (80, 80, 84))

_ROOF_RGB = ((20, 20, 22), (240, 240, 238), (200, 30, 30), (30, 70, 190))

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class _CarShape:
    """Base dimensions (metres) of a car-like body type: length, width, ground clearance,
    belt line (top of the lower body) and roof heights, how far the lower body's top edge
    is set back at the nose and tail, the cabin's x range at its bottom and its top, its
    inset from the body side at bottom and top, the wheel radius, and the axles'
    distances from the front and rear ends."""

    length: float
    width: float
    clearance: float
    belt: float
    roof: float
    nose: float
    tail: float
    cabin_bottom: tuple[float, float]
    cabin_top: tuple[float, float]
    insets: tuple[float, float]
    wheel: float
    axles: tuple[float, float]


_CAR_SHAPES = {
    "sedan": _CarShape(4.6, 1.80, 0.22, 0.95, 1.45, 0.25, 0.12, (-1.20, 0.85), (-0.75, 0.25), (0.06, 0.16),
                       0.33, (0.90, 0.95)),
    "hatchback": _CarShape(4.05, 1.76, 0.20, 0.95, 1.50, 0.25, 0.05, (-1.95, 0.60), (-1.85, -0.10),
                           (0.06, 0.16), 0.31, (0.80, 0.75)),
    "suv": _CarShape(4.7, 1.90, 0.34, 1.10, 1.78, 0.18, 0.04, (-2.30, 0.75), (-2.22, 0.15), (0.05, 0.12),
                     0.38, (0.90, 0.90)),
    "van": _CarShape(5.0, 1.95, 0.30, 1.00, 2.15, 0.15, 0.02, (-2.48, 1.35), (-2.48, 0.70), (0.02, 0.06),
                     0.34, (0.85, 0.90)),
    "pickup": _CarShape(5.35, 1.98, 0.40, 1.12, 1.88, 0.10, 0.00, (-0.45, 1.30), (-0.40, 0.72), (0.04, 0.10),
                        0.40, (0.95, 1.10)),
}


@dataclass(frozen=True)
class Vehicle:
    """One identity: its labels (indices into BODY_TYPES / BODY_COLORS) and its mesh."""

    type_index: int
    color_index: int
    mesh: Mesh


@dataclass
class _Surfaces:
    """Where a body type's details go."""

    front: Face
    front_tall: bool  # a tall front (truck cab, bus): windshield and lights on one face
    rear: Face
    rear_tall: bool
    sides: list[tuple[Face, Face, float, float]]  # (right, left, t_min, t_max) for markings
    tops: list[Face]  # faces hood stripes run along (rear -> front)
    ends: list[Face]  # front and rear faces that stripes and bands wrap around onto
    roof: Face  # roof accessories stand on it


def _pick(rng: np.random.Generator, weights: Sequence[float]) -> int:
    w = np.asarray(weights, dtype=np.float64)
    return int(rng.choice(len(w), p=w / w.sum()))


def _contrasting(rng: np.random.Generator, avoid: Sequence[int], palette: Sequence[RGB] = _MARK_RGB) -> RGB:
    """A palette colour at least a clear step away from ``avoid``."""
    candidates = [c for c in palette if np.abs(np.subtract(c, avoid)).sum() > 120]
    return candidates[int(rng.integers(len(candidates)))]


def _jitter(rng: np.random.Generator, spread: float) -> float:
    return float(1.0 + rng.uniform(-spread, spread))


def _painted(rgb: RGB, material: int = PAINT) -> dict[str, tuple[RGB, int]]:
    """All five visible faces of a solid in one colour and material."""
    return {name: (rgb, material) for name in ("right", "left", "front", "rear", "top")}


def _wheels(
    b: MeshBuilder, rng: np.random.Generator, axles: Sequence[float], radius: float, half_width: float
) -> None:
    """Four (or six) tyres with per-identity rims: colour and size."""
    rim_rgb = _RIM_RGB[int(rng.integers(len(_RIM_RGB)))]
    rim = float(rng.uniform(0.5, 0.74))
    hub_rgb = tuple(int(c * 0.55) for c in rim_rgb)
    angles = np.linspace(0.0, 2 * np.pi, 8, endpoint=False) + np.pi / 8
    for x in axles:
        for side in (-1.0, 1.0):
            y = side * (half_width + 0.02)
            cap = np.stack(
                [x + radius * np.cos(angles), np.full(8, y), radius + radius * np.sin(angles)], axis=1
            )
            frame = np.array([[x - radius, y, 0.0], [x + radius, y, 0.0], [x + radius, y, 2 * radius],
                              [x - radius, y, 2 * radius]])
            depth = np.array([0.0, -side * 0.26, 0.0])
            face = b.prism(cap, depth, frame, _TIRE, _TREAD, LAYER_NEAR, LAYER_HIDDEN, (0.0, side, 0.0))
            b.decal(face, ellipse(0.5, 0.5, rim / 2, rim / 2), rim_rgb)
            b.decal(face, ellipse(0.5, 0.5, 0.1, 0.1), hub_rgb)


def _glass_rgb(rng: np.random.Generator) -> RGB:
    light = rng.uniform(0.0, 1.0)
    return (int(28 + 50 * light), int(36 + 56 * light), int(46 + 62 * light))


def _car_like(b: MeshBuilder, rng: np.random.Generator, kind: str, paint: RGB, glass: RGB) -> _Surfaces:
    """Sedan, hatchback, SUV, van, pickup: a lower body and a cabin (or cab) on top."""
    base = _CAR_SHAPES[kind]
    length_f, height_f = _jitter(rng, 0.06), _jitter(rng, 0.05)
    L, W = base.length * length_f, base.width * _jitter(rng, 0.04)
    belt, roof = base.belt * height_f, base.roof * height_f * _jitter(rng, 0.03)
    nose, tail = base.nose * _jitter(rng, 0.3), base.tail * _jitter(rng, 0.3)
    shift = rng.uniform(-0.08, 0.08)
    cb = [x * length_f + shift for x in base.cabin_bottom]
    ct = [x * length_f + shift + rng.uniform(-0.06, 0.06) for x in base.cabin_top]
    hw = W / 2
    body = b.solid(
        hexahedron(-L / 2, L / 2, hw, base.clearance, belt, top_x=(-L / 2 + tail, L / 2 - nose),
                   top_half_width=hw - 0.03),
        _painted(paint),
        LAYER_BODY,
    )
    roof_rgb = paint if rng.uniform() > 0.15 else _contrasting(rng, paint, _ROOF_RGB)
    cabin = b.solid(
        hexahedron(cb[0], cb[1], hw - base.insets[0], belt, roof, top_x=(ct[0], ct[1]),
                   top_half_width=hw - base.insets[1]),
        {**_painted(paint), "top": (roof_rgb, PAINT)},
        LAYER_ON_BODY,
    )
    windows = {
        "sedan": ((0.06, 0.47), (0.53, 0.94)),
        "hatchback": ((0.06, 0.47), (0.53, 0.94)),
        "suv": ((0.04, 0.30), (0.34, 0.63), (0.67, 0.95)),
        "van": ((0.03, 0.30), (0.34, 0.64), (0.68, 0.96)) if rng.uniform() < 0.5 else ((0.72, 0.96),),
        "pickup": ((0.08, 0.48), (0.52, 0.94)),
    }[kind]
    low = 0.35 if kind == "van" else 0.1
    for side in ("right", "left"):
        for s0, s1 in windows:
            b.decal(cabin[side], rect(s0, s1, low, 0.88), glass, GLASS)
    b.decal(cabin["front"], rect(0.05, 0.95, 0.08, 0.94), glass, GLASS)
    rear_low = 0.3 if kind in ("hatchback", "pickup", "van") else 0.12
    b.decal(cabin["rear"], rect(0.1, 0.9, rear_low, 0.88), glass, GLASS)
    if kind == "pickup":  # the open bed behind the cab
        bed_end = (cb[0] - 0.05 - (-L / 2 + tail)) / (L - tail - nose)
        b.decal(body["top"], rect(0.02, bed_end, 0.05, 0.95), (40, 40, 42), MATTE)
    sides = [(body["right"], body["left"], 0.12, 0.92)]
    if kind == "van" and len(windows) == 1:
        sides.append((cabin["right"], cabin["left"], 0.05, 0.9))
    axles = (L / 2 - base.axles[0] * length_f, -L / 2 + base.axles[1] * length_f)
    _wheels(b, rng, axles, base.wheel * _jitter(rng, 0.06), hw)
    return _Surfaces(
        front=body["front"], front_tall=False, rear=body["rear"], rear_tall=False, sides=sides,
        tops=[body["top"], cabin["top"]], ends=[body["front"], body["rear"]], roof=cabin["top"],
    )


def _truck(b: MeshBuilder, rng: np.random.Generator, paint: RGB, glass: RGB) -> _Surfaces:
    """A box truck: chassis, cab at the front, a tall cargo box behind it."""
    L, W = 7.2 * _jitter(rng, 0.08), 2.3 * _jitter(rng, 0.03)
    hw, deck = W / 2, 1.0 * _jitter(rng, 0.05)
    cab_len = 1.6 * _jitter(rng, 0.06)
    b.solid(hexahedron(-L / 2, L / 2, hw - 0.05, 0.45, deck), _painted((40, 40, 44), MATTE), LAYER_BODY)
    cab_top = (L / 2 - cab_len, L / 2 - 0.15 * _jitter(rng, 0.5))
    cab = b.solid(
        hexahedron(L / 2 - cab_len, L / 2, hw, deck, 2.7 * _jitter(rng, 0.04), top_x=cab_top),
        _painted(paint),
        LAYER_ON_BODY,
    )
    cargo_rgb = _BODY_RGB[_pick(rng, (0.55, 0.05, 0.15, 0.08, 0.05, 0.04, 0.04, 0.01, 0.01, 0.01, 0.01))]
    cargo = b.solid(
        hexahedron(-L / 2, L / 2 - cab_len - 0.12, hw + 0.03, deck, 3.35 * _jitter(rng, 0.05)),
        _painted(cargo_rgb),
        LAYER_ON_BODY,
    )
    for side in ("right", "left"):
        b.decal(cab[side], rect(0.45, 0.92, 0.5, 0.9), glass, GLASS)
    b.decal(cargo["rear"], rect(0.495, 0.505, 0.03, 0.97), (30, 30, 32), MATTE)
    axles = [L / 2 - 1.0, -L / 2 + 1.6] + ([-L / 2 + 0.95] if rng.uniform() < 0.4 else [])
    _wheels(b, rng, axles, 0.5 * _jitter(rng, 0.05), hw - 0.05)
    return _Surfaces(
        front=cab["front"], front_tall=True, rear=cargo["rear"], rear_tall=True,
        sides=[(cargo["right"], cargo["left"], 0.05, 0.95), (cab["right"], cab["left"], 0.05, 0.45)],
        tops=[cargo["top"]], ends=[], roof=cargo["top"],
    )


def _bus(b: MeshBuilder, rng: np.random.Generator, paint: RGB, glass: RGB) -> _Surfaces:
    """A city bus: one tall box with a window band."""
    L, W = 11.0 * _jitter(rng, 0.1), 2.5 * _jitter(rng, 0.02)
    hw = W / 2
    body = b.solid(
        hexahedron(-L / 2, L / 2, hw, 0.32, 3.05 * _jitter(rng, 0.04), top_x=(-L / 2, L / 2 - 0.08)),
        _painted(paint),
        LAYER_BODY,
    )
    count = int(rng.integers(5, 9))
    edges = np.linspace(0.03, 0.97, count + 1)
    low = float(rng.uniform(0.5, 0.58))
    for side in ("right", "left"):
        for s0, s1 in zip(edges[:-1], edges[1:]):
            b.decal(body[side], rect(s0 + 0.006, s1 - 0.006, low, 0.9), glass, GLASS)
    b.decal(body["front"], rect(0.12, 0.88, 0.88, 0.96), (250, 150, 30), LAMP)
    _wheels(b, rng, (L / 2 - 2.4, -L / 2 + 2.8), 0.5 * _jitter(rng, 0.04), hw)
    return _Surfaces(
        front=body["front"], front_tall=True, rear=body["rear"], rear_tall=True,
        sides=[(body["right"], body["left"], 0.08, low - 0.04)], tops=[body["top"]], ends=[],
        roof=body["top"],
    )


def _front(b: MeshBuilder, rng: np.random.Generator, face: Face, tall: bool, glass: RGB, plate: RGB) -> None:
    """Bumper, grille, headlights and plate (and the windshield on a tall front)."""
    trim = _TRIM_RGB[int(rng.integers(len(_TRIM_RGB)))]
    lamp = _HEADLIGHT_RGB[int(rng.integers(2))]
    grille_w = float(rng.uniform(0.15, 0.32))
    style = int(rng.integers(3))
    if tall:
        b.decal(face, rect(0.06, 0.94, 0.5, 0.93), glass, GLASS)
        b.decal(face, rect(0.0, 1.0, 0.0, 0.09), trim)
        b.decal(face, rect(0.5 - grille_w, 0.5 + grille_w, 0.12, 0.36), _TRIM_RGB[int(rng.integers(3))])
        t0, t1 = 0.11, 0.24
        b.decal(face, rect(0.42, 0.58, 0.015, 0.08), plate)
    else:
        if rng.uniform() < 0.6:
            b.decal(face, rect(0.0, 1.0, 0.0, float(rng.uniform(0.2, 0.3))), trim)
        grille_low = float(rng.uniform(0.35, 0.45))
        b.decal(face, rect(0.5 - grille_w, 0.5 + grille_w, grille_low, 0.82), _TRIM_RGB[int(rng.integers(3))])
        t0, t1 = (0.55, 0.85) if style != 1 else (0.68, 0.84)
        b.decal(face, rect(0.4, 0.6, 0.06, 0.26), plate)
    for s in (0.0, 1.0):
        if style == 2:
            b.decal(face, ellipse(abs(s - 0.13), (t0 + t1) / 2, 0.07, (t1 - t0) / 2), lamp, LAMP)
        else:
            width = 0.18 if style == 0 else 0.26
            s0, s1 = (0.04, 0.04 + width) if s == 0.0 else (0.96 - width, 0.96)
            b.decal(face, rect(s0, s1, t0, t1), lamp, LAMP)


def _rear(b: MeshBuilder, rng: np.random.Generator, face: Face, tall: bool, glass: RGB, plate: RGB) -> None:
    """Tail lights, bumper and plate (and a rear window on a bus)."""
    style = int(rng.integers(3))
    if tall:
        if rng.uniform() < 0.5:
            b.decal(face, rect(0.08, 0.92, 0.6, 0.92), glass, GLASS)
        b.decal(face, rect(0.03, 0.12, 0.03, 0.11), _TAIL_RGB, LAMP)
        b.decal(face, rect(0.88, 0.97, 0.03, 0.11), _TAIL_RGB, LAMP)
        b.decal(face, rect(0.42, 0.58, 0.02, 0.09), plate)
        return
    if rng.uniform() < 0.6:
        b.decal(face, rect(0.0, 1.0, 0.0, float(rng.uniform(0.18, 0.26))), _TRIM_RGB[int(rng.integers(3))])
    if style == 0:
        b.decal(face, rect(0.03, 0.2, 0.55, 0.85), _TAIL_RGB, LAMP)
        b.decal(face, rect(0.8, 0.97, 0.55, 0.85), _TAIL_RGB, LAMP)
    elif style == 1:
        b.decal(face, rect(0.03, 0.97, 0.64, 0.8), _TAIL_RGB, LAMP)
    else:
        b.decal(face, rect(0.02, 0.1, 0.3, 0.92), _TAIL_RGB, LAMP)
        b.decal(face, rect(0.9, 0.98, 0.3, 0.92), _TAIL_RGB, LAMP)
    b.decal(face, rect(0.4, 0.6, 0.22, 0.46), plate)


def _mirrored(b: MeshBuilder, right: Face, left: Face, st: Sequence[tuple[float, float]], rgb: RGB) -> None:
    """The same decal on both sides (s runs rear -> front on both, so it is mirrored)."""
    b.decal(right, st, rgb)
    b.decal(left, st, rgb)


def _face_aspect(face: Face) -> float:
    """Length / height of a face in metres (s extent over t extent)."""
    c = face.corners
    return float(np.linalg.norm(c[1] - c[0]) / np.linalg.norm(c[3] - c[0]))


def _marking(b: MeshBuilder, rng: np.random.Generator, surfaces: _Surfaces, paint: RGB, kind: str) -> None:
    """One marking of the given kind, in a colour that stands out from the paint."""
    rgb = _contrasting(rng, paint)
    right, left, t_min, t_max = surfaces.sides[int(rng.integers(len(surfaces.sides)))]
    span = t_max - t_min
    if kind == "stripe":
        height = span * float(rng.uniform(0.1, 0.25))
        t0 = t_min + float(rng.uniform(0.0, span - height))
        wrap = surfaces.ends and right is surfaces.sides[0][0] and rng.uniform() < 0.6
        s0, s1 = (0.0, 1.0) if wrap else (float(rng.uniform(0.0, 0.25)), float(rng.uniform(0.75, 1.0)))
        _mirrored(b, right, left, rect(s0, s1, t0, t0 + height), rgb)
        for face in surfaces.ends if wrap else ():
            b.decal(face, rect(0.0, 1.0, t0, t0 + height), rgb)
    elif kind == "swoosh":
        height = span * float(rng.uniform(0.1, 0.25))
        rise = span * float(rng.uniform(0.2, 0.5)) * (1 if rng.uniform() < 0.5 else -1)
        t0 = t_min + max(0.0, -rise) + float(rng.uniform(0.0, span - height - abs(rise)))
        s0, s1 = float(rng.uniform(0.05, 0.35)), float(rng.uniform(0.65, 0.95))
        shape = [(s0, t0), (s1, t0 + rise), (s1, t0 + rise + height), (s0, t0 + height)]
        _mirrored(b, right, left, shape, rgb)
    elif kind == "logo":
        size = float(rng.uniform(0.07, 0.14))
        rt = min(size * _face_aspect(right), span * 0.45)
        s, t = float(rng.uniform(0.25, 0.75)), float(rng.uniform(t_min + rt, t_max - rt))
        shape = ellipse(s, t, size, rt) if rng.uniform() < 0.5 else rect(s - size, s + size, t - rt, t + rt)
        _mirrored(b, right, left, shape, rgb)
        if rng.uniform() < 0.5:
            emblem = ellipse(s, t, size * 0.5, rt * 0.5, 4 + 2 * int(rng.integers(3)))
            _mirrored(b, right, left, emblem, _contrasting(rng, rgb))
        if surfaces.rear_tall and rng.uniform() < 0.6:  # the company logo on the rear doors too
            rear_logo = ellipse(0.5, 0.5, 0.25, 0.2) if rng.uniform() < 0.5 else rect(0.2, 0.8, 0.35, 0.6)
            b.decal(surfaces.rear, rear_logo, rgb)
    elif kind == "roof":
        s0, t0 = float(rng.uniform(0.1, 0.35)), float(rng.uniform(0.1, 0.3))
        b.decal(surfaces.roof, rect(s0, 1.0 - s0, t0, 1.0 - t0), rgb)
    elif kind == "lettering":
        count = int(rng.integers(3, 9))
        s0 = float(rng.uniform(0.08, 0.4))
        step = float(rng.uniform(0.2, 0.5)) / count
        height = span * float(rng.uniform(0.1, 0.22))
        t0 = t_min + float(rng.uniform(0.0, span - height))
        for i in range(count):
            tall = height * (1.0 if rng.uniform() < 0.7 else 0.6)
            _mirrored(b, right, left, rect(s0 + i * step, s0 + (i + 0.7) * step, t0, t0 + tall), rgb)
    elif kind == "two_tone":
        top = t_min + span * float(rng.uniform(0.25, 0.45))
        _mirrored(b, right, left, rect(0.0, 1.0, 0.0, top), rgb)
        for face in surfaces.ends:
            b.decal(face, rect(0.0, 1.0, 0.0, top), rgb)
    elif kind == "checker":
        count = int(rng.integers(8, 15))
        height = span * float(rng.uniform(0.12, 0.2))
        t0 = t_min + float(rng.uniform(0.0, span - height))
        second = _contrasting(rng, rgb)
        for i in range(count):
            square = rect(i / count, (i + 1) / count, t0, t0 + height)
            _mirrored(b, right, left, square, rgb if i % 2 == 0 else second)
    else:  # "hood": stripes along the top faces and down the ends
        width = float(rng.uniform(0.05, 0.12))
        if rng.uniform() < 0.5:
            bands = [(0.5 - width, 0.5 + width)]
        else:
            bands = [(0.5 - 2.5 * width, 0.5 - width), (0.5 + width, 0.5 + 2.5 * width)]
        for u0, u1 in bands:
            for face in surfaces.tops:
                b.decal(face, rect(0.0, 1.0, u0, u1), rgb)
            for face in surfaces.ends:
                b.decal(face, rect(u0, u1, 0.0, 1.0), rgb)


def _roof_box(b: MeshBuilder, roof: Face, s: tuple[float, float], width: float, lift: float, height: float,
              rgb: RGB, y_center: float = 0.0, material: int = PAINT) -> dict[str, Face]:
    """A box standing on the roof: s = (start, end) along the roof, width and y_center as
    fractions of the roof's half width, lift and height in metres."""
    c = roof.corners
    x0, x1 = c[:, 0].min(), c[:, 0].max()
    hw, z = np.abs(c[:, 1]).max(), c[0, 2]
    box = hexahedron(x0 + s[0] * (x1 - x0), x0 + s[1] * (x1 - x0), hw * width, z + lift, z + lift + height,
                     y_center=hw * y_center)
    return b.solid(box, _painted(rgb, material), LAYER_ROOF)


def _accessories(
    b: MeshBuilder, rng: np.random.Generator, kind: str, surfaces: _Surfaces, paint: RGB, glass: RGB
) -> None:
    """Roof items, spoiler, sunroof, spare wheel, bull bar, toolbox, each with its own
    probability and only on the body types that carry it."""
    roof = surfaces.roof
    car = kind in ("sedan", "hatchback", "suv")
    dark_or_silver = ((26, 26, 28), (176, 178, 184))
    if kind != "bus" and kind != "truck" and rng.uniform() < 0.25:
        rail = dark_or_silver[int(rng.integers(2))]
        for y in (-0.8, 0.8):
            _roof_box(b, roof, (0.08, 0.92), 0.05, 0.04, 0.07, rail, y_center=y)
        for s in (0.3, 0.7):
            _roof_box(b, roof, (s, s + 0.04), 0.85, 0.11, 0.04, rail)
    elif car and rng.uniform() < 0.15:
        box_rgb = ((26, 26, 28), (90, 92, 96), (236, 236, 232), (176, 178, 184))[int(rng.integers(4))]
        _roof_box(b, roof, (0.15, 0.8), 0.6, 0.08, float(rng.uniform(0.25, 0.4)), box_rgb)
    if kind in ("van", "pickup", "truck") and rng.uniform() < 0.3:
        side = 0.55 if rng.uniform() < 0.5 else -0.55
        ladder = _roof_box(b, roof, (0.05, 0.95), 0.22, 0.08, 0.05, (186, 188, 192), y_center=side)
        for s in np.linspace(0.06, 0.9, 9):
            b.decal(ladder["top"], rect(s, s + 0.06, 0.15, 0.85), (70, 70, 74))
    if kind != "bus" and rng.uniform() < 0.07:
        colors = ((210, 20, 20), (30, 60, 220)) if rng.uniform() < 0.6 else ((250, 160, 20), (250, 160, 20))
        _roof_box(b, roof, (0.62, 0.72), 0.45, 0.02, 0.11, colors[0], y_center=-0.45, material=LAMP)
        _roof_box(b, roof, (0.62, 0.72), 0.45, 0.02, 0.11, colors[1], y_center=0.45, material=LAMP)
    elif car and rng.uniform() < 0.12:
        sign_rgb = ((250, 205, 30), (240, 240, 238), (200, 30, 30), (40, 150, 60))[int(rng.integers(4))]
        sign = _roof_box(b, roof, (0.4, 0.58), 0.5, 0.0, 0.24, sign_rgb)
        for end in ("front", "rear"):
            b.decal(sign[end], rect(0.15, 0.85, 0.3, 0.7), _contrasting(rng, sign_rgb))
    if kind in ("sedan", "hatchback") and rng.uniform() < 0.3:
        spoiler_rgb = paint if rng.uniform() < 0.5 else (26, 26, 28)
        if kind == "sedan":  # on the trunk lid
            _roof_box(b, surfaces.tops[0], (0.0, 0.07), 0.95, 0.12, 0.05, spoiler_rgb)
        else:
            _roof_box(b, roof, (-0.04, 0.12), 0.95, 0.0, 0.05, spoiler_rgb)
    if car and rng.uniform() < 0.3:
        b.decal(roof, rect(0.35, 0.65, 0.2, 0.8), glass, GLASS)
    if kind in ("suv", "van") and rng.uniform() < 0.3:
        _spare_wheel(b, rng, surfaces.rear, paint)
    if kind in ("suv", "pickup", "truck", "van") and rng.uniform() < 0.25:
        _bull_bar(b, surfaces.front, dark_or_silver[int(rng.integers(2))])
    if kind == "pickup" and rng.uniform() < 0.3:
        top = surfaces.tops[0]
        c = top.corners
        cab_x0 = roof.corners[:, 0].min()
        x0 = c[:, 0].min()
        s_end = (cab_x0 - 0.05 - x0) / (c[:, 0].max() - x0)
        _roof_box(b, top, (s_end - 0.12, s_end), 0.95, 0.0, 0.32, dark_or_silver[int(rng.integers(2))])
    if kind == "bus" and rng.uniform() < 0.5:
        _roof_box(b, roof, (0.3, 0.55), 0.7, 0.0, 0.3, (200, 202, 206))


def _spare_wheel(b: MeshBuilder, rng: np.random.Generator, rear: Face, paint: RGB) -> None:
    """A covered spare wheel on the rear face."""
    c = rear.corners
    x = c[:, 0].min() - 0.02
    z_low, z_high = c[0, 2], c[3, 2]
    r = min(0.34, (z_high - z_low) * 0.45)
    zc = (z_low + z_high) / 2
    angles = np.linspace(0.0, 2 * np.pi, 8, endpoint=False) + np.pi / 8
    cap = np.stack([np.full(8, x - 0.22), r * np.cos(angles), zc + r * np.sin(angles)], axis=1)
    frame = np.array([[x - 0.22, -r, zc - r], [x - 0.22, r, zc - r], [x - 0.22, r, zc + r],
                      [x - 0.22, -r, zc + r]])
    cover = paint if rng.uniform() < 0.5 else _contrasting(rng, paint)
    depth = np.array([0.22, 0.0, 0.0])
    face = b.prism(cap, depth, frame, _TIRE, _TREAD, LAYER_NEAR, LAYER_HIDDEN, (-1.0, 0.0, 0.0))
    b.decal(face, ellipse(0.5, 0.5, 0.36, 0.36), cover)


def _bull_bar(b: MeshBuilder, front: Face, rgb: RGB) -> None:
    """A barred frame in front of the grille."""
    c = front.corners
    x = c[:, 0].max()
    hw = np.abs(c[:, 1]).max()
    z0, z1 = c[0, 2], c[0, 2] + 0.8 * (c[3, 2] - c[0, 2])
    bar = b.solid(
        hexahedron(x + 0.02, x + 0.12, hw * 0.42, z0 + 0.05, z1), _painted(rgb), LAYER_NEAR, LAYER_HIDDEN,
        (1.0, 0.0, 0.0),
    )
    for s in (0.22, 0.42, 0.62):
        b.decal(bar["front"], rect(s, s + 0.14, 0.15, 0.85), (50, 50, 54), MATTE)


_MARKINGS = ("stripe", "swoosh", "logo", "lettering", "two_tone", "checker", "hood", "roof")
_MARKING_WEIGHTS = (0.22, 0.13, 0.18, 0.14, 0.09, 0.06, 0.11, 0.07)


def sample_vehicle(rng: np.random.Generator) -> Vehicle:
    """Draw one identity from ``rng`` and build its mesh."""
    type_index = _pick(rng, _TYPE_WEIGHTS)
    color_index = _pick(rng, _COLOR_WEIGHTS)
    kind = BODY_TYPES[type_index]
    paint = _BODY_RGB[color_index]
    glass = _glass_rgb(rng)
    plate = _PLATE_RGB[int(rng.uniform() < 0.2)]
    b = MeshBuilder()
    if kind == "truck":
        surfaces = _truck(b, rng, paint, glass)
    elif kind == "bus":
        surfaces = _bus(b, rng, paint, glass)
    else:
        surfaces = _car_like(b, rng, kind, paint, glass)
    _front(b, rng, surfaces.front, surfaces.front_tall, glass, plate)
    _rear(b, rng, surfaces.rear, surfaces.rear_tall, glass, plate)
    count = _pick(rng, (0.05, 0.3, 0.38, 0.27))
    for _ in range(count):
        marking = _MARKINGS[_pick(rng, _MARKING_WEIGHTS)]
        if marking == "hood" and kind in ("truck", "bus"):
            marking = "stripe"
        _marking(b, rng, surfaces, paint, marking)
    _accessories(b, rng, kind, surfaces, paint, glass)
    return Vehicle(type_index, color_index, b.build())
