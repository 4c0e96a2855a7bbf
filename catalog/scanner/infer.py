"""What folder and file names say: data level, modality, and user path patterns.

Readers report what the file itself says; names fill the gaps, and every inferred
field is listed in ``meta["voxcat"]["inferred"]`` so nobody mistakes a guess for a
fact.

>>> infer_data_level("2021/sandstone/rec/slice_0001.tif")
'reconstructed'
>>> PathPattern("{year}/{project}/{sample}").match("2021/rocks/s12/scan.tif")
{'year': '2021', 'project': 'rocks', 'sample': 's12'}
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ..errors import ScanError

_TOKEN = re.compile(r"[a-z]+")

_LEVEL_WORDS: list[tuple[str, frozenset[str]]] = [
    (
        "segmentation",
        frozenset(
            {
                "seg",
                "segmentation",
                "segmented",
                "labels",
                "label",
                "mask",
                "masks",
                "labelled",
                "labeled",
            }
        ),
    ),
    (
        "analysis",
        frozenset(
            {"analysis", "stats", "statistics", "measurements", "results", "quantification"}
        ),
    ),
    (
        "processed",
        frozenset(
            {
                "proc",
                "processed",
                "filtered",
                "denoised",
                "registered",
                "aligned",
                "corrected",
                "deconvolved",
                "cropped",
                "binned",
                "stitched",
            }
        ),
    ),
    (
        "reconstructed",
        frozenset({"rec", "recon", "reco", "reconstruction", "reconstructed", "reconstructions"}),
    ),
    (
        "raw",
        frozenset({"raw", "projections", "proj", "projs", "sinogram", "sinograms", "acquisition"}),
    ),
]

_MODALITY_WORDS: list[tuple[str, frozenset[str]]] = [
    (
        "CT",
        frozenset(
            {"ct", "microct", "uct", "xct", "nanoct", "tomo", "tomography", "synchrotron", "xrm"}
        ),
    ),
    ("EM", frozenset({"sem", "tem", "fib", "fibsem", "cryoem", "stem", "em", "tomogram"})),
    (
        "LM",
        frozenset(
            {
                "confocal",
                "lightsheet",
                "widefield",
                "fluorescence",
                "brightfield",
                "spim",
                "microscopy",
                "lsm",
            }
        ),
    ),
    ("MR", frozenset({"mri", "mr", "nmr"})),
]


def _tokens(part: str) -> set[str]:
    return set(_TOKEN.findall(part.lower()))


def _infer(rel: str, table: list[tuple[str, frozenset[str]]]) -> str | None:
    """Look at the name first, then each parent folder, nearest first."""
    parts = [p for p in PurePosixPath(rel).parts if p not in ("/", "")]
    for part in reversed(parts):
        toks = _tokens(part)
        for value, words in table:
            if toks & words:
                return value
    return None


def infer_data_level(rel: str) -> str | None:
    """Data level from words in a relative path (``seg``, ``rec``, ``raw`` ...)."""
    return _infer(rel, _LEVEL_WORDS)


def infer_modality(rel: str) -> str | None:
    """Modality from words in a relative path (``microCT``, ``SEM``, ``confocal`` ...)."""
    return _infer(rel, _MODALITY_WORDS)


class PathPattern:
    """A user's folder convention such as ``"{year}/{project}/{sample}"``.

    Each ``/``-separated segment of the pattern matches one folder level below the
    scan root; a segment may mix fields and text (``"{project}_{sample}"``). Fields
    named ``sample`` and ``project`` fill those columns; the others go to
    ``meta["path"]``.
    """

    _FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern.strip().strip("/")
        if not self.pattern:
            raise ScanError("empty path pattern; use something like '{year}/{project}/{sample}'")
        self.segments: list[re.Pattern[str]] = []
        seen: set[str] = set()
        for seg in self.pattern.split("/"):
            pos, rx = 0, ""
            for m in self._FIELD.finditer(seg):
                name = m.group(1)
                if name in seen:
                    raise ScanError(f"path pattern {pattern!r} names {{{name}}} twice")
                seen.add(name)
                rx += re.escape(seg[pos : m.start()]) + f"(?P<{name}>.+?)"
                pos = m.end()
            rx += re.escape(seg[pos:])
            self.segments.append(re.compile(rx + r"\Z"))
        if not seen:
            raise ScanError(f"path pattern {pattern!r} has no {{field}}")
        self.fields = seen

    def match(self, rel: str) -> dict[str, str]:
        """Fields found in ``rel`` (a path relative to the scan root); ``{}`` if none."""
        parts = [p for p in PurePosixPath(rel).parts if p not in ("/", "")]
        out: dict[str, str] = {}
        for seg, part in zip(self.segments, parts):
            m = seg.match(part)
            if m is None:
                break
            out.update(m.groupdict())
        return out
