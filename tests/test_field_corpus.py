"""The field corpus (``tests/corpus.py``): files that pydicom, nibabel, astropy and
scikit-image ship in their wheels, plus a tifffile pyramid and ome-zarr-py NGFF 0.4 and
0.5 images, scanned by voxcat and judged by each file's own library.

``python -m tests.corpus`` prints the whole table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import corpus

#: share of the files their own library reads as images that voxcat must read the same
REQUIRED = 0.95


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory: pytest.TempPathFactory) -> list[corpus.Verdict]:
    return corpus.run(tmp_path_factory.mktemp("corpus"))


@pytest.mark.slow
def test_voxcat_reads_the_field_corpus_as_its_libraries_do(
    verdicts: list[corpus.Verdict],
) -> None:
    good, total = corpus.ratio(verdicts)
    libraries = {v.item.library for v in verdicts if v.expect.kind == corpus.IMAGE}
    assert libraries >= {"pydicom", "nibabel", "astropy", "scikit-image", "tifffile"}
    assert "ome-zarr-py" in libraries and total >= 100
    print(f"\nfield corpus: {good}/{total} readable files agree ({100 * good / total:.1f} %)")
    wrong = [v for v in verdicts if v.expect.kind == corpus.IMAGE and not v.agrees]
    assert good >= REQUIRED * total, corpus.table(wrong)


@pytest.mark.slow
def test_files_their_library_cannot_read_are_failed_with_a_cause(
    verdicts: list[corpus.Verdict],
) -> None:
    """Truncated pixel data, missing data files, broken headers: ``failed``, with the
    file named in the error, never an image nobody can read."""
    unreadable = [v for v in verdicts if v.expect.kind == corpus.UNREADABLE]
    assert unreadable  # the corpus holds such files (truncated DICOM, bad AFNI headers)
    wrong = [v for v in unreadable if not v.got.startswith("failed")]
    assert not wrong, corpus.table(wrong)


@pytest.mark.slow
def test_files_without_an_image_are_never_listed_as_images(
    verdicts: list[corpus.Verdict],
) -> None:
    """DICOM RT plans and structured reports, FITS tables: other files (or failed)."""
    empty = [v for v in verdicts if v.expect.kind == corpus.NOT_IMAGE]
    assert empty
    wrong = [v for v in empty if not v.agrees]
    assert not wrong, corpus.table(wrong)


def test_the_oracles_are_the_libraries_own_readers(tmp_path: Path) -> None:
    """The oracle answers come from each library (a sanity check of the harness)."""
    items = corpus.shipped_items()
    by_name = {i.path.name: i for i in items}
    ct = by_name["CT_small.dcm"].oracle(by_name["CT_small.dcm"].path)
    assert ct.kind == corpus.IMAGE and ct.shape == (128, 128)
    mgz = by_name["test.mgz"].oracle(by_name["test.mgz"].path)
    assert mgz.kind == corpus.IMAGE and mgz.shape == (3, 4, 5, 2)
    table = by_name["tb.fits"].oracle(by_name["tb.fits"].path)
    assert table.kind == corpus.NOT_IMAGE
    truncated = by_name["MR_truncated.dcm"].oracle(by_name["MR_truncated.dcm"].path)
    assert truncated.kind == corpus.UNREADABLE and "pixel data" in truncated.cause


def test_the_judge_flags_what_disagrees(tmp_path: Path) -> None:
    """A shape, dtype or spacing other than the library's is a disagreement."""
    from catalog import scan

    item = next(i for i in corpus.shipped_items() if i.path.name == "CT_small.dcm")
    layout = corpus.lay_out([item], tmp_path / "drive")
    scan(tmp_path / "drive", tmp_path / "i.duckdb", jobs=1, progress=False)
    right = item.oracle(next(iter(layout)))
    wrong = [
        corpus.Expect(corpus.IMAGE, (128, 127), right.dtype, right.spacing),
        corpus.Expect(corpus.IMAGE, right.shape, "float64", right.spacing),
        corpus.Expect(corpus.IMAGE, right.shape, right.dtype, {"x": 1e-3}),
        corpus.Expect(corpus.UNREADABLE, cause="broken"),
    ]
    for expect in [right, *wrong]:
        fixed = corpus.Item(item.library, item.path, lambda _p, e=expect: e)
        [verdict] = corpus.judge(tmp_path / "i.duckdb", {next(iter(layout)): fixed})
        assert verdict.agrees is (expect is right), (expect, verdict.got)
