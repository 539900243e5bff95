"""Tests of reid_fast.viz ranked lists and heatmaps: sheet geometry and frame / tile
pixels, PNG grids, the self-contained HTML report, the top-k lists against hand
computations (ties, junk rules), activation maps of a real and a stub backbone, the
colour map, overlays and the error messages."""

from __future__ import annotations

import base64
import colorsys
import html
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from reid_fast.models import AvgPool, BNNeckHead, ReidModel, build_model
from reid_fast.viz._colors import (
    CORRECT_GREEN,
    JUNK_FRAME_GREY,
    QUERY_BLUE,
    WRONG_RED,
)
from reid_fast.viz.heatmap import activation_maps, colorize, heatmap_sheet, overlay
from reid_fast.viz.ranked_list import (
    DEFAULT_STYLE,
    TileStyle,
    ranked_list_grid,
    ranked_list_sheet,
    ranked_lists,
    sheet_size,
    tile_boxes,
    write_ranked_list_html,
)

FRAME_COLOURS = (QUERY_BLUE, CORRECT_GREEN, WRONG_RED, JUNK_FRAME_GREY)
QUERY_COLOUR = (250, 200, 40)
GALLERY_COLOURS = [(200, 30, 200), (40, 200, 200), (90, 60, 30), (20, 20, 90), (240, 130, 100)]
GALLERY_SHAPES = [(40, 80), (96, 96), (120, 30), (7, 9), (200, 150)]
GALLERY_IDS = [7, 3, 7, -1, 7]
JUNK = [False, False, False, True, False]


def solid(colour: tuple[int, int, int], height: int, width: int) -> np.ndarray:
    return np.broadcast_to(np.array(colour, np.uint8), (height, width, 3)).copy()


def make_sheet(title: str | None = None, distances: bool = True) -> Image.Image:
    gallery = [solid(c, h, w) for c, (h, w) in zip(GALLERY_COLOURS, GALLERY_SHAPES)]
    gallery[1] = Image.fromarray(gallery[1])  # PIL input too
    return ranked_list_sheet(solid(QUERY_COLOUR, 60, 30), gallery, query_id=7,
                             gallery_ids=GALLERY_IDS, junk=JUNK,
                             distances=[0.1, 0.25, 0.3333, 0.5, 1.0] if distances else None,
                             title=title)


def frame_ring(pixels: np.ndarray, box: tuple[int, int, int, int], width: int) -> np.ndarray:
    left, top, right, bottom = box
    crop = pixels[top:bottom, left:right].astype(int)
    mask = np.ones(crop.shape[:2], bool)
    mask[width:-width, width:-width] = False
    return crop[mask]


# ---------------------------------------------------------------- ranked-list sheets


@pytest.mark.parametrize("title", [None, "query 12 <test>"])
def test_sheet_frames_and_tiles(title: str | None) -> None:
    sheet = make_sheet(title)
    has_title = title is not None
    boxes = tile_boxes(5, DEFAULT_STYLE, has_title=has_title)
    assert sheet.mode == "RGB"
    assert sheet.size == sheet_size(5, has_title=has_title)
    assert sheet.size == (boxes[-1][2] + DEFAULT_STYLE.margin,
                          boxes[0][3] + 2 * DEFAULT_STYLE.line_height + DEFAULT_STYLE.margin)
    assert len(boxes) == 6
    for left, top, right, bottom in boxes:
        assert (right - left, bottom - top) == (104, 104)
    pixels = np.asarray(sheet)
    expected_frames = [QUERY_BLUE, CORRECT_GREEN, WRONG_RED, CORRECT_GREEN, JUNK_FRAME_GREY,
                       CORRECT_GREEN]
    centres = [QUERY_COLOUR] + list(GALLERY_COLOURS)
    centres[4] = tuple(round(0.4 * c + 0.6 * 128) for c in GALLERY_COLOURS[3])
    for box, frame, centre in zip(boxes, expected_frames, centres):
        ring = frame_ring(pixels, box, DEFAULT_STYLE.frame)
        assert (ring == np.array(frame)).all(), (box, frame)
        cy, cx = (box[1] + box[3]) // 2, (box[0] + box[2]) // 2
        assert np.abs(pixels[cy, cx].astype(int) - np.array(centre)).max() <= 3, (box, centre)
        # the pixel just outside the frame is background
        assert tuple(pixels[cy, box[2]]) == (255, 255, 255)
    # text is drawn above and below the tiles (rank, id, distance lines are not blank)
    for box in boxes:
        above = pixels[box[1] - DEFAULT_STYLE.line_height:box[1], box[0]:box[2]]
        below = pixels[box[3]:box[3] + DEFAULT_STYLE.line_height, box[0]:box[2]]
        assert (above < 128).any() and (below < 128).any()
    if has_title:
        assert (pixels[DEFAULT_STYLE.margin:boxes[0][1] - DEFAULT_STYLE.line_height] < 128).any()


def test_letterbox_keeps_aspect_ratio() -> None:
    style = TileStyle(tile_width=40, tile_height=40, frame=2)
    sheet = ranked_list_sheet(solid((255, 0, 0), 10, 40), [solid((0, 0, 255), 40, 10)],
                              query_id=1, gallery_ids=[2], style=style)
    pixels = np.asarray(sheet)
    (ql, qt, _, _), (gl, gt, _, _) = tile_boxes(1, style)
    query = pixels[qt + 2:qt + 42, ql + 2:ql + 42]
    gallery = pixels[gt + 2:gt + 42, gl + 2:gl + 42]
    red = (query == (255, 0, 0)).all(axis=-1)
    blue = (gallery == (0, 0, 255)).all(axis=-1)
    # a 40 x 10 query fills rows 15..24, a 10 x 40 gallery image columns 15..24
    assert red[15:25].all() and not red[:15].any() and not red[25:].any()
    assert blue[:, 15:25].all() and not blue[:, :15].any() and not blue[:, 25:].any()
    assert (query[0, 0] == style.letterbox).all() and (gallery[0, 0] == style.letterbox).all()


def frame_runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of runs of pixels whose colour is a frame colour."""
    is_frame = np.zeros(row.shape[0], bool)
    for colour in FRAME_COLOURS:
        is_frame |= (row == np.array(colour)).all(axis=-1)
    runs, start = [], None
    for x, flag in enumerate(is_frame.tolist() + [False]):
        if flag and start is None:
            start = x
        elif not flag and start is not None:
            runs.append((start, x - start))
            start = None
    return runs


def test_grid_png_round_trip(tmp_path) -> None:
    sheets = [make_sheet(), make_sheet(distances=False), make_sheet()]
    grid = ranked_list_grid(sheets, gap=8)
    path = tmp_path / "grid.png"
    grid.save(path)
    with Image.open(path) as reopened:
        reopened.load()
        pixels = np.asarray(reopened.convert("RGB"))
    width, height = sheets[0].size
    assert pixels.shape == (3 * height + 2 * 8, width, 3)
    top = tile_boxes(5)[0][1]
    for n in range(3):
        y0 = n * (height + 8)
        # along the tiles' top frame edge: one run per tile, a tile's full box width
        runs = frame_runs(pixels[y0 + top + 1])
        assert [length for _, length in runs] == [104] * 6
        assert [start for start, _ in runs] == [box[0] for box in tile_boxes(5)]
        # through the middle: two frame sides per tile
        assert len(frame_runs(pixels[y0 + top + 52])) == 12
    # grid of rows of different widths: left-aligned, widest wins
    narrow = ranked_list_sheet(solid((0, 0, 0), 5, 5), [solid((1, 1, 1), 5, 5)],
                               query_id=1, gallery_ids=[1])
    mixed = ranked_list_grid([narrow, sheets[0]], gap=0)
    assert mixed.size == (width, narrow.height + height)


def test_html_report(tmp_path) -> None:
    captions = ["query 0 <car> & truck", "query 1: \"R1\" miss", "q2 'quote'"]
    sheets = [(c, make_sheet(distances=i % 2 == 0)) for i, c in enumerate(captions)]
    sheets[2] = (captions[2], ranked_list_sheet(solid((0, 0, 0), 8, 8), [],
                                                query_id=1, gallery_ids=[]))
    path = tmp_path / "sub" / "report.html"
    out = write_ranked_list_html(path, sheets, title="VeRi <val> & co",
                                 summary="mAP 50.0%  R1 60.0%")
    assert out == path and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]  # no temp left over
    text = path.read_text(encoding="utf-8")
    assert "http" not in text.lower()
    assert "<script" not in text.lower() and "<link" not in text.lower()
    assert text.count("<img") == 3
    sources = re.findall(r'<img[^>]*\bsrc="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(sources) == 3
    for source, (_, sheet) in zip(sources, sheets):
        with Image.open(io.BytesIO(base64.b64decode(source, validate=True))) as decoded:
            assert decoded.format == "PNG" and decoded.size == sheet.size
    for caption in captions:
        assert html.escape(caption) in text
    assert "<car>" not in text and "&lt;car&gt; &amp; truck" in text
    assert "VeRi &lt;val&gt; &amp; co" in text and "mAP 50.0%" in text
    # overwriting in place works too
    write_ranked_list_html(path, sheets[:1], title="again")
    assert path.read_text(encoding="utf-8").count("<img") == 1


# ---------------------------------------------------------------- ranked_lists

DIST = np.array([[0.5, 0.2, 0.2, 0.9, 0.1, 0.4],
                 [0.3, 0.3, 0.8, 0.05, 0.6, 0.3]])
QIDS = np.array([1, 2])
GIDS = np.array([1, 2, 1, -1, 1, 2])
QCAMS = np.array([0, -1])
GCAMS = np.array([0, 1, 1, 2, 0, 0])


@pytest.mark.parametrize("as_tensor", [False, True])
def test_ranked_lists_hand_case(as_tensor: bool) -> None:
    dist = torch.from_numpy(DIST) if as_tensor else DIST
    lists = ranked_lists(dist, QIDS, GIDS, QCAMS, GCAMS, same_camera_junk=True, top=4)
    assert [entry["query"] for entry in lists] == [0, 1]
    q0, q1 = lists
    # q0: 0.1 (4), tie 0.2 (1 before 2), 0.4 (5); g4 = same id, same camera 0 -> junk
    assert q0["gallery"].dtype == np.int64 and q0["gallery"].tolist() == [4, 1, 2, 5]
    assert q0["junk"].dtype == bool and q0["junk"].tolist() == [True, False, False, False]
    assert q0["correct"].tolist() == [False, False, True, False]
    np.testing.assert_allclose(q0["distances"], [0.1, 0.2, 0.2, 0.4])
    # q1: unknown camera -> no camera junk; g3 has id -1 -> junk; tie 0.3 at 0, 1, 5
    assert q1["gallery"].tolist() == [3, 0, 1, 5]
    assert q1["junk"].tolist() == [True, False, False, False]
    assert q1["correct"].tolist() == [False, False, True, True]
    # a tie cut at the boundary keeps the lower indices
    (cut,) = ranked_lists(dist, QIDS, GIDS, QCAMS, GCAMS, same_camera_junk=True, top=3,
                          queries=[1])
    assert cut["query"] == 1 and cut["gallery"].tolist() == [3, 0, 1]
    # without the camera rule only id -1 is junk
    q0_all = ranked_lists(dist, QIDS, GIDS, QCAMS, GCAMS, same_camera_junk=False, top=6)[0]
    assert q0_all["gallery"].tolist() == [4, 1, 2, 5, 0, 3]
    assert q0_all["junk"].tolist() == [False] * 5 + [True]
    assert q0_all["correct"].tolist() == [True, False, True, False, True, False]
    # cameras None = unknown
    q0_none = ranked_lists(dist, QIDS, GIDS, None, None, same_camera_junk=True, top=2)[0]
    assert q0_none["junk"].tolist() == [False, False]


def test_ranked_lists_matches_full_stable_sort() -> None:
    rng = np.random.default_rng(0)
    dist = rng.integers(0, 5, size=(6, 40)).astype(np.float32)  # many ties
    gids = rng.integers(-1, 4, size=40)
    for top in (1, 7, 40):
        lists = ranked_lists(dist, np.arange(6) % 4, gids, None, None,
                             same_camera_junk=False, top=top, queries=[5, 0, 3])
        for entry in lists:
            expected = np.argsort(dist[entry["query"]], kind="stable")[:top]
            assert entry["gallery"].tolist() == expected.tolist()


def test_sheet_from_ranked_lists() -> None:
    (entry,) = ranked_lists(DIST, QIDS, GIDS, QCAMS, GCAMS, same_camera_junk=True, top=4,
                            queries=[0])
    images = [solid((10 * g, 0, 0), 8, 8) for g in entry["gallery"]]
    sheet = ranked_list_sheet(solid((0, 0, 0), 8, 8), images, query_id=int(QIDS[0]),
                              gallery_ids=GIDS[entry["gallery"]], junk=entry["junk"],
                              distances=entry["distances"])
    pixels = np.asarray(sheet)
    frames = [tuple(pixels[box[1], box[0]]) for box in tile_boxes(4)]
    assert frames == [QUERY_BLUE, JUNK_FRAME_GREY, WRONG_RED, CORRECT_GREEN, WRONG_RED]


# ---------------------------------------------------------------- heatmaps


def test_activation_maps_small_resnet() -> None:
    torch.manual_seed(0)
    model = build_model("resnet_small", 10)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(2, 3, 64, 32)
    heat = activation_maps(model, images)
    assert heat.shape == (2, 64, 32) and heat.dtype == torch.float32
    assert heat.device == images.device
    assert heat.min() >= 0 and heat.max() <= 1
    assert torch.equal(heat.amax(dim=(1, 2)), torch.ones(2))
    assert torch.equal(heat.amin(dim=(1, 2)), torch.zeros(2))
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():  # eval mode: BN statistics untouched
        assert torch.equal(value, before[key]), key
    model.eval()
    activation_maps(model, images)
    assert not any(m.training for m in model.modules())


class HotSpot(nn.Module):
    """A backbone stub: a fixed (C, h, w) map, zero but for one hot location."""

    def __init__(self, channels: int, h: int, w: int, hot: tuple[int, int]) -> None:
        super().__init__()
        self.out_channels = channels
        fmap = torch.zeros(channels, h, w)
        fmap[:, hot[0], hot[1]] = torch.linspace(1.0, 2.0, channels)
        self.register_buffer("fmap", fmap)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fmap.expand(x.shape[0], -1, -1, -1)


@pytest.mark.parametrize("hot", [(0, 0), (5, 2), (7, 3)])
def test_activation_maps_hot_location(hot: tuple[int, int]) -> None:
    backbone = HotSpot(6, 8, 4, hot)
    model = ReidModel(backbone, AvgPool(), BNNeckHead(6, 0))
    heat = activation_maps(model, torch.zeros(3, 3, 64, 32))
    assert heat.shape == (3, 64, 32)
    for b in range(3):
        y, x = divmod(int(heat[b].argmax()), 32)
        assert (y // 8, x // 8) == hot
        assert float(heat[b, y, x]) == 1.0
    # only a .backbone attribute is needed
    class Holder:
        pass
    holder = Holder()
    holder.backbone = backbone
    assert torch.equal(activation_maps(holder, torch.zeros(3, 3, 64, 32)), heat)


def test_activation_maps_constant_map_is_zero() -> None:
    class Flat(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.ones(x.shape[0], 4, 4, 2)

    model = ReidModel(Flat(), AvgPool(), BNNeckHead(4, 0))
    heat = activation_maps(model, torch.zeros(2, 3, 16, 8))
    assert torch.equal(heat, torch.zeros(2, 16, 8))


def hue(rgb: np.ndarray) -> float:
    return colorsys.rgb_to_hsv(*(rgb / 255.0))[0] * 360.0


def test_colorize_endpoints_and_monotone_hue() -> None:
    values = np.linspace(0.0, 1.0, 201).reshape(1, -1)
    colours = colorize(values)
    assert colours.shape == (1, 201, 3) and colours.dtype == np.uint8
    lo, hi = colours[0, 0].astype(int), colours[0, -1].astype(int)
    assert lo[2] > 100 and lo[0] == 0 and lo[1] == 0              # dark blue
    assert hi[0] > 100 and hi[1] == 0 and hi[2] == 0              # dark red
    mid = colorize(np.array([[0.5]]))[0, 0].astype(int)
    assert mid[1] == 255 and mid[1] > mid[0] and mid[1] > mid[2]  # green
    hues = [hue(c.astype(float)) for c in colours[0]]
    assert hues[0] == pytest.approx(240) and hues[-1] == pytest.approx(0)
    assert all(b <= a + 1e-6 for a, b in zip(hues, hues[1:]))
    assert colorize(torch.full((2, 3), 0.25)).shape == (2, 3, 3)  # tensors accepted


def test_overlay_alpha_limits_and_sheet() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
    heat = rng.random((12, 10))
    assert np.array_equal(overlay(image, heat, alpha=0.0), image)
    assert np.array_equal(overlay(image, heat, alpha=1.0), colorize(heat))
    half = overlay(image, heat, alpha=0.5).astype(int)
    expected = (image.astype(int) + colorize(heat).astype(int)) / 2
    assert np.abs(half - expected).max() <= 0.5 + 1e-9

    images = rng.integers(0, 256, size=(3, 12, 10, 3), dtype=np.uint8)
    heats = rng.random((3, 12, 10))
    sheet = heatmap_sheet(images, heats, alpha=0.4)
    assert sheet.size == (3 * 10 + 4 * 4, 2 * 12 + 3 * 4)
    pixels = np.asarray(sheet)
    for n in range(3):
        left = 4 + n * 14
        assert np.array_equal(pixels[4:16, left:left + 10], images[n])
        assert np.array_equal(pixels[20:32, left:left + 10], overlay(images[n], heats[n], 0.4))
    assert (pixels[:4] == 255).all() and (pixels[16:20] == 255).all()
    assert (pixels[:, :4] == 255).all()


# ---------------------------------------------------------------- errors


def test_errors() -> None:
    good = solid((1, 2, 3), 8, 8)
    with pytest.raises(ValueError, match=r"query_image must have shape \(H, W, 3\).*\(8, 8\)"):
        ranked_list_sheet(good[..., 0], [good], query_id=1, gallery_ids=[1])
    with pytest.raises(ValueError, match=r"gallery_images\[1\] must have shape.*\(8, 8, 4\)"):
        ranked_list_sheet(good, [good, np.zeros((8, 8, 4), np.uint8)], query_id=1,
                          gallery_ids=[1, 2])
    with pytest.raises(ValueError, match=r"gallery_images\[0\] must have dtype uint8.*float32"):
        ranked_list_sheet(good, [good.astype(np.float32)], query_id=1, gallery_ids=[1])
    with pytest.raises(ValueError, match=r"gallery_ids must be .* length 2; got shape \(3,\)"):
        ranked_list_sheet(good, [good, good], query_id=1, gallery_ids=[1, 2, 3])
    with pytest.raises(ValueError, match=r"junk must be .* length 2; got shape \(1,\)"):
        ranked_list_sheet(good, [good, good], query_id=1, gallery_ids=[1, 2], junk=[True])
    with pytest.raises(ValueError, match=r"distances must be .* length 1"):
        ranked_list_sheet(good, [good], query_id=1, gallery_ids=[1], distances=[0.1, 0.2])
    with pytest.raises(ValueError, match="tile_width must be >= 1, got 0"):
        TileStyle(tile_width=0)
    with pytest.raises(ValueError, match="rows must hold at least one image"):
        ranked_list_grid([])
    with pytest.raises(ValueError, match=r"top must be between 1 and the gallery size \(6\), got 7"):
        ranked_lists(DIST, QIDS, GIDS, QCAMS, GCAMS, same_camera_junk=True, top=7)
    with pytest.raises(ValueError, match=r"queries must be indices in \[0, 2\); got 2"):
        ranked_lists(DIST, QIDS, GIDS, QCAMS, GCAMS, same_camera_junk=True, queries=[0, 2],
                     top=2)
    with pytest.raises(ValueError, match=r"gallery_ids must be .* length 6; got shape \(5,\)"):
        ranked_lists(DIST, QIDS, GIDS[:5], QCAMS, GCAMS, same_camera_junk=True, top=2)
    with pytest.raises(ValueError, match="distances must be 2-D"):
        ranked_lists(DIST[0], QIDS, GIDS, QCAMS, GCAMS, same_camera_junk=True, top=2)
    bad = DIST.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        ranked_lists(bad, QIDS, GIDS, QCAMS, GCAMS, same_camera_junk=True, top=2)
    model = ReidModel(HotSpot(2, 2, 2, (0, 0)), AvgPool(), BNNeckHead(2, 0))
    with pytest.raises(ValueError, match=r"images must have shape \(B, 3, H, W\).*\(2, 1, 8, 8\)"):
        activation_maps(model, torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="images must be a floating tensor.*uint8"):
        activation_maps(model, torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="backbone"):
        activation_maps(object(), torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"heat must have shape \(H, W\); got shape \(2, 2, 2\)"):
        colorize(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"heat must lie in \[0, 1\]"):
        colorize(np.full((2, 2), 1.5))
    with pytest.raises(ValueError, match=r"heat must have the image's \(H, W\)"):
        overlay(good, np.zeros((4, 8)))
    with pytest.raises(ValueError, match="alpha must be in"):
        overlay(good, np.zeros((8, 8)), alpha=1.5)
    with pytest.raises(ValueError, match=r"images must have shape \(N, H, W, 3\)"):
        heatmap_sheet(good, np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"heats must have shape \(N, H, W\) = \(1, 8, 8\)"):
        heatmap_sheet(good[None], np.zeros((1, 8, 7)))
