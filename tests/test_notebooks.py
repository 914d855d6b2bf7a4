"One test per notebook, run with nbdev's own runner (cells flagged `slow`/`gpu` are skipped as in `nbdev_test`)."
import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb") if not p.name.startswith("_"))

@pytest.mark.notebook
@pytest.mark.parametrize("nb", NBS, ids=[p.stem for p in NBS])
def test_notebook(nb, monkeypatch):
    from nbdev.test import test_nb
    from nbdev.config import get_config
    monkeypatch.chdir(nb.parent)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    ok, _ = test_nb(nb, skip_flags=get_config(path=ROOT).tst_flags.split(), showerr=True)
    assert ok, f"{nb.name} failed; the failing cell and its error are in the captured output below"
