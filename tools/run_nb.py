"Run notebooks top to bottom in a fresh shell and save their outputs: python tools/run_nb.py nbs/01_activations.ipynb ..."
import os, sys
from pathlib import Path
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

for fn in [Path(a).resolve() for a in sys.argv[1:]]:
    fn = Path(fn).resolve()
    nb = read_nb(fn)
    for c in nb.cells:  # execnb keeps a cell's old outputs when it prints nothing now
        if c.cell_type == "code": c.outputs = []
    os.chdir(fn.parent)
    sh = CaptureShell()
    sh.run_all(nb, exc_stop=True)
    write_nb(nb, fn)
    print("ran", fn.name)
