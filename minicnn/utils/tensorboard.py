"""SummaryWriter: PyTorch's ``torch.utils.tensorboard.SummaryWriter`` for minicnn.

The event files are real TensorBoard files, written by the ``tensorboard`` package's own
EventFileWriter from its own protos (an optional extra: pip install -e ".[tensorboard]"), so
``tensorboard --logdir runs`` shows them like any PyTorch run's. The methods take PyTorch's
argument names and defaults, and minicnn Tensors, NumPy or CuPy arrays (copied to the host).

    from minicnn.utils.tensorboard import SummaryWriter
    with SummaryWriter("runs/try") as writer:
        writer.add_scalar("loss/train", loss.item(), epoch)
        writer.add_histogram("conv1.weight", model.conv1.weight, epoch)
"""
import io
import os
import socket
import time
import types
from datetime import datetime

import numpy as np

from minicnn import backend
from minicnn.tensor import Tensor
from minicnn.utils.tensorboard_graph import graph_def

__all__ = ["SummaryWriter"]

INSTALL = 'the tensorboard package is not installed: pip install -e ".[tensorboard]"'
# The layouts add_image takes, in PyTorch's letters (C channels, H height, W width).
IMAGE_FORMATS = ("CHW", "HWC", "HW")


def _tensorboard():
    """The tensorboard modules used here; an ImportError of one line saying how to install them."""
    try:
        from google.protobuf import text_format     # protobuf comes with tensorboard
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.pr_curve import metadata as pr_curve_metadata
        from tensorboard.plugins.projector import metadata as projector_metadata, projector_config_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util import tensor_util
    except ImportError:
        raise ImportError(INSTALL) from None
    return types.SimpleNamespace(text_format=text_format, event_pb2=event_pb2, summary_pb2=summary_pb2,
                                 pr_curve_metadata=pr_curve_metadata, projector_metadata=projector_metadata,
                                 projector_config_pb2=projector_config_pb2, EventFileWriter=EventFileWriter,
                                 tensor_util=tensor_util)


def _host(value, name):
    """``value`` (Tensor, NumPy or CuPy array, number, list) as a NumPy array on the host."""
    if isinstance(value, Tensor):
        value = value.array
    try:
        array = backend.to_device(value, "cpu")
    except (TypeError, ValueError):
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise TypeError(f"{name}: expected a Tensor, a NumPy or CuPy array or numbers, got {type(value).__name__}")
    return array


def _tensorflow_bins():
    """PyTorch's bins='tensorflow': edges growing by 10% from 1e-12 to 1e20 on both sides of zero,
    so that tiny gradients and large weights each get buckets of their own size."""
    positive = 1e-12 * 1.1 ** np.arange(int(np.ceil(np.log(1e32) / np.log(1.1))))
    return np.concatenate([-positive[::-1], [0.0], positive])


class SummaryWriter:
    """Writes TensorBoard event files into ``log_dir`` (default: runs/DATE_TIME_HOST``comment``).

    purge_step: when a crashed run goes on from a checkpoint, TensorBoard drops the events it had
    logged at this step and later, so that the curves continue without a doubled stretch.
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        self._tb = _tensorboard()
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self._writer = self._tb.EventFileWriter(self.log_dir, max_queue, flush_secs, filename_suffix)
        if purge_step is not None:
            session_log = self._tb.event_pb2.SessionLog
            self._add_event(purge_step, None, session_log=session_log(status=session_log.START))

    def get_logdir(self):
        return self.log_dir

    # ---- what can be logged ----------------------------------------------------------------
    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None):
        """One point of the curve ``tag``; scalar_value a number or a one-element Tensor/array."""
        value = _host(scalar_value, "add_scalar: scalar_value")
        if value.size != 1:
            raise ValueError(f"add_scalar: scalar_value must hold one number, got shape {value.shape}")
        self._add_value(global_step, walltime, tag=tag, simple_value=float(value.reshape(())))

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image: floats in [0, 1] (scaled to 0-255) or uint8; one channel (gray), 3 (RGB) or 4 (RGBA);
        dataformats "CHW" (PyTorch's default), "HWC" or "HW"."""
        image = self._tb.summary_pb2.Summary.Image
        pixels = _image_hwc(_host(img_tensor, "add_image: img_tensor"), dataformats)
        height, width, channels = pixels.shape
        self._add_value(global_step, walltime, tag=tag, image=image(
            height=height, width=width, colorspace=channels, encoded_image_string=_png(pixels)))

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib figure, drawn as an RGBA image (closed afterwards unless ``close`` is False)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        import matplotlib.pyplot as plt

        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())
        if close:
            plt.close(figure)
        self.add_image(tag, pixels, global_step, walltime, dataformats="HWC")

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        """The distribution of ``values``; bins: "tensorflow" (PyTorch's default), a number of equal
        bins, or any of numpy.histogram's names ("auto", "fd", ...). max_bins is not used."""
        values = _host(values, "add_histogram: values").astype(np.float64).ravel()
        if values.size == 0:
            raise ValueError(f"add_histogram: values of {tag!r} are empty")
        if not np.isfinite(values).all():
            raise ValueError(f"add_histogram: values of {tag!r} hold NaN or infinity")
        counts, edges = np.histogram(values, _tensorflow_bins() if bins == "tensorflow" else bins)
        used = np.flatnonzero(counts)
        first, last = used[0], used[-1] + 1          # the empty buckets outside the data are left out
        histogram = self._tb.summary_pb2.HistogramProto(
            min=values.min(), max=values.max(), num=values.size, sum=values.sum(), sum_squares=values @ values,
            bucket_limit=edges[first + 1:last + 1].tolist(), bucket=counts[first:last].tolist())
        self._add_value(global_step, walltime, tag=tag, histo=histogram)

    def add_pr_curve(self, tag, labels, predictions, global_step=None, num_thresholds=127, weights=None,
                     walltime=None):
        """A precision-recall curve: ``labels`` true/false (or 1/0), ``predictions`` probabilities in
        [0, 1] of being true, one per label, at ``num_thresholds`` thresholds evenly spaced over [0, 1]."""
        labels = _host(labels, "add_pr_curve: labels").ravel().astype(np.float64)
        predictions = _host(predictions, "add_pr_curve: predictions").ravel().astype(np.float64)
        weights = np.ones_like(labels) if weights is None else _host(weights, "add_pr_curve: weights").ravel()
        if not (labels.shape == predictions.shape == weights.shape):
            raise ValueError(f"add_pr_curve: labels, predictions and weights must have as many elements, got "
                             f"{labels.size}, {predictions.size} and {weights.size}")
        if predictions.size and not (0 <= predictions.min() and predictions.max() <= 1):
            raise ValueError(f"add_pr_curve: predictions must lie in [0, 1], got [{predictions.min():g}, "
                             f"{predictions.max():g}]")
        if num_thresholds < 2:
            raise ValueError(f"add_pr_curve: num_thresholds must be at least 2, got {num_thresholds}")
        curve = _pr_curve(labels, predictions, weights, num_thresholds)
        metadata = self._tb.pr_curve_metadata.create_summary_metadata(tag, "", num_thresholds)
        self._add_value(global_step, walltime, tag=tag, metadata=metadata,
                        tensor=self._tb.tensor_util.make_tensor_proto(curve.astype(np.float32)))

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default",
                      metadata_header=None):
        """Points for the Projector tab: ``mat`` (N, D), one row per point; ``metadata`` a label per
        point (or a list of columns per point, named by ``metadata_header``); ``label_img`` (N, C, H, W)
        a picture per point. Written as the files the Projector reads, in LOG_DIR/STEP/TAG/."""
        mat = _host(mat, "add_embedding: mat")
        if mat.ndim != 2:
            raise ValueError(f"add_embedding: mat must be (N, D), one row per point, got shape {mat.shape}")
        folder = os.path.join(f"{global_step or 0:05d}", tag)
        os.makedirs(os.path.join(self.log_dir, folder), exist_ok=True)
        np.savetxt(os.path.join(self.log_dir, folder, "tensors.tsv"), mat, delimiter="\t", fmt="%.8g")
        embedding = self._tb.projector_config_pb2.EmbeddingInfo(
            tensor_name=f"{tag}:{global_step or 0:05d}", tensor_path=os.path.join(folder, "tensors.tsv"))
        if metadata is not None:
            embedding.metadata_path = os.path.join(folder, "metadata.tsv")
            self._write_metadata(list(metadata), metadata_header, len(mat), embedding.metadata_path)
        if label_img is not None:
            sprite, height, width = _sprite(_host(label_img, "add_embedding: label_img"), len(mat))
            embedding.sprite.image_path = os.path.join(folder, "sprite.png")
            embedding.sprite.single_image_dim.extend([width, height])
            with open(os.path.join(self.log_dir, embedding.sprite.image_path), "wb") as f:
                f.write(_png(sprite))
        config = self._tb.projector_config_pb2.ProjectorConfig(embeddings=[embedding])
        # appended: the embeddings of earlier calls and sessions stay listed (repeated fields concatenate)
        with open(os.path.join(self.log_dir, self._tb.projector_metadata.PROJECTOR_FILENAME), "a") as f:
            f.write(self._tb.text_format.MessageToString(config))

    def _write_metadata(self, rows, header, points, path):
        if len(rows) != points:
            raise ValueError(f"add_embedding: metadata must have a row per point, {points}, got {len(rows)}")
        lines = [map(str, row) if header else [str(row)] for row in rows]
        if header:
            lines.insert(0, header)
        with open(os.path.join(self.log_dir, path), "w") as f:
            f.writelines("\t".join(line) + "\n" for line in lines)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """The graph of ``model`` run once on ``input_to_model`` (a Tensor or array, or a tuple of them),
        for the Graphs tab: an op per node, folded by module. verbose and use_strict_trace belong to
        PyTorch's tracer and are not used; minicnn.viz.graph draws the same record as a picture."""
        if input_to_model is None:
            raise ValueError("add_graph: input_to_model is needed: the graph is what one forward pass on it records")
        inputs = input_to_model if isinstance(input_to_model, (tuple, list)) else (input_to_model,)
        self._add_event(None, None, graph_def=graph_def(model, inputs).SerializeToString())

    # ---- the file ------------------------------------------------------------------------------
    def flush(self):
        """Write the queued events to disk now (they are also written every ``flush_secs``)."""
        self._writer.flush()

    def close(self):
        self._writer.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _add_value(self, global_step, walltime, **value):
        summary = self._tb.summary_pb2.Summary(value=[self._tb.summary_pb2.Summary.Value(**value)])
        self._add_event(global_step, walltime, summary=summary)

    def _add_event(self, global_step, walltime, **content):
        event = self._tb.event_pb2.Event(wall_time=time.time() if walltime is None else walltime, **content)
        if global_step is not None:
            event.step = int(global_step)
        self._writer.add_event(event)


def _image_hwc(array, dataformats):
    """``array`` as (height, width, channels) uint8 pixels, 1, 3 or 4 channels; floats are taken to be in [0, 1]."""
    if dataformats not in IMAGE_FORMATS:
        raise ValueError(f"add_image: dataformats must be one of {', '.join(IMAGE_FORMATS)}, got {dataformats!r}")
    if array.ndim != len(dataformats):
        raise ValueError(f"add_image: img_tensor must have {len(dataformats)} dimensions ({dataformats}), "
                         f"got shape {array.shape}")
    if dataformats == "HW":
        array = array[:, :, None]
    elif dataformats == "CHW":
        array = array.transpose(1, 2, 0)
    if array.shape[2] not in (1, 3, 4):
        raise ValueError(f"add_image: an image has 1, 3 or 4 channels, got {array.shape[2]} ({dataformats} shape "
                         f"{array.shape})")
    return _uint8(array)


def _uint8(array):
    """Pixels as uint8: uint8 ones as they are, any others taken to be in [0, 1]."""
    if array.dtype == np.uint8:
        return array
    return (np.clip(array.astype(np.float64), 0, 1) * 255).round().astype(np.uint8)


def _sprite(images, points):
    """The Projector's sprite: the (N, C, H, W) images in a square grid, row by row, as (H', W', C)
    pixels; returns it with one image's height and width."""
    if images.ndim != 4 or len(images) != points or images.shape[1] not in (1, 3):
        raise ValueError(f"add_embedding: label_img must be (N, C, H, W) with N = {points} points and C 1 or 3, "
                         f"got shape {images.shape}")
    n, channels, height, width = images.shape
    side = int(np.ceil(np.sqrt(n)))
    grid = np.zeros((side * side, height, width, channels), np.uint8)
    grid[:n] = _uint8(images.transpose(0, 2, 3, 1))
    grid = grid.reshape(side, side, height, width, channels).transpose(0, 2, 1, 3, 4)
    return grid.reshape(side * height, side * width, channels), height, width


def _png(pixels):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _pr_curve(labels, predictions, weights, num_thresholds):
    """TensorBoard's PR-curve tensor (6, num_thresholds): true and false positives, true and false
    negatives, precision and recall when everything at or above each threshold is called true."""
    bucket = np.floor(predictions * (num_thresholds - 1)).astype(np.int64)
    true = np.bincount(bucket, weights * labels, minlength=num_thresholds)
    false = np.bincount(bucket, weights * (1 - labels), minlength=num_thresholds)
    tp, fp = np.cumsum(true[::-1])[::-1], np.cumsum(false[::-1])[::-1]      # predictions >= each threshold
    tn, fn = fp[0] - fp, tp[0] - tp
    precision = tp / np.maximum(tp + fp, 1e-7)      # 1e-7: TensorBoard's own floor, 0 where nothing is called true
    recall = tp / np.maximum(tp + fn, 1e-7)
    return np.stack([tp, fp, tn, fn, precision, recall])
