"""viz.graph: the DOT text is valid and says exactly what autograd recorded (checked against our own
walk of ``creator`` / ``inputs``), collapsing modules, gradient marks, and saving as .dot/.svg."""
import importlib
import os
import shutil
import subprocess
import warnings
from collections import Counter

import numpy as np
import pytest

import minicnn as mc
from minicnn import models, nn, ops
from minicnn.models.resnet import BasicBlock
from minicnn.viz.graph import DotGraph, graph

graph_module = importlib.import_module("minicnn.viz.graph")   # minicnn.viz.graph, the attribute, is the function

GRAD_COLOR = "#c0392b"


# ---- helpers (test_cli.py uses them too) -----------------------------------------------------------
def parse_dot(text):
    """({node name: label lines}, [(source, destination, {attribute: value})]) of DOT text, parsed by pydot."""
    with warnings.catch_warnings():          # pydot's parser uses pyparsing names that newer pyparsing deprecates
        warnings.simplefilter("ignore", DeprecationWarning)
        pydot = pytest.importorskip("pydot")
        parsed = pydot.graph_from_dot_data(str(text))
    assert parsed is not None and len(parsed) == 1, "pydot could not parse the DOT text"
    g = parsed[0]
    unquote = lambda s: s[1:-1] if s and s[0] == s[-1] == '"' else s     # noqa: E731
    nodes = {n.get_name(): unquote(n.get_label() or "").split("\\n")
             for n in g.get_nodes() if n.get_name() not in ("node", "edge", "graph")}
    edges = [(e.get_source(), e.get_destination(), {k: unquote(v) for k, v in e.get_attributes().items()})
             for e in g.get_edges()]
    for src, dst, _ in edges:
        assert src in nodes and dst in nodes, f"edge {src} -> {dst} names an undeclared node"
    return nodes, edges


def walk(outputs):
    """Our own walk of the recorded graph: (the Functions, the leaf tensors), each once."""
    functions, leaves, todo = {}, {}, list(outputs)
    while todo:
        t = todo.pop()
        if t.creator is None:
            leaves[id(t)] = t
        elif id(t.creator) not in functions:
            functions[id(t.creator)] = t.creator
            todo.extend(t.creator.inputs)
    return list(functions.values()), list(leaves.values())


def shape(s):
    return str(tuple(s))


def find(nodes, first_line):
    (name,) = [n for n, label in nodes.items() if label[0] == first_line]
    return name


# ---- fixtures --------------------------------------------------------------------------------------
@pytest.fixture
def lenet():
    mc.manual_seed(0)
    model = models.get("lenet5")
    x = mc.Tensor(np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32))
    return model, x


@pytest.fixture(scope="module")
def resnet():
    mc.manual_seed(0)
    model = models.get("resnet20")
    x = mc.Tensor(np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))
    return model, x, model(x)


def tiny():
    """y = relu(x @ w + b) * x: MatMul, Add, ReLU, Mul over the leaves x (used twice), w and b."""
    rng = np.random.default_rng(0)
    x = mc.Tensor(rng.standard_normal((2, 3)).astype(np.float32))
    w = mc.Tensor(rng.standard_normal((3, 3)).astype(np.float32), requires_grad=True)
    b = mc.Tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    return x, w, b, ops.relu(x @ w + b) * x


# ---- structure -------------------------------------------------------------------------------------
def test_tiny_graph_has_one_node_per_op_and_leaf_and_one_edge_per_input():
    x, w, b, y = tiny()
    functions, leaves = walk([y])
    assert len(functions) == 4 and len(leaves) == 3
    assert sum(len(f.inputs) for f in functions) == 7
    nodes, edges = parse_dot(graph(y))
    assert len(nodes) == 4 + 3 and len(edges) == 7
    assert sorted(label[0] for label in nodes.values()) == sorted(["MatMul", "Add", "ReLU", "Mul", "input",
                                                                   "tensor", "tensor"])
    # x is one node with two edges out of it (into MatMul and into Mul), both labelled with its shape.
    x_node = find(nodes, "input")
    assert nodes[x_node] == ["input", "(2, 3)"]
    out_of_x = sorted(nodes[dst][0] for src, dst, _ in edges if src == x_node)
    assert out_of_x == ["MatMul", "Mul"]
    assert all(a["label"] == "(2, 3)" for src, _, a in edges if src == x_node)
    assert Counter(a["label"] for _, _, a in edges) == Counter(shape(i.shape) for f in functions for i in f.inputs)
    # Op nodes: the op and its output's shape and dtype (no module line: these ops ran outside any module).
    assert nodes[find(nodes, "Mul")] == ["Mul", "(2, 3) float32"]
    # Edges follow the data: MatMul -> Add -> ReLU -> Mul.
    chain = {(nodes[s][0], nodes[d][0]) for s, d, _ in edges}
    assert {("MatMul", "Add"), ("Add", "ReLU"), ("ReLU", "Mul")} <= chain
    assert isinstance(graph(y), DotGraph) and isinstance(graph(y), str)


def test_lenet5_nodes_and_edges_match_the_recorded_graph(lenet):
    model, x = lenet
    y = model(x)
    functions, leaves = walk([y])
    nodes, edges = parse_dot(graph(y, model=model))
    assert len(functions) == 12 and len(leaves) == 11            # 12 ops; 10 parameters and the image
    assert len(nodes) == len(functions) + len(leaves)
    assert len(edges) == sum(len(f.inputs) for f in functions)
    assert Counter(a["label"] for _, _, a in edges) == Counter(shape(i.shape) for f in functions for i in f.inputs)


def test_lenet5_labels_name_ops_modules_parameters_and_shapes(lenet):
    model, x = lenet
    nodes, edges = parse_dot(graph(model(x), model=model, rankdir="LR"))
    conv = [n for n, label in nodes.items() if label[:2] == ["Conv2d", "features.0"]]
    assert len(conv) == 1 and nodes[conv[0]] == ["Conv2d", "features.0", "(1, 6, 28, 28) float32"]
    assert ["Reshape", "classifier.0", "(1, 400) float32"] in nodes.values()
    assert ["Linear", "classifier.5", "(1, 10) float32"] in nodes.values()
    # Every parameter is a leaf named as in named_parameters(), with its shape.
    parameters = dict(model.named_parameters())
    for name, p in parameters.items():
        assert nodes[find(nodes, name)] == [name, shape(p.shape)]
    weight, image = find(nodes, "features.0.weight"), find(nodes, "input")
    assert nodes[image] == ["input", "(1, 1, 32, 32)"]
    into_conv = {src: a["label"] for src, dst, a in edges if dst == conv[0]}
    assert into_conv == {image: "(1, 1, 32, 32)", weight: "(6, 1, 5, 5)", find(nodes, "features.0.bias"): "(6,)"}
    # The conv's output flows into features.1's ReLU along an edge carrying its shape.
    relu = [n for n, label in nodes.items() if label[:2] == ["ReLU", "features.1"]]
    assert [(a["label"]) for s, d, a in edges if s == conv[0]] == ["(1, 6, 28, 28)"] and \
        [d for s, d, _ in edges if s == conv[0]] == relu


def test_without_a_model_ops_show_their_module_class(lenet):
    model, x = lenet
    nodes, _ = parse_dot(graph(model(x)))
    assert ["Conv2d", "Conv2d", "(1, 6, 28, 28) float32"] in nodes.values()
    assert ["Reshape", "Flatten", "(1, 400) float32"] in nodes.values()
    assert not any(label[0].startswith("features.") for label in nodes.values())


def test_a_tensor_used_twice_is_one_leaf_with_two_edges():
    x = mc.Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    nodes, edges = parse_dot(graph(x * x))
    assert len(nodes) == 2 and len(edges) == 2
    leaf, op = find(nodes, "tensor"), find(nodes, "Mul")
    assert [(s, d) for s, d, _ in edges] == [(leaf, op), (leaf, op)]


def test_residual_block_input_feeds_both_paths(resnet):
    model, x, y = resnet
    functions, leaves = walk([y])
    nodes, edges = parse_dot(graph(y, model=model))
    assert len(nodes) == len(functions) + len(leaves)
    assert len(edges) == sum(len(f.inputs) for f in functions)
    # layer1.0's input (the stem's ReLU output) goes to layer1.0.conv1 and to the residual Add.
    stem_relu = [n for n, label in nodes.items() if label[:2] == ["ReLU", "relu"]]
    assert len(stem_relu) == 1
    targets = sorted(tuple(nodes[d][:2]) for s, d, _ in edges if s == stem_relu[0])
    assert targets == [("Add", "layer1.0"), ("Conv2d", "layer1.0.conv1")]


def test_several_outputs_share_one_graph():
    x, w, b, y = tiny()
    z = ops.relu(y)
    functions, leaves = walk([y, z])
    nodes, edges = parse_dot(graph((y, z)))
    assert len(nodes) == len(functions) + len(leaves) == 8
    assert len(edges) == 8


def test_a_leaf_given_twice_as_an_output_is_one_node():
    x = mc.Tensor(np.ones((2, 2), np.float32), requires_grad=True)
    nodes, edges = parse_dot(graph([x, x]))
    assert list(nodes.values()) == [["tensor", "(2, 2)"]] and edges == []


# ---- collapse --------------------------------------------------------------------------------------
def test_collapse_1_draws_each_top_level_module_as_one_node(resnet):
    model, x, y = resnet
    functions, leaves = walk([y])
    modules = {id(m): name for name, m in model.named_modules()}
    top = {modules[id(f.module)].split(".")[0] for f in functions if f.module is not model}
    root_ops = [f for f in functions if f.module is model]
    parameter_ids = {id(p) for p in model.parameters()}
    other_leaves = [t for t in leaves if id(t) not in parameter_ids]
    children = [name for name, _ in model.named_children()]
    assert top == set(children) == {"conv1", "bn1", "relu", "layer1", "layer2", "layer3", "avgpool", "fc"}
    assert [type(f).__name__ for f in root_ops] == ["Reshape"] and len(other_leaves) == 1    # flatten; the image

    nodes, edges = parse_dot(graph(y, model=model, collapse=1))
    assert len(nodes) == len(children) + len(root_ops) + len(other_leaves)
    module_nodes = {label[0]: label[1] for label in nodes.values() if len(label) == 2 and label[0] in children}
    assert module_nodes == {name: type(m).__name__ for name, m in model.named_children()}
    assert len(nodes) < len(parse_dot(graph(y, model=model))[0])
    # The data flows through the stages in order, one edge between two collapsed modules.
    first = {n: label[0] for n, label in nodes.items()}
    assert sorted((first[s], first[d]) for s, d, _ in edges) == sorted([
        ("input", "conv1"), ("conv1", "bn1"), ("bn1", "relu"), ("relu", "layer1"), ("layer1", "layer2"),
        ("layer2", "layer3"), ("layer3", "avgpool"), ("avgpool", "Reshape"), ("Reshape", "fc")])
    assert {a["label"] for s, d, a in edges if first[s] == "layer1"} == {"(1, 16, 32, 32)"}


def test_collapse_2_draws_each_block(resnet):
    model, _, y = resnet
    nodes, _ = parse_dot(graph(y, model=model, collapse=2))
    drawn = sorted(label[0] for label in nodes.values() if label[-1] == "BasicBlock")
    assert drawn == sorted(name for name, m in model.named_modules() if isinstance(m, BasicBlock))
    assert len(drawn) == 9


@pytest.mark.parametrize("collapse", [BasicBlock, (BasicBlock,)])
def test_collapse_by_class_draws_one_node_per_block(resnet, collapse):
    model, _, y = resnet
    functions, leaves = walk([y])
    blocks = [name for name, m in model.named_modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 9
    modules = {id(m): name for name, m in model.named_modules()}
    in_block = lambda name: any(name == b or name.startswith(b + ".") for b in blocks)     # noqa: E731
    outside_ops = [f for f in functions if not in_block(modules[id(f.module)])]
    parameter_names = {id(p): name for name, p in model.named_parameters()}
    outside_leaves = [t for t in leaves if not in_block(parameter_names.get(id(t), ""))]
    assert len(outside_leaves) == 1 + 1 + 2 + 2            # the image, conv1, bn1 and fc parameters

    nodes, edges = parse_dot(graph(y, model=model, collapse=collapse))
    block_nodes = sorted(label[0] for label in nodes.values() if label == [label[0], "BasicBlock"])
    assert block_nodes == sorted(blocks)
    assert len(nodes) == len(blocks) + len(outside_ops) + len(outside_leaves)
    first = {n: label[0] for n, label in nodes.items()}
    assert ("layer1.2", "layer2.0") in {(first[s], first[d]) for s, d, _ in edges}
    assert ["Conv2d", "conv1", "(1, 16, 32, 32) float32"] in nodes.values()


def test_collapse_errors(lenet):
    model, x = lenet
    y = model(x)
    with pytest.raises(ValueError, match="collapse needs model="):
        graph(y, collapse=1)
    with pytest.raises(ValueError, match="collapse depth must be >= 1, got 0"):
        graph(y, model=model, collapse=0)
    with pytest.raises(ValueError, match="got -1"):
        graph(y, model=model, collapse=-1)


@pytest.mark.parametrize("collapse", [1, nn.Linear])
def test_collapse_keeps_the_root_modules_own_parameters(collapse):
    model = nn.Linear(3, 2)
    y = model(mc.Tensor(np.ones((1, 3), np.float32)))
    nodes, edges = parse_dot(graph(y, model=model, collapse=collapse))
    assert len(edges) == 3          # the root is never collapsed: image, weight and bias reach its Linear op


# ---- gradients -------------------------------------------------------------------------------------
def test_show_grads_marks_the_edges_gradients_flow_along(lenet):
    model, x = lenet
    loss = ops.cross_entropy(model(x), mc.Tensor(np.array([3])))
    loss.backward(retain_graph=True)
    functions, leaves = walk([loss])
    nodes, edges = parse_dot(graph(loss, model=model, show_grads=True))
    assert len(nodes) == len(functions) + len(leaves) and len(edges) == sum(len(f.inputs) for f in functions)
    for name, p in model.named_parameters():
        assert nodes[find(nodes, name)] == [name, shape(p.shape), f"grad {shape(p.grad.shape)}"]
    image = find(nodes, "input")
    assert nodes[image] == ["input", "(1, 1, 32, 32)"]                   # needs no gradient: none shown
    for src, dst, a in edges:
        if src == image:
            assert "color" not in a and "dir" not in a
        else:
            assert a["color"] == GRAD_COLOR and a["dir"] == "both"
    assert sum("color" in a for _, _, a in edges) == len(edges) - 1
    # Without show_grads nothing is marked, even with gradients there.
    nodes, edges = parse_dot(graph(loss, model=model))
    assert not any("color" in a for _, _, a in edges)
    assert not any(line.startswith("grad") for label in nodes.values() for line in label)


def test_show_grads_on_the_tiny_graph_leaves_the_constant_input_unmarked():
    x, w, b, y = tiny()
    loss = y.sum()
    loss.backward(retain_graph=True)
    nodes, edges = parse_dot(graph(loss, show_grads=True))
    x_node = find(nodes, "input")
    marked = Counter((nodes[s][0], nodes[d][0]) for s, d, a in edges if a.get("color") == GRAD_COLOR)
    unmarked = Counter((nodes[s][0], nodes[d][0]) for s, d, a in edges if "color" not in a)
    assert unmarked == Counter({("input", "MatMul"): 1, ("input", "Mul"): 1})
    assert sum(marked.values()) == 6                  # the other 5 inputs of the four ops, and the Sum's
    assert all(src != x_node for src, _, a in edges if "color" in a)
    assert sorted(label[2] for label in nodes.values() if label[0] == "tensor") == ["grad (3, 3)", "grad (3,)"]


def test_show_grads_before_backward_marks_edges_but_shows_no_gradient():
    x, w, b, y = tiny()
    nodes, edges = parse_dot(graph(y, show_grads=True))
    assert sum(a.get("color") == GRAD_COLOR for _, _, a in edges) == 5
    assert all(len(label) == 2 for label in nodes.values() if label[0] in ("tensor", "input"))


def test_graph_freed_by_backward_is_an_error_that_names_retain_graph(lenet):
    model, x = lenet
    loss = ops.cross_entropy(model(x), mc.Tensor(np.array([1])))
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        graph(loss, model=model)
    x2, w, b, y = tiny()
    y.sum().backward()
    with pytest.raises(RuntimeError, match="freed by backward.*retain_graph"):
        graph(y)


# ---- saving ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["graph.dot", "graph.gv"])
def test_save_dot_writes_the_text(tmp_path, lenet, name):
    model, x = lenet
    dot = graph(model(x), model=model)
    path = tmp_path / name
    assert dot.save(str(path)) == str(path)
    assert path.read_text() == dot
    assert os.listdir(tmp_path) == [name]              # no temporary file left


@pytest.mark.parametrize("ext", [".svg", ".png"])
def test_save_renders_with_graphviz(tmp_path, lenet, ext):
    if shutil.which("dot") is None:
        print("skipping: Graphviz 'dot' is not installed")
        pytest.skip("Graphviz 'dot' is not installed (apt-get install graphviz)")
    model, x = lenet
    path = tmp_path / f"graph{ext}"
    graph(model(x), model=model).save(str(path))
    data = path.read_bytes()
    if ext == ".svg":
        assert data.startswith(b"<?xml") or b"<svg" in data
        assert b"features.0.weight" in data
    else:
        assert data.startswith(b"\x89PNG")
    assert os.listdir(tmp_path) == [path.name]


def test_save_without_graphviz_says_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    x, w, b, y = tiny()
    with pytest.raises(RuntimeError) as e:
        graph(y).save(str(tmp_path / "graph.svg"))
    assert "install graphviz" in str(e.value) and ".dot works" in str(e.value)
    assert os.listdir(tmp_path) == []
    graph(y).save(str(tmp_path / "graph.dot"))          # still fine
    assert os.listdir(tmp_path) == ["graph.dot"]


@pytest.mark.parametrize("name", ["graph.txt", "graph", "graph.jpeg"])
def test_save_rejects_unknown_extensions(tmp_path, name):
    x, w, b, y = tiny()
    with pytest.raises(ValueError, match="unknown extension.*\\.dot.*\\.svg"):
        graph(y).save(str(tmp_path / name))
    assert os.listdir(tmp_path) == []


def test_failed_render_leaves_no_temporary_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    calls = []

    def failing_run(args, **kwargs):
        calls.append(args)
        return subprocess.CompletedProcess(args, 1, stdout="", stderr="Error: <stdin>: syntax error in line 1\n")

    monkeypatch.setattr(graph_module.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(graph_module.subprocess, "run", failing_run)
    x, w, b, y = tiny()
    with pytest.raises(RuntimeError, match=r"dot failed \(1\): Error: <stdin>: syntax error in line 1$"):
        graph(y).save(str(tmp_path / "graph.svg"))
    assert os.listdir(tmp_path) == []
    assert calls[0][:2] == ["/usr/bin/dot", "-Tsvg"]
    (tmp_path / "graph.pdf").write_text("old")
    with pytest.raises(RuntimeError, match="dot failed"):
        graph(y).save(str(tmp_path / "graph.pdf"))
    assert os.listdir(tmp_path) == ["graph.pdf"] and (tmp_path / "graph.pdf").read_text() == "old"


def test_real_graphviz_failure_is_reported_and_cleaned_up(tmp_path):
    if shutil.which("dot") is None:
        print("skipping: Graphviz 'dot' is not installed")
        pytest.skip("Graphviz 'dot' is not installed (apt-get install graphviz)")
    with pytest.raises(RuntimeError, match="dot failed"):
        DotGraph("digraph {  a -> \n").save(str(tmp_path / "broken.svg"))
    assert os.listdir(tmp_path) == []
