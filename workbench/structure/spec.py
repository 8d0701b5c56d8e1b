"""The structure-edit spec: parse and print the small language every front end shares (pure, no TensorFlow).

One edit per item; items are separated by ";" (`--edit` may also be repeated, `-p edits` takes one
string, the API a string or a list). The canonical text lists the edits in the order they are
applied: input, cut, widen, deepen, add (in the order given), hidden.

| form                  | what it does                                                                  |
|-----------------------|-------------------------------------------------------------------------------|
| `cut BLOCK`           | keep the source's blocks up to and including BLOCK (below the head)            |
| `add dense N`         | append Dense(N, relu) below the head                                           |
| `add dropout R`       | append Dropout(R), 0 < R < 1                                                   |
| `add conv N`          | append a 3x3 Conv2D(N, relu, padding same) while the top is a feature map      |
| `hidden N`            | the width of the dense layer directly below the head                          |
| `input HxWxC`         | a new input shape, where the (cut) network can take it                         |
| `widen BLOCK to N`    | Net2WiderNet on a conv or dense block of the seed CNN (function-preserving)    |
| `deepen after BLOCK`  | Net2DeeperNet: an identity-initialised conv or dense layer after BLOCK         |
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from workbench.errors import ConfigError

EDIT_FORMS = ("cut BLOCK; add dense N; add dropout R (0<R<1); add conv N; hidden N; input HxWxC; "
              "widen BLOCK to N; deepen after BLOCK")
EDIT_EXAMPLE = "cut conv2; add dense 128; add dropout 0.5"
ADD_LAYERS = ("dense", "dropout", "conv")
# The order edits are applied in, which is also the order of the canonical text.
APPLY_ORDER = ("input", "cut", "widen", "deepen", "add", "hidden")
SINGLE_KINDS = ("input", "cut", "hidden")
MAX_WIDTH = 65_536

_NAME = r"([A-Za-z][A-Za-z0-9_]*)"
_PATTERNS = (
    ("cut", re.compile(rf"cut\s+{_NAME}")),
    ("add", re.compile(r"add\s+(dense|dropout|conv)\s+(\S+)")),
    ("hidden", re.compile(r"hidden\s+(\S+)")),
    ("input", re.compile(r"input\s+(\S+)")),
    ("widen", re.compile(rf"widen\s+{_NAME}\s+to\s+(\S+)")),
    ("deepen", re.compile(rf"deepen\s+after\s+{_NAME}")),
)


@dataclass(frozen=True)
class Edit:
    """One structure edit.

    Args:
        kind: "cut", "add", "hidden", "input", "widen" or "deepen".
        block: the block it names (cut, widen, deepen).
        layer: what `add` appends: "dense", "dropout" or "conv".
        size: units or filters (add dense/conv, hidden, widen).
        rate: the dropout rate (add dropout).
        shape: (height, width, channels) (input).
    """

    kind: str
    block: str | None = None
    layer: str | None = None
    size: int | None = None
    rate: float | None = None
    shape: tuple[int, int, int] | None = None

    def text(self) -> str:
        """The edit in its canonical form, e.g. "widen conv2 to 96"."""
        if self.kind == "cut":
            return f"cut {self.block}"
        if self.kind == "add":
            return f"add {self.layer} {self.rate if self.layer == 'dropout' else self.size}"
        if self.kind == "hidden":
            return f"hidden {self.size}"
        if self.kind == "input":
            return "input " + "x".join(str(side) for side in self.shape or ())
        if self.kind == "widen":
            return f"widen {self.block} to {self.size}"
        return f"deepen after {self.block}"


def parse_edits(text: str | Sequence[str] | None) -> tuple[Edit, ...]:
    """Parse structure edits into their applied order.

    Args:
        text: "cut conv2; add dense 128", a list of such items, or None / "" for no edits.

    Returns:
        The edits, in the order they are applied (see `APPLY_ORDER`); adds keep the order given.

    Raises:
        ConfigError: an item that is not one of `EDIT_FORMS`, a bad number, or an edit given twice.
    """
    edits = [_parse_item(item) for item in _split_items(text)]
    for kind in SINGLE_KINDS:
        repeated = [edit.text() for edit in edits if edit.kind == kind]
        if len(repeated) > 1:
            raise ConfigError(f"edits hold {len(repeated)} '{kind}' items ({'; '.join(repeated)}); a spec takes "
                              f"at most one. Keep one of them, e.g. --edit \"{repeated[-1]}\".")
    for kind in ("widen", "deepen"):
        blocks = [edit.block for edit in edits if edit.kind == kind]
        twice = sorted({block for block in blocks if blocks.count(block) > 1})
        if twice:
            raise ConfigError(f"edits '{kind}' block {twice[0]} more than once; each block takes one '{kind}'. "
                              f"Keep one of them, e.g. --edit \"{kind} {'after ' if kind == 'deepen' else ''}{twice[0]}"
                              f"{' to N' if kind == 'widen' else ''}\".")
    return tuple(sorted(edits, key=lambda edit: APPLY_ORDER.index(edit.kind)))


def format_edits(edits: Sequence[Edit]) -> str:
    """The canonical text of parsed edits, joined by "; " ("" for none)."""
    return "; ".join(edit.text() for edit in edits)


def _split_items(text: str | Sequence[str] | None) -> list[str]:
    if text is None or text is False:
        return []
    if isinstance(text, str):
        pieces = [text]
    elif isinstance(text, Sequence):
        pieces = [str(item) for item in text]
    else:
        raise ConfigError(f"edits={text!r} is not text. Pass edits as text, e.g. edits=\"{EDIT_EXAMPLE}\".")
    return [" ".join(item.split()) for piece in pieces for item in piece.split(";") if item.strip()]


def _parse_item(item: str) -> Edit:
    lowered = item.lower()
    for kind, pattern in _PATTERNS:
        match = pattern.fullmatch(lowered)
        if match:
            return _edit_from_match(kind, match.groups(), item)
    raise _bad(item, "is not a known edit")


def _edit_from_match(kind: str, groups: tuple[str, ...], item: str) -> Edit:
    if kind == "cut":
        return Edit("cut", block=groups[0])
    if kind == "deepen":
        return Edit("deepen", block=groups[0])
    if kind == "widen":
        return Edit("widen", block=groups[0], size=_width(groups[1], item))
    if kind == "hidden":
        return Edit("hidden", size=_width(groups[0], item))
    if kind == "input":
        return Edit("input", shape=_shape(groups[0], item))
    layer, value = groups
    if layer == "dropout":
        return Edit("add", layer="dropout", rate=_rate(value, item))
    return Edit("add", layer=layer, size=_width(value, item))


def _width(value: str, item: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_WIDTH:
        raise _bad(item, f"needs a whole number of units from 1 to {MAX_WIDTH}, not {value!r}")
    return int(value)


def _rate(value: str, item: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        rate = -1.0
    if not 0.0 < rate < 1.0:
        raise _bad(item, f"needs a dropout rate between 0 and 1 (exclusive), not {value!r}")
    return rate


def _shape(value: str, item: str) -> tuple[int, int, int]:
    parts = value.split("x")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise _bad(item, f"needs HEIGHTxWIDTHxCHANNELS such as 28x28x1, not {value!r}")
    height, width, channels = (int(part) for part in parts)
    if min(height, width) < 8 or channels not in (1, 3):
        raise _bad(item, f"needs sides of at least 8 and 1 or 3 channels, not {value!r}")
    return height, width, channels


def _bad(item: str, problem: str) -> ConfigError:
    return ConfigError(f"Structure edit {item!r} {problem}. Allowed forms, separated by ';': {EDIT_FORMS}. "
                       f"Pass e.g. --edit \"{EDIT_EXAMPLE}\" (or -p edits \"{EDIT_EXAMPLE}\").")
