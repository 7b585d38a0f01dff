"""``minicnn.trace()``: watch the chain rule run, one line per op of a backward pass.

    with minicnn.trace():
        loss = F.cross_entropy(model(x), y)
        loss.backward()

prints, in the order backward runs them (from the loss back to the input), each op with the
module it ran in, the gradient that reached its output and the gradients it sends to its inputs,
with their shapes and L2 norms:

    backward 2: Linear in classifier.5
        dL/d output (2, 10) |0.6722|
        dL/d input 0 (2, 84) |0.3766|  dL/d classifier.5.weight (10, 84) |0.2442|  dL/d classifier.5.bias (10,) |0.6357|

Read it next to each op's backward in minicnn/ops/: every line is one application of the chain
rule, dL/dx = (dy/dx)^T dL/dy. Running the forward inside the block too names the parameters.
"""
import sys

from minicnn.autograd import Observer, observe, outermost_module
from minicnn.backend import get_array_module
from minicnn.names import ModuleNames

__all__ = ["trace", "Trace"]


def trace(file=None):
    """A context manager printing every op of each backward run inside it (to ``file``, default stdout)."""
    return Trace(file)


class Trace(Observer):
    def __init__(self, file=None):
        self.file = file
        self.names = ModuleNames()
        self.count = 0

    def __enter__(self):
        self._handle = observe(self)
        return self

    def __exit__(self, *exc):
        self._handle.remove()
        return False

    def module_begin(self, module):
        if module is outermost_module():
            self.names.add_root(module)

    def op_end(self, function, phase, inputs, outputs):
        if phase != "backward":
            return
        self.count += 1
        module = getattr(function, "module", None)
        where = f" in {self.names.module(module)}" if module is not None else ""
        sent = []
        for i, (x, g) in enumerate(zip(function.inputs, outputs)):
            if g is not None:
                sent.append(f"dL/d {self.names.parameter(x) or f'input {i}'} {_describe(g)}")
        received = "  ".join(f"dL/d output {_describe(g)}" for g in inputs)
        print(f"backward {self.count}: {type(function).__name__}{where}\n    {received}\n"
              f"    {'  '.join(sent) or '(no input needs a gradient)'}", file=self.file or sys.stdout)


def _describe(g):
    norm = float(get_array_module(g).linalg.norm(g.astype("float64").ravel()))
    return f"{tuple(g.shape)} |{norm:.4g}|"
