"""Tests of the published ImageNet weights table and fetch_imagenet_weights, with local
``file://`` URLs only (a small state dict written to tmp_path, its SHA-256 computed here)
and a refused local connection standing in for a machine without network access."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import torch

from reid_fast.models import (
    ARCHS,
    IMAGENET_WEIGHTS,
    ImagenetWeights,
    build_model,
    fetch_imagenet_weights,
    load_pretrained,
    resnet_small,
)
from reid_fast.models.imagenet import default_cache_dir

SMALL = dict(widths=(8, 16, 16, 32))


def test_table_entries_are_consistent():
    assert set(IMAGENET_WEIGHTS) <= set(ARCHS)
    for arch, entry in IMAGENET_WEIGHTS.items():
        prefix = re.search(r"-([0-9a-f]{8})\.pth$", entry.url)
        assert prefix is not None, arch
        if entry.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", entry.sha256), arch
            assert entry.sha256.startswith(prefix.group(1)), arch
    # The three full digests recorded (the rest are the file names' prefixes).
    assert sorted(a for a, e in IMAGENET_WEIGHTS.items() if e.sha256) == [
        "efficientnet_b4", "resnet18", "resnet50"]


def saved_weights(tmp_path: Path, name: str = "tiny.pth") -> tuple[Path, str, dict]:
    """A small ResNet's random state dict (plus a torchvision fc) saved to
    ``tmp_path/src/name``; its path, SHA-256 and state."""
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.rand(v.shape, generator=gen) if v.is_floating_point() else v
             for k, v in resnet_small(**SMALL).state_dict().items()}
    path = tmp_path / "src" / name
    path.parent.mkdir()
    torch.save(dict(state, **{"fc.weight": torch.rand(1000, 32), "fc.bias": torch.rand(1000)}),
               path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest(), state


def test_fetch_from_file_url_with_full_hash(tmp_path):
    source, digest, state = saved_weights(tmp_path)
    cache = tmp_path / "cache"
    got = fetch_imagenet_weights("resnet_small", cache, url=source.as_uri(), sha256=digest,
                                 progress=False)
    assert got == cache / "tiny.pth" and got.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.pth"]  # no temporary left
    backbone = resnet_small(**SMALL)
    assert load_pretrained(backbone, got) == ([], [])
    assert all(torch.equal(backbone.state_dict()[k], v) for k, v in state.items())
    # Cached: found again (and re-hashed) without reading the URL.
    source.unlink()
    assert fetch_imagenet_weights("resnet_small", cache, url=source.as_uri(), sha256=digest,
                                  progress=False) == got


def test_fetch_checks_the_prefix_in_the_file_name(tmp_path):
    source, digest, _ = saved_weights(tmp_path)
    named = source.with_name(f"tiny-{digest[:8]}.pth")
    source.rename(named)
    got = fetch_imagenet_weights("resnet_small", tmp_path / "cache", url=named.as_uri())
    assert got.name == named.name and got.read_bytes() == named.read_bytes()

    wrong = named.with_name("tiny-00000000.pth")
    named.rename(wrong)
    with pytest.raises(ValueError, match=f"SHA-256 {digest}, expected SHA-256 prefix 00000000"):
        fetch_imagenet_weights("resnet_small", tmp_path / "cache", url=wrong.as_uri())
    assert not (tmp_path / "cache" / wrong.name).exists()


def test_wrong_hash_names_both_and_leaves_no_file(tmp_path):
    source, digest, _ = saved_weights(tmp_path)
    cache = tmp_path / "cache"
    wrong = "ab" * 32
    with pytest.raises(ValueError, match=f"has SHA-256 {digest}, expected SHA-256 {wrong}"):
        fetch_imagenet_weights("resnet_small", cache, url=source.as_uri(), sha256=wrong,
                               progress=False)
    assert list(cache.iterdir()) == []


def test_a_cached_file_with_another_hash_is_refused_and_kept(tmp_path):
    source, digest, _ = saved_weights(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "tiny.pth").write_bytes(b"not the weights")
    with pytest.raises(ValueError, match=f"the cached .*tiny.pth has SHA-256 "
                                         f"{hashlib.sha256(b'not the weights').hexdigest()}"):
        fetch_imagenet_weights("resnet_small", cache, url=source.as_uri(), sha256=digest)
    assert (cache / "tiny.pth").read_bytes() == b"not the weights"


def test_unreachable_server_says_offline_and_how_to_pass_a_file(tmp_path):
    # Port 9 (discard) on the loopback interface: nothing listens, the connection is
    # refused at once, as on a machine without network access.
    with pytest.raises(ConnectionError, match=r"looks offline.*--pretrained /path/to/x\.pth"):
        fetch_imagenet_weights("resnet50", tmp_path, url="http://127.0.0.1:9/x.pth",
                               sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_arch_without_weights_lists_those_with(tmp_path):
    with pytest.raises(ValueError, match=r"'resnet_small' has no published ImageNet weights.*"
                                         r"resnet50.*efficientnet_b4"):
        fetch_imagenet_weights("resnet_small", tmp_path)


def test_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="sha256 must be 64 hexadecimal digits"):
        fetch_imagenet_weights("resnet50", tmp_path, sha256="0676ba61")
    with pytest.raises(TypeError, match="sha256 must be a string"):
        fetch_imagenet_weights("resnet50", tmp_path, sha256=123)
    with pytest.raises(ValueError, match="no hash in its file name"):
        fetch_imagenet_weights("resnet50", tmp_path, url="file:///weights.pth")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("REID_FAST_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path / "weights"
    monkeypatch.delenv("REID_FAST_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "reid_fast" / "weights"


def test_pretrained_imagenet_downloads_into_the_cache(monkeypatch, tmp_path):
    source, digest, state = saved_weights(tmp_path)
    monkeypatch.setenv("REID_FAST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(IMAGENET_WEIGHTS, "resnet_small",
                        ImagenetWeights(source.as_uri(), digest))
    model = build_model("resnet_small", 3, pretrained="imagenet", **SMALL)
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in state.items())
    assert (tmp_path / "cache" / "weights" / "tiny.pth").is_file()
    assert "pretrained" not in model.config

    bare = resnet_small(**SMALL)
    assert load_pretrained(bare, "imagenet", arch="resnet_small") == ([], [])
    with pytest.raises(ValueError, match="needs arch="):
        load_pretrained(resnet_small(**SMALL), "imagenet")
