"""Dataset layout loaders, layout detection, merging and the AICity / VeRi writers.

Each test builds a miniature copy of a real layout by hand (8x8 JPEGs, hand-written lists
and XML, including the quirks of the real data) and compares the loaded records with the
expectation written out in the test.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from reid_fast.data.formats import (
    LAYOUTS,
    detect_layout,
    load_aicity,
    load_dataset,
    load_datasets,
    load_folder,
    load_manifest,
    load_market,
    load_vehicleid,
    load_veri,
    merge_datasets,
)
from reid_fast.data.formats.aicity import write_aicity
from reid_fast.data.formats.veri import write_veri
from reid_fast.data.records import ImageRecord, ReidDataset


def _jpeg(path, color=(120, 60, 30)) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path, format="JPEG")
    return str(path)


def _text(path, lines) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def _junk_file(folder) -> None:
    with open(os.path.join(folder, "Thumbs.db"), "wb") as f:
        f.write(b"\x00not an image")


def _gb2312_xml(path, root_element, items) -> bytes:
    """An AICity label file: declared gb2312, with a non-ASCII comment and attribute."""
    body = "\n".join(
        f'<Item imageName="{name}" vehicleID="{vid}" cameraID="{cam}"{extra} />'
        for name, vid, cam, extra in items
    )
    text = (
        '<?xml version="1.0" encoding="gb2312"?>\n'
        "<!-- 车辆重识别 训练集标注 -->\n"
        f'<{root_element} Version="1.0" 说明="城市车辆">\n'
        f'<Items number="{len(items)}">\n{body}\n</Items>\n</{root_element}>\n'
    )
    data = text.encode("gb2312")
    with open(path, "wb") as f:
        f.write(data)
    return data


def _rows(records):
    return [(os.path.basename(r.path), r.pid, r.camid, r.trackid) for r in records]


# ---------------------------------------------------------------- AICity 2020


def _aicity_root(tmp_path):
    root = tmp_path / "AIC20_ReID"
    for i in range(1, 5):
        _jpeg(root / "image_train" / f"{i:06d}.jpg")
    for i in range(1, 3):
        _jpeg(root / "image_query" / f"{i:06d}.jpg")
    for i in range(1, 6):
        _jpeg(root / "image_test" / f"{i:06d}.jpg")
    _junk_file(root / "image_test")
    # XML order is not name order: the loader must keep the XML order.
    items = [
        ("000003.jpg", "0007", "c012", ""),
        ("000001.jpg", "0002", "c001", ""),
        ("000002.jpg", "0002", "c003", ""),
        ("000004.jpg", "0040", "c035", ""),
    ]
    data = _gb2312_xml(root / "train_label.xml", "TrainingImages", items)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the encoding matters for this file
    with pytest.raises(ValueError, match="multi-byte"):
        ET.fromstring(data)  # the quirk: expat refuses the declared codec
    _text(root / "name_query.txt", ["000002.jpg", "000001.jpg"])
    _text(root / "name_test.txt", ["000005.jpg", "000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"])
    _text(root / "test_track.txt", ["000001.jpg 000004.jpg ", "000003.jpg 000005.jpg"])
    return root


def test_aicity_contest_layout(tmp_path):
    root = _aicity_root(tmp_path)
    assert detect_layout(root) == "aicity"
    ds = load_aicity(root)
    assert ds.root == str(root) and ds.name == "aicity"
    assert _rows(ds.train) == [
        ("000003.jpg", 7, 12, -1),
        ("000001.jpg", 2, 1, -1),
        ("000002.jpg", 2, 3, -1),
        ("000004.jpg", 40, 35, -1),
    ]
    assert _rows(ds.query) == [("000002.jpg", -1, -1, -1), ("000001.jpg", -1, -1, -1)]
    assert _rows(ds.gallery) == [
        ("000005.jpg", -1, -1, 1),
        ("000001.jpg", -1, -1, 0),
        ("000002.jpg", -1, -1, -1),
        ("000003.jpg", -1, -1, 1),
        ("000004.jpg", -1, -1, 0),
    ]
    assert ds.train[0].path == os.path.join(str(root), "image_train", "000003.jpg")
    assert all(os.path.isabs(r.path) for r in ds.train + ds.query + ds.gallery)
    assert ds.labelled is False and ds.same_camera_junk is True
    assert load_dataset(root).gallery == ds.gallery


def test_aicity_ground_truth_files_make_it_labelled(tmp_path):
    root = _aicity_root(tmp_path)
    query_items = [("000001.jpg", "0100", "c005", ""), ("000002.jpg", "0101", "c006", "")]
    _gb2312_xml(root / "query_label.xml", "QueryImages", query_items)
    test_items = [(f"{i:06d}.jpg", f"{100 + i % 2:04d}", f"c{i:03d}", "") for i in range(1, 6)]
    _gb2312_xml(root / "test_label.xml", "TestImages", test_items)
    ds = load_aicity(root)
    assert ds.labelled is True
    assert _rows(ds.query) == [("000002.jpg", 101, 6, -1), ("000001.jpg", 100, 5, -1)]
    assert [(os.path.basename(r.path), r.pid, r.camid) for r in ds.gallery] == [
        ("000005.jpg", 101, 5),
        ("000001.jpg", 101, 1),
        ("000002.jpg", 100, 2),
        ("000003.jpg", 101, 3),
        ("000004.jpg", 100, 4),
    ]
    os.remove(root / "test_label.xml")
    with pytest.raises(FileNotFoundError, match="test_label.xml"):
        load_aicity(root)


def test_aicity_listed_image_missing_is_named(tmp_path):
    root = _aicity_root(tmp_path)
    _text(root / "name_test.txt", ["000001.jpg", "000009.jpg"])
    with pytest.raises(FileNotFoundError, match=r"name_test\.txt.*000009\.jpg"):
        load_aicity(root)
    root = _aicity_root(tmp_path / "again")
    _text(root / "test_track.txt", ["000001.jpg 000077.jpg"])
    with pytest.raises(ValueError, match=r"test_track\.txt, line 1: '000077\.jpg'"):
        load_aicity(root)


def test_aicity_simulated_set(tmp_path):
    root = tmp_path / "AIC20_ReID_Simulation"
    for i in range(1, 4):
        _jpeg(root / "image_train" / f"{i:06d}.jpg")
    items = [
        ("000001.jpg", "0001", "c004", ' colorID="3" typeID="1" orientation="87.6"'),
        ("000002.jpg", "0001", "c010", ' colorID="3" typeID="1" orientation="-0.4"'),
        ("000003.jpg", "0002", "c004", ' colorID="7" typeID="5" orientation="270"'),
    ]
    _gb2312_xml(root / "train_label.xml", "TrainingImages", items)
    assert detect_layout(root) == "aicity-sim"
    for ds in (load_aicity(root), load_aicity(root, simulated=True), load_dataset(root)):
        assert ds.name == "aicity-sim" and ds.query == [] and ds.gallery == []
        assert _rows(ds.train) == [
            ("000001.jpg", 1, 4, -1),
            ("000002.jpg", 1, 10, -1),
            ("000003.jpg", 2, 4, -1),
        ]
        assert [dict(r.attrs) for r in ds.train] == [
            {"color": 3, "type": 1, "orientation": 88},
            {"color": 3, "type": 1, "orientation": 0},
            {"color": 7, "type": 5, "orientation": 270},
        ]


# ---------------------------------------------------------------- VeRi-776


def _veri_root(tmp_path, with_lists=True):
    root = tmp_path / "VeRi"
    train = ["0001_c001_00016450_0.jpg", "0001_c002_00016460_1.jpg", "0005_c014_00027665_0.jpg"]
    query = ["0002_c002_00030600_0.jpg", "0006_c015_00022375_0.jpg"]
    test = [
        "0002_c002_00030600_0.jpg",
        "0002_c002_00030605_1.jpg",
        "0002_c003_00084280_0.jpg",
        "0006_c004_00011050_0.jpg",
        "0006_c004_00011055_1.jpg",
    ]
    for split, names in (("train", train), ("query", query), ("test", test)):
        for name in names:
            _jpeg(root / f"image_{split}" / name)
        _junk_file(root / f"image_{split}")
    if with_lists:
        _text(root / "name_train.txt", [train[2], train[0], train[1]])
        _text(root / "name_query.txt", [query[1], query[0]])
        _text(root / "name_test.txt", test)
        _text(root / "test_track.txt", [f"0002_c002 {test[0]} {test[1]} ", f"0006_c004 {test[3]} {test[4]} "])
    return root


def test_veri_with_lists_and_tracks(tmp_path):
    root = _veri_root(tmp_path)
    assert detect_layout(root) == "veri"
    ds = load_veri(root)
    assert _rows(ds.train) == [
        ("0005_c014_00027665_0.jpg", 5, 14, -1),
        ("0001_c001_00016450_0.jpg", 1, 1, -1),
        ("0001_c002_00016460_1.jpg", 1, 2, -1),
    ]
    assert _rows(ds.query) == [
        ("0006_c015_00022375_0.jpg", 6, 15, -1),
        ("0002_c002_00030600_0.jpg", 2, 2, -1),
    ]
    assert _rows(ds.gallery) == [
        ("0002_c002_00030600_0.jpg", 2, 2, 0),
        ("0002_c002_00030605_1.jpg", 2, 2, 0),
        ("0002_c003_00084280_0.jpg", 2, 3, -1),
        ("0006_c004_00011050_0.jpg", 6, 4, 1),
        ("0006_c004_00011055_1.jpg", 6, 4, 1),
    ]
    assert ds.query[1].path == os.path.join(str(root), "image_query", "0002_c002_00030600_0.jpg")
    assert ds.same_camera_junk is True and ds.labelled is True


def test_veri_label_files_give_attrs(tmp_path):
    root = _veri_root(tmp_path)
    assert all(r.attrs == {} for r in load_veri(root).train)  # no label files: no attrs
    _gb2312_xml(root / "train_label.xml", "TrainingImages", [
        ("0001_c001_00016450_0.jpg", "0001", "c001", ' colorID="1" typeID="4"'),
        ("0005_c014_00027665_0.jpg", "0005", "c014", ' colorID="7" typeID="2" orientation="269.5"'),
    ])
    # VeRi-776 has no query_label.xml: the queries are test images, labelled there.
    _gb2312_xml(root / "test_label.xml", "TestImages", [
        ("0002_c002_00030600_0.jpg", "0002", "c002", ' colorID="3" typeID="1"'),
        ("0006_c004_00011055_1.jpg", "0006", "c004", ' colorID="5" typeID="6"'),
    ])
    assert detect_layout(root) == "veri"  # an orientation in train_label.xml: still VeRi
    ds = load_veri(root)
    assert [(r.name, r.attrs) for r in ds.train] == [
        ("0005_c014_00027665_0.jpg", {"color": 7, "type": 2, "orientation": 270}),
        ("0001_c001_00016450_0.jpg", {"color": 1, "type": 4}),
        ("0001_c002_00016460_1.jpg", {}),  # not listed
    ]
    assert [r.attrs for r in ds.query] == [{}, {"color": 3, "type": 1}]
    assert [r.attrs for r in ds.gallery] == [{"color": 3, "type": 1}, {}, {}, {}, {"color": 5, "type": 6}]
    _gb2312_xml(root / "query_label.xml", "QueryImages", [
        ("0006_c015_00022375_0.jpg", "0006", "c015", ' colorID="5" typeID="6" orientation="12"'),
    ])
    assert [r.attrs for r in load_veri(root).query] == [{"color": 5, "type": 6, "orientation": 12}, {}]
    _gb2312_xml(root / "test_label.xml", "TestImages", [
        ("0002_c002_00030600_0.jpg", "0002", "c002", ' colorID="red" typeID="1"'),
    ])
    with pytest.raises(ValueError, match=r"test_label\.xml: <Item> number 1: colorID='red' is not a number"):
        load_veri(root)


def test_veri_without_lists_uses_sorted_listing(tmp_path):
    ds = load_veri(_veri_root(tmp_path, with_lists=False))
    assert [os.path.basename(r.path) for r in ds.train] == [
        "0001_c001_00016450_0.jpg",
        "0001_c002_00016460_1.jpg",
        "0005_c014_00027665_0.jpg",
    ]
    assert [r.trackid for r in ds.gallery] == [-1] * 5


# ---------------------------------------------------------------- VehicleID


def _vehicleid_root(tmp_path):
    root = tmp_path / "VehicleID_V1.0"
    train = [("0000001", 1), ("0000002", 1), ("0000003", 4)]
    test = [
        ("0000010", 10),
        ("0000011", 10),
        ("0000012", 11),
        ("0000013", 10),
        ("0000014", 12),
        ("0000015", 12),
    ]
    for name, _ in train + test + [("0000099", 99)]:
        _jpeg(root / "image" / f"{name}.jpg")
    _junk_file(root / "image")
    _text(root / "train_test_split" / "train_list.txt", [f"{n} {v}" for n, v in train])
    _text(root / "train_test_split" / "test_list_800.txt", [f"{n} {v}" for n, v in test])
    _text(root / "train_test_split" / "test_list_1600.txt", [f"{n} {v}" for n, v in test + [("0000099", 99)]])
    _text(root / "train_test_split" / "test_list_2400.txt", [])
    return root, test


def test_vehicleid_protocol(tmp_path):
    root, test = _vehicleid_root(tmp_path)
    assert detect_layout(root) == "vehicleid"
    ds = load_vehicleid(root, test_size=800, seed=3)
    assert _rows(ds.train) == [
        ("0000001.jpg", 1, -1, -1),
        ("0000002.jpg", 1, -1, -1),
        ("0000003.jpg", 4, -1, -1),
    ]
    assert ds.same_camera_junk is False and ds.labelled is True
    # One gallery image per test identity, ids in order of first appearance.
    assert [r.pid for r in ds.gallery] == [10, 11, 12]
    # Query = every other test image, in list order; together they are the test list.
    gallery_names = {os.path.basename(r.path) for r in ds.gallery}
    expected_query = [(f"{n}.jpg", v) for n, v in test if f"{n}.jpg" not in gallery_names]
    assert [(os.path.basename(r.path), r.pid) for r in ds.query] == expected_query
    assert len(ds.query) + len(ds.gallery) == len(test)
    assert "0000012.jpg" in gallery_names  # identity 11 has a single image
    assert all(r.camid == -1 for r in ds.query + ds.gallery)
    # Seeded: the same seed gives the same split, the seed changes it.
    assert load_vehicleid(root, test_size=800, seed=3).gallery == ds.gallery
    galleries = {tuple(r.path for r in load_vehicleid(root, seed=s).gallery) for s in range(12)}
    assert len(galleries) > 1
    assert [r.pid for r in load_vehicleid(root, test_size=1600).gallery] == [10, 11, 12, 99]
    assert load_dataset(root, test_size=1600).name == "vehicleid-1600"


def test_vehicleid_errors(tmp_path):
    root, _ = _vehicleid_root(tmp_path)
    with pytest.raises(ValueError, match=r"test_size must be one of \(800, 1600, 2400\), got 500"):
        load_vehicleid(root, test_size=500)
    _text(root / "train_test_split" / "train_list.txt", ["0000001 1", "0000404 2"])
    with pytest.raises(FileNotFoundError, match=r"train_list\.txt lists '0000404\.jpg'"):
        load_vehicleid(root)
    _text(root / "train_test_split" / "train_list.txt", ["0000001 one"])
    with pytest.raises(ValueError, match=r"train_list\.txt, line 1: vehicle id 'one'"):
        load_vehicleid(root)


# ---------------------------------------------------------------- Market-1501


def test_market_junk_and_distractors(tmp_path):
    root = tmp_path / "Market-1501-v15.09.15"
    names = {
        "bounding_box_train": [
            "0002_c1s1_000451_03.jpg",
            "0002_c2s1_000301_01.jpg",
            "-1_c1s1_000401_01.jpg",
            "0007_c3s3_000175_04.jpg",
        ],
        "bounding_box_test": [
            "-1_c1s1_000401_03.jpg",
            "0000_c1s1_000151_01.jpg",
            "0001_c1s1_001051_03.jpg",
            "0001_c5s1_001051_02.jpg",
        ],
        "query": ["0001_c1s1_001051_00.jpg"],
    }
    for folder, files in names.items():
        for name in files:
            _jpeg(root / folder / name)
        _junk_file(root / folder)
    os.makedirs(root / "gt_bbox")  # other folders of the real download are ignored
    assert detect_layout(root) == "market"
    ds = load_market(root)
    assert _rows(ds.train) == [
        ("0002_c1s1_000451_03.jpg", 2, 1, -1),
        ("0002_c2s1_000301_01.jpg", 2, 2, -1),
        ("0007_c3s3_000175_04.jpg", 7, 3, -1),
    ]
    assert _rows(ds.gallery) == [
        ("-1_c1s1_000401_03.jpg", -1, 1, -1),
        ("0000_c1s1_000151_01.jpg", 0, 1, -1),
        ("0001_c1s1_001051_03.jpg", 1, 1, -1),
        ("0001_c5s1_001051_02.jpg", 1, 5, -1),
    ]
    assert _rows(ds.query) == [("0001_c1s1_001051_00.jpg", 1, 1, -1)]
    assert ds.same_camera_junk is True


# ---------------------------------------------------------------- one folder per identity


def test_folder_flat_integer_identities(tmp_path):
    root = tmp_path / "cars"
    _jpeg(root / "0010" / "front_c2_01.jpg")
    _jpeg(root / "0010" / "rear.png")
    _jpeg(root / "0003" / "cam_c14.jpg")
    _junk_file(root / "0003")
    _text(root / "README.txt", ["not an identity"])
    assert detect_layout(root) == "folder"
    ds = load_folder(root)
    assert _rows(ds.train) == [
        ("cam_c14.jpg", 3, 14, -1),
        ("front_c2_01.jpg", 10, 2, -1),
        ("rear.png", 10, -1, -1),
    ]
    assert ds.query == [] and ds.gallery == []


def test_folder_splits_with_named_identities(tmp_path):
    root = tmp_path / "people"
    _jpeg(root / "train" / "carol" / "a_c1.jpg")
    _jpeg(root / "train" / "alice" / "b_c2.jpg")
    _jpeg(root / "query" / "bob" / "q_c1.jpg")
    _jpeg(root / "gallery" / "bob" / "g_c3.jpg")
    _jpeg(root / "gallery" / "alice" / "g_c1.jpg")
    ds = load_dataset(root)
    # Sorted names alice, bob, carol -> 0, 1, 2 in every split.
    assert _rows(ds.train) == [("b_c2.jpg", 0, 2, -1), ("a_c1.jpg", 2, 1, -1)]
    assert _rows(ds.query) == [("q_c1.jpg", 1, 1, -1)]
    assert _rows(ds.gallery) == [("g_c1.jpg", 0, 1, -1), ("g_c3.jpg", 1, 3, -1)]
    os.rename(root / "gallery", root / "elsewhere")
    with pytest.raises(FileNotFoundError, match="query/ folder but no gallery/"):
        load_folder(root)


# ---------------------------------------------------------------- CSV manifest


def test_manifest_single_file(tmp_path):
    a = _jpeg(tmp_path / "data" / "imgs" / "a.jpg")
    b = _jpeg(tmp_path / "data" / "imgs" / "b.jpg")
    c = _jpeg(tmp_path / "elsewhere" / "c.jpg")
    _text(
        tmp_path / "data" / "list.csv",
        [
            "path,id,camera,track,split,note",
            "imgs/a.jpg,5,1,0,train,x",
            f"{c},5,2,,query,",
            "imgs/b.jpg, 6 ,-1,3,gallery,",
        ],
    )
    assert detect_layout(tmp_path / "data" / "list.csv") == "manifest"
    ds = load_manifest(tmp_path / "data" / "list.csv")
    assert [(r.path, r.pid, r.camid, r.trackid) for r in ds.train] == [(a, 5, 1, 0)]
    assert [(r.path, r.pid, r.camid, r.trackid) for r in ds.query] == [(c, 5, 2, -1)]
    assert [(r.path, r.pid, r.camid, r.trackid) for r in ds.gallery] == [(b, 6, -1, 3)]
    assert ds.name == "list" and ds.labelled is True


def test_manifest_folder_of_split_files(tmp_path):
    a = _jpeg(tmp_path / "m" / "a.jpg")
    b = _jpeg(tmp_path / "m" / "b.jpg")
    _text(tmp_path / "m" / "train.csv", ["path,id,camera", "a.jpg,1,1", "b.jpg,2,"])
    _text(tmp_path / "m" / "query.csv", ["path,id,camera", "a.jpg,-1,1"])
    _text(tmp_path / "m" / "gallery.csv", ["path,id,camera,split", "b.jpg,-1,2,gallery"])
    assert detect_layout(tmp_path / "m") == "manifest"
    ds = load_dataset(tmp_path / "m")
    assert [(r.path, r.pid, r.camid) for r in ds.train] == [(a, 1, 1), (b, 2, -1)]
    assert [(r.path, r.pid) for r in ds.query + ds.gallery] == [(a, -1), (b, -1)]
    assert ds.labelled is False  # every query / gallery id is unknown
    _text(tmp_path / "m" / "gallery.csv", ["path,id,camera,split", "b.jpg,3,2,train"])
    with pytest.raises(ValueError, match=r"gallery\.csv, line 2: split 'train' in the gallery manifest"):
        load_manifest(tmp_path / "m")


def test_manifest_errors_name_file_line_and_value(tmp_path):
    _jpeg(tmp_path / "a.jpg")
    bad = tmp_path / "bad.csv"
    _text(bad, ["path,camera", "a.jpg,1"])
    with pytest.raises(ValueError, match=r"bad\.csv: missing column\(s\) \['id'\]"):
        load_manifest(bad)
    _text(bad, ["path,id,camera", "a.jpg,1,1", "a.jpg,car7,1"])
    with pytest.raises(ValueError, match=r"bad\.csv, line 3: column 'id' must be an integer, got 'car7'"):
        load_manifest(bad)
    _text(bad, ["path,id,camera", "missing.jpg,1,1"])
    with pytest.raises(FileNotFoundError, match=r"bad\.csv, line 2: image 'missing\.jpg' not found"):
        load_manifest(bad)
    _text(bad, ["path,id,camera,split", "a.jpg,1,1,test"])
    with pytest.raises(ValueError, match=r"line 2: split must be one of .* got 'test'"):
        load_manifest(bad)


# ---------------------------------------------------------------- detection and registry


def test_unknown_layout_says_what_was_expected_and_found(tmp_path):
    root = tmp_path / "mystery"
    _text(root / "notes.txt", ["hello"])
    os.makedirs(root / "empty_dir")
    with pytest.raises(ValueError) as info:
        detect_layout(root)
    message = str(info.value)
    assert "notes.txt" in message and "empty_dir/" in message
    assert set(LAYOUTS) == {"aicity", "aicity-sim", "veri", "vehicleid", "market", "folder", "manifest"}
    for name, layout in LAYOUTS.items():
        assert f"  {name}: {layout.expects}" in message
    assert "bounding_box_train/" in message and "train_test_split/" in message
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="a manifest must be a .csv file"):
        detect_layout(root / "notes.txt")
    with pytest.raises(ValueError, match=r"layout must be one of .*got 'veri776'"):
        load_dataset(root, layout="veri776")


def test_explicit_layout_with_missing_folder_names_it(tmp_path):
    root = tmp_path / "half"
    _jpeg(root / "bounding_box_train" / "0001_c1s1_000001_01.jpg")
    _jpeg(root / "query" / "0001_c2s1_000001_01.jpg")
    with pytest.raises(FileNotFoundError, match="bounding_box_test"):
        load_dataset(root, layout="market")


# ---------------------------------------------------------------- merge (VehicleNet)


def _memory_dataset(name, train, query=(), gallery=(), **flags):
    def records(rows):
        return [ImageRecord(f"/{name}/{i}.jpg", pid, cam, track) for i, (pid, cam, track) in enumerate(rows)]

    return ReidDataset(name, records(train), records(query), records(gallery), root=f"/{name}", **flags)


def test_merge_offsets_identities_cameras_and_tracks():
    a = _memory_dataset("a", [(0, 1, 0), (3, 2, -1)], query=[(7, 1, -1)], gallery=[(7, 4, 2), (-1, 1, -1)])
    b = _memory_dataset("b", [(0, 1, 0), (-1, -1, -1), (2, 3, 1)], same_camera_junk=False)
    c = _memory_dataset("c", [(5, 0, -1)])
    merged = merge_datasets([a, b, c])
    assert merged.name == "a+b+c" and merged.root == "/a"
    # a keeps its numbers; b starts past a's largest pid 7, camera 4, track 2; c past b.
    assert [(r.path, r.pid, r.camid, r.trackid) for r in merged.train] == [
        ("/a/0.jpg", 0, 1, 0),
        ("/a/1.jpg", 3, 2, -1),
        ("/b/0.jpg", 8, 6, 3),
        ("/b/1.jpg", -1, -1, -1),
        ("/b/2.jpg", 10, 8, 4),
        ("/c/0.jpg", 16, 9, -1),
    ]
    assert merged.query == a.query and merged.gallery == a.gallery
    assert merged.same_camera_junk is True

    swapped = merge_datasets([a, b], eval_index=1, name="vehiclenet")
    assert swapped.name == "vehiclenet" and swapped.same_camera_junk is False and swapped.query == []
    assert [(r.pid, r.camid, r.trackid) for r in swapped.train] == [
        (3, 5, 2),
        (6, 6, -1),
        (0, 1, 0),
        (-1, -1, -1),
        (2, 3, 1),
    ]
    twice = merge_datasets([b, b])
    assert [r.pid for r in twice.train] == [0, -1, 2, 3, -1, 5]
    with pytest.raises(ValueError, match="eval_index"):
        merge_datasets([a], eval_index=1)


def test_load_datasets_merges_roots(tmp_path):
    veri = _veri_root(tmp_path)
    market = tmp_path / "market"
    _jpeg(market / "bounding_box_train" / "0009_c1s1_000001_01.jpg")
    _jpeg(market / "bounding_box_test" / "0001_c1s1_000001_01.jpg")
    _jpeg(market / "query" / "0001_c2s1_000001_01.jpg")
    merged = load_datasets([veri, (market, "market")])
    assert merged.name == "veri+market"
    assert [(r.pid, r.camid) for r in merged.train] == [(5, 14), (1, 1), (1, 2), (16, 17)]
    assert merged.query == load_veri(veri).query


# ---------------------------------------------------------------- writers


def _colour(record: ImageRecord) -> tuple[int, int, int]:
    index = int(record.path.rsplit("/", 1)[-1])
    return (20 + 23 * index % 220, 200 - 17 * index % 180, 40 + 31 * index % 200)


def _read_image(record: ImageRecord) -> np.ndarray:
    return np.broadcast_to(np.array(_colour(record), np.uint8), (6, 10, 3)).copy()


def _synthetic(labelled=True, attrs=()) -> ReidDataset:
    """Records synthetic://0.. with hand-picked labels; ``attrs[i]`` (when given) are the
    attrs of training record i."""
    def records(rows, start):
        return [
            ImageRecord(f"synthetic://{start + i}", p, c, t,
                        attrs=attrs[i] if start == 0 and i < len(attrs) else {})
            for i, (p, c, t) in enumerate(rows)
        ]

    return ReidDataset(
        "synthetic",
        train=records([(3, 1, 0), (3, 2, 0), (8, 1, 1), (12, 4, -1)], 0),
        query=records([(3, 5, -1), (8, 2, -1)], 10),
        gallery=records([(8, 3, 1), (3, 6, 0), (12, 3, -1), (3, 6, 0), (8, 3, 1)], 20),
        labelled=labelled,
    )


def _assert_same_images(loaded, original):
    for got, want in zip(loaded, original):
        with Image.open(got.path) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
        assert pixels.shape == (6, 10, 3)
        np.testing.assert_allclose(pixels.mean(axis=(0, 1)), _colour(want), atol=4)


def test_write_aicity_round_trip(tmp_path):
    source = _synthetic()
    write_aicity(tmp_path / "aic", source, _read_image)
    with open(tmp_path / "aic" / "train_label.xml", "rb") as f:
        assert f.read().startswith(b'<?xml version="1.0" encoding="gb2312"?>')
    assert detect_layout(tmp_path / "aic") == "aicity"
    ds = load_aicity(tmp_path / "aic")
    assert ds.labelled is True
    assert _rows(ds.train) == [
        ("000001.jpg", 3, 1, 0),
        ("000002.jpg", 3, 2, 0),
        ("000003.jpg", 8, 1, 1),
        ("000004.jpg", 12, 4, -1),
    ]
    assert _rows(ds.query) == [("000001.jpg", 3, 5, -1), ("000002.jpg", 8, 2, -1)]
    # Gallery tracks 1 and 0 are written in trackid order, lines 0 and 1.
    assert _rows(ds.gallery) == [
        ("000001.jpg", 8, 3, 1),
        ("000002.jpg", 3, 6, 0),
        ("000003.jpg", 12, 3, -1),
        ("000004.jpg", 3, 6, 0),
        ("000005.jpg", 8, 3, 1),
    ]
    for split in ("train", "query", "gallery"):
        _assert_same_images(getattr(ds, split), getattr(source, split))

    write_aicity(tmp_path / "contest", _synthetic(labelled=False), _read_image)
    contest = load_aicity(tmp_path / "contest")
    assert contest.labelled is False and {r.pid for r in contest.query + contest.gallery} == {-1}


def test_write_aicity_ground_truth_carries_test_attrs(tmp_path):
    """The query / test ground truth keeps the records' attrs (e.g. the orientation an
    orientation model is scored against); the training labels of the real layout do not."""
    source = _synthetic()
    source.query[1] = ImageRecord("synthetic://11", 8, 2, -1, attrs={"orientation": 271})
    source.gallery[0] = ImageRecord("synthetic://20", 8, 3, 1,
                                    attrs={"color": 2, "type": 4, "orientation": 0})
    write_aicity(tmp_path / "aic", source, _read_image)
    ds = load_aicity(tmp_path / "aic")
    assert [r.attrs for r in ds.query] == [{}, {"orientation": 271}]
    assert ds.gallery[0].attrs == {"color": 2, "type": 4, "orientation": 0}
    assert all(r.attrs == {} for r in ds.gallery[1:] + ds.train)


SIMULATED_ATTRS = [
    {"color": 3, "type": 1, "orientation": 0},
    {"color": 3, "type": 1, "orientation": 359},
    {"color": 7, "type": 5, "orientation": 90},
    {"color": 0, "type": 2, "orientation": 181},
]


def test_write_aicity_simulated_round_trip(tmp_path):
    source = _synthetic(attrs=SIMULATED_ATTRS)
    write_aicity(tmp_path / "sim", source, _read_image, simulated=True)
    assert sorted(os.listdir(tmp_path / "sim")) == ["image_train", "train_label.xml"]
    items = ET.fromstring((tmp_path / "sim" / "train_label.xml").read_bytes().decode("gb2312"))
    assert [dict(i.attrib) for i in items.iter("Item")][2] == {
        "imageName": "000003.jpg", "vehicleID": "0008", "cameraID": "c001",
        "colorID": "7", "typeID": "5", "orientation": "90",
    }
    assert detect_layout(tmp_path / "sim") == "aicity-sim"
    ds = load_aicity(tmp_path / "sim")
    assert ds.name == "aicity-sim" and ds.query == ds.gallery == []
    assert [(r.name, r.pid, r.camid) for r in ds.train] == [
        ("000001.jpg", 3, 1), ("000002.jpg", 3, 2), ("000003.jpg", 8, 1), ("000004.jpg", 12, 4),
    ]
    assert [dict(r.attrs) for r in ds.train] == SIMULATED_ATTRS
    _assert_same_images(ds.train, source.train)
    # The loader needs all three labels: so does the writer, before writing anything.
    partial = _synthetic(attrs=SIMULATED_ATTRS[:2] + [{"color": 7, "type": 5}])
    with pytest.raises(ValueError, match=r"synthetic://2' has no 'orientation'"):
        write_aicity(tmp_path / "partial", partial, _read_image, simulated=True)
    assert not (tmp_path / "partial" / "image_train").exists()


def test_write_veri_carries_attrs(tmp_path):
    attrs = [{"color": 3, "type": 1, "orientation": 45}, {}, {"color": 2, "type": 9}]
    source = _synthetic(attrs=attrs)
    write_veri(tmp_path / "veri", source, _read_image)
    assert {"train_label.xml", "query_label.xml", "test_label.xml"} <= set(os.listdir(tmp_path / "veri"))
    assert detect_layout(tmp_path / "veri") == "veri"
    ds = load_veri(tmp_path / "veri")
    assert [dict(r.attrs) for r in ds.train] == attrs + [{}]
    assert all(r.attrs == {} for r in ds.query + ds.gallery)


def test_write_veri_round_trip(tmp_path):
    source = _synthetic()
    write_veri(tmp_path / "veri", source, _read_image)
    assert detect_layout(tmp_path / "veri") == "veri"
    ds = load_veri(tmp_path / "veri")
    for split in ("train", "query", "gallery"):
        loaded, original = getattr(ds, split), getattr(source, split)
        expected_tracks = [r.trackid if split == "gallery" else -1 for r in original]
        assert [(r.pid, r.camid, r.trackid) for r in loaded] == [
            (r.pid, r.camid, t) for r, t in zip(original, expected_tracks)
        ]
        _assert_same_images(loaded, original)
    names = [r.name for r in ds.train + ds.query + ds.gallery]
    assert len(set(names)) == len(names)
    assert ds.train[1].name.startswith("0003_c002_")
    with pytest.raises(ValueError, match=r"pid >= 0 and camid >= 0, got pid=-1"):
        write_veri(tmp_path / "bad", _memory_dataset("x", [(-1, 1, -1)]), _read_image)


def test_writer_rejects_bad_images(tmp_path):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 array, got shape \(6, 10, 3\) dtype float32"):
        write_aicity(tmp_path / "x", _synthetic(), lambda r: np.zeros((6, 10, 3), np.float32))
