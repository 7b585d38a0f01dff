"""Pictures of the computational graph: what autograd recorded, as Graphviz DOT text.

    y = model(x)
    viz.graph(y, model=model).save("graph.svg")                  # one node per op
    viz.graph(y, model=model, collapse=2).save("graph.svg")      # layer1.0, layer1.1, ... as single nodes

An op node shows the op, the module it ran in, and its output's shape and dtype; a leaf node is a
parameter (named as in ``model.named_parameters()``) or another tensor fed in (the image, labels).
Edges follow the data, and each carries the shape of the tensor that flows along it. Gradients
flow back along the same edges, but only along those whose tensor needs one: ``show_grads``
marks them, and after ``backward(retain_graph=True)`` shows each leaf's gradient.
"""
import os
import shutil
import subprocess

from minicnn.names import ModuleNames
from minicnn.atomic import atomic_write
from minicnn.tensor import Tensor

__all__ = ["graph", "DotGraph"]

RENDERED = {".svg", ".png", ".pdf"}
TEXT = {".dot", ".gv"}
COLORS = {"op": "#fde9c9", "module": "#e3d7f4", "parameter": "#dbe9f6", "tensor": "#eeeeee"}


class DotGraph(str):
    """DOT source text (a str) that can also save itself: ``.dot``/``.gv`` as text, ``.svg``,
    ``.png`` or ``.pdf`` rendered by Graphviz's ``dot`` program."""

    def save(self, path):
        ext = os.path.splitext(path)[1].lower()
        if ext in TEXT:
            with atomic_write(path, suffix=ext) as tmp, open(tmp, "w") as f:
                f.write(self)
            return path
        if ext not in RENDERED:
            raise ValueError(f"DotGraph.save: unknown extension {ext!r} in {path!r}; use one of "
                             f"{', '.join(sorted(TEXT | RENDERED))}")
        dot = shutil.which("dot")
        if dot is None:
            raise RuntimeError(f"DotGraph.save: rendering {ext} needs the Graphviz 'dot' program, which is not "
                               "installed (Debian/Ubuntu: sudo apt-get install graphviz); saving as .dot works without it")
        with atomic_write(path, suffix=ext) as tmp:
            done = subprocess.run([dot, f"-T{ext[1:]}", "-o", tmp], input=self, text=True, capture_output=True)
            if done.returncode != 0:
                raise RuntimeError(f"DotGraph.save: dot failed ({done.returncode}): {done.stderr.strip()}")
        return path


def graph(outputs, model=None, collapse=None, show_grads=False, rankdir="TB"):
    """Walk the graph recorded behind ``outputs`` (a Tensor or several) and return a DotGraph.

    model: names the parameters and modules (without it leaves are labelled "tensor" or "input"
        and ops show their module's class name).
    collapse: an int d draws every module at depth d (``layer1`` is depth 1, ``layer1.0`` depth 2)
        as one node holding its ops and parameters; a class or tuple of classes (e.g.
        ``Bottleneck``) does so for every module of those classes. Needs ``model``.
    show_grads: mark the edges gradients flow back along, and show leaves' ``.grad`` shapes.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    names = ModuleNames()
    if model is not None:
        names.add_root(model)
    group_of = _grouping(model, names, collapse)
    functions, leaves = _walk(outputs)

    lines = ["digraph minicnn {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10, style="rounded,filled"];',
             '  edge [fontname="Helvetica", fontsize=8];']
    op_node, leaf_node, groups = {}, {}, {}     # id(function) / id(leaf) -> node; group name -> node
    for i, f in enumerate(functions):
        module = getattr(f, "module", None)
        group = group_of(names.module(module)) if module is not None else None
        if group is not None:
            op_node[id(f)] = groups.setdefault(group, f"module{len(groups)}")
            continue
        op_node[id(f)] = f"op{i}"
        where = f"\\n{_escape(names.module(module))}" if module is not None else ""
        shapes = ", ".join(f"{_shape(shape)} {dtype}" for shape, dtype in f.output_meta)
        lines.append(f'  op{i} [label="{type(f).__name__}{where}\\n{shapes}", shape=box, '
                     f'fillcolor="{COLORS["op"]}"];')
    for group, node in groups.items():
        label = f"{_escape(group)}\\n{type(group_of.modules[group]).__name__}"
        lines.append(f'  {node} [label="{label}", shape=box3d, fillcolor="{COLORS["module"]}"];')
    for i, x in enumerate(leaves):
        name = names.parameter(x)
        group = group_of(name.rpartition(".")[0]) if name is not None else None
        if group is not None:
            leaf_node[id(x)] = groups.get(group)     # drawn inside its collapsed module (None: unused there)
            continue
        kind = "parameter" if name is not None else "tensor"
        label = f"{_escape(name or x.name or ('tensor' if x.requires_grad else 'input'))}\\n{_shape(x.shape)}"
        if show_grads and x.grad is not None:
            label += f"\\ngrad {_shape(x.grad.shape)}"
        leaf_node[id(x)] = f"leaf{i}"
        lines.append(f'  leaf{i} [label="{label}", shape={"box" if kind == "parameter" else "ellipse"}, '
                     f'fillcolor="{COLORS[kind]}"];')

    drawn = set()
    for f in functions:
        dst = op_node[id(f)]
        for x, needs_grad in zip(f.inputs, f.needs_input_grad):
            src = op_node[id(x.creator)] if x.creator is not None else leaf_node[id(x)]
            if src is None or src == dst:
                continue                   # inside one collapsed module
            if src.startswith("module") or dst.startswith("module"):
                if (src, dst) in drawn:
                    continue               # one edge between two collapsed modules is enough
                drawn.add((src, dst))
            attributes = [f'label="{_shape(x.shape)}"']
            if show_grads and needs_grad:
                attributes += ['color="#c0392b"', "dir=both", "arrowtail=onormal"]
            lines.append(f"  {src} -> {dst} [{', '.join(attributes)}];")
    lines.append("}")
    return DotGraph("\n".join(lines) + "\n")


def _walk(outputs):
    """Every Function behind ``outputs`` (inputs before users) and every leaf tensor reached."""
    functions, leaves, seen = [], [], set()
    stack = [y.creator for y in outputs if y.creator is not None]
    for y in outputs:
        if y.creator is None and id(y) not in seen:
            seen.add(id(y))
            leaves.append(y)
    while stack:
        f = stack.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        if f.inputs is None:
            raise RuntimeError(f"viz.graph: the graph through {type(f).__name__} was freed by backward; draw it "
                               "before backward, or call backward(retain_graph=True)")
        functions.append(f)
        for x in f.inputs:
            if x.creator is not None:
                stack.append(x.creator)
            elif id(x) not in seen:
                seen.add(id(x))
                leaves.append(x)
    functions.sort(key=lambda f: f.generation)
    return functions, leaves


def _grouping(model, names, collapse):
    """A function: a module's qualified name -> the collapsed module's name holding it, or None
    (the root model itself is never collapsed: its own ops and parameters stay separate nodes)."""
    modules = dict(model.named_modules()) if model is not None else {}
    modules.pop("", None)

    if collapse is None:
        def group_of(name):
            return None
    elif model is None:
        raise ValueError("viz.graph: collapse needs model= to know which ops belong to which module")
    elif isinstance(collapse, int):
        if collapse < 1:
            raise ValueError(f"viz.graph: collapse depth must be >= 1, got {collapse}")

        def group_of(name):
            parts = name.split(".")
            return ".".join(parts[:collapse]) if name in modules and len(parts) >= collapse else None
    else:
        classes = collapse if isinstance(collapse, tuple) else (collapse,)

        def group_of(name):
            if name not in modules:
                return None
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if isinstance(modules.get(prefix), classes):
                    return prefix
            return None
    group_of.modules = modules
    return group_of


def _shape(shape):
    return str(tuple(shape))


def _escape(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"')
