import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "minicnn"


def test_minicnn_never_imports_torch():
    """torch is a test oracle only: no module of the package may import it."""
    offenders = [str(p) for p in PACKAGE.rglob("*.py")
                 if any(line.strip().startswith(("import torch", "from torch")) for line in p.read_text().splitlines())]
    assert offenders == []
    # nor do CuPy and numba load with it: each is imported on first use (a GPU array, a fast kernel)
    code = "import sys, minicnn; print(*(name in sys.modules for name in ('torch', 'cupy', 'numba')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False", "False"]
