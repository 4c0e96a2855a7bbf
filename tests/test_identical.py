"""Identical content: many files of one checksum are each indexed, moves keep ids,
copies get their own, and the cost per file does not grow with the number of files
sharing a checksum (counted in SQL statements and stat calls, never timed)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from catalog import scan
from catalog.paths import to_db
from catalog.scanner import moves as moves_mod
from catalog.scanner import run as run_mod

from .conftest import q


class _Counting:
    """A DuckDB connection that counts the statements sent through it and the rows
    they return, per transaction (the last entry of ``counts``)."""

    def __init__(self, con: Any, counts: list[list[int]]) -> None:
        self._con, self._counts = con, counts

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        self._counts[-1][0] += 1
        return _Fetched(self._con.execute(*args, **kwargs), self._counts)

    def executemany(self, *args: Any, **kwargs: Any) -> Any:
        self._counts[-1][0] += 1
        return self._con.executemany(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


class _Fetched:
    def __init__(self, cur: Any, counts: list[list[int]]) -> None:
        self._cur, self._counts = cur, counts

    def fetchall(self) -> list[tuple]:
        rows = self._cur.fetchall()
        self._counts[-1][1] += len(rows)
        return rows

    def fetchone(self) -> tuple | None:
        row = self._cur.fetchone()
        self._counts[-1][1] += row is not None
        return row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """``[statements, rows fetched]`` of each transaction of the scanner, in order."""
    counts: list[list[int]] = []
    real = run_mod.transaction

    @contextlib.contextmanager
    def counting(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with real(*args, **kwargs) as con:
            counts.append([0, 0])
            yield _Counting(con, counts)

    monkeypatch.setattr(run_mod, "transaction", counting)
    return counts


@pytest.fixture
def lstats(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Paths whose existence the move lookup checked."""
    seen: list[str] = []
    real = moves_mod.path_exists

    def spy(path: str) -> bool:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(moves_mod, "path_exists", spy)
    return seen


def _tree(root: Path, n: int, *, same: bool, per_folder: int = 100) -> Path:
    for i in range(n):
        folder = root / f"part{i // per_folder:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:04d}.dat").write_bytes(b"same bytes\n" if same else f"file {i}\n".encode())
    return root


def _ids(index: Path, root: Path) -> dict[str, str]:
    """``path relative to root -> id`` of the datasets under ``root``."""
    base = to_db(root) + "/"
    return {
        p[len(base) :]: i
        for i, p in q(index, "SELECT id, path FROM datasets WHERE starts_with(path, ?)", [base])
    }


def test_identical_files_cost_what_distinct_files_cost(
    tmp_path: Path, statements: list[list[int]], lstats: list[str]
) -> None:
    n = 200
    runs = {}
    for kind, batch in (("distinct", 50), ("same", 50), ("same", 25)):
        root = _tree(tmp_path / kind, n, same=kind == "same")
        index = tmp_path / f"{kind}-{batch}.duckdb"
        statements.clear()
        rep = scan(root, index, jobs=1, progress=False, batch_size=batch, batch_seconds=1e9)
        assert rep["added"] == n and rep["failed"] == 0, rep.counts
        ids = _ids(index, root)
        assert len(ids) == n and len(set(ids.values())) == n  # every file its own id
        assert len(statements) == 2 + n // batch + 1  # start, classify, batches, finish
        runs[kind, batch] = statements[2:-1]
    checksums = q(tmp_path / "same-50.duckdb", "SELECT count(DISTINCT checksum) FROM datasets")
    assert checksums == [(1,)]
    # a batch sends the same number of statements whatever its size (nothing is asked
    # per file), and a batch of identical files no more than one of distinct files
    same, small, distinct = runs["same", 50], runs["same", 25], runs["distinct", 50]
    assert [s for s, _ in same] == [s for s, _ in small[: len(same)]]
    assert all(s <= d for (s, _), (d, _) in zip(same, distinct))
    # nor do its answers grow with the rows already sharing the checksum
    assert len({r for _, r in same[1:]}) == 1
    assert sum(r for _, r in same) <= sum(r for _, r in distinct)
    assert lstats == []  # every other row of that checksum was found by this walk


def test_a_second_copy_of_a_tree_of_identical_files(
    tmp_path: Path, statements: list[list[int]], lstats: list[str]
) -> None:
    n = 300
    a = _tree(tmp_path / "a", n, same=True)
    index = tmp_path / "lab.duckdb"
    scan(a, index, jobs=1, progress=False)
    before = _ids(index, a)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    statements.clear()
    rep = scan(b, index, jobs=1, progress=False, batch_size=50, batch_seconds=1e9)
    assert rep["added"] == n and rep["moved"] == 0, rep.counts
    # a copy gets its own id; the originals keep theirs
    copies = _ids(index, b)
    assert len(copies) == n and not set(copies.values()) & set(before.values())
    assert _ids(index, a) == before
    # the rows of a are looked at once each, not once per file of b
    assert sorted(lstats) == sorted(to_db(a / p) for p in before)
    assert len({tuple(c) for c in statements[3:-1]}) == 1


def test_moves_among_identical_files_keep_their_ids(tmp_path: Path) -> None:
    n = 40
    root = _tree(tmp_path / "drive", n, same=True, per_folder=20)
    index = tmp_path / "lab.duckdb"
    scan(root, index, jobs=1, progress=False)
    first = _ids(index, root)
    # one file renamed: it keeps its id, the other 39 are unchanged
    (root / "part00" / "f0003.dat").rename(root / "part00" / "renamed.dat")
    rep = scan(root, index, jobs=1, progress=False)
    assert (rep["moved"], rep["unchanged"], rep["added"], rep["missing"]) == (1, n - 1, 0, 0)
    assert _ids(index, root)["part00/renamed.dat"] == first["part00/f0003.dat"]
    # a folder of identical files moved (its second half found first): each file
    # keeps its own id, matched by name
    new = {i: f"archive/{'z' if i < 30 else 'a'}/f{i:04d}.dat" for i in range(20, 40)}
    for i, rel in new.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "part01" / f"f{i:04d}.dat").rename(root / rel)
    (root / "part01").rmdir()
    rep = scan(root, index, jobs=1, progress=False, batch_size=7)
    assert (rep["moved"], rep["added"], rep["missing"]) == (20, 0, 0), rep.counts
    now = _ids(index, root)
    assert {now[rel] for rel in new.values()} == {first[f"part01/f{i:04d}.dat"] for i in new}
    for i, rel in new.items():
        assert now[rel] == first[f"part01/f{i:04d}.dat"]
    # a copy beside them is new; a deleted one is marked missing
    shutil.copy(root / new[20], root / "archive" / "copy.dat")
    rep = scan(root, index, jobs=1, progress=False)
    assert (rep["added"], rep["moved"], rep["unchanged"]) == (1, 0, n), rep.counts
    assert _ids(index, root)["archive/copy.dat"] not in first.values()
    (root / "part00" / "f0000.dat").unlink()
    rep = scan(root, index, jobs=1, progress=False)
    assert (rep["missing"], rep["unchanged"]) == (1, n), rep.counts
    rows = dict(q(index, "SELECT path, status FROM datasets"))
    assert rows[to_db(root / "part00" / "f0000.dat")] == "missing"
    # it comes back under another name: it takes the missing row's id
    shutil.copy(root / new[20], root / "part00" / "back.dat")
    rep = scan(root, index, jobs=1, progress=False)
    assert (rep["moved"], rep["added"]) == (1, 0), rep.counts
    assert _ids(index, root)["part00/back.dat"] == first["part00/f0000.dat"]
    assert len(q(index, "SELECT id FROM datasets")) == n + 1  # and copy.dat


def test_a_move_source_another_process_took_is_not_taken_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _tree(tmp_path / "drive", 2, same=True)
    index = tmp_path / "lab.duckdb"
    scan(root, index, jobs=1, progress=False)
    first = _ids(index, root)
    shutil.move(root / "part00", root / "moved")
    elsewhere = tmp_path / "elsewhere" / "f0001.dat"
    elsewhere.parent.mkdir()
    shutil.copy(root / "moved" / "f0001.dat", elsewhere)
    real = run_mod._Writer.flush

    def flush_then_interfere(self: run_mod._Writer) -> None:
        done = self.processed
        real(self)
        if done == 0 and self.processed == 1:  # after the first batch: another scan
            # found part00/f0001.dat at its new place (after this scan looked it up)
            con = duckdb.connect(str(index))
            con.execute(
                "UPDATE datasets SET path = ? WHERE path = ?",
                [to_db(elsewhere), to_db(root / "part00" / "f0001.dat")],
            )
            con.close()

    monkeypatch.setattr(run_mod._Writer, "flush", flush_then_interfere)
    rep = scan(root, index, jobs=1, progress=False, batch_size=1)
    assert (rep["moved"], rep["added"]) == (1, 1), rep.counts
    now = _ids(index, root)
    assert now["moved/f0000.dat"] == first["part00/f0000.dat"]
    assert now["moved/f0001.dat"] not in first.values()
    assert q(index, "SELECT path FROM datasets WHERE id = ?", [first["part00/f0001.dat"]]) == [
        (to_db(elsewhere),)
    ]
