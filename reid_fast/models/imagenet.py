"""Published ImageNet weights of the built-in backbones: where they are, their SHA-256,
and :func:`fetch_imagenet_weights`, which downloads one into a cache and checks it.

``--pretrained imagenet`` (``load_pretrained(model, "imagenet")``) ends here; a machine
without network access passes the file itself (``--pretrained /path/to/file.pth``).
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

from ..atomic import atomic_path


@dataclass(frozen=True)
class ImagenetWeights:
    """One published checkpoint: ``url`` and, when known, its full ``sha256``; without it
    the download is checked against the hexadecimal prefix in the file name
    (``resnet50-0676ba61.pth``: the torch.hub convention, the first 8 hex digits of the
    SHA-256)."""

    url: str
    sha256: str | None = None


_TV = "https://download.pytorch.org/models/"

IMAGENET_WEIGHTS: dict[str, ImagenetWeights] = {
    # torchvision IMAGENET1K_V1 (the classic recipe). Full SHA-256 of resnet18 as recorded
    # by TorchSharp's examples and nixpkgs; resnet50 from a nix fetchurl pin (nix base32
    # 12pv4bkq...lxh6 decoded); both begin with their URL's prefix. The others: prefix only.
    "resnet18": ImagenetWeights(
        _TV + "resnet18-f37072fd.pth",
        "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"),
    "resnet34": ImagenetWeights(_TV + "resnet34-b627a593.pth"),
    "resnet50": ImagenetWeights(
        _TV + "resnet50-0676ba61.pth",
        "0676ba61b6795bbe1773cffd859882e5e297624d384b6993f7c9e683e722fb8a"),
    "resnet101": ImagenetWeights(_TV + "resnet101-63fe2227.pth"),
    "densenet121": ImagenetWeights(_TV + "densenet121-a639ec97.pth"),
    "resnext101_32x8d": ImagenetWeights(_TV + "resnext101_32x8d-8ba56ff5.pth"),
    "resnext101_64x4d": ImagenetWeights(_TV + "resnext101_64x4d-173b62eb.pth"),
    # Weakly supervised (Instagram) ResNeXt, fine-tuned on ImageNet (facebookresearch/
    # WSL-Images hubconf; CC-BY-NC 4.0). Prefix only.
    "resnext101_32x16d": ImagenetWeights(_TV + "ig_resnext101_32x16-c6f796b0.pth"),
    # torchvision EfficientNet_B4_Weights.IMAGENET1K_V1 (ported from timm); full SHA-256
    # from nixpkgs' imagededup package (its fetchurl hash, base64 decoded).
    "efficientnet_b4": ImagenetWeights(
        _TV + "efficientnet_b4_rwightman-23ab8bcd.pth",
        "23ab8bcd5bdbef61a7a43b91adcad81f622fd7f36fb4935a569828d77888c44e"),
    # Cadene's pretrainedmodels; Gao's Res2Net-PretrainedModels. Their file names follow
    # the torch.hub convention, but that the prefix is a SHA-256 one is not confirmed: a
    # mismatch error names both digests.
    "se_resnext101_32x4d": ImagenetWeights(
        "http://data.lip6.fr/cadene/pretrainedmodels/se_resnext101_32x4d-3b2fe3d8.pth"),
    "res2net101_26w_4s": ImagenetWeights(
        "https://shanghuagao.oss-cn-beijing.aliyuncs.com/res2net/res2net101_26w_4s-02a759a1.pth"),
}
"""Backbone name -> its published ImageNet checkpoint (:class:`ImagenetWeights`)."""

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")
_CHUNK = 1 << 20
_TIMEOUT_S = 30.0


def default_cache_dir() -> Path:
    """``$REID_FAST_CACHE/weights``, or ``~/.cache/reid_fast/weights`` when the variable
    is unset or empty."""
    root = os.environ.get("REID_FAST_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "reid_fast") / "weights"


def _file_name(url: str) -> str:
    name = os.path.basename(urlparse(url).path)
    if not name:
        raise ValueError(f"url must end in a file name, got {url!r}")
    return name


def _expected_hash(url: str, sha256: str | None) -> str:
    """The full SHA-256 when given, else the hex prefix in the URL's file name."""
    if sha256 is not None:
        if not isinstance(sha256, str):
            raise TypeError(f"sha256 must be a string, got {type(sha256).__name__} {sha256!r}")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
        return sha256.lower()
    match = _HASH_IN_NAME.search(_file_name(url))
    if match is None:
        raise ValueError(f"{url!r} has no hash in its file name (NAME-<hex>.pth): pass its "
                         "sha256")
    return match.group(1)


def _check_hash(digest: str, expected: str, what: str) -> None:
    if not digest.startswith(expected):
        kind = "SHA-256" if len(expected) == 64 else "SHA-256 prefix"
        raise ValueError(f"{what} has SHA-256 {digest}, expected {kind} {expected}: a "
                         "corrupt or different file")


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _offline(arch: str, url: str, reason: object, target: Path) -> ConnectionError:
    return ConnectionError(
        f"cannot download the ImageNet weights of {arch} from {url} ({reason}): this machine "
        "looks offline or the server is unreachable. Download the file on a machine with "
        f"network access and pass it as --pretrained /path/to/{target.name} "
        f"(pretrained=path in Python), or copy it to {target}"
    )


def fetch_imagenet_weights(arch: str, cache_dir: str | os.PathLike[str] | None = None,
                           url: str | None = None, sha256: str | None = None, *,
                           progress: bool = True) -> Path:
    """The local path of ``arch``'s ImageNet checkpoint, downloaded into the cache first
    when it is not there.

    Args:
        arch: a backbone name in :data:`IMAGENET_WEIGHTS` (any name with ``url``; then
            only used in messages).
        cache_dir: folder of the downloads (default :func:`default_cache_dir`); the file
            keeps the URL's name.
        url: download from here instead of the table (``file://`` URLs work too).
        sha256: the file's full SHA-256 (64 hex digits). Default: the table's for
            ``arch`` when it records one, else the hex prefix in the URL's file name.
        progress: a tqdm progress bar (on stderr) while downloading.

    The file is streamed to a temporary name next to its destination, hashed on the way
    and renamed into place only when the hash matches (:func:`reid_fast.atomic.atomic_path`),
    so the cache never holds a partial or wrong file. A file already in the cache is
    hashed again and returned. Load it with :func:`~reid_fast.models.load_pretrained`,
    which renames the keys of these releases (Cadene's ``layer0``, legacy DenseNet).

    Raises:
        ValueError: ``arch`` has no published weights (the message lists those that
            have) and no ``url`` is given; a malformed ``sha256``; a URL without a hash
            in its name and no ``sha256``; a downloaded or cached file with another hash
            (the message names both).
        ConnectionError: the download failed (no network, refused connection, HTTP
            error); the message says how to pass a local file instead.
    """
    if url is None:
        if arch not in IMAGENET_WEIGHTS:
            raise ValueError(f"arch {arch!r} has no published ImageNet weights here; those "
                             f"with weights: {', '.join(IMAGENET_WEIGHTS)} (or pass url=)")
        entry = IMAGENET_WEIGHTS[arch]
        url, sha256 = entry.url, sha256 or entry.sha256
    expected = _expected_hash(url, sha256)
    target = Path(cache_dir if cache_dir is not None else default_cache_dir()) / _file_name(url)
    if target.is_file():
        _check_hash(_sha256_of(target), expected, f"the cached {target}")
        return target
    try:
        response = urllib.request.urlopen(url, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as err:
        raise _offline(arch, url, f"HTTP {err.code} {err.reason}", target) from err
    except (urllib.error.URLError, OSError) as err:
        raise _offline(arch, url, getattr(err, "reason", err), target) from err
    with response, atomic_path(target) as tmp:
        digest = hashlib.sha256()
        size = response.headers.get("Content-Length")
        with open(tmp, "wb") as f, tqdm(total=int(size) if size else None, unit="B",
                                        unit_scale=True, desc=target.name,
                                        disable=not progress) as bar:
            try:
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            except OSError as err:
                raise _offline(arch, url, err, target) from err
        _check_hash(digest.hexdigest(), expected, f"the download of {url}")
    return target
