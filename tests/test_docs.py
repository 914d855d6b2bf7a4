"""What Quarto would render, checked without Quarto: titles, show_doc coverage, sidebar, figures with
captions, outputs that fit the page, links that land on a heading, no words about how the project is
made, and outputs that do not change when a notebook is run again."""
import ast, base64, importlib, inspect, io, json, os, re, struct, tokenize
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / "nbs").glob("*.ipynb"))
IDS = [p.stem for p in NBS]

# Widths, from the site's layout (nbs/_quarto.yml, nbs/styles.css). At 1280 px the body keeps about
# 750 px beside the sidebar and the table of contents; printed output is monospace at 0.78 rem
# (about 8 px a character on Quarto's 17 px root) and does not wrap, so that tables keep their
# columns: 90 characters (720 px) fit. Code wraps (`code-overflow: wrap`) and so never overflows; 100 characters is the most that
# still reads as one line on a wide screen and wraps once at 1280 px.
OUTPUT_WIDTH = 90
CODE_WIDTH = 100
# Words about how the project is made, not about its subject. "issue" as a verb ("the rule issues
# the same kernels") is allowed; "helper" is not listed: on these pages it means a helper function.
PROCESS = re.compile(r"\bissues?\b(?! (?:the|a|an|one|its|their)\b)|GPU\.md|closing note"
                     r"|\bsessions?\b|\bcoordinator\b|\bTODO\b|\bFIXME\b", re.I)
ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
PROGRESS_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\d+(?:\.\d+)?\s?it/s\]")
FIX = "set_matplotlib_formats('retina', metadata={'Software': None}) in the import cell"
TIMING = re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|µs|μs|us|ns)\b|\b\d+\.\d+\s?s\b(?! *[=≤<>])")

def cells(nb): return json.loads(nb.read_text())["cells"]
def src(c): return "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
def text(x): return "".join(x) if isinstance(x, list) else (x or "")
def directives(c): return [l.strip() for l in src(c).splitlines() if re.match(r"\s*#\s*\|", l)]
def has(c, d): return any(re.fullmatch(rf"#\s*\|\s*{d}\b.*", l) for l in directives(c))
def where(nb, i, c): return f"{nb.name} cell {i} ({c.get('id', '?')})"

def exported_module(nb):
    for c in cells(nb):
        m = re.search(r"^#\s*\|\s*default_exp\s+(\S+)", src(c), re.M)
        if m: return m.group(1)

def output_texts(c):
    "The text a reader sees of each output: streams, and plain text where nothing richer is shown."
    for o in c.get("outputs", []):
        if o.get("output_type") == "stream": yield text(o.get("text"))
        d = o.get("data", {})
        if "text/plain" in d and not any(k in d for k in ("text/markdown", "text/html", "image/png", "text/latex")):
            yield text(d["text/plain"])

def all_output_text(c):
    "Everything an output can put on the page as text, markdown included."
    out = list(output_texts(c))
    for o in c.get("outputs", []):
        d = o.get("data", {})
        out += [text(d.get(k)) for k in ("text/markdown", "text/html", "text/latex") if k in d]
    return "\n".join(out)

def shown(c):
    "Whether a cell's source appears on the rendered page."
    return not (has(c, "hide") or has(c, "echo: false") or has(c, "include: false") or has(c, "exporti"))

# ---- page structure ---------------------------------------------------------------------------

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
    code = "\n".join(src(c) for c in cells(nb) if c["cell_type"] == "code")
    for name in mod.__all__:
        obj = getattr(mod, name)
        if not callable(obj): continue  # registries and constants: described in the prose
        assert re.search(rf"show_doc\(\s*{re.escape(name)}\b", code), f"{nb.name}: no show_doc({name})"
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

def test_site_layout():
    "Previous/next links, wrapped code, a body wide enough for 90-character output, figures not capped."
    import yaml
    q = yaml.safe_load((ROOT / "nbs" / "_quarto.yml").read_text())
    assert q["website"].get("page-navigation") is True, "_quarto.yml: website: page-navigation: true"
    html = q["format"]["html"]
    assert html.get("code-overflow") == "wrap", "_quarto.yml: format: html: code-overflow: wrap"
    assert int(str(html.get("grid", {}).get("body-width", "800px")).rstrip("px")) >= 850, "_quarto.yml: grid: body-width too narrow"
    css = (ROOT / "nbs" / "styles.css").read_text()
    assert not re.search(r"img\s*\{[^}]*max-width:\s*\d+px", css), "styles.css caps figures at a fixed width"

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_setup_cells_hidden(nb):
    for c in cells(nb):
        s = src(c)
        if c["cell_type"] == "code" and re.search(r"^(from fastcore\.test|from nbdev\.showdoc|from nbdev import show_doc)", s, re.M):
            assert has(c, "hide"), f"{nb.name}: set-up cell should be '#| hide':\n{s[:200]}"

def test_home_page_first_screen():
    cs = [c for c in cells(ROOT / "nbs" / "index.ipynb") if not has(c, "hide")][:12]
    body = "\n".join(src(c) for c in cs)
    assert "sympy" in body or "sp." in body, "index: no derivation in the first screen"
    assert re.search(r"(from|import) nnnotes", body), "index: no import of nnnotes in the first screen"
    assert re.search(r"assert|error", body), "index: no verification in the first screen"
    full = "\n".join(src(c) for c in cells(ROOT / "nbs" / "index.ipynb"))
    for nb in NBS:
        if nb.name != "index.ipynb": assert nb.stem in full, f"index: the map of notebooks misses {nb.stem}"

# ---- outputs ----------------------------------------------------------------------------------

def _png(b64):
    raw = base64.b64decode(b64)
    return raw, struct.unpack(">II", raw[16:24])

def _png_text_keys(raw):
    "The keys of a PNG's text chunks (tEXt, iTXt, zTXt)."
    keys, p = [], 8
    while p + 8 <= len(raw):
        n, kind = struct.unpack(">I", raw[p:p + 4])[0], raw[p + 4:p + 8]
        if kind in (b"tEXt", b"iTXt", b"zTXt"): keys.append(raw[p + 8:p + 8 + n].split(b"\0")[0].decode("latin-1"))
        p += 12 + n
    return keys

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_outputs_saved_and_figures_sized(nb):
    cs = cells(nb)
    for i, c in enumerate(cs):
        if c["cell_type"] != "code": continue
        s = src(c)
        for o in c.get("outputs", []):
            assert o.get("output_type") != "error", f"{where(nb, i, c)}: saved error output"
        prints = re.search(r"^\s*(print\(|show_doc\(|plt\.show\(|display\()", s, re.M)
        if prints and not any(has(c, d) for d in ("export", "exporti", "slow", "gpu")):
            assert c.get("outputs"), f"{where(nb, i, c)}: prints or plots but has no saved output (stale):\n{s[:200]}"
        for o in c.get("outputs", []):
            png = o.get("data", {}).get("image/png")
            if not png: continue
            _, (w, h) = _png(text(png))
            size = o.get("metadata", {}).get("image/png", {})  # retina figures: displayed at half their pixels
            w, h = size.get("width", w), size.get("height", h)
            assert w <= 1000 and h <= 700, f"{where(nb, i, c)}: figure is shown at {w}x{h} px; size it for a page"
            nxt = cs[i + 1] if i + 1 < len(cs) else None
            assert nxt is not None and nxt["cell_type"] == "markdown", f"{where(nb, i, c)}: a figure must be followed by a sentence saying what to see"

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_figures_have_caption_and_alt_text(nb):
    "A cell that saves a figure carries `#| fig-cap:` and `#| fig-alt:` (Quarto's caption and alt text)."
    bad = [where(nb, i, c) for i, c in enumerate(cells(nb)) if c["cell_type"] == "code"
           and any("image/png" in o.get("data", {}) or "image/svg+xml" in o.get("data", {}) for o in c.get("outputs", []))
           and not (has(c, "fig-cap") and has(c, "fig-alt"))]
    assert not bad, f"figures without '#| fig-cap:' and '#| fig-alt:': {bad}"

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_outputs_and_code_fit_the_page(nb):
    "Printed output lines at most OUTPUT_WIDTH characters, code lines shown on the page at most CODE_WIDTH."
    bad = []
    for i, c in enumerate(cells(nb)):
        if c["cell_type"] != "code": continue
        for t in output_texts(c):
            long = [l for l in t.splitlines() if len(l.rstrip()) > OUTPUT_WIDTH]
            if long: bad.append(f"{where(nb, i, c)}: {len(long)} output line(s) over {OUTPUT_WIDTH}, e.g. {long[0][:120]!r}")
        if shown(c):
            long = [l for l in src(c).splitlines() if len(l) > CODE_WIDTH and not l.startswith("#|")]
            if long: bad.append(f"{where(nb, i, c)}: {len(long)} code line(s) over {CODE_WIDTH}, e.g. {long[0][:120]!r}")
    assert not bad, "\n".join(bad)

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_outputs_deterministic(nb):
    "No memory addresses, progress bars or timings (outside the benchmarks page), no PNG metadata that changes."
    bad = []
    for i, c in enumerate(cells(nb)):
        if c["cell_type"] != "code": continue
        t = all_output_text(c)
        if m := ADDRESS.search(t): bad.append(f"{where(nb, i, c)}: memory address {m.group(0)} in the output")
        if m := PROGRESS_BAR.search(t): bad.append(f"{where(nb, i, c)}: progress bar in the output: {m.group(0)!r}")
        if "benchmarks" not in nb.stem and (m := TIMING.search("\n".join(output_texts(c)))):
            bad.append(f"{where(nb, i, c)}: a timing in the output: {m.group(0)!r}")
        for o in c.get("outputs", []):  # the same figure gives the same bytes in Jupyter and execnb,
            png = o.get("data", {}).get("image/png")  # with any matplotlib version
            if not png: continue
            if "Software" in _png_text_keys(_png(text(png))[0]):
                bad.append(f"{where(nb, i, c)}: the PNG records the matplotlib version (Software); " + FIX)
            if "width" not in o.get("metadata", {}).get("image/png", {}):
                bad.append(f"{where(nb, i, c)}: the PNG is not a retina figure (as execnb saves it); " + FIX)
    assert not bad, "\n".join(bad)

# ---- words and links --------------------------------------------------------------------------

def _strings_and_comments(code):
    "The string literals and comments of a code cell: docstrings, docments, printed text."
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code
    return "\n".join(t.string for t in toks if t.type in (tokenize.STRING, tokenize.COMMENT)
                     and not t.string.lstrip().startswith("#|"))

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_no_words_about_how_the_project_is_made(nb):
    bad = []
    for i, c in enumerate(cells(nb)):
        body = src(c) if c["cell_type"] == "markdown" else _strings_and_comments(src(c)) + "\n" + all_output_text(c)
        for m in PROCESS.finditer(body):
            bad.append(f"{where(nb, i, c)}: {body[max(0, m.start() - 40):m.end() + 40]!r}")
    assert not bad, "words about how the project is made:\n" + "\n".join(bad)

def _private_symbols():
    "Names nbdev would turn into links (its symbol index) that start with '_': no page documents them."
    try:
        from nnnotes._modidx import d
    except ImportError:
        return set()
    return {n.rsplit(".", 1)[-1] for mod in d["syms"].values() for n in mod if n.rsplit(".", 1)[-1].startswith("_")}

PRIVATE = _private_symbols()

def _markdown_without_code(md): return re.sub(r"```.*?```", "", md, flags=re.S)

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_no_links_to_private_names(nb):
    "No link target starting with '_', and no `_private` name in backticks, which nbdev turns into such a link."
    bad = []
    for i, c in enumerate(cells(nb)):
        if c["cell_type"] == "markdown": body = _markdown_without_code(src(c))
        else: body = _strings_and_comments(src(c)) + "\n" + all_output_text(c)
        for m in re.finditer(r"\]\((?:[\w./-]*\.html)?#_[^)]*\)|\]\(_[^)]*\)", body):
            bad.append(f"{where(nb, i, c)}: link {m.group(0)}")
        for m in re.finditer(r"`([\w.]+?)(?:\(\))?`", body):
            if m.group(1).rsplit(".", 1)[-1] in PRIVATE: bad.append(f"{where(nb, i, c)}: `{m.group(1)}` becomes a link to no anchor")
    assert not bad, "\n".join(bad)

def page_of(nb_name):
    "The page nbdev renders a notebook to (nbdev.doclinks._nbpath2html): the name without its number prefix."
    return re.sub(r"^\d+[a-zA-Z0-9]*_", "", Path(nb_name).stem.lower()) + ".html"

def pandoc_id(title):
    """The identifier Pandoc's auto_identifiers extension (Quarto's default) gives a heading: the text
    without markup (math keeps its TeX source), lower case, only letters, digits, '_', '-', '.' and
    spaces kept, words joined by '-', everything before the first letter dropped; 'section' if empty."""
    t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)     # a link keeps its text
    t = re.sub(r"(?<!\w)(_{1,2})(\S(?:.*?\S)?)\1(?!\w)", r"\2", t)  # _emphasis_, __strong__ (__getattr__)
    t = re.sub(r"[`$]", "", t).replace("...", "")          # code and math keep their source
    t = "".join(ch for ch in t.lower() if ch.isalnum() or ch.isspace() or ch in "_-.")
    t = "-".join(t.split())
    while t and not t[0].isalpha(): t = t[1:]
    return t or "section"

def _heading_lines(md):
    fence = False
    for line in md.splitlines():
        if line.lstrip().startswith("```"): fence = not fence
        elif not fence and (m := re.match(r"(#{1,6})\s+(.+?)\s*#*\s*$", line)): yield len(m.group(1)), m.group(2)

def _auto_show_docs(cs):
    """The names nbdev's docs build documents on its own (processor add_show_docs): functions and
    classes defined in an exported cell that no show_doc names, public or dunder."""
    shown = {m.group(1) for c in cs if c["cell_type"] == "code"
             for m in re.finditer(r"^\s*show_doc\(\s*([\w.]+)", src(c), re.M)}
    auto = {}
    for i, c in enumerate(cs):
        if c["cell_type"] != "code" or has(c, "hide") or not any(has(c, d) for d in ("export", "exports", "exec_doc")):
            continue
        try: tree = ast.parse("\n".join(l for l in src(c).splitlines() if not l.lstrip().startswith(("%", "!"))))
        except SyntaxError: continue
        auto[i] = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                   and n.name not in shown and (not n.name.startswith("_") or n.name.startswith("__"))]
    return auto

def page_headings(nb):
    """Every heading of a rendered page in order, as (level, text): markdown headings (the title is
    front matter, not a heading), headings written by show_doc (also those nbdev adds) and by
    markdown outputs."""
    out, title = [], True
    cs = cells(nb)
    auto = _auto_show_docs(cs)
    for i, c in enumerate(cs):
        s, found = src(c), []
        if c["cell_type"] == "markdown":
            found = list(_heading_lines(s))
            if title and found and found[0][0] == 1: found, title = found[1:], False
        elif not has(c, "hide"):
            found = [(3, m.group(1)) for m in re.finditer(r"^\s*show_doc\(\s*([\w.]+)", s, re.M)]
            found += [h for o in c.get("outputs", []) for h in _heading_lines(text(o.get("data", {}).get("text/markdown")))]
            found += [(3, n) for n in auto.get(i, [])]
        out += found
    return out

def page_ids(nb):
    "Every id on a rendered page, in order, numbered as Pandoc numbers a repeated one (x, x-1, x-2)."
    ids, seen = [], {}
    for _, t in page_headings(nb):
        m = re.search(r"\{#([\w.-]+)[^}]*\}\s*$", t)
        base = m.group(1) if m else pandoc_id(t)
        n = seen.get(base, 0); seen[base] = n + 1
        ids.append(base if n == 0 else f"{base}-{n}")
    return ids

def _pandoc():
    "A pandoc to compare with: on the PATH, or the one Quarto bundles."
    import shutil
    if shutil.which("pandoc"): return ["pandoc"]
    if shutil.which("quarto"): return ["quarto", "pandoc"]

@pytest.mark.skipif(_pandoc() is None, reason="no pandoc (nor Quarto) on this machine")
@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_ids_agree_with_pandoc(nb):
    "Where pandoc is at hand: the ids computed here are the ones pandoc gives the same headings."
    import subprocess
    md = "\n\n".join("#" * level + " " + t for level, t in page_headings(nb))
    html = subprocess.run(_pandoc() + ["-f", "markdown", "-t", "html"], input=md, capture_output=True,
                          text=True, check=True).stdout
    assert re.findall(r'id="([^"]*)"', html) == page_ids(nb)

def test_pandoc_ids():
    "The rule above on the cases these pages have."
    assert pandoc_id("① Gradient descent") == "gradient-descent"
    assert pandoc_id("Logistic σ") == "logistic-σ"
    assert pandoc_id("Line 1: ∂f/∂θ₁ through u and v") == "line-1-fθ₁-through-u-and-v"
    assert pandoc_id("Erratum: Adam's step divides by √v̂, with ε outside the root") == "erratum-adams-step-divides-by-v-with-ε-outside-the-root"
    assert pandoc_id("Computing $D^q$ without cancellation") == "computing-dq-without-cancellation"
    assert pandoc_id("`nnnotes verify`") == "nnnotes-verify"
    assert pandoc_id("404 pages") == "pages"
    assert pandoc_id("__getattr__") == "getattr" and pandoc_id("the w_j") == "the-w_j"

@pytest.fixture(scope="module")
def site():
    return {page_of(nb.name): set(page_ids(nb)) for nb in NBS}

@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_links_land_on_a_heading(nb, site):
    "Every link to a page of the site names a page that exists and, after '#', an id on it."
    bad = []
    for i, c in enumerate(cells(nb)):
        body = src(c) if c["cell_type"] == "markdown" else "\n".join(
            text(o.get("data", {}).get("text/markdown")) for o in c.get("outputs", []))
        for m in re.finditer(r"\]\((?!https?:)([\w-]+)\.(?:html|ipynb)(?:#([^)\s]+))?\)", body):
            page, frag = page_of(m.group(1)), m.group(2)
            if page not in site: bad.append(f"{where(nb, i, c)}: {m.group(0)}: no page {page}")
            elif frag and frag not in site[page]: bad.append(f"{where(nb, i, c)}: {m.group(0)}: no heading with id {frag!r} on {page}")
        for m in re.finditer(r"\]\(#([^)\s]+)\)", body):
            if m.group(1) not in site[page_of(nb.name)]: bad.append(f"{where(nb, i, c)}: {m.group(0)}: no such id on this page")
    assert not bad, "\n".join(bad)

# ---- stable re-runs ---------------------------------------------------------------------------

def _outputs(nb_cells):
    "The outputs of each code cell, without execution counts."
    strip = lambda o: {k: v for k, v in o.items() if k != "execution_count"}
    return [[strip(o) for o in c.get("outputs", [])] for c in nb_cells if c["cell_type"] == "code"]

@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("NNNOTES_RERUN"), reason="re-runs notebooks: set NNNOTES_RERUN=1 (or =01_activations,07_errata)")
@pytest.mark.parametrize("nb", NBS, ids=IDS)
def test_rerun_gives_the_saved_outputs(nb, monkeypatch):
    "Running a notebook top to bottom gives exactly the outputs saved in it, so run-all + nbdev_clean leaves no diff."
    only = os.environ["NNNOTES_RERUN"]
    if only != "1" and nb.stem not in only.split(","): pytest.skip("not selected")
    from execnb.nbio import read_nb, dict2nb
    from execnb.shell import CaptureShell
    monkeypatch.chdir(nb.parent)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    fresh = read_nb(nb)
    CaptureShell().run_all(fresh, exc_stop=True)
    saved = _outputs(cells(nb))
    ran = _outputs(json.loads(json.dumps(fresh))["cells"])
    diff = [i for i, (a, b) in enumerate(zip(saved, ran)) if a != b]
    assert not diff, f"{nb.name}: code cells {diff} give different outputs when run again"
