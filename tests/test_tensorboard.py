"""minicnn.utils.tensorboard.SummaryWriter: every add_* read back from the event file by TensorBoard's
own EventAccumulator, the inputs it accepts and refuses, purge_step, and the message without tensorboard."""
import io
import subprocess
import sys

import numpy as np
import pytest

import minicnn as mc

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from minicnn.utils.tensorboard import SummaryWriter  # noqa: E402


def read_back(log_dir):
    # size_guidance 0: keep every event (the default samples images and histograms down)
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "histograms": 0, "tensors": 0})
    events.Reload()
    return events


def test_scalars_from_numbers_arrays_and_tensors(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_scalar("loss", 2.5, 0)
        writer.add_scalar("loss", np.float32(1.5), 1)
        writer.add_scalar("loss", mc.tensor([0.5]), 2, walltime=123.0)
    points = read_back(tmp_path).Scalars("loss")
    assert [(p.step, p.value) for p in points] == [(0, 2.5), (1, 1.5), (2, 0.5)]
    assert points[2].wall_time == 123.0


def test_gpu_arrays_and_tensors_are_copied_to_the_host(tmp_path, xp):
    values = np.linspace(-1, 1, 12, dtype=np.float32)
    with SummaryWriter(tmp_path) as writer:
        writer.add_scalar("mean", xp.asarray(values).mean(), 0)
        writer.add_histogram("values", mc.Tensor(xp.asarray(values)), 0)
        writer.add_image("gray", xp.asarray(values.reshape(1, 3, 4) / 2 + 0.5), 0)
    events = read_back(tmp_path)
    assert events.Scalars("mean")[0].value == pytest.approx(0, abs=1e-7)
    assert events.Histograms("values")[0].histogram_value.num == 12
    assert (events.Images("gray")[0].width, events.Images("gray")[0].height) == (4, 3)


def test_image_pixels_survive_in_each_data_format(tmp_path):
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (3, 5, 7), dtype=np.uint8)
    with SummaryWriter(tmp_path) as writer:
        writer.add_image("chw", rgb, 1)
        writer.add_image("hwc", rgb.transpose(1, 2, 0), 1, dataformats="HWC")
        writer.add_image("hw_float", np.array([[0.0, 0.5], [1.0, 2.0]]), 1, dataformats="HW")
    events = read_back(tmp_path)
    for tag in ("chw", "hwc"):
        (image,) = events.Images(tag)
        assert (image.height, image.width) == (5, 7)
        decoded = np.asarray(Image.open(io.BytesIO(image.encoded_image_string)))
        np.testing.assert_array_equal(decoded, rgb.transpose(1, 2, 0))
    gray = np.asarray(Image.open(io.BytesIO(events.Images("hw_float")[0].encoded_image_string)))
    np.testing.assert_array_equal(gray, [[0, 128], [255, 255]])      # floats scaled from [0, 1], 2.0 clipped


def test_histogram_counts_every_value_into_the_bucket_that_holds_it(tmp_path):
    values = np.random.default_rng(1).normal(size=1000)
    with SummaryWriter(tmp_path) as writer:
        writer.add_histogram("w", mc.tensor(values.astype(np.float32)), 3)
        writer.add_histogram("w10", values, 3, bins=10)
    events = read_back(tmp_path)
    (event,) = events.Histograms("w")
    h = event.histogram_value
    assert event.step == 3 and h.num == 1000
    assert h.min == pytest.approx(values.min(), rel=1e-6) and h.max == pytest.approx(values.max(), rel=1e-6)
    assert sum(h.bucket) == 1000
    # the bucket limits are TensorFlow's (10% apart): the largest value sits in the last bucket
    assert h.bucket_limit[-2] < h.max <= h.bucket_limit[-1] <= 1.1 * h.max
    h10 = events.Histograms("w10")[0].histogram_value
    assert len(h10.bucket) == 10 and h10.bucket_limit[-1] == pytest.approx(values.max())
    assert h10.sum_squares == pytest.approx(values @ values)


def test_figure_becomes_an_rgba_image(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(2, 1), dpi=50)
    plt.plot([0, 1], [1, 0])
    with SummaryWriter(tmp_path) as writer:
        writer.add_figure("plot", figure, 4)
    (image,) = read_back(tmp_path).Images("plot")
    assert (image.width, image.height, image.step) == (100, 50, 4)
    assert not plt.fignum_exists(figure.number)         # close=True, as in PyTorch


def test_pr_curve_counts_and_precision_recall(tmp_path):
    labels = np.array([1, 1, 0, 0, 1])
    predictions = np.array([0.9, 0.6, 0.7, 0.1, 0.2])
    with SummaryWriter(tmp_path) as writer:
        writer.add_pr_curve("pr", labels, predictions, 0, num_thresholds=11)
    (event,) = read_back(tmp_path).Tensors("pr")
    tp, fp, tn, fn, precision, recall = tensor_util.make_ndarray(event.tensor_proto)
    # threshold 0.5 (index 5): called true 0.9, 0.6 (right) and 0.7 (wrong)
    assert (tp[5], fp[5], tn[5], fn[5]) == (2, 1, 1, 1)
    assert precision[5] == pytest.approx(2 / 3) and recall[5] == pytest.approx(2 / 3)
    assert (tp[0], fp[0]) == (3, 2) and recall[0] == 1


def test_embedding_writes_what_the_projector_reads(tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
    from PIL import Image

    points = np.random.default_rng(2).normal(size=(5, 3)).astype(np.float32)
    images = np.zeros((5, 1, 2, 2), np.float32)
    images[4] = 1.0                                 # the fifth image white: the middle of a 3x3 sprite
    with SummaryWriter(tmp_path) as writer:
        writer.add_embedding(mc.tensor(points), metadata=list("abcde"), label_img=images, global_step=7)
        writer.add_embedding(points, metadata=[[1, "x"]] * 5, metadata_header=["n", "s"], tag="two")
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), ProjectorConfig())
    first, second = config.embeddings
    assert (first.tensor_name, second.tensor_name) == ("default:00007", "two:00000")
    np.testing.assert_allclose(np.loadtxt(tmp_path / first.tensor_path, delimiter="\t"), points, rtol=1e-6)
    assert (tmp_path / first.metadata_path).read_text() == "a\nb\nc\nd\ne\n"
    assert (tmp_path / second.metadata_path).read_text() == "n\ts\n" + "1\tx\n" * 5
    sprite = np.asarray(Image.open(tmp_path / first.sprite.image_path))
    assert sprite.shape == (6, 6) and list(first.sprite.single_image_dim) == [2, 2]
    assert sprite[2:4, 2:4].min() == 255 and sprite.sum() == 4 * 255


def test_graph_has_a_node_per_op_inside_its_module(tmp_path):
    model = mc.nn.Sequential(mc.nn.Linear(3, 4), mc.nn.ReLU())
    with SummaryWriter(tmp_path) as writer:
        writer.add_graph(model, np.zeros((2, 3), np.float32))
    nodes = {node.name: node for node in read_back(tmp_path).Graph().node}
    assert {name: list(node.input) for name, node in nodes.items()} == {
        "input/input.0": [], "Sequential/0/weight": [], "Sequential/0/bias": [],
        "Sequential/0/Linear_0": ["input/input.0", "Sequential/0/weight", "Sequential/0/bias"],
        "Sequential/1/ReLU_1": ["Sequential/0/Linear_0"], "output/output.0": ["Sequential/1/ReLU_1"]}
    assert nodes["input/input.0"].op == "IO Node" and nodes["Sequential/0/weight"].op == "Parameter"
    relu = nodes["Sequential/1/ReLU_1"]
    (shape,) = relu.attr["_output_shapes"].list.shape
    assert [d.size for d in shape.dim] == [2, 4]


def test_purge_step_drops_the_steps_a_resumed_run_logs_again(tmp_path):
    with SummaryWriter(tmp_path, filename_suffix=".first") as writer:
        for step in range(1, 4):
            writer.add_scalar("loss", 10.0 + step, step)
    with SummaryWriter(tmp_path, purge_step=3, filename_suffix=".second") as writer:
        writer.add_scalar("loss", 3.0, 3)
    points = read_back(tmp_path).Scalars("loss")
    assert [(p.step, p.value) for p in points] == [(1, 11.0), (2, 12.0), (3, 3.0)]


def test_bad_input_is_a_short_error_naming_the_argument(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match=r"scalar_value must hold one number, got shape \(2,\)"):
            writer.add_scalar("x", np.zeros(2))
        with pytest.raises(TypeError, match="img_tensor: expected a Tensor, a NumPy or CuPy array or numbers, got str"):
            writer.add_image("x", "picture")
        with pytest.raises(ValueError, match=r"dataformats must be one of CHW, HWC, HW, got 'NHWC'"):
            writer.add_image("x", np.zeros((1, 2, 2, 3)), dataformats="NHWC")
        with pytest.raises(ValueError, match=r"an image has 1, 3 or 4 channels, got 5"):
            writer.add_image("x", np.zeros((5, 2, 2)))
        with pytest.raises(ValueError, match="hold NaN or infinity"):
            writer.add_histogram("x", np.array([1.0, np.nan]))
        with pytest.raises(ValueError, match=r"predictions must lie in \[0, 1\], got \[0, 2\]"):
            writer.add_pr_curve("x", [0, 1], [0.0, 2.0])
        with pytest.raises(ValueError, match=r"mat must be \(N, D\), one row per point, got shape \(4,\)"):
            writer.add_embedding(np.zeros(4))
        with pytest.raises(ValueError, match=r"label_img must be \(N, C, H, W\) with N = 2 points"):
            writer.add_embedding(np.zeros((2, 3)), label_img=np.zeros((3, 1, 2, 2)))
        with pytest.raises(ValueError, match="add_graph: input_to_model is needed"):
            writer.add_graph(mc.nn.Linear(2, 2))


def test_without_tensorboard_one_line_says_how_to_install_it(tmp_path):
    # None in sys.modules: the import fails, as on a machine without the extra
    script = ("import sys\n"
              "sys.modules['tensorboard'] = None\n"
              "from minicnn.utils.tensorboard import SummaryWriter\n"
              "try:\n"
              f"    SummaryWriter({str(tmp_path)!r})\n"
              "except ImportError as e:\n"
              "    print(e)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout == 'the tensorboard package is not installed: pip install -e ".[tensorboard]"\n', done.stderr
