"""Fuzz the ``airflow-lineage`` command, in process: every run ends with exit status 0,
1 or 2, an error is one line on stderr (with indented detail lines where it lists
choices), never a traceback, and the store is unchanged."""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_lineage.cli import main as cli

from .conftest import Seeded
from .strategies import ARN, HUGE, TEXT, TOKEN, fuzz

RUNS = 1500

# An argv from a shell holds no NUL; everything else may come.
WORD = st.one_of(TEXT, ARN, TOKEN, HUGE.map(str)).map(lambda s: s.replace("\x00", ""))
WHEN = st.one_of(WORD, st.sampled_from(["P7D", "P99999999D", "2026-13-01", "-P1D", "PT"]))
NUMBER = st.one_of(HUGE.map(str), WORD)

QUERY_OPTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("--uri"), WORD),
        st.tuples(st.just("--name"), WORD),
        st.tuples(st.just("--direction"), st.sampled_from(["both", "ascendants", "UP"])),
        st.tuples(st.just("--depth"), NUMBER),
        st.tuples(st.just("--type"), WORD),
        st.tuples(st.just("--lineage-type"), st.sampled_from(["artifact", "action", "x"])),
        st.tuples(st.sampled_from(["--created-after", "--modified-before"]), WHEN),
        st.tuples(st.just("--property"), st.one_of(WORD, st.tuples(WORD, WORD).map("=".join))),
        st.tuples(st.just("--max-results"), NUMBER),
        st.tuples(st.just("--next-token"), st.one_of(TOKEN, WORD)),
        st.tuples(st.just("--include-edges")),
        st.tuples(st.just("--format"), st.sampled_from(["table", "tree", "json", "xml"])),
    ),
    max_size=5,
)


def _one_error(stderr: str) -> bool:
    """Return whether stderr ends with one error line (``airflow-lineage…: error: …``),
    followed only by indented lines that belong to it (e.g. the ARNs a name matches)."""
    lines = stderr.rstrip("\n").split("\n")
    heads = [i for i, line in enumerate(lines) if re.match(r"airflow-lineage[^:]*: error: ", line)]
    return bool(heads) and all(line.startswith("  ") for line in lines[heads[-1] + 1 :])


@st.composite
def _argv(draw: st.DrawFn, seeded: Seeded, policy: Path, lines: Path) -> list[str]:
    command = draw(st.sampled_from(["query", "graph", "show", "gate", "import", "export", "raw"]))
    starts = draw(st.lists(st.one_of(ARN, st.sampled_from(sorted(seeded.arns.values())))))
    if command in ("query", "graph"):
        argv = [command, *[s for opt in draw(QUERY_OPTIONS) for s in opt], *starts]
        if command == "graph":
            argv = [a if a not in ("table", "tree", "json") else "dot" for a in argv]
    elif command == "show":
        argv = [
            "show",
            draw(st.one_of(ARN, WORD)),
            "--format",
            draw(st.sampled_from(["text", "json"])),
        ]
    elif command == "gate":
        policy.write_text(draw(WORD), encoding="utf-8")
        argv = ["gate", "--uri", draw(WORD), "--policy", str(policy)]
    elif command == "import":
        text = "\n".join(draw(st.lists(WORD, min_size=1, max_size=3)))
        lines.write_text(text, encoding="utf-8")
        argv = ["import", str(lines)]
    elif command == "export":
        argv = ["export"]
    else:  # words in any order, as a confused user types them
        argv = draw(st.lists(st.one_of(WORD, st.sampled_from(["query", "--depth", "show"]))))
    return ["--store", seeded.url, *argv]


@fuzz(RUNS)
@given(data=st.data())
def test_the_cli_fails_with_one_clear_line_and_changes_nothing(
    seeded: Seeded,
    watch: sqlite3.Connection,
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    folder = tmp_path_factory.getbasetemp() / "cli-fuzz"
    folder.mkdir(exist_ok=True)
    argv = data.draw(_argv(seeded, folder / "policy.yaml", folder / "lines.jsonl"))
    version = seeded.data_version(watch)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli(argv)
    errors = err.getvalue()
    assert "Traceback" not in errors + out.getvalue()
    assert code in (0, 1, 2), (code, errors)
    if code:
        assert _one_error(errors), errors
    assert seeded.data_version(watch) == version, argv
