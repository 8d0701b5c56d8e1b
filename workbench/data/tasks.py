"""Task specs: parse `DATASET[:CLASSES]` and turn class tokens into class indices.

A *task* is a dataset plus an ordered subset of its classes: `mnist-5k:0-4`,
`cifar10:cat,dog,horse`, `folder:/data/flowers:roses,tulips`. The chosen classes are relabelled
0..k-1 in the order given. Pure: nothing is loaded here.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from workbench.data.catalog import DATASETS, KNOWN_CLASS_NAMES
from workbench.errors import DataError


@dataclass(frozen=True)
class TaskSpec:
    """A parsed `DATASET[:CLASSES]` string; `class_tokens` is None when all classes are meant."""

    text: str
    dataset: str
    path: str | None
    class_tokens: tuple[str, ...] | None


def parse_task(text: str) -> TaskSpec:
    """Parse `DATASET[:CLASSES]` (for folders `folder:PATH[:CLASSES]`).

    Raises:
        DataError: for an unknown dataset or an empty class list.
    """
    text = str(text).strip()
    if text.startswith("folder:"):
        rest = text[len("folder:"):]
        path, classes = rest, None
        if not Path(rest).expanduser().is_dir() and ":" in rest:
            path, classes = rest.rsplit(":", 1)
        if not path:
            raise DataError(
                f"Task {text!r} names no folder. Write folder:PATH[:CLASSES], e.g. "
                "folder:../shared/data/cifar10-mini:cat,dog."
            )
        return TaskSpec(text, "folder", path, _split_class_tokens(text, classes))
    dataset, _, classes = text.partition(":")
    if dataset not in DATASETS or dataset == "folder":
        raise DataError(
            f"Unknown dataset {dataset!r} in task {text!r}. Known datasets: "
            f"{', '.join(d for d in DATASETS if d != 'folder')}, and folder:PATH for a folder of "
            "class sub-folders. mnist-5k and digits work offline."
        )
    return TaskSpec(text, dataset, None, _split_class_tokens(text, classes if _ else None))


def _split_class_tokens(text: str, classes: str | None) -> tuple[str, ...] | None:
    if classes is None:
        return None
    tokens = tuple(token.strip() for token in classes.split(",") if token.strip())
    if not tokens:
        raise DataError(
            f"Task {text!r} has an empty class list after ':'. Name classes (e.g. :0-4 or :cat,dog), "
            "or drop the ':' to use every class."
        )
    return tokens


def resolve_classes(tokens: tuple[str, ...] | None, class_names: tuple[str, ...], task: str) -> list[int]:
    """Turn class tokens (names, indices, ranges such as `0-4`) into class indices, in order.

    Raises:
        DataError: for an unknown name, an index out of range, a reversed range or a repeated class.
    """
    if tokens is None:
        return list(range(len(class_names)))
    indices: list[int] = []
    for token in tokens:
        if token in class_names:
            indices.append(class_names.index(token))
            continue
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", token)
        if not match:
            close = difflib.get_close_matches(token, class_names, n=3)
            suggestion = f" Did you mean {' or '.join(close)}?" if close else ""
            raise DataError(
                f"Class {token!r} in task {task!r} is not a class of this dataset.{suggestion} Known classes: "
                f"{shorten(class_names)}. Use names, indices (0..{len(class_names) - 1}) or ranges like 0-4."
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if max(first, last) >= len(class_names):
            raise DataError(
                f"Class index {token!r} in task {task!r} is out of range: this dataset has "
                f"{len(class_names)} classes, indices 0..{len(class_names) - 1}. Pick indices in that range."
            )
        if last < first:
            raise DataError(
                f"Class range {token!r} in task {task!r} is reversed: a range runs from the lower index to the "
                f"higher one. Write {last}-{first} (or list the classes one by one, e.g. "
                f"{','.join(str(index) for index in range(first, last - 1, -1))}, to choose their order)."
            )
        indices.extend(range(first, last + 1))
    repeated = sorted({class_names[i] for i in indices if indices.count(i) > 1})
    if repeated:
        raise DataError(
            f"Task {task!r} names class(es) {', '.join(repeated)} more than once. List each class once."
        )
    return indices


def check_known_classes(spec: TaskSpec) -> list[int] | None:
    """Resolve a task's classes against the dataset's known class names, without loading it.

    Returns:
        The class indices, or None for a dataset whose classes are known only once it is read
        (a folder).

    Raises:
        DataError: as `resolve_classes`, before anything is downloaded.
    """
    known = KNOWN_CLASS_NAMES.get(spec.dataset)
    return None if known is None else resolve_classes(spec.class_tokens, known, spec.text)


def shorten(names: tuple[str, ...] | list[str], limit: int = 12) -> str:
    """At most `limit` names, comma-joined, with the total when some are left out."""
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")
