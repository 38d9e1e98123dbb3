"""Known public datasets: fetch (or copy from an offline path), verify sha256, convert.

``fetch_dataset("cora")`` downloads the raw files into a cache when there is network; with
``from_path`` it copies them from a local copy instead (a folder holding the files, searched
recursively). Every file is checked against the sha256 recorded here before anything is
converted, so a corrupt or foreign copy is rejected with the file name and both hashes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dsgraph.errors import DatasetError
from dsgraph.storage.atomic import atomic_dir

CACHE_DIR = Path(os.environ.get("DSGRAPH_CACHE", Path.home() / ".cache" / "dsgraph"))

_PLANETOID_URL = "https://github.com/kimiyoung/planetoid/raw/master/data/"
_ML100K_ZIP = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"


@dataclass(frozen=True)
class KnownDataset:
    """Raw files (name → sha256), where to download them, and how to convert them."""

    name: str
    files: dict[str, str]
    convert: Callable[[Path, Path], Path]
    url_base: str | None = None  # files downloaded one by one as url_base + file name
    zip_url: str | None = None  # or all from one zip archive
    terms: str = ""


def _convert_cora(raw: Path, out: Path) -> Path:
    from dsgraph.storage.converters.planetoid import convert_planetoid

    return convert_planetoid(raw, "cora", out)


def _convert_ml100k(raw: Path, out: Path) -> Path:
    from dsgraph.storage.converters.movielens import convert_movielens

    return convert_movielens(raw, out, split="u1")


KNOWN_DATASETS: dict[str, KnownDataset] = {
    "cora": KnownDataset(
        name="cora",
        files={
            "ind.cora.allx": "9419ba2f26f5c35243db64aba110e0f35a04851609e0dc5433450676ca6b8543",
            "ind.cora.ally": "2b998f5cc7fedc86e7f97ca2498f47a1ffc1462c29e2d578b23bf3f62b6e7d71",
            "ind.cora.graph": "58f13302f39dde8852dad6fe6d15b89b077b6d7f837626bce671ef80344b383d",
            "ind.cora.test.index": (
                "297ce89af2b51a6a194181c7dbe1796c6a1cf9cd9349a88383b1b1e227867875"
            ),
            "ind.cora.tx": "b9afbaa4a400df991f6f02ef677e1e44da55ffc04801fd02f9e673987829226a",
            "ind.cora.ty": "41f5ac76596a1699cc33f53084a2419e92961c42bb75f36fc38e616d348532ad",
            "ind.cora.x": "23cfa55d91c6f624233f5eb7b6e3f141f1bd2b2ae39608a63cf5d084bb27baab",
            "ind.cora.y": "94465c14eb53e04ca262198dcbb2521ee8af60fb3f3d546cd6ca24a511b0e7d1",
        },
        convert=_convert_cora,
        url_base=_PLANETOID_URL,
        terms="MIT (kimiyoung/planetoid); cite Yang et al., ICML 2016.",
    ),
    "movielens-100k": KnownDataset(
        name="movielens-100k",
        files={
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
            "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
        },
        convert=_convert_ml100k,
        zip_url=_ML100K_ZIP,
        terms="GroupLens research licence: no redistribution, no commercial use; cite Harper & "
        "Konstan 2015.",
    ),
}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lookup(name: str) -> KnownDataset:
    known = KNOWN_DATASETS.get(name.lower())
    if known is None:
        raise DatasetError(f"unknown dataset {name!r}; known: {sorted(KNOWN_DATASETS)}")
    return known


def _find_files(known: KnownDataset, root: Path) -> dict[str, Path]:
    if not root.exists():
        raise DatasetError(f"{root}: no such file or directory to fetch '{known.name}' from")
    found: dict[str, Path] = {}
    if root.is_file() and zipfile.is_zipfile(root):
        raise DatasetError(f"{root}: unpack the archive and pass the folder instead")
    for file_name in known.files:
        hits = sorted(root.rglob(file_name)) if root.is_dir() else []
        if not hits:
            raise DatasetError(f"{root}: file '{file_name}' of dataset '{known.name}' not found")
        found[file_name] = hits[0]
    return found


def _verify(known: KnownDataset, files: dict[str, Path]) -> None:
    for file_name, path in files.items():
        got = sha256_file(path)
        if got != known.files[file_name]:
            raise DatasetError(
                f"{path}: sha256 {got} does not match the expected {known.files[file_name]} "
                f"for '{file_name}' of dataset '{known.name}' (corrupt or different copy)"
            )


def _download(known: KnownDataset, into: Path) -> Path:
    try:
        if known.zip_url:
            archive = into / "download.zip"
            urllib.request.urlretrieve(known.zip_url, archive)
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(into)
            archive.unlink()
        else:
            for file_name in known.files:
                urllib.request.urlretrieve(f"{known.url_base}{file_name}", into / file_name)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DatasetError(
            f"could not download '{known.name}' ({exc}); without network pass --from PATH "
            f"with a local copy of {sorted(known.files)}"
        ) from None
    return into


def fetch_dataset(
    name: str,
    *,
    from_path: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Path:
    """Return the converted dataset directory of ``name``, fetching and converting if needed.

    Layout: ``<cache>/<name>/raw/`` (verified raw files) and ``<cache>/<name>/dataset/``.
    """
    known = _lookup(name)
    base = Path(cache_dir or CACHE_DIR) / known.name
    raw_dir, out_dir = base / "raw", base / "dataset"
    if (out_dir / "meta.json").is_file() and not force:
        return out_dir
    with tempfile.TemporaryDirectory(prefix=f"dsgraph-fetch-{known.name}-") as tmp:
        source = Path(from_path) if from_path is not None else _download(known, Path(tmp))
        files = _find_files(known, source)
        _verify(known, files)
        with atomic_dir(raw_dir) as staged:
            for file_name, path in files.items():
                shutil.copyfile(path, staged / file_name)
    return known.convert(raw_dir, out_dir)
