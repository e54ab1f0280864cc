"""`daycase centre` as an operator seeds a new centre (CLI tests)."""

from __future__ import annotations

from pathlib import Path

from daycase.store.factory import migrate
from tests.support.cli import daycase


def test_a_new_centre_is_seeded_from_the_example_file(tmp_path: Path) -> None:
    db = tmp_path / "centre.db"
    migrate(f"sqlite:///{db}")
    example = daycase("centre", "example")
    assert example.returncode == 0
    seed = tmp_path / "centre.yaml"
    seed.write_text(example.stdout)

    loaded = daycase(
        "centre", "load", str(seed), "--by", "ops.kim", "--note", "new", "--db", str(db)
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "as version 1: 4 rooms, 4 pre-op bays, 6 recovery bays" in loaded.stdout

    shown = daycase("centre", "show", "--db", str(db))
    assert shown.stdout.startswith("# version 1 by ops.kim\n")
    assert "name: IR suite 2" in shown.stdout
    history = daycase("centre", "history", "--db", str(db))
    assert "ops.kim" in history.stdout
    assert "│ new " in history.stdout


def test_a_wrong_file_is_refused_with_every_problem_and_nothing_stored(tmp_path: Path) -> None:
    db = tmp_path / "centre.db"
    migrate(f"sqlite:///{db}")
    bad = tmp_path / "bad.yaml"
    bad.write_text('rooms:\n  - {id: "R 1", name: "", opens: 7:30}\nturnover_target_min: 0\n')

    out = daycase("centre", "load", str(bad), "--by", "ops.kim", "--db", str(db))

    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"not loaded: {bad}: rooms[1].id: use letters, digits, - and _ only (up to 32, "
        "starting with a letter or digit)",
        f"not loaded: {bad}: rooms[1].name: must not be empty",
        f'not loaded: {bad}: rooms[1].opens: a time of day as "HH:MM" in quotes, like "07:30"',
        f"not loaded: {bad}: turnover_target_min: Input should be greater than or equal to 1",
    ]
    assert daycase("centre", "show", "--db", str(db)).stdout.startswith("# version 0")
