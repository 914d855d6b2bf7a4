"The package matches the notebooks, the notebooks are clean, and nbdev's docs pre-processing accepts them."
import ast, json, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / "nbs").glob("*.ipynb"))
NB_IDS = [p.stem for p in NBS]

def _copy_project(dest):
    for name in ("settings.ini", "setup.py", "README.md"): shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "tools", dest / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "nbs", dest / "nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_proc", "_docs"))
    shutil.copytree(ROOT / "nnnotes", dest / "nnnotes", ignore=shutil.ignore_patterns("__pycache__"))

def _tree(path):
    return {p.relative_to(path).as_posix(): p.read_text() for p in sorted(path.rglob("*.py")) if "__pycache__" not in p.parts}

def test_export_leaves_package_unchanged(tmp_path):
    _copy_project(tmp_path)
    before = _tree(tmp_path / "nnnotes")
    for _ in range(2):  # exporting twice gives the same files
        r = subprocess.run([sys.executable, "tools/export.py"], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        after = _tree(tmp_path / "nnnotes")
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        assert not changed, f"exporting changes {changed}: run python tools/export.py and commit the result"

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

@pytest.mark.parametrize("mod", ["core", "activations", "information", "estimators", "losses", "checks"])
def test_import_is_light(mod):
    "NumPy users pay for neither torch nor SymPy nor matplotlib."
    code = f"import sys, nnnotes.{mod}; bad = [m for m in ('torch', 'sympy', 'matplotlib') if m in sys.modules]; assert not bad, bad"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

FORMULA_MODULES = ["activations", "information", "estimators", "losses", "optim", "backprop", "training"]

@pytest.mark.parametrize("mod", FORMULA_MODULES)
def test_formula_module_holds_formulas(mod):
    "Checks, SymPy fixtures and benchmarks live in nnnotes/checks/, beside the formulas but not inside them."
    text = (ROOT / "nnnotes" / f"{mod}.py").read_text()
    for word in ("register_check", "register_bench", "sympy", "sys.modules", "__import__"):
        assert word not in text, f"nnnotes/{mod}.py mentions {word}"
    assert (ROOT / "nnnotes" / "checks" / f"{mod}.py").exists(), f"nnnotes/checks/{mod}.py is missing"

def test_no_repeated_blocks():
    "No block of six or more lines (imports aside) appears twice inside nnnotes/ (the generated _modidx.py aside)."
    seen, repeats = {}, []
    for f in sorted((ROOT / "nnnotes").rglob("*.py")):
        if f.name == "_modidx.py": continue
        text = f.read_text()
        imports = {n for node in ast.walk(ast.parse(text)) if isinstance(node, (ast.Import, ast.ImportFrom))
                   for n in range(node.lineno, node.end_lineno + 1)}
        lines = ["" if i + 1 in imports else l.strip() for i, l in enumerate(text.splitlines())]
        for i in range(len(lines) - 5):
            block = tuple(lines[i:i + 6])
            if sum(len(l) > 3 and not l.startswith(("#", '"')) for l in block) < 6: continue
            where = f"{f.relative_to(ROOT)}:{i + 1}"
            if block in seen and seen[block] != where: repeats.append(f"{seen[block]} = {where}")
            seen.setdefault(block, where)
    assert not repeats, "repeated blocks: " + "; ".join(repeats[:5])
