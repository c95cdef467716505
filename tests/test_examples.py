"""Every example script runs (small sizes), so none of them rots."""
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ARGUMENTS = {
    "desk_pricing_call.py": ["--paths", "4096", "--quantlib-paths", "2000"],
    "revalue_book.py": ["--paths", "2048", "--limit", "40"],
    "calibration_workflow.py": ["--paths", "4096"],
    "stress_book.py": ["--paths", "1024", "--scenarios", "200", "--limit", "8"],
}


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py") if p.name != "make_example_book.py"))
def test_example_script_runs(script):
    completed = subprocess.run([sys.executable, str(EXAMPLES / script), *ARGUMENTS.get(script, [])],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip()


def test_notebook_runs(monkeypatch):
    """The notebook's code cells, in order, in one namespace (no Jupyter needed), with few paths."""
    import json
    notebook = json.loads((EXAMPLES / "calibration_workflow.ipynb").read_text())
    cells = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] for c in notebook["cells"] if c["cell_type"] == "code"), "outputs are not stored"
    monkeypatch.chdir(EXAMPLES)
    monkeypatch.setattr(sys, "path", list(sys.path))
    namespace = {}
    for index, source in enumerate(cells):
        exec(compile(source.replace("PATHS = 100_000", "PATHS = 4096"), f"cell {index}", "exec"), namespace)
    assert np_finite(namespace["result"].price) and float(namespace["cal"].sse) < 200.0


def np_finite(value):
    import numpy as np
    return bool(np.all(np.isfinite(np.asarray(value))))


def test_example_book_generator_matches_the_committed_csv(tmp_path):
    import pandas as pd
    from pricer.example_book import example_book
    committed = pd.read_csv(EXAMPLES / "book.csv")
    fresh = example_book()
    pd.testing.assert_frame_equal(committed, pd.read_csv(_round_trip(fresh, tmp_path)))


def _round_trip(frame, tmp_path):
    path = tmp_path / "book.csv"
    frame.to_csv(path, index=False)
    return path
