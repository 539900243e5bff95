"""Draw a vehicle mesh as one camera frame: orthographic projection, painter's algorithm,
Lambertian + specular shading, Pillow polygons; then blur, upscaling, exposure and noise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .mesh import GLASS, LAMP, PAINT, Mesh, Part
from .scenes import Camera, Frame, make_background, make_noise, render_size
from .vehicles import Vehicle

_SHININESS = 24.0
_DISTRACTOR_RGB = (
    (236, 236, 232), (24, 24, 27), (178, 181, 186), (108, 110, 114), (32, 62, 140), (168, 28, 28),
)


def view_axes(yaw: float, pitch: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(view, right, up) unit vectors in the vehicle frame for a camera at azimuth ``yaw``
    and elevation ``pitch`` (degrees); ``view`` points from the vehicle to the camera."""
    y, p = np.radians(yaw), np.radians(pitch)
    view = np.array([np.cos(p) * np.cos(y), np.cos(p) * np.sin(y), np.sin(p)])
    right = np.array([-np.sin(y), np.cos(y), 0.0])
    return view, right, np.cross(view, right)


def light_direction(camera: Camera, yaw: float) -> np.ndarray:
    """Unit vector towards the light in the vehicle frame (the light is fixed relative to
    the camera, so it turns with the view)."""
    a, e = np.radians(yaw + camera.light_azimuth), np.radians(camera.light_elevation)
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def shade(mesh: Mesh, view: np.ndarray, light: np.ndarray, camera: Camera) -> np.ndarray:
    """(F, 3) float64 grey levels of every polygon under the camera's light."""
    normals = mesh.normals
    lambert = np.clip(normals @ light, 0.0, None)
    half = light + view
    half /= np.linalg.norm(half)
    spec = camera.specular * np.clip(normals @ half, 0.0, None) ** _SHININESS
    diffuse = camera.ambient + camera.diffuse * lambert
    color = mesh.albedo * diffuse[:, None]
    material = mesh.material
    glass = material == GLASS
    color[glass] = color[glass] * 0.7 + 0.12 * (1.0 + normals[glass, 2:3]) + 2.0 * spec[glass, None]
    paint = material == PAINT
    color[paint] += spec[paint, None]
    lamp = material == LAMP
    color[lamp] = mesh.albedo[lamp] * (0.8 + 0.2 * lambert[lamp, None])
    return color * (255.0 * camera.exposure) * np.asarray(camera.cast)


class Renderer:
    """Renders frames of vehicles for a fixed set of cameras at one output size.

    Each camera's background canvas and noise field are built on first use and kept;
    they depend only on the camera, so the result of :meth:`render` does not depend on
    the order of calls, and :meth:`render` may be called from several threads.
    """

    def __init__(self, cameras: Sequence[Camera], image_size: tuple[int, int]) -> None:
        self.cameras = {camera.camid: camera for camera in cameras}
        self.image_size = image_size
        self._scenes: dict[int, tuple[Image.Image, np.ndarray]] = {}

    def _scene(self, camera: Camera) -> tuple[Image.Image, np.ndarray]:
        """The camera's (background canvas, noise field); one dict store, so threads that
        render concurrently see both or neither (and build identical copies if they race)."""
        scene = self._scenes.get(camera.camid)
        if scene is None:
            background = make_background(camera, render_size(camera, self.image_size))
            scene = (background, make_noise(camera, self.image_size))
            self._scenes[camera.camid] = scene
        return scene

    def render(self, vehicle: Vehicle, frame: Frame) -> np.ndarray:
        """(H, W, 3) uint8 image of ``vehicle`` in ``frame``."""
        camera = self.cameras[frame.camid]
        background, noise = self._scene(camera)
        h, w = render_size(camera, self.image_size)
        rng = np.random.default_rng(frame.seed)
        ox = round(frame.background_offset[0] * (background.width - w))
        oy = round(frame.background_offset[1] * (background.height - h))
        canvas = background.crop((ox, oy, ox + w, oy + h))
        draw = ImageDraw.Draw(canvas)
        mesh = vehicle.mesh
        view, right, up = view_axes(frame.yaw, frame.pitch)
        light = light_direction(camera, frame.yaw)

        sx, sy = mesh.vertices @ right, mesh.vertices @ up
        x_lo, x_hi, y_lo, y_hi = sx.min(), sx.max(), sy.min(), sy.max()
        # A detection crop resized to the frame stretches the vehicle: here half-way (in
        # log scale) between keeping its aspect ratio and filling both axes.
        kx = frame.fill[0] * w / (x_hi - x_lo)
        ky = frame.fill[1] * h / (y_hi - y_lo)
        kx, ky = np.sqrt(kx * min(kx, ky)), np.sqrt(ky * min(kx, ky))
        cx, cy = frame.center[0] * w, frame.center[1] * h

        def project(points: np.ndarray) -> np.ndarray:
            px = cx + kx * (points @ right - (x_lo + x_hi) / 2)
            py = cy - ky * (points @ up - (y_lo + y_hi) / 2)
            return np.stack([px, py], axis=1)

        if rng.uniform() < 0.3:
            self._distractor(draw, rng, camera, w, h)
        footprint = mesh.vertices[:, :2]
        (fx0, fy0), (fx1, fy1) = footprint.min(axis=0) - 0.1, footprint.max(axis=0) + 0.1
        shift = -light[:2] / max(light[2], 0.3) * 0.4
        shadow = np.array([[fx0, fy0, 0.0], [fx1, fy0, 0.0], [fx1, fy1, 0.0], [fx0, fy1, 0.0]])
        shadow[:, :2] += shift
        road = np.asarray(canvas, dtype=np.float32).reshape(-1, 3).mean(axis=0)
        draw.polygon(project(shadow).ravel().tolist(), fill=tuple(int(c * 0.45) for c in road))

        points = project(mesh.vertices)
        visible = mesh.normals @ view > 1e-6
        colors = np.clip(shade(mesh, view, light, camera), 0.0, 255.0).astype(np.uint8)
        def draw_key(part: Part) -> tuple[int, float]:
            facing = part.anchor is None or part.anchor @ view > part.anchor_threshold
            return (part.layer if facing else part.hidden_layer, part.center @ view)

        for part in sorted(mesh.parts, key=draw_key):
            for polygon in part.polygons:
                if visible[polygon]:
                    xy = points[mesh.polygons[polygon]].ravel().tolist()
                    draw.polygon(xy, fill=tuple(colors[polygon].tolist()))

        if camera.blur > 0.05:
            canvas = canvas.filter(ImageFilter.GaussianBlur(camera.blur))
        height, width = self.image_size
        if (h, w) != (height, width):
            canvas = canvas.resize((width, height), Image.Resampling.BILINEAR)
        nx, ny = int(rng.integers(width)), int(rng.integers(height))
        image = np.asarray(canvas, dtype=np.float32) * frame.gain + noise[ny:ny + height, nx:nx + width]
        return np.clip(image, 0.0, 255.0).astype(np.uint8)

    @staticmethod
    def _distractor(
        draw: ImageDraw.ImageDraw, rng: np.random.Generator, camera: Camera, w: int, h: int
    ) -> None:
        """Part of another vehicle entering the crop from one edge."""
        rgb = np.asarray(_DISTRACTOR_RGB[int(rng.integers(len(_DISTRACTOR_RGB)))], dtype=np.float64)
        light = camera.exposure * (camera.ambient + 0.5 * camera.diffuse) * np.asarray(camera.cast)
        rgb = np.clip(rgb * light, 0, 255)
        depth = rng.uniform(0.08, 0.25)
        a, b = sorted(rng.uniform(-0.2, 1.2, size=2))
        edge = int(rng.integers(4))
        box = {
            0: [(-1, a * h), (depth * w, a * h), (depth * w, b * h), (-1, b * h)],
            1: [(w + 1, a * h), ((1 - depth) * w, a * h), ((1 - depth) * w, b * h), (w + 1, b * h)],
            2: [(a * w, -1), (b * w, -1), (b * w, depth * h), (a * w, depth * h)],
            3: [(a * w, h + 1), (b * w, h + 1), (b * w, (1 - depth) * h), (a * w, (1 - depth) * h)],
        }[edge]
        draw.polygon(box, fill=tuple(int(c) for c in rgb))
