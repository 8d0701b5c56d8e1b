"""Structure transfer: carry a source architecture over and adapt it to the target.

A small spec of edits (`spec`: cut at a block, append dense/dropout/conv blocks, set the hidden
width, change the input; Net2Net's widen and deepen) is applied to the source's blocks
(`builder`), and the source's weights are carried into the edited network where they still fit,
with Net2Net's function-preserving weights for grown layers (`net2net`, `carry`). Front ends reach
it through `RunConfig.edits` and `workbench.transfer_modes.transfer_model(edits=...)`. `spec` is
pure (no TensorFlow) and is what `workbench.structure` imports eagerly.
"""

from __future__ import annotations

from workbench.structure.spec import EDIT_FORMS, Edit, format_edits, parse_edits

__all__ = ["EDIT_FORMS", "Edit", "format_edits", "parse_edits"]
