"""Decoded image folders kept on disk, so a folder of JPEGs is decoded once, not at every run.

Decoding 60,000 CIFAR-sized JPEGs takes seconds on every run (and a new process for every run of a
parallel study); reading back the uint8 arrays takes a fraction of a second. A folder's decoded
arrays are stored as plain `.npy` files in one folder per image folder, keyed by its *fingerprint*: every file
under its class folders with its relative path, size and modification time. Changing, adding,
removing or renaming a file changes the fingerprint, so the folder is decoded again; the stale
entry of that folder is then removed.

Where: `$WORKBENCH_CACHE_DIR/decoded-images/`, by default `$XDG_CACHE_HOME/workbench` (usually
`~/.cache/workbench`). `WORKBENCH_CACHE_DIR=off` turns the cache off. A cache that cannot be
written is skipped (the run goes on, decoding as before); a cache entry that cannot be read is
decoded again. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.data.catalog import Dataset

CACHE_ENVIRONMENT_VARIABLE = "WORKBENCH_CACHE_DIR"
CACHE_OFF = "off"
CACHE_SUBFOLDER = "decoded-images"
# Part of every fingerprint: a change to how folders are decoded must not reuse arrays decoded the old way.
DECODER_VERSION = "tf-decode-image-bilinear-round-v1"
ARRAY_NAMES = ("train_images", "train_labels", "test_images", "test_labels")
META_FILE = "meta.json"


def cache_folder() -> Path | None:
    """Where decoded folders are kept: `$WORKBENCH_CACHE_DIR/decoded-images`, or under
    `$XDG_CACHE_HOME/workbench` (default `~/.cache/workbench`); None when `WORKBENCH_CACHE_DIR=off`."""
    chosen = os.environ.get(CACHE_ENVIRONMENT_VARIABLE, "").strip()
    if chosen.lower() == CACHE_OFF:
        return None
    if chosen:
        return Path(chosen).expanduser() / CACHE_SUBFOLDER
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base).expanduser() / "workbench" / CACHE_SUBFOLDER


def folder_fingerprint(root: Path, split_roots: Sequence[Path], class_names: Sequence[str]) -> str:
    """A hash of every file under the class folders: relative path, size and modification time.

    Reads no image, only the directory entries, so it costs well under a second for 60,000 files.

    Args:
        root: the folder the paths are taken relative to.
        split_roots: the folders holding one sub-folder per class (the folder itself, or train/ and test/).
        class_names: the class sub-folders, in label order.
    """
    digest = hashlib.sha256(f"{DECODER_VERSION}\n{json.dumps(list(class_names))}\n".encode())
    prefix = len(str(root)) + 1
    for split_root in split_roots:
        for class_name in class_names:
            entries = _file_entries(str(split_root / class_name))
            lines = [f"{path[prefix:]}\t{size}\t{mtime}" for path, size, mtime in entries]
            digest.update(("\n".join(sorted(lines)) + "\n").encode())
    return digest.hexdigest()


def _file_entries(folder: str) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every file below `folder` (os.scandir: one stat per file, no Path objects)."""
    entries: list[tuple[str, int, int]] = []
    pending = [folder]
    while pending:
        try:
            with os.scandir(pending.pop()) as scanned:
                for entry in scanned:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    else:
                        status = entry.stat()
                        entries.append((entry.path, status.st_size, status.st_mtime_ns))
        except FileNotFoundError:  # a class folder missing from test/: the folder check names it
            continue
    return entries


def cache_path(root: Path, fingerprint: str) -> Path | None:
    """The cache entry (a folder of `.npy` files) for `root` at this fingerprint; None when the cache is off.

    The name starts with a hash of the folder's absolute path, so each folder keeps one entry.
    """
    folder = cache_folder()
    if folder is None:
        return None
    return folder / f"{_folder_key(root)}-{fingerprint[:24]}"


def read_cached(path: Path | None, name: str) -> Dataset | None:
    """The `Dataset` stored at `path`, named `name`; None when there is none or it cannot be read."""
    if path is None or not (path / META_FILE).is_file():
        return None
    try:
        meta = json.loads((path / META_FILE).read_text())
        # Plain .npy files, read whole: a zip (.npz) would cost one more copy of 180 MB at full size.
        arrays = {key: np.load(path / f"{key}.npy", allow_pickle=False) for key in ARRAY_NAMES}
    except (OSError, ValueError, KeyError, EOFError):  # a damaged entry: decode again (and replace it)
        return None
    return Dataset(name, tuple(meta["class_names"]), arrays["train_images"], arrays["train_labels"],
                   arrays["test_images"], arrays["test_labels"], notes=tuple(meta["notes"]))


def write_cached(path: Path | None, dataset: Dataset) -> bool:
    """Store `dataset` at `path` atomically and remove the folder's older entries; False where it cannot.

    A cache that cannot be written (read-only home, full disk) only costs the next run a decode.
    """
    if path is None:
        return False
    temporary: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written in a temporary folder beside it, then renamed: a reader in another process (a
        # parallel study's worker) sees the whole entry or none. An entry already there is one that
        # could not be read (or another process's equal one): it is replaced.
        temporary = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        for key in ARRAY_NAMES:
            np.save(temporary / f"{key}.npy", getattr(dataset, key), allow_pickle=False)
        (temporary / META_FILE).write_text(json.dumps({"class_names": list(dataset.class_names),
                                                       "notes": list(dataset.notes)}))
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        os.replace(temporary, path)
    except OSError:
        return False
    finally:
        if temporary is not None and temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
    key = path.name.split("-")[0]
    for stale in path.parent.glob(f"{key}-*"):
        if stale != path and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    return True


def _folder_key(root: Path) -> str:
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
