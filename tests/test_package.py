import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "minicnn"


def test_minicnn_never_imports_torch():
    """torch is a test oracle only: no module of the package may import it."""
    offenders = [str(p) for p in PACKAGE.rglob("*.py")
                 if any(line.strip().startswith(("import torch", "from torch")) for line in p.read_text().splitlines())]
    assert offenders == []
    out = subprocess.run([sys.executable, "-c", "import sys, minicnn; print('torch' in sys.modules, 'cupy' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
