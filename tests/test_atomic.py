"""reid_fast.atomic: the one writer of whole files."""

from __future__ import annotations

import os
import stat

import pytest
from PIL import Image

from reid_fast.atomic import atomic_path, atomic_write, save_image, write_text


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield 0o644
    os.umask(old)


def test_writes_with_the_mode_of_a_normal_write(tmp_path, umask_022):
    text = write_text(tmp_path / "a" / "b.txt", "one\ntwo\n")
    assert text.read_text() == "one\ntwo\n" and _mode(text) == umask_022
    binary = atomic_write(tmp_path / "c.bin", lambda f: f.write(b"\x00\x01"))
    assert binary.read_bytes() == b"\x00\x01" and _mode(binary) == umask_022
    with open(tmp_path / "plain.txt", "w") as f:
        f.write("x")
    assert _mode(tmp_path / "plain.txt") == _mode(text)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c.bin", "plain.txt"]


def test_an_error_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = write_text(tmp_path / "t.json", "old")

    def fail(f):
        f.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, fail, text=True)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.json"]
    with pytest.raises(KeyError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyError("stop")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_atomic_path_publishes_what_the_caller_wrote(tmp_path, umask_022):
    with atomic_path(tmp_path / "m.npy", sync=False) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".m.npy.")
        assert not (tmp_path / "m.npy").exists()
        tmp.write_bytes(b"data")
    assert (tmp_path / "m.npy").read_bytes() == b"data" and _mode(tmp_path / "m.npy") == umask_022


def test_save_image_by_extension(tmp_path):
    image = Image.new("RGB", (4, 3), (10, 200, 30))
    png = save_image(tmp_path / "x.png", image)
    with Image.open(png) as back:
        assert back.format == "PNG" and back.getpixel((0, 0)) == (10, 200, 30)
    jpg = save_image(tmp_path / "x.JPG", image, quality=95)
    with Image.open(jpg) as back:
        assert back.format == "JPEG"
    with pytest.raises(ValueError, match="path must end in an image extension"):
        save_image(tmp_path / "x.txt", image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.JPG", "x.png"]


def test_the_temporary_file_is_hidden_and_named_after_the_target(tmp_path):
    with atomic_path(tmp_path / "per_query.csv") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".per_query.csv.tmp-")


def test_orphans_of_killed_writers_go_on_the_next_write_live_ones_stay(tmp_path):
    """A killed writer leaves its hidden temporary file; the next write of the same file
    removes it, but not the one a live writer (holding its lock) is still filling."""
    import fcntl

    orphan = tmp_path / ".out.csv.tmp-dead1234"
    orphan.write_text("half")
    other = tmp_path / ".other.csv.tmp-dead1234"
    other.write_text("half")
    live = tmp_path / ".out.csv.tmp-live1234"
    live.write_text("being written")
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        write_text(tmp_path / "out.csv", "a,b\n")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [live.name, other.name, "out.csv"])
    write_text(tmp_path / "out.csv", "a,b\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([other.name, "out.csv"])


def test_an_unwritable_destination_is_a_value_error_naming_it(tmp_path, monkeypatch):
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = {folder: "it is a folder",
             a_file / "out.csv": "a part of its folder is a file",
             a_file / "deeper" / "out.csv": "a part of its folder is a file"}
    for path, why in cases.items():
        with pytest.raises(ValueError, match=f"cannot write {path}: {why}"):
            write_text(path, "x")

    def denied(*args, **kwargs):  # as for a folder without write permission (or as root)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", denied)
    with pytest.raises(ValueError, match=f"cannot write {tmp_path / 'x.png'}: permission denied"):
        save_image(tmp_path / "x.png", Image.new("RGB", (2, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "folder.npz"]
