"""python -m minicnn.viz: graph (any registered model), filters and maps (a LeNet-5 checkpoint of
python -m minicnn.train, trained for one epoch on 64 real Fashion-MNIST images)."""
import contextlib
import importlib
import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from minicnn import backend, models, recipes, train
from minicnn.data import fashion_mnist
from minicnn.data.datasets import DEBIAN_FASHION
from minicnn.trained import load_trained
from minicnn.viz.__main__ import main
from minicnn.viz.images import feature_maps
from tests.viz.test_graph import GRAD_COLOR, parse_dot

graph_module = importlib.import_module("minicnn.viz.graph")
needs_data = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                                reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    with contextlib.redirect_stdout(io.StringIO()):
        assert train.main(["--arch", "lenet5", "--subset", "64", "--epochs", "1", "--batch-size", "32",
                           "--lr", "0.05", "--device", "cpu", "--no-progress", "--out", str(out)]) == 0
    (folder,) = os.listdir(out)
    return os.path.join(out, folder, "best.safetensors")


def png_size(path):
    with Image.open(path) as png:
        assert png.format == "PNG"
        return png.size


# ---- graph -----------------------------------------------------------------------------------------
def test_graph_writes_parseable_dot(tmp_path, capsys):
    out = tmp_path / "g.dot"
    assert main(["graph", "--arch", "lenet5", "--out", str(out)]) == 0
    nodes, edges = parse_dot(out.read_text())
    assert len(nodes) == 12 + 11 and len(edges) == 22        # 12 ops; 10 parameters and the image
    assert ["Conv2d", "features.0", "(2, 6, 28, 28) float32"] in nodes.values()      # two images
    assert ["features.0.weight", "(6, 1, 5, 5)"] in nodes.values() and ["input", "(2, 1, 32, 32)"] in nodes.values()
    assert not any("color" in a for _, _, a in edges)
    assert capsys.readouterr().out == f"wrote {out}: 22 edges, lenet5 at input (1, 32, 32)\n"
    assert os.listdir(tmp_path) == ["g.dot"]


def test_graph_collapse_gives_fewer_nodes(tmp_path):
    full, collapsed = tmp_path / "full.dot", tmp_path / "collapsed.dot"
    with contextlib.redirect_stdout(io.StringIO()):
        main(["graph", "--arch", "lenet5", "--out", str(full)])
        main(["graph", "--arch", "lenet5", "--collapse", "1", "--out", str(collapsed)])
    nodes, edges = parse_dot(collapsed.read_text())
    assert len(nodes) < len(parse_dot(full.read_text())[0])
    assert sorted(nodes.values()) == [["classifier", "Sequential"], ["features", "Sequential"],
                                      ["input", "(2, 1, 32, 32)"]]
    first = {n: label[0] for n, label in nodes.items()}
    assert sorted((first[s], first[d]) for s, d, _ in edges) == [("features", "classifier"), ("input", "features")]


def test_graph_show_grads_draws_from_the_loss_and_marks_edges(tmp_path):
    out = tmp_path / "g.dot"
    with contextlib.redirect_stdout(io.StringIO()):
        main(["graph", "--arch", "lenet5", "--show-grads", "--out", str(out)])
    nodes, edges = parse_dot(out.read_text())
    assert len(nodes) == 13 + 11 and len(edges) == 23            # the loss is one more op
    assert ["CrossEntropy", "() float32"] in nodes.values()
    image = [n for n, label in nodes.items() if label[0] == "input"]
    for src, _, a in edges:
        assert (a.get("color") == GRAD_COLOR) == (src not in image)
    assert ["classifier.5.bias", "(10,)", "grad (10,)"] in nodes.values()


def test_graph_input_size(tmp_path):
    out = tmp_path / "g.dot"
    with contextlib.redirect_stdout(io.StringIO()):
        main(["graph", "--arch", "resnet20", "--input", "3,8,8", "--collapse", "2", "--out", str(out)])
    nodes, _ = parse_dot(out.read_text())
    assert ["input", "(2, 3, 8, 8)"] in nodes.values()
    assert sum(label[-1] == "BasicBlock" for label in nodes.values()) == 9


def test_graph_unknown_arch_lists_the_models(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["graph", "--arch", "lenet6", "--out", str(tmp_path / "g.dot")])
    message = str(e.value.code)
    assert "unknown --arch 'lenet6'" in message
    assert all(name in message for name in models.list()) and "resnet20" in message
    assert os.listdir(tmp_path) == []


def test_graph_save_errors_exit_with_a_message(tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="unknown extension '.txt'"):
        main(["graph", "--arch", "lenet5", "--out", str(tmp_path / "g.txt")])
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    with pytest.raises(SystemExit, match="install graphviz.*\\.dot works"):
        main(["graph", "--arch", "lenet5", "--out", str(tmp_path / "g.svg")])
    assert os.listdir(tmp_path) == []


def test_graph_default_output_is_an_svg(tmp_path, monkeypatch):
    if shutil.which("dot") is None:
        print("skipping: Graphviz 'dot' is not installed")
        pytest.skip("Graphviz 'dot' is not installed (apt-get install graphviz)")
    monkeypatch.chdir(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        main(["graph", "--arch", "lenet5"])
    assert os.listdir(tmp_path) == ["graph.svg"]
    assert b"<svg" in (tmp_path / "graph.svg").read_bytes()


def test_graph_into_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["graph", "--arch", "lenet5", "--out", str(tmp_path / "missing" / "g.dot")])
    assert str(e.value.code) == (f"minicnn viz graph: cannot write {tmp_path}/missing/g.dot: the folder "
                                 f"{tmp_path}/missing does not exist")


@pytest.mark.parametrize("size", ["1,28,28", "1,32", "a,b,c"])
def test_graph_bad_input_size_exits_with_a_message(tmp_path, size):
    with pytest.raises(SystemExit, match="minicnn viz graph: "):
        main(["graph", "--arch", "lenet5", "--input", size, "--out", str(tmp_path / "g.dot")])


# ---- filters ---------------------------------------------------------------------------------------
@needs_data
def test_filters_default_path_next_to_the_checkpoint(checkpoint, capsys):
    expected = os.path.join(os.path.dirname(checkpoint), "filters-features.0.png")
    try:
        assert main(["filters", "--checkpoint", checkpoint, "--layer", "features.0"]) == 0
        # 6 filters 1x5x5: 3 columns x 2 rows, 1-pixel lines, 19x13; 14 x 19 = 266 >= 256 pixels across
        assert png_size(expected) == (19 * 14, 13 * 14)
        assert capsys.readouterr().out == (f"wrote {expected}: the 6 filters (1x5x5) of layer features.0 of lenet5, "
                                           "14x: 266x182 pixels\n")
        assert not any(name.startswith(".") for name in os.listdir(os.path.dirname(checkpoint)))
    finally:
        if os.path.exists(expected):
            os.remove(expected)


@needs_data
def test_filters_out_and_columns(checkpoint, tmp_path):
    with contextlib.redirect_stdout(io.StringIO()):
        main(["filters", "--checkpoint", checkpoint, "--layer", "features.0", "--columns", "6",
              "--out", str(tmp_path / "f.png"), "--scale", "1"])
        main(["filters", "--checkpoint", checkpoint, "--layer", "features.3", "--out", str(tmp_path / "f3.png"),
              "--scale", "1"])
    assert png_size(tmp_path / "f.png") == (6 * 6 + 1, 6 + 1)
    assert png_size(tmp_path / "f3.png") == (6 * 6 + 1, 16 * 6 + 1)       # 16 rows of 6 input channels
    assert sorted(os.listdir(tmp_path)) == ["f.png", "f3.png"]


@needs_data
def test_filters_of_a_non_convolution_lists_the_convolutions(checkpoint, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["filters", "--checkpoint", checkpoint, "--layer", "features.1", "--out", str(tmp_path / "f.png")])
    assert str(e.value.code) == ("minicnn viz filters: --layer 'features.1' is not a convolution (ReLU); "
                                 "the convolutions of lenet5 are: features.0, features.3")
    with pytest.raises(SystemExit, match=r"'conv9' is not a convolution \(no such layer\).*features\.0, features\.3"):
        main(["filters", "--checkpoint", checkpoint, "--layer", "conv9", "--out", str(tmp_path / "f.png")])
    assert os.listdir(tmp_path) == []


def test_filters_missing_checkpoint_exits(tmp_path):
    with pytest.raises(SystemExit, match="minicnn viz filters: .*nothing.safetensors"):
        main(["filters", "--checkpoint", str(tmp_path / "nothing.safetensors"), "--layer", "features.0"])


# ---- maps ------------------------------------------------------------------------------------------
@needs_data
def test_maps_draws_the_test_image_as_validation_prepared_it(checkpoint, tmp_path, capsys):
    out = tmp_path / "m.png"
    assert main(["maps", "--checkpoint", checkpoint, "--layer", "features.3", "--index", "2", "--out", str(out),
                 "--scale", "1", "--no-labels"]) == 0
    assert png_size(out) == (45, 45)                 # 16 maps of 10x10: 4 x 4 grid
    assert capsys.readouterr().out == (f"wrote {out}: the feature maps of layer features.3 of lenet5 for test image 2 "
                                       f"of fashion-mnist (class 1: Trouser), 1x: 45x45 pixels, run on "
                                       f"{backend.device_name('cpu')}\n")
    # The same grid as feature_maps on test image 2, resized to 32x32 and normalised as in validation.
    model, config = load_trained(checkpoint)
    transform = recipes.make_transform("fashion-mnist", 1, 32, 28, train=False)
    grid = feature_maps(model, transform(fashion_mnist("test").images[2:3]), "features.3")
    with Image.open(out) as png:
        pixels = np.asarray(png.convert("L"), dtype=np.float64)
    assert np.abs(pixels - grid * 255).max() <= 2          # the gray colormap rounds to 256 levels
    assert os.listdir(tmp_path) == ["m.png"]


@needs_data
def test_maps_default_path_next_to_the_checkpoint(checkpoint):
    expected = os.path.join(os.path.dirname(checkpoint), "maps-features.0.png")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            main(["maps", "--checkpoint", checkpoint, "--layer", "features.0"])
        assert png_size(expected) == (3 * (3 * 29 + 1), 3 * (2 * 29 + 1))      # 6 maps of 28x28, 3x: >= 256 across
    finally:
        if os.path.exists(expected):
            os.remove(expected)


@needs_data
@pytest.mark.parametrize("index", ["10000", "-1"])
def test_maps_bad_index_exits(checkpoint, tmp_path, index):
    with pytest.raises(SystemExit, match=rf"minicnn viz maps: --index must be in \[0, 10000\), got {index}$"):
        main(["maps", "--checkpoint", checkpoint, "--layer", "features.3", "--index", index,
              "--out", str(tmp_path / "m.png")])
    assert os.listdir(tmp_path) == []


@needs_data
def test_maps_bad_layer_exits(checkpoint, tmp_path):
    with pytest.raises(SystemExit, match=r"minicnn viz maps: .*'classifier.1' gave \(1, 120\)"):
        main(["maps", "--checkpoint", checkpoint, "--layer", "classifier.1", "--out", str(tmp_path / "m.png")])
    with pytest.raises(SystemExit, match=r"minicnn viz maps: .*no layer named 'conv9'"):
        main(["maps", "--checkpoint", checkpoint, "--layer", "conv9", "--out", str(tmp_path / "m.png")])
    assert os.listdir(tmp_path) == []
