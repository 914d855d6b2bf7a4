"What Quarto would render, checked without Quarto: titles, descriptions, show_doc coverage, sidebar, outputs, figures."
import base64, importlib, inspect, json, re, struct
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / "nbs").glob("*.ipynb"))
IDS = [p.stem for p in NBS]

def cells(nb): return json.loads(nb.read_text())["cells"]
def src(c): return "".join(c["source"])
def directives(c): return [l.strip() for l in src(c).splitlines() if re.match(r"\s*#\s*\|", l)]
def has(c, d): return any(re.fullmatch(rf"#\s*\|\s*{d}\b.*", l) for l in directives(c))

def exported_module(nb):
    for c in cells(nb):
        m = re.search(r"^#\s*\|\s*default_exp\s+(\S+)", src(c), re.M)
        if m: return m.group(1)

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_title_and_description(nb):
    md = [src(c) for c in cells(nb) if c["cell_type"] == "markdown"]
    assert md, f"{nb.name}: no markdown"
    first = md[0].strip().splitlines()
    assert first[0].startswith("# "), f"{nb.name}: the first markdown cell must open with an H1 title"
    assert any(l.startswith("> ") and len(l) > 20 for l in first[1:]), f"{nb.name}: no '> one-line description' under the title"

@pytest.mark.parametrize("nb", [p for p in NBS if exported_module(p)], ids=[p.stem for p in NBS if exported_module(p)])
def test_every_export_has_show_doc_and_documented_params(nb):
    from fastcore.docments import docments
    mod = importlib.import_module(f"nnnotes.{exported_module(nb)}")
    text = "\n".join(src(c) for c in cells(nb) if c["cell_type"] == "code")
    for name in mod.__all__:
        obj = getattr(mod, name)
        if not callable(obj): continue  # registries and constants: described in the prose
        assert re.search(rf"show_doc\(\s*{re.escape(name)}\b", text), f"{nb.name}: no show_doc({name})"
        fn = obj.__init__ if inspect.isclass(obj) else obj
        if inspect.isclass(obj) and fn is object.__init__: continue
        try: params = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
        except (TypeError, ValueError): continue
        params = [p for p in params if inspect.signature(fn).parameters[p].kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
        from dataclasses import is_dataclass
        docs = docments(obj if is_dataclass(obj) else fn)
        missing = [p for p in params if not docs.get(p)]
        assert not missing, f"{nb.name}: {name} has parameters without docments: {missing}"
        assert (inspect.getdoc(obj) or "").strip(), f"{nb.name}: {name} has no docstring"

def test_sidebar_lists_every_page_in_order():
    import yaml
    side = yaml.safe_load((ROOT / "nbs" / "sidebar.yml").read_text())["website"]["sidebar"]["contents"]
    pages = ["index.ipynb"] + sorted(p.name for p in NBS if p.name != "index.ipynb")
    assert side == pages, f"sidebar.yml lists {side}, the pages are {pages}"

def _png_size(b64):
    raw = base64.b64decode(b64)[:32]
    return struct.unpack(">II", raw[16:24])

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_outputs_saved_and_figures_sized(nb):
    cs = cells(nb)
    for i, c in enumerate(cs):
        if c["cell_type"] != "code": continue
        s = src(c)
        for o in c.get("outputs", []):
            assert o.get("output_type") != "error", f"{nb.name}: saved error output in cell {i}"
        shows = re.search(r"^\s*(print\(|show_doc\(|plt\.show\(|display\()", s, re.M)
        if shows and not has(c, "export") and not has(c, "exporti") and not has(c, "slow") and not has(c, "gpu"):
            assert c.get("outputs"), f"{nb.name}: cell {i} prints or plots but has no saved output (stale):\n{s[:200]}"
        for o in c.get("outputs", []):
            png = o.get("data", {}).get("image/png")
            if png:
                w, h = _png_size(png)
                shown = o.get("metadata", {}).get("image/png", {})  # retina figures: displayed at half their pixels
                w, h = shown.get("width", w), shown.get("height", h)
                assert w <= 1000 and h <= 700, f"{nb.name}: cell {i} figure is shown at {w}x{h} px; size it for a page"
                nxt = cs[i + 1] if i + 1 < len(cs) else None
                assert nxt is not None and nxt["cell_type"] == "markdown", f"{nb.name}: cell {i}: a figure must be followed by a sentence saying what to see"

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_setup_cells_hidden(nb):
    for c in cells(nb):
        s = src(c)
        if c["cell_type"] == "code" and re.search(r"^(from fastcore\.test|from nbdev\.showdoc|from nbdev import show_doc)", s, re.M):
            assert has(c, "hide"), f"{nb.name}: set-up cell should be '#| hide':\n{s[:200]}"

def test_home_page_first_screen():
    cs = [c for c in cells(ROOT / "nbs" / "index.ipynb") if not has(c, "hide")][:12]
    text = "\n".join(src(c) for c in cs)
    assert "sympy" in text or "sp." in text, "index: no derivation in the first screen"
    assert re.search(r"(from|import) nnnotes", text), "index: no import of nnnotes in the first screen"
    assert re.search(r"assert|error", text), "index: no verification in the first screen"
    full = "\n".join(src(c) for c in cells(ROOT / "nbs" / "index.ipynb"))
    for nb in NBS:
        if nb.name != "index.ipynb": assert nb.stem in full, f"index: the map of notebooks misses {nb.stem}"
