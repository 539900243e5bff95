"""Cameras and the frames they take.

A :class:`Camera` fixes what stays the same in all its images: the viewing direction
(cameras are spread over front, three-quarter, side and rear views; each passing
vehicle drives one of the two ways, so a camera sees fronts and rears), the pitch, the
light (direction, ambient and direct strength, exposure, colour cast), the background
(road colour and texture, lane markings, kerb / grass region, clutter), the resolution
(low-resolution cameras are rendered small and upscaled), blur and sensor noise.

A :class:`Frame` is one image of one vehicle by one camera: a track is a few frames
with small jitter of pose, framing and exposure between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

# Background canvas size relative to the rendered frame: frames crop it at an offset.
BACKGROUND_MARGIN = 1.3


@dataclass(frozen=True)
class Camera:
    """What one camera contributes to every image it takes (angles in degrees)."""

    camid: int
    yaw: float  # view azimuth in the vehicle frame: 0 front, 90 left side, 180 rear
    yaw_spread: float  # standard deviation of the yaw from track to track
    pitch: float  # elevation of the camera above the vehicle's horizon
    light_azimuth: float  # light direction relative to the viewing direction
    light_elevation: float
    ambient: float
    diffuse: float
    specular: float
    exposure: float
    cast: tuple[float, float, float]  # per-channel gain of the light colour
    resolution: float  # rendered size / output size
    blur: float  # Gaussian blur radius in rendered pixels
    noise: float  # sensor noise standard deviation, in grey levels
    fill: float  # fraction of the frame the vehicle's bounding box spans
    background_seed: int


@dataclass(frozen=True)
class Frame:
    """One image: which identity, which camera, and this frame's jitter.

    ``fill`` is the (x, y) fraction of the frame the vehicle spans, ``center`` its (x, y)
    centre as a fraction of the frame, ``background_offset`` the (x, y) crop offset into
    the camera's background as a fraction of its margin, ``gain`` an exposure factor and
    ``seed`` the seed of this frame's noise crop and passing-vehicle distractor.
    """

    pid: int
    camid: int
    yaw: float
    pitch: float
    fill: tuple[float, float]
    center: tuple[float, float]
    background_offset: tuple[float, float]
    gain: float
    seed: int

    @property
    def orientation(self) -> int:
        """The yaw in whole degrees, 0..359 (the VehicleX convention of the simulated
        AICity set: 0 front, 90 left side, 180 rear, 270 right side); rounded half up, so
        359.5 and above wrap to 0."""
        return int(np.floor(self.yaw % 360.0 + 0.5)) % 360


def sample_camera(rng: np.random.Generator, camid: int, num_cameras: int) -> Camera:
    """Camera ``camid`` (1-based) of ``num_cameras``: base yaws spread over 0..180."""
    cast = 1.0 + rng.normal(0.0, 0.05, size=3)
    return Camera(
        camid=camid,
        yaw=float(((camid - 1) * 180.0 / num_cameras + rng.uniform(-12.0, 12.0)) % 180.0),
        yaw_spread=float(rng.uniform(3.0, 10.0)),
        pitch=float(rng.uniform(10.0, 30.0)),
        light_azimuth=float(rng.uniform(-180.0, 180.0)),
        light_elevation=float(rng.uniform(20.0, 75.0)),
        ambient=float(rng.uniform(0.5, 0.65)),
        diffuse=float(rng.uniform(0.3, 0.5)),
        specular=float(rng.uniform(0.05, 0.25)),
        exposure=float(rng.uniform(0.8, 1.15)),
        cast=tuple(float(c) for c in cast / cast.mean()),
        resolution=float(rng.uniform(0.45, 1.0)),
        blur=float(rng.uniform(0.0, 0.8)),
        noise=float(rng.uniform(2.0, 7.0)),
        fill=float(rng.uniform(0.78, 0.92)),
        background_seed=int(rng.integers(2**31)),
    )


def sample_track(rng: np.random.Generator, camera: Camera, pid: int, frames: int) -> list[Frame]:
    """``frames`` consecutive frames of vehicle ``pid`` passing ``camera``."""
    direction = 180.0 * int(rng.integers(2))
    yaw = camera.yaw + direction + rng.normal(0.0, camera.yaw_spread)
    fill = camera.fill * rng.uniform(0.93, 1.07)
    gain = rng.uniform(0.9, 1.1)
    track = []
    for _ in range(frames):
        track.append(
            Frame(
                pid=pid,
                camid=camera.camid,
                yaw=float((yaw + rng.uniform(-6.0, 6.0)) % 360.0),
                pitch=float(camera.pitch + rng.uniform(-1.5, 1.5)),
                fill=(float(fill * rng.uniform(0.96, 1.04)), float(fill * rng.uniform(0.96, 1.04))),
                center=(float(0.5 + rng.uniform(-0.04, 0.04)), float(0.5 + rng.uniform(-0.04, 0.04))),
                background_offset=(float(rng.uniform()), float(rng.uniform())),
                gain=float(gain * rng.uniform(0.96, 1.04)),
                seed=int(rng.integers(2**31)),
            )
        )
    return track


def render_size(camera: Camera, image_size: tuple[int, int]) -> tuple[int, int]:
    """(h, w) a camera renders at before upscaling to ``image_size`` (H, W)."""
    return tuple(max(16, round(size * camera.resolution)) for size in image_size)


def _ground_region(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """A kerb, grass, dirt or building region: a corner cut off by a line between two
    adjacent edges (a triangle) or one side cut off by a line between opposite edges."""
    rgb = ((70, 110, 50), (170, 168, 160), (130, 110, 80), (60, 60, 70))[int(rng.integers(4))]
    a = rng.uniform(0.0, 1.0)
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    cuts = [(a * w, 0), (w, a * h), ((1 - a) * w, h), (0, (1 - a) * h)]  # one point per edge
    i = int(rng.integers(4))
    if rng.uniform() < 0.5:
        polygon = [cuts[i], corners[(i + 1) % 4], cuts[(i + 1) % 4]]
    else:
        polygon = [cuts[i], corners[(i + 1) % 4], corners[(i + 2) % 4], cuts[(i + 2) % 4]]
    draw.polygon(polygon, fill=rgb)


def _lane_markings(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int) -> None:
    """1-3 parallel white or yellow lines, solid or dashed, at the camera's road angle."""
    angle = rng.uniform(0.0, np.pi)
    rgb = (230, 230, 226) if rng.uniform() < 0.7 else (222, 190, 40)
    ends = np.linspace(-1.0, 1.0, 17 if rng.uniform() < 0.5 else 2)  # dashes: every other piece
    dx, dy = np.cos(angle) * w, np.sin(angle) * h
    for offset in rng.uniform(-0.5, 0.5, size=int(rng.integers(1, 4))):
        cx, cy = w / 2 + offset * w * np.sin(angle), h / 2 - offset * h * np.cos(angle)
        width = max(1, round(rng.uniform(1, 3) * w / 128.0))
        for p0, p1 in zip(ends[::2], ends[1::2]):
            draw.line([(cx + p0 * dx, cy + p0 * dy), (cx + p1 * dx, cy + p1 * dy)], fill=rgb, width=width)


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, w: int, h: int, road: np.ndarray) -> None:
    """2-7 poles, shadows / puddles and signs / boxes / building corners."""
    for _ in range(int(rng.integers(2, 8))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        kind = rng.uniform()
        rgb = tuple(int(c) for c in rng.uniform(20, 230, size=3))
        if kind < 0.3:
            draw.rectangle([x, y - 0.6 * h, x + rng.uniform(1.5, 4) * w / 128.0, y + 0.6 * h], fill=rgb)
        elif kind < 0.6:
            rx, ry = rng.uniform(0.05, 0.2) * w, rng.uniform(0.03, 0.12) * h
            draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=tuple(int(c * 0.55) for c in road))
        else:
            rx, ry = rng.uniform(0.03, 0.15) * w, rng.uniform(0.03, 0.15) * h
            draw.rectangle([x - rx, y - ry, x + rx, y + ry], fill=rgb)


def make_background(camera: Camera, size: tuple[int, int]) -> Image.Image:
    """The camera's background canvas for frames of ``size`` (h, w): an RGB image of
    BACKGROUND_MARGIN times that size (road colour and low-frequency texture, a ground
    region, lane markings, clutter, grain), already lit by the camera."""
    rng = np.random.default_rng(camera.background_seed)
    h, w = round(size[0] * BACKGROUND_MARGIN), round(size[1] * BACKGROUND_MARGIN)
    road = rng.uniform(70.0, 150.0) + rng.uniform(-8.0, 8.0, size=3)
    coarse = Image.fromarray(rng.normal(0.0, 1.0, size=(6, 6)).astype(np.float32))
    texture = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC))
    canvas = road + (texture * rng.uniform(5.0, 25.0))[:, :, None]
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    if rng.uniform() < 0.65:
        _ground_region(draw, rng, w, h)
    _lane_markings(draw, rng, w, h)
    _clutter(draw, rng, w, h, road)
    lit = np.asarray(image, dtype=np.float32) * (camera.exposure * (0.55 + 0.45 * camera.diffuse))
    lit *= np.asarray(camera.cast, dtype=np.float32)
    lit += rng.normal(0.0, rng.uniform(2.0, 8.0), size=(h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(lit, 0, 255).astype(np.uint8))


def make_noise(camera: Camera, image_size: tuple[int, int]) -> np.ndarray:
    """(2H, 2W, 3) float32 sensor noise of the camera; frames add a crop of it."""
    rng = np.random.default_rng([camera.background_seed, 1])
    shape = (2 * image_size[0], 2 * image_size[1], 3)
    return rng.standard_normal(size=shape, dtype=np.float32) * np.float32(camera.noise)
