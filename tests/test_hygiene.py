"The package matches the notebooks, the notebooks are clean, and nbdev's docs pre-processing accepts them."
import json, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / "nbs").glob("*.ipynb"))
NB_IDS = [p.stem for p in NBS]

def _copy_project(dest):
    for name in ("settings.ini", "setup.py", "README.md"): shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "nbs", dest / "nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_proc", "_docs"))
    shutil.copytree(ROOT / "nnnotes", dest / "nnnotes", ignore=shutil.ignore_patterns("__pycache__"))

def _tree(path):
    return {p.relative_to(path).as_posix(): p.read_text() for p in sorted(path.rglob("*.py")) if "__pycache__" not in p.parts}

def test_export_leaves_package_unchanged(tmp_path):
    _copy_project(tmp_path)
    before = _tree(tmp_path / "nnnotes")
    r = subprocess.run([sys.executable, "-c", "from nbdev.doclinks import nbdev_export; nbdev_export.__wrapped__()"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    after = _tree(tmp_path / "nnnotes")
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"nbdev_export changes {changed}: run nbdev_export and commit the result"

@pytest.mark.parametrize("nb", NBS, ids=NB_IDS)
def test_notebook_is_clean(nb):
    from nbdev.clean import clean_nb
    from execnb.nbio import read_nb
    raw = json.loads(nb.read_text())
    counts = [c.get("execution_count") for c in raw["cells"] if c["cell_type"] == "code"]
    assert all(n is None for n in counts), f"{nb.name}: execution counts saved; run nbdev_clean"
    assert set(raw["metadata"]) <= {"kernelspec", "jupytext", "language_info"}, f"{nb.name}: machine metadata {set(raw['metadata'])}"
    for c in raw["cells"]:
        assert set(c.get("metadata", {})) <= {"tags"}, f"{nb.name}: cell metadata {c['metadata']}; run nbdev_clean"
        for o in c.get("outputs", []):
            assert o.get("output_type") != "error", f"{nb.name}: a saved error output"
            assert "execution_count" not in o or o["execution_count"] is None, f"{nb.name}: output execution count"

def test_docs_preprocessing(tmp_path):
    "What nbdev_docs runs before Quarto: nbdev.serve.proc_nbs, on every notebook."
    _copy_project(tmp_path)
    code = "from nbdev.serve import proc_nbs; proc_nbs(n_workers=0, force=True)"
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Found cells containing imports and other code" not in r.stderr, "imports must sit in cells of their own:\n" + r.stderr[-3000:]
    out = tmp_path / "_proc"
    for nb in NBS:
        assert (out / nb.name).exists(), f"{nb.name} was not processed"
    for f in ("_quarto.yml", "nbdev.yml", "sidebar.yml", "styles.css"):
        assert (ROOT / "nbs" / f).exists(), f"nbs/{f} is missing"

def test_readme_matches_index():
    "README.md is rendered from nbs/index.ipynb (nbdev_readme needs Quarto; tools/readme.py does the same here)."
    sys.path.insert(0, str(ROOT / "tools"))
    from readme import render
    assert (ROOT / "README.md").read_text() == render(), "README.md is stale: run python tools/readme.py"

def test_core_import_is_light():
    "NumPy users pay for neither torch nor SymPy nor matplotlib."
    code = "import sys, nnnotes.core; bad = [m for m in ('torch', 'sympy', 'matplotlib') if m in sys.modules]; assert not bad, bad"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
