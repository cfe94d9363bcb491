"""The README's runnable Python snippets run (those on the bundled test data)."""

from __future__ import annotations

import re

import pytest

from tests.helpers.paths import ROOT

SNIPPETS = [
    block
    for block in re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    if "testdata/tf1_mlp" in block
]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(snippet: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    code = snippet.replace("/tmp/mlp_tf2", str(tmp_path / "mlp_tf2"))
    exec(compile(code, "README.md", "exec"), {})


def test_readme_has_runnable_snippets() -> None:
    assert len(SNIPPETS) >= 2
