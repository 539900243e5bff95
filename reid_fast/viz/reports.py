"""Pictures of a result: ranked-list sheets (PNG and HTML) from a distance matrix and its
features file, and activation heatmaps of a trained model over image files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from ..atomic import save_image
from ..augment import EvalTransform
from .heatmap import activation_maps, heatmap_sheet
from .ranked_list import (
    ranked_list_grid,
    ranked_list_sheet,
    ranked_lists,
    write_ranked_list_html,
)


def _read(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"image not found: {path} (pictures need the dataset's image "
                                "files; extract from a dataset root with --data)")
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except OSError as error:  # PIL.UnidentifiedImageError, a truncated or unreadable file
        raise ValueError(f"{path} is not an image Pillow can read ({error})") from None


def pick_queries(num_queries: int, count: int) -> list[int]:
    """``count`` query indices spread evenly over the query set."""
    count = max(1, min(int(count), num_queries))
    return sorted({int(i) for i in np.linspace(0, num_queries - 1, count).round()})


def ranked_list_report(distances: Any, features: Any, *, queries: Sequence[int], top: int = 10,
                       png: str | os.PathLike | None = None,
                       html: str | os.PathLike | None = None, png_rows: int = 4,
                       title: str = "reid_fast ranked lists") -> dict[str, Any]:
    """Ranked lists of the chosen queries: a PNG grid of the first ``png_rows`` and an HTML
    page of all of them. ``features`` is a :class:`reid_fast.testtime.feature_file.FeatureSet`
    whose splits carry image paths. Returns {"png": path or None, "html": ..., "queries": n}."""
    q, g = features.query, features.gallery
    if not q.paths or not g.paths:
        raise ValueError("the features file holds no image paths; extract it again with this "
                         "version of reid_fast")
    lists = ranked_lists(distances, q.ids, g.ids, q.cams, g.cams,
                         same_camera_junk=features.same_camera_junk, top=min(top, len(g.names)),
                         queries=list(queries))
    sheets = []
    for entry in lists:
        i = entry["query"]
        correct = int(entry["correct"].sum())
        caption = (f"query {i} ({q.names[i]}, id {q.ids[i]}, camera {q.cams[i]}): "
                   f"{correct} of the top {len(entry['gallery'])} are the same identity")
        sheet = ranked_list_sheet(_read(q.paths[i]), [_read(g.paths[j]) for j in entry["gallery"]],
                                  query_id=int(q.ids[i]), gallery_ids=g.ids[entry["gallery"]],
                                  junk=entry["junk"], distances=entry["distances"],
                                  title=f"query {i}")
        sheets.append((caption, sheet))
    out: dict[str, Any] = {"png": None, "html": None, "queries": len(sheets)}
    if png:
        save_image(png, ranked_list_grid([s for _, s in sheets[:png_rows]]))
        out["png"] = str(png)
    if html:
        out["html"] = str(write_ranked_list_html(html, sheets, title))
    return out


def heatmap_report(model: torch.nn.Module, image_paths: Sequence[str], image_size: tuple[int, int],
                   output: str | os.PathLike, device: torch.device | str = "cpu") -> Path:
    """Activation heatmaps of ``model`` over image files at the model's input size, as a
    sheet (originals above, overlays below) saved to ``output``."""
    if not image_paths:
        raise ValueError("heatmaps need at least one image path")
    images = np.stack([np.asarray(Image.fromarray(_read(p)).resize(image_size[::-1],
                                                                   Image.BILINEAR))
                       for p in image_paths])
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).to(device)
    heats = activation_maps(model, EvalTransform(image_size)(batch)).cpu().numpy()
    return save_image(output, heatmap_sheet(images, heats))
