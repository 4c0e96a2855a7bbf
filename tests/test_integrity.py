"""Audit hash chain (tampering detected) and ``verify`` (modified and missing files)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest
import tifffile

from catalog import open_catalog, scan, verify, verify_audit
from catalog.cli import main
from catalog.index import connect, readcache
from catalog.index.audit import GENESIS, head, list_audit


@pytest.fixture
def lab(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, Path]:
    drive = tmp_path / "drive"
    (drive / "rec").mkdir(parents=True)
    for z in range(6):
        tifffile.imwrite(
            drive / "rec" / f"rec_{z:03d}.tif", rng.integers(0, 255, (16, 16), np.uint8)
        )
    tifffile.imwrite(
        drive / "a.tif", rng.integers(0, 255, (4, 16, 16), np.uint8), photometric="minisblack"
    )
    tifffile.imwrite(
        drive / "b.tif", rng.integers(0, 255, (4, 16, 16), np.uint8), photometric="minisblack"
    )
    index = tmp_path / "lab.duckdb"
    scan(drive, index, jobs=1, progress=False)
    cat = open_catalog(index)
    cat.tag(list(cat), "qc")
    cat.set(next(iter(cat.search(name="a.tif"))), sample="S1")
    return drive, index


def _sql(index: Path, sql: str, params: list | None = None) -> None:
    """Edit the index behind voxcat's back, as a forger with the file would."""
    readcache.close_all()  # this process's cached read-only instance must let go
    con = duckdb.connect(str(index))
    try:
        con.execute(sql, params or [])
    finally:
        con.close()


def test_the_chain_of_an_untouched_log_verifies(lab) -> None:
    _, index = lab
    report = verify_audit(index)
    assert report.ok, str(report)
    assert report.rows >= 7 and report.head_seq == report.rows
    with connect(index, read_only=True) as con:
        assert head(con) == (report.head_seq, report.head_hash)
        first = con.execute("SELECT prev_hash FROM audit ORDER BY seq LIMIT 1").fetchone()[0]
    assert first == GENESIS
    assert verify_audit(index, expect_head=report.head_hash).ok


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        ('UPDATE audit SET detail = \'{"tag": "forged"}\' WHERE seq = 3', "#3: contents changed"),
        ("UPDATE audit SET user_name = 'mallory' WHERE seq = 2", "#2: contents changed"),
        ("UPDATE audit SET time = time + INTERVAL 1 DAY WHERE seq = 4", "#4: contents changed"),
        ("DELETE FROM audit WHERE seq = 3", "#4: rows #3..#3 are missing"),
        ("UPDATE audit SET seq = 100 WHERE seq = 2", "#3: rows #2..#2 are missing"),
    ],
)
def test_tampering_is_detected(lab, tamper: str, words: str) -> None:
    _, index = lab
    _sql(index, tamper)
    report = verify_audit(index)
    assert not report.ok and words in str(report)


def test_a_cut_off_tail_is_caught_with_a_recorded_head(lab) -> None:
    _, index = lab
    recorded = verify_audit(index).head_hash
    _sql(index, "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)")
    assert verify_audit(index).ok  # a shorter chain is still a chain ...
    report = verify_audit(index, expect_head=recorded)
    assert not report.ok and "removed from its end" in str(report)  # ... but not the one we saw


def test_a_forger_who_rehashes_one_row_still_breaks_the_next(lab) -> None:
    from catalog.index.audit import row_hash

    _, index = lab
    readcache.close_all()
    con = duckdb.connect(str(index))
    try:
        seq, prev, t, u, a, d = con.execute(
            "SELECT seq, prev_hash, time, user_name, action, dataset_id FROM audit WHERE seq = 3"
        ).fetchone()
        forged = '{"tag": "forged"}'
        con.execute(
            "UPDATE audit SET detail = ?, hash = ? WHERE seq = 3",
            [forged, row_hash(prev, seq, t, u, a, d, forged)],
        )
    finally:
        con.close()
    report = verify_audit(index)
    assert not report.ok and "#4: does not follow" in str(report)


def test_verify_reports_modified_and_missing_files_and_changes_nothing(lab) -> None:
    drive, index = lab
    before = duckdb.connect(str(index), read_only=True)
    try:
        rows_before = before.execute(
            "SELECT id, checksum, status FROM datasets ORDER BY id"
        ).fetchall()
    finally:
        before.close()
    report = verify(index)
    assert report.ok and report.counts["unchanged"] == 3
    # one slice of the stack is edited, one file disappears
    tifffile.imwrite(drive / "rec" / "rec_002.tif", np.zeros((16, 16), np.uint8))
    (drive / "b.tif").unlink()
    report = verify(index)
    assert not report.ok
    assert report.counts == {"unchanged": 1, "modified": 1, "missing": 1, "unverifiable": 0}
    stack = next(
        r for r in report.results.values() if r["name"] == "drive_rec" or "rec" in r["name"]
    )
    changed = [f for f in stack["files"] if f["outcome"] == "modified"]
    assert [Path(f["path"]).name for f in changed] == ["rec_002.tif"]
    assert "MODIFIED" in str(report) and "MISSING" in str(report)
    # the index rows are untouched; the outcome is in the audit log
    after = duckdb.connect(str(index), read_only=True)
    try:
        assert (
            after.execute("SELECT id, checksum, status FROM datasets ORDER BY id").fetchall()
            == rows_before
        )
    finally:
        after.close()
    actions = [r["action"] for r in list_audit(index, action="verify", limit=0)]
    assert actions.count("verify.run") == 2 and "verify.modified" in actions
    assert verify_audit(index).ok
    # a selection only checks what it holds
    cat = open_catalog(index)
    seen: list = []
    assert cat.search(name="a.tif").verify(progress=seen.append).counts["unchanged"] == 1
    assert seen[-1].phase == "verifying" and seen[-1].done == seen[-1].total == 1
    # a cancelled verify records nothing
    import threading

    from catalog.errors import VerifyCancelled

    runs = len(list_audit(index, action="verify.run", limit=None))
    stop = threading.Event()
    stop.set()
    with pytest.raises(VerifyCancelled):
        cat.verify(progress=False, cancel=stop)
    assert len(list_audit(index, action="verify.run", limit=None)) == runs


def test_cli_verify_and_audit(lab, capsys: pytest.CaptureFixture) -> None:
    drive, index = lab
    assert main(["verify", "-i", str(index)]) == 0
    assert "unchanged: 3" in capsys.readouterr().out
    (drive / "a.tif").write_bytes(b"not a tiff any more")
    assert main(["verify", "a.tif", "-i", str(index)]) == 4
    out = capsys.readouterr().out
    assert "modified: 1" in out and "a.tif" in out
    assert main(["audit", "-i", str(index), "--action", "tag", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and all(r["action"] == "tag" for r in rows)
    assert main(["audit", "verify", "-i", str(index)]) == 0
    assert "intact" in capsys.readouterr().out
    assert main(["audit", "head", "-i", str(index)]) == 0
    recorded = capsys.readouterr().out.split()[0]
    _sql(index, "UPDATE audit SET action = 'note' WHERE seq = 2")
    assert main(["audit", "verify", "--expect", recorded, "-i", str(index)]) == 4
    assert "TAMPERED" in capsys.readouterr().out


def test_an_old_log_is_chained_on_migration(lab) -> None:
    _, index = lab
    _sql(index, "UPDATE audit SET prev_hash = NULL, hash = NULL")
    _sql(index, "UPDATE settings SET value = '5' WHERE key = 'schema_version'")
    with connect(index):
        pass
    assert verify_audit(index).ok
