"""Ranked-list sheets as re-ID papers show them: the query, then its top-k gallery
matches framed green (same identity), red (another identity) or grey (junk).

Layout of one sheet (all sizes in pixels, from :class:`TileStyle`)::

    margin
    [title line]                      only when a title is given
    rank line:  "query"     "#1"   "#2"  ...
    frames:     [query]  gap  [g1] [g2] ...    each tile_width + 2 * frame wide
    id line:    "id 7"      "id 7" "id 3"
    distance line:          "0.123" ...
    margin

The layout is fixed, so :func:`tile_boxes` and :func:`sheet_size` give every tile's
position without drawing. Also: :func:`ranked_list_grid` (several sheets in one
picture), :func:`write_ranked_list_html` (a self-contained HTML report) and
:func:`ranked_lists` (the top-k of each query from a distance matrix, junk flagged).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .. import validation
from ..atomic import atomic_write
from ..ops.ranking import junk_mask, positive_mask
from ..ops.topk_rows import topk_rows
from ._colors import (
    BLACK,
    CORRECT_GREEN,
    JUNK_BLEND,
    JUNK_FRAME_GREY,
    JUNK_GREY,
    QUERY_BLUE,
    RGB,
    WHITE,
    WRONG_RED,
    as_rgb_pil,
    blend_toward,
)

__all__ = [
    "DEFAULT_STYLE",
    "TileStyle",
    "ranked_list_grid",
    "ranked_list_sheet",
    "ranked_lists",
    "sheet_size",
    "tile_boxes",
    "write_ranked_list_html",
]


@dataclass(frozen=True)
class TileStyle:
    """Geometry and background colours of a ranked-list sheet (pixels).

    Attributes:
        tile_width, tile_height: the image area inside each frame; images are resized
            into it keeping their aspect ratio and letterboxed with ``letterbox``.
        frame: width of the coloured frame around each image area.
        margin: white border around the sheet.
        gap: horizontal space between two gallery tiles.
        query_gap: horizontal space between the query tile and the first gallery tile.
        line_height: height reserved for one line of text (title, rank, id, distance).
        background: sheet colour.
        letterbox: colour of the image area not covered by the image.
    """

    tile_width: int = 96
    tile_height: int = 96
    frame: int = 4
    margin: int = 8
    gap: int = 6
    query_gap: int = 24
    line_height: int = 14
    background: RGB = WHITE
    letterbox: RGB = (235, 235, 235)

    def __post_init__(self) -> None:
        for name in ("tile_width", "tile_height", "line_height"):
            validation.integer(f"TileStyle.{name}", getattr(self, name), 1)
        for name in ("frame", "margin", "gap", "query_gap"):
            validation.integer(f"TileStyle.{name}", getattr(self, name), 0)

    @property
    def box_width(self) -> int:
        """Width of a framed tile: ``tile_width + 2 * frame``."""
        return self.tile_width + 2 * self.frame

    @property
    def box_height(self) -> int:
        """Height of a framed tile: ``tile_height + 2 * frame``."""
        return self.tile_height + 2 * self.frame


DEFAULT_STYLE = TileStyle()
_TITLE_SPACING = 4  # extra space under the title line


@functools.lru_cache(maxsize=1)
def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default()


def _frames_top(style: TileStyle, has_title: bool) -> int:
    top = style.margin + style.line_height  # the rank line
    if has_title:
        top += style.line_height + _TITLE_SPACING
    return top


def tile_boxes(num_gallery: int, style: TileStyle = DEFAULT_STYLE, *,
               has_title: bool = False) -> list[tuple[int, int, int, int]]:
    """Frame boxes of a sheet's tiles, query first, then the gallery tiles in rank order.

    Args:
        num_gallery: number of gallery tiles (>= 0).
        style: the sheet's :class:`TileStyle`.
        has_title: whether the sheet has a title line (shifts every tile down by
            ``line_height + 4``).

    Returns:
        ``num_gallery + 1`` boxes ``(left, top, right, bottom)`` in sheet pixels, right
        and bottom exclusive (PIL crop-box convention): ``sheet.crop(box)`` is the framed
        tile, the frame being the outer ``style.frame`` pixels of the box.
    """
    count = validation.integer("num_gallery", num_gallery, 0)
    top = _frames_top(style, has_title)
    bottom = top + style.box_height
    boxes = [(style.margin, top, style.margin + style.box_width, bottom)]
    left = style.margin + style.box_width + style.query_gap
    for _ in range(count):
        boxes.append((left, top, left + style.box_width, bottom))
        left += style.box_width + style.gap
    return boxes


def sheet_size(num_gallery: int, style: TileStyle = DEFAULT_STYLE, *,
               has_title: bool = False) -> tuple[int, int]:
    """``(width, height)`` of the sheet :func:`ranked_list_sheet` draws for
    ``num_gallery`` gallery tiles: the last box of :func:`tile_boxes` plus the margin to
    the right; the frames' bottom plus two text lines (identity, distance) and the margin
    below."""
    boxes = tile_boxes(num_gallery, style, has_title=has_title)
    return boxes[-1][2] + style.margin, boxes[0][3] + 2 * style.line_height + style.margin


def _to_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # a torch tensor
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _int_vector(values: Any, name: str, length: int | None = None) -> np.ndarray:
    array = _to_numpy(values)
    if array.ndim != 1 or (length is not None and array.shape[0] != length):
        want = "a 1-D sequence" + ("" if length is None else f" of length {length}")
        raise ValueError(f"{name} must be {want}; got shape {tuple(array.shape)}")
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integers; got dtype {array.dtype}")
    return array.astype(np.int64)


def _fit_tile(image: Image.Image, style: TileStyle) -> Image.Image:
    """``image`` resized into the tile keeping its aspect ratio, centred, letterboxed."""
    width, height = image.size
    scale = min(style.tile_width / width, style.tile_height / height)
    new_w = min(style.tile_width, max(1, round(width * scale)))
    new_h = min(style.tile_height, max(1, round(height * scale)))
    if (new_w, new_h) != (width, height):
        image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    tile = Image.new("RGB", (style.tile_width, style.tile_height), style.letterbox)
    tile.paste(image, ((style.tile_width - new_w) // 2, (style.tile_height - new_h) // 2))
    return tile


def _draw_tile(sheet: Image.Image, draw: ImageDraw.ImageDraw,
               box: tuple[int, int, int, int], tile: Image.Image, frame: RGB,
               style: TileStyle) -> None:
    left, top, right, bottom = box
    draw.rectangle((left, top, right - 1, bottom - 1), fill=frame)
    sheet.paste(tile, (left + style.frame, top + style.frame))


def ranked_list_sheet(query_image: Any, gallery_images: Sequence[Any], *, query_id: int,
                      gallery_ids: Any, junk: Any = None, distances: Any = None,
                      title: str | None = None,
                      style: TileStyle = DEFAULT_STYLE) -> Image.Image:
    """One query's ranked list as a picture: the query tile, a gap, then the k gallery
    tiles in the given order (best first).

    Frames: query blue; gallery green when its identity is ``query_id``, red otherwise;
    grey for junk, whose image is also blended 60% toward grey (128, 128, 128). Text
    (Pillow's default font): "query" / "#r" (1-based rank) above the tiles, "id N" below,
    and the distance (3 decimals) under that when ``distances`` is given.

    Args:
        query_image: (H, W, 3) uint8 NumPy array or PIL image (any size; resized into
            the tile keeping the aspect ratio, letterboxed).
        gallery_images: k images, each like ``query_image``.
        query_id: the query's identity.
        gallery_ids: (k,) integer identities.
        junk: (k,) bool (True = junk), or None (nothing is junk).
        distances: (k,) float distances to the query, or None (not printed).
        title: optional line of text above the tiles.
        style: sheet geometry; positions are :func:`tile_boxes` (``has_title=title is not
            None``), size :func:`sheet_size`.

    Returns:
        An RGB PIL image.

    Raises:
        ValueError: bad image shapes / dtypes, or ``gallery_ids`` / ``junk`` /
            ``distances`` whose length is not ``len(gallery_images)``.
    """
    if not isinstance(style, TileStyle):
        raise TypeError(f"style must be a TileStyle, got {type(style).__name__}")
    if isinstance(gallery_images, (np.ndarray, Image.Image)) and not (
            isinstance(gallery_images, np.ndarray) and gallery_images.ndim == 4):
        raise ValueError("gallery_images must be a sequence of images (or a (k, H, W, 3) "
                         f"array); got a single image of shape "
                         f"{tuple(np.asarray(gallery_images).shape)}")
    k = len(gallery_images)
    query = as_rgb_pil(query_image, "query_image")
    gallery = [as_rgb_pil(image, f"gallery_images[{i}]") for i, image in enumerate(gallery_images)]
    ids = _int_vector(gallery_ids, "gallery_ids", k)
    if junk is None:
        junk_mask = np.zeros(k, dtype=bool)
    else:
        junk_mask = _to_numpy(junk)
        if junk_mask.ndim != 1 or junk_mask.shape[0] != k:
            raise ValueError(f"junk must be a 1-D sequence of length {k}; got shape "
                             f"{tuple(junk_mask.shape)}")
        if junk_mask.size and junk_mask.dtype.kind not in "biu":
            raise ValueError(f"junk must hold booleans; got dtype {junk_mask.dtype}")
        junk_mask = junk_mask.astype(bool)
    dist = None
    if distances is not None:
        dist = _to_numpy(distances)
        if dist.ndim != 1 or dist.shape[0] != k:
            raise ValueError(f"distances must be a 1-D sequence of length {k}; got shape "
                             f"{tuple(dist.shape)}")
        dist = dist.astype(np.float64)
    query_id = int(query_id)

    has_title = title is not None
    boxes = tile_boxes(k, style, has_title=has_title)
    sheet = Image.new("RGB", sheet_size(k, style, has_title=has_title), style.background)
    draw = ImageDraw.Draw(sheet)
    font = _font()
    line = style.line_height
    if has_title:
        draw.text((style.margin, style.margin), str(title), fill=BLACK, font=font)

    def labels(box: tuple[int, int, int, int], above: str, below: Sequence[str]) -> None:
        draw.text((box[0], box[1] - line), above, fill=BLACK, font=font)
        for n, text in enumerate(below):
            draw.text((box[0], box[3] + 1 + n * line), text, fill=BLACK, font=font)

    _draw_tile(sheet, draw, boxes[0], _fit_tile(query, style), QUERY_BLUE, style)
    labels(boxes[0], "query", [f"id {query_id}"])
    for i in range(k):
        tile = _fit_tile(gallery[i], style)
        if junk_mask[i]:
            tile = Image.fromarray(blend_toward(np.asarray(tile), JUNK_GREY, JUNK_BLEND))
            frame = JUNK_FRAME_GREY
        else:
            frame = CORRECT_GREEN if ids[i] == query_id else WRONG_RED
        _draw_tile(sheet, draw, boxes[i + 1], tile, frame, style)
        below = [f"id {ids[i]}" + (" junk" if junk_mask[i] else "")]
        if dist is not None:
            below.append(f"{dist[i]:.3f}")
        labels(boxes[i + 1], f"#{i + 1}", below)
    return sheet


def ranked_list_grid(rows: Sequence[Image.Image], *, gap: int = 8,
                     background: RGB = WHITE) -> Image.Image:
    """Sheets stacked vertically, left-aligned, ``gap`` pixels apart: width the widest
    row, height ``sum(heights) + gap * (len(rows) - 1)``.

    Args:
        rows: one or more PIL images (e.g. from :func:`ranked_list_sheet`).
        gap: vertical space between two rows (>= 0).
        background: colour of the uncovered area.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("rows must hold at least one image; got an empty sequence")
    for i, row in enumerate(rows):
        if not isinstance(row, Image.Image):
            raise TypeError(f"rows[{i}] must be a PIL image; got {type(row).__name__}")
    if not isinstance(gap, int) or gap < 0:
        raise ValueError(f"gap must be an int >= 0, got {gap!r}")
    width = max(row.width for row in rows)
    height = sum(row.height for row in rows) + gap * (len(rows) - 1)
    grid = Image.new("RGB", (width, height), background)
    top = 0
    for row in rows:
        grid.paste(row.convert("RGB"), (0, top))
        top += row.height + gap
    return grid


_HTML_STYLE = """
body { font-family: sans-serif; margin: 24px; background: #fafafa; color: #222; }
h1 { font-size: 22px; }
p.summary { white-space: pre-wrap; font-family: monospace; }
section { margin: 18px 0; padding: 10px; background: #fff; border: 1px solid #ddd; }
section h2 { font-size: 15px; margin: 0 0 8px 0; font-weight: normal; }
img { display: block; image-rendering: pixelated; }
"""


def _png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def write_ranked_list_html(path: str | os.PathLike[str],
                           sheets: Sequence[tuple[str, Image.Image]], title: str,
                           summary: str = "") -> Path:
    """A self-contained HTML page of ranked lists: inline CSS, PNGs embedded as base64
    ``data:`` URIs, no external resource.

    Args:
        path: output file; parent folders are created. Written atomically (a temporary
            file in the same folder, then ``os.replace``).
        sheets: ``(caption, image)`` pairs, one section each in order; captions are
            HTML-escaped.
        title: page title and heading (escaped).
        summary: optional preformatted text under the heading (escaped), e.g. the
            metrics' summary line.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    out = Path(path)
    sections = []
    for i, pair in enumerate(sheets):
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[1], Image.Image)):
            raise ValueError(f"sheets[{i}] must be a (caption, PIL image) pair; got {pair!r}")
        caption, image = pair
        caption = html.escape(str(caption))
        sections.append(
            f'<section>\n<h2>{caption}</h2>\n<img src="{_png_data_uri(image)}" '
            f'width="{image.width}" height="{image.height}" alt="{caption}">\n</section>')
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head>\n<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_HTML_STYLE}</style>\n</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if summary:
        parts.append(f'<p class="summary">{html.escape(summary)}</p>')
    parts += sections
    parts += ["</body>", "</html>", ""]
    text = "\n".join(parts)

    atomic_write(out, lambda handle: handle.write(text), text=True)
    return out


def ranked_lists(distances: Any, query_ids: Any, gallery_ids: Any, query_cams: Any,
                 gallery_cams: Any, *, same_camera_junk: bool, top: int = 10,
                 queries: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """The top-``top`` gallery items of selected queries, best first, junk included but
    flagged (the junk rule of :func:`reid_fast.eval.metrics.evaluate_ranking`).

    Order: increasing distance, ties to the lower gallery index (:func:`reid_fast.topk_rows`
    on the selected rows in float32). Junk and correct items:
    :func:`reid_fast.ops.ranking.junk_mask` and :func:`~reid_fast.ops.ranking.positive_mask`.

    Args:
        distances: (q, g) float NumPy array or torch tensor (any device; only the
            selected rows are copied to the host); the selected rows must be finite.
        query_ids, gallery_ids: (q,) / (g,) integer identities.
        query_cams, gallery_cams: (q,) / (g,) integer cameras (-1 unknown), or None (all
            unknown).
        same_camera_junk: apply the same-camera junk rule.
        top: list length, 1 <= top <= g.
        queries: query indices (in [0, q)) to list, in that order; None = all.

    Returns:
        One dict per selected query: ``query`` (int), ``gallery`` (top,) int64 gallery
        indices, ``junk`` (top,) bool, ``correct`` (top,) bool (query's identity, not
        junk, query identity != -1), ``distances`` (top,) float64.
    """
    if not (hasattr(distances, "detach") or isinstance(distances, np.ndarray)):
        distances = np.asarray(distances)
    if len(distances.shape) != 2:
        raise ValueError(f"distances must be 2-D (q, g); got shape {tuple(distances.shape)}")
    q, g = (int(n) for n in distances.shape)
    qid = _int_vector(query_ids, "query_ids", q)
    gid = _int_vector(gallery_ids, "gallery_ids", g)
    qcam = (np.full(q, -1, np.int64) if query_cams is None
            else _int_vector(query_cams, "query_cams", q))
    gcam = (np.full(g, -1, np.int64) if gallery_cams is None
            else _int_vector(gallery_cams, "gallery_cams", g))
    top = validation.integer("top", top, 1, g, high_name="the gallery size")
    if queries is None:
        selected = np.arange(q, dtype=np.int64)
    else:
        selected = _int_vector(list(queries) if not hasattr(queries, "shape") else queries,
                               "queries")
        bad = selected[(selected < 0) | (selected >= q)]
        if bad.size:
            raise ValueError(f"queries must be indices in [0, {q}); got {int(bad[0])}")
    if selected.size == 0:
        return []

    if hasattr(distances, "detach"):
        import torch

        index = torch.as_tensor(selected, device=distances.device)
        rows = distances.detach().index_select(0, index).cpu().double().numpy()
    else:
        rows = np.asarray(distances[selected], dtype=np.float64)
    if not np.isfinite(rows).all():
        raise ValueError("distances must be finite in the selected rows; got NaN or Inf")

    _, orders = topk_rows(rows.astype(np.float32), top)
    out = []
    for n, i in enumerate(selected):
        i = int(i)
        order = orders[n]
        junk = junk_mask(qid[i], qcam[i], gid[order], gcam[order], same_camera_junk)
        correct = positive_mask(qid[i], gid[order], junk)
        out.append({"query": i, "gallery": order, "junk": junk, "correct": correct,
                    "distances": rows[n][order]})
    return out
