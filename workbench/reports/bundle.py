"""A report set as one zip to share: the index, every report, its executed notebook and metrics.json.

`workbench report --bundle FILE.zip` packs what `index.json` lists and nothing else: no runs, no
models, no kernel logs. Each report page embeds its own copy of plotly.js (about 4.6 MB); in the
bundle that copy is written once, as `plotly.min.js` beside `index.html`, and every page loads it
from there, so the bundle holds plotly.js once, and the pages still open offline after unzipping.
Everything sits in one folder named after the zip (`reports.zip` unzips to `reports/`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from workbench.errors import ReportError
from workbench.reports.plan import INDEX_JSON_FILE

INDEX_HTML_FILE = "index.html"
PLOTLY_FILE = "plotly.min.js"
# The page's inline plotly.js: a <script> whose text starts with the bundle's licence banner.
INLINE_PLOTLY = re.compile(r"<script type=\"text/javascript\">\s*(/\*\*?\s*\*\s*plotly\.js v[\s\S]*?)</script>")
# What a shared report never needs: trained models, checkpoints, run folders.
NEVER_BUNDLED = re.compile(r"(^|/)runs/|\.(keras|h5|npz|ckpt)$")


@dataclass
class Bundle:
    """What `write_bundle` wrote.

    Args:
        path: the zip file.
        files: the paths inside it, in order.
        size: its size in bytes.
        plotly_copies: how many inline plotly.js copies the pages held (one file replaces them).
    """

    path: Path
    files: list[str] = field(default_factory=list)
    size: int = 0
    plotly_copies: int = 0


def write_bundle(output_dir: str | Path, bundle_path: str | Path) -> Bundle:
    """Pack a report output folder into one zip that opens offline, with plotly.js once.

    The zip is written beside its final name and renamed into place, so a failure leaves no
    half-written file.

    Args:
        output_dir: a `workbench report` output folder (it holds `index.json`).
        bundle_path: the zip to write, e.g. "reports.zip"; an existing one is replaced.

    Returns:
        What went in, and the zip's size.

    Raises:
        ReportError: when the folder holds no report index, or a listed file is missing.
    """
    folder = Path(output_dir)
    index_path = folder / INDEX_JSON_FILE
    if not index_path.is_file():
        raise ReportError(
            f"{str(folder)!r} holds no {INDEX_JSON_FILE}, so there is no report set to bundle. Pass the output "
            "folder of `workbench report` (e.g. reports), or run `workbench report --bundle FILE.zip` to build and "
            "bundle in one go."
        )
    members = bundle_members(json.loads(index_path.read_text()))
    target = Path(bundle_path)
    top = PurePosixPath(target.stem)
    bundle = Bundle(target)
    scripts: dict[str, str] = {}  # plotly.js text → its file name in the bundle
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
            for member in members:
                source = folder / member
                if not source.is_file():
                    raise ReportError(f"{str(source)!r} is listed in {str(index_path)!r} but missing. Run "
                                      "`workbench report` again to regenerate the set, then bundle it.")
                data = source.read_bytes()
                if member.endswith(".html") and member != INDEX_HTML_FILE:
                    data, copies = _load_plotly_from_bundle(data.decode("utf-8"), member, scripts)
                    bundle.plotly_copies += copies
                archive.writestr(str(top / member), data)
                bundle.files.append(member)
            for text, name in scripts.items():
                archive.writestr(str(top / name), text)
                bundle.files.append(name)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    bundle.size = target.stat().st_size
    return bundle


def bundle_members(index: dict) -> list[str]:
    """The files a bundle holds, relative to the output folder: the index (HTML and JSON), then each
    report's page, executed notebook and metrics.json as `index.json` lists them.

    Args:
        index: the parsed `index.json`.

    Raises:
        ReportError: when the index lists a file outside the output folder, or a run or model file.
    """
    members = [INDEX_HTML_FILE, INDEX_JSON_FILE]
    for report in index.get("reports", []):
        for key in ("html", "notebook", "metrics"):
            name = (report.get("files") or {}).get(key)
            if not name:
                continue  # a report that failed before rendering has no page
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts or NEVER_BUNDLED.search(name):
                raise ReportError(f"index.json lists {name!r} for report {report.get('name')!r}, which a bundle "
                                  "never holds (only the reports' own files go in). Regenerate the set with "
                                  "`workbench report`.")
            members.append(str(path))
    return list(dict.fromkeys(members))


def _load_plotly_from_bundle(page: str, member: str, scripts: dict[str, str]) -> tuple[bytes, int]:
    """The page with each inline plotly.js replaced by a `<script src>` of the bundle's copy.

    Pages made with the same plotly share one file; a page made by another plotly version gets a
    file of its own (`plotly-2.min.js`), so every page keeps the plotly.js it was made with.
    """
    depth = len(PurePosixPath(member).parts) - 1
    copies = 0

    def replace(match: re.Match) -> str:
        nonlocal copies
        copies += 1
        text = match.group(1)
        name = scripts.setdefault(text, PLOTLY_FILE if not scripts else f"plotly-{len(scripts) + 1}.min.js")
        return f'<script type="text/javascript" src="{"../" * depth}{name}"></script>'

    return INLINE_PLOTLY.sub(replace, page).encode("utf-8"), copies
