"""minicnn.profile(): one record per op call, forward and backward, with shapes, module names,
times and bytes; the text table, the JSON dump and the Chrome trace."""
import contextlib
import json
import re
import time
from collections import defaultdict

import numpy as np
import pytest

import minicnn as mc
from minicnn import autograd, nn
from minicnn.profiler import OpRecord

F32 = 4     # bytes per float32

# LeNet-5 on a batch of 2: (op, module, module type, input shapes, output shapes) of each forward op,
# derived from the architecture: conv 5x5 32->28, pool 28->14, conv 5x5 14->10, pool 10->5, 16*5*5 = 400.
LENET_FORWARD = [
    ("Conv2d", "features.0", "Conv2d", ((2, 1, 32, 32), (6, 1, 5, 5), (6,)), ((2, 6, 28, 28),)),
    ("ReLU", "features.1", "ReLU", ((2, 6, 28, 28),), ((2, 6, 28, 28),)),
    ("MaxPool2d", "features.2", "MaxPool2d", ((2, 6, 28, 28),), ((2, 6, 14, 14),)),
    ("Conv2d", "features.3", "Conv2d", ((2, 6, 14, 14), (16, 6, 5, 5), (16,)), ((2, 16, 10, 10),)),
    ("ReLU", "features.4", "ReLU", ((2, 16, 10, 10),), ((2, 16, 10, 10),)),
    ("MaxPool2d", "features.5", "MaxPool2d", ((2, 16, 10, 10),), ((2, 16, 5, 5),)),
    ("Reshape", "classifier.0", "Flatten", ((2, 16, 5, 5),), ((2, 400),)),
    ("Linear", "classifier.1", "Linear", ((2, 400), (120, 400), (120,)), ((2, 120),)),
    ("ReLU", "classifier.2", "ReLU", ((2, 120),), ((2, 120),)),
    ("Linear", "classifier.3", "Linear", ((2, 120), (84, 120), (84,)), ((2, 84),)),
    ("ReLU", "classifier.4", "ReLU", ((2, 84),), ((2, 84),)),
    ("Linear", "classifier.5", "Linear", ((2, 84), (10, 84), (10,)), ((2, 10),)),
    ("CrossEntropy", "-", "-", ((2, 10),), ((),)),
]
LENET_MODULES = {m for _, m, *_ in LENET_FORWARD}


def step(model, x, y):
    loss = mc.ops.cross_entropy(model(x), y)
    loss.backward()
    return loss


@pytest.fixture
def profiled(lenet_batch):
    model, x, y = lenet_batch
    with mc.profile() as prof:
        step(model, x, y)
    return prof


def nbytes(shapes):
    return sum(F32 * int(np.prod(s)) for s in shapes if s is not None)


def check_trace_events(events):
    """Every event complete; B/E balanced and properly nested per track; time never goes back on a track.
    Returns, per forward op begin event, the innermost module span open around it."""
    stacks, last_ts, enclosing = defaultdict(list), {}, []
    for e in events:
        for key in ("name", "ph", "ts", "pid", "tid"):
            assert key in e, (key, e)
        assert e["ph"] in ("B", "E"), e
        tid = e["tid"]
        assert e["ts"] >= last_ts.get(tid, float("-inf")), e
        last_ts[tid] = e["ts"]
        if e["ph"] == "B":
            if e.get("cat") == "forward":
                modules = [n for n, cat in stacks[tid] if cat == "module"]
                enclosing.append((e, modules[-1] if modules else "-"))
            stacks[tid].append((e["name"], e.get("cat")))
        else:
            assert stacks[tid], f"E without a B: {e}"
            name, _ = stacks[tid].pop()
            assert name == e["name"], f"{e} closes {name}"
    assert all(not s for s in stacks.values()), dict(stacks)
    return enclosing


# ---- records -------------------------------------------------------------------------------------

def test_lenet5_forward_records_have_the_architectures_ops_shapes_and_modules(profiled):
    forward = [r for r in profiled.records if r.phase == "forward"]
    assert [(r.op, r.module, r.module_type, r.input_shapes, r.output_shapes) for r in forward] == LENET_FORWARD
    assert [r.phase for r in profiled.records] == ["forward"] * 13 + ["backward"] * 13


def test_lenet5_backward_records_mirror_the_forward(profiled):
    forward = [r for r in profiled.records if r.phase == "forward"]
    backward = [r for r in profiled.records if r.phase == "backward"]
    assert len(backward) == len(forward)
    for f, b in zip(reversed(forward), backward):
        assert (b.op, b.module, b.module_type) == (f.op, f.module, f.module_type)
        assert b.input_shapes == f.output_shapes            # the gradients flowing in
        # The gradients flowing out: one per forward input; the image needs none.
        expected = ((None,) + f.input_shapes[1:]) if f.module == "features.0" else f.input_shapes
        assert b.output_shapes == expected, b


def test_times_add_up_inside_the_profiled_wall_time(lenet_batch):
    model, x, y = lenet_batch
    outer = time.perf_counter()
    with mc.profile() as prof:
        step(model, x, y)
    outer = time.perf_counter() - outer
    assert all(r.seconds >= 0 for r in prof.records)
    assert 0 < prof.op_seconds() <= prof.total_seconds <= outer
    assert prof.op_seconds() == pytest.approx(sum(r.seconds for r in prof.records))
    for a, b in zip(prof.records, prof.records[1:]):       # ops never overlap: each starts after the last ended
        assert a.start < b.start
        assert a.start + a.seconds <= b.start + 1e-9
    assert prof.records[0].start >= 0
    assert prof.records[-1].start + prof.records[-1].seconds <= prof.total_seconds + 1e-9


def test_forward_bytes_count_new_outputs_and_views_cost_nothing(lenet_batch, fast_path):
    model, x, y = lenet_batch
    outputs = {}
    model.features[0].register_forward_hook(lambda m, args, out: outputs.setdefault("conv", out))
    with mc.profile() as prof:
        step(model, x, y)
    forward = [r for r in prof.records if r.phase == "forward"]
    conv = forward[0]
    assert conv.op == "Conv2d" and conv.output_bytes == outputs["conv"].array.nbytes == 2 * 6 * 28 * 28 * F32
    assert conv.saved_bytes == 0                     # it saves its input and weight, which exist already
    (reshape,) = [r for r in forward if r.op == "Reshape"]
    assert reshape.output_bytes == 0 and reshape.saved_bytes == 0
    for r in forward:
        if r.op != "Reshape":
            assert r.output_bytes == nbytes(r.output_shapes), r
    relu = forward[1]
    assert relu.saved_bytes == 0                    # its output, which the next op holds anyway


def test_backward_bytes_count_the_gradients_returned(profiled):
    backward = [r for r in profiled.records if r.phase == "backward"]
    for r in backward:
        assert r.saved_bytes == 0
        if r.op == "Reshape":
            assert r.output_bytes == 0, r            # the reshaped gradient is a view
        else:
            assert r.output_bytes == nbytes(r.output_shapes), r
    linear = next(r for r in backward if r.module == "classifier.1")
    assert linear.output_bytes == (2 * 400 + 120 * 400 + 120) * F32


def test_batchnorm_in_training_saves_only_its_statistics(fast_path):
    mc.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    x = mc.tensor(np.random.default_rng(1).standard_normal((2, 1, 6, 6)).astype(np.float32))
    with mc.profile() as prof:
        model(x).sum().backward()
    (bn,) = [r for r in prof.records if r.op == "BatchNorm" and r.phase == "forward"]
    assert bn.module == "1" and bn.module_type == "BatchNorm2d"
    y = 2 * 3 * 4 * 4 * F32
    assert bn.saved_bytes == 2 * 3 * F32          # the per-channel mean and 1/std; x and gamma already exist
    assert bn.output_bytes == y
    (bn_back,) = [r for r in prof.records if r.op == "BatchNorm" and r.phase == "backward"]
    assert bn_back.output_shapes == ((2, 3, 4, 4), (3,), (3,)) and bn_back.output_bytes == y + 2 * 3 * F32
    model.eval()
    with mc.no_grad(), mc.profile() as prof:
        model(x)
    assert [r.saved_bytes for r in prof.records] == [0, 0]     # nothing is saved without a graph


def test_no_grad_inference_records_forward_ops_with_modules_and_saves_nothing(lenet_batch):
    model, x, _ = lenet_batch
    with mc.no_grad(), mc.profile() as prof:
        logits = model(x)
    assert logits.shape == (2, 10)
    assert [(r.op, r.module, r.input_shapes, r.output_shapes) for r in prof.records] == \
        [(op, m, i, o) for op, m, _, i, o in LENET_FORWARD[:-1]]
    assert {r.phase for r in prof.records} == {"forward"}
    assert all(r.saved_bytes == 0 for r in prof.records)


def test_on_the_gpu_the_records_are_the_cpus_and_each_op_is_timed_after_the_device_finished(profiled, lenet_batch,
                                                                                            cupy, tmp_path):
    """The same rows as on the CPU (ops, modules, shapes); each op's time is read after a device
    synchronize (the fake CuPy counts them; a real GPU has nothing to count); the trace is written.
    The GPU's fused kernels (minicnn/fused) may save less for backward (ReLU keeps its output, which
    exists anyway, not a mask), never more."""
    model, x, y = lenet_batch
    model.to("cuda")
    counted = cupy.fake.host_syncs() if hasattr(cupy, "fake") else contextlib.nullcontext()
    with counted as syncs, mc.profile() as prof:
        loss = step(model, x.to("cuda"), y)
    assert loss.device == "cuda:0"
    same = lambda r: (r.op, r.phase, r.module, r.module_type, r.input_shapes, r.output_shapes,  # noqa: E731
                      r.output_bytes)
    assert [same(r) for r in prof.records] == [same(r) for r in profiled.records]
    assert all(gpu.saved_bytes <= cpu.saved_bytes for gpu, cpu in zip(prof.records, profiled.records))
    assert all(r.seconds >= 0 for r in prof.records) and 0 < prof.op_seconds() <= prof.total_seconds
    if syncs is not None:
        waits = sum(n for place, n in syncs.places.items() if place.endswith("(Device.synchronize)"))
        assert waits >= len(prof.records), syncs.places
    prof.to_chrome_trace(str(tmp_path / "trace.json"))
    enclosing = check_trace_events(json.loads((tmp_path / "trace.json").read_text())["traceEvents"])
    assert [(e["name"], module) for e, module in enclosing] == [(op, m) for op, m, *_ in LENET_FORWARD]
    assert parse_table(prof.table())[0]


# ---- reports -------------------------------------------------------------------------------------

def parse_table(text):
    """The op section's and the module section's rows, split on whitespace."""
    lines = text.split("\n")
    assert re.match(r"\d+ op calls: [\d.]+ ms inside ops, [\d.]+ ms profiled$", lines[0]) and lines[1] == ""
    sections = "\n".join(lines[2:]).split("\n\n")
    assert len(sections) == 2
    (op_header, *op_rows), (module_header, *module_rows) = (s.split("\n") for s in sections)
    assert op_header.split()[:2] == ["op.phase", "calls"] and module_header.split()[:3] == ["module", "type", "calls"]
    return [r.split() for r in op_rows], [r.split() for r in module_rows]


def test_table_lists_every_op_and_module(profiled):
    assert profiled.table().startswith("26 op calls:")
    ops, modules = parse_table(profiled.table())
    expected_ops = {f"{op}.{phase}" for op, *_ in LENET_FORWARD for phase in ("forward", "backward")}
    assert len(ops) == len(expected_ops) == 12 and {r[0] for r in ops} == expected_ops
    assert {r[0] for r in modules} == LENET_MODULES and len(modules) == 13
    calls = {r[0]: int(r[1]) for r in ops}
    assert calls["Conv2d.forward"] == 2 and calls["ReLU.backward"] == 4 and calls["CrossEntropy.forward"] == 1
    types = {r[0]: r[1] for r in modules}
    assert types["features.0"] == "Conv2d" and types["classifier.0"] == "Flatten" and types["-"] == "-"
    assert all(int(r[2]) == 2 for r in modules)          # each module: one forward, one backward


def test_table_top_limits_each_section(profiled):
    for top in (1, 3, 5):
        ops, modules = parse_table(profiled.table(top=top))
        assert len(ops) == len(modules) == top


def test_table_sort_orders(profiled):
    by_op = {s["key"]: s for s in profiled.summary("op")}
    by_module = {s["key"]: s for s in profiled.summary("module")}

    ops, modules = parse_table(profiled.table(sort_by="calls"))
    assert [int(r[1]) for r in ops] == sorted((int(r[1]) for r in ops), reverse=True)
    assert [r[0] for r in ops][:2] == ["ReLU.forward", "ReLU.backward"]     # 4 calls each; the others fewer

    ops, modules = parse_table(profiled.table(sort_by="name"))
    assert [r[0] for r in ops] == sorted(by_op)
    assert [r[0] for r in modules] == sorted(by_module)

    memory, seconds = (lambda s: s["output_bytes"] + s["saved_bytes"]), (lambda s: s["seconds"])
    for sort_by, value in (("memory", memory), ("time", seconds)):
        ops, modules = parse_table(profiled.table(sort_by=sort_by))
        for rows, summary in ((ops, by_op), (modules, by_module)):
            values = [value(summary[r[0]]) for r in rows]
            assert values == sorted(values, reverse=True), (sort_by, rows)
    ops, _ = parse_table(profiled.table(sort_by="memory", top=1))
    assert ops[0][0] == "Linear.backward"        # 236 kB of weight gradients, the most of any op


def test_table_rejects_an_unknown_sort_key(profiled):
    with pytest.raises(ValueError, match="sort_by"):
        profiled.table(sort_by="flops")


def test_summary_totals(profiled):
    for by in ("op", "module"):
        summary = profiled.summary(by)
        assert sum(s["calls"] for s in summary) == len(profiled.records)
        assert sum(s["seconds"] for s in summary) == pytest.approx(profiled.op_seconds())
        for s in summary:
            assert s["forward_seconds"] + s["backward_seconds"] == pytest.approx(s["seconds"])
    conv = {s["key"]: s for s in profiled.summary("module")}["features.0"]
    assert conv["type"] == "Conv2d" and conv["calls"] == 2
    assert conv["output_bytes"] == 2 * 6 * 28 * 28 * F32 + (6 * 25 + 6) * F32


def test_chrome_trace_is_balanced_nested_and_puts_ops_in_their_modules(profiled, tmp_path):
    path = tmp_path / "trace.json"
    profiled.to_chrome_trace(str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace.json"]     # no temporary file left
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    enclosing = check_trace_events(events)
    # Each forward op runs inside the span of the module the record names ("-": no module open).
    assert [(e["name"], module) for e, module in enclosing] == [(op, m) for op, m, *_ in LENET_FORWARD]
    assert all(e["args"]["module"] == module for e, module in enclosing)
    begins = [e for e in events if e["ph"] == "B"]
    assert sum(e["cat"] == "forward" for e in begins) == 13 and sum(e["cat"] == "backward" for e in begins) == 13
    spans = [e["name"] for e in begins if e["cat"] == "module"]
    assert spans == ["LeNet5", "features"] + [f"features.{i}" for i in range(6)] + \
        ["classifier"] + [f"classifier.{i}" for i in range(6)]
    backward = [e for e in begins if e["cat"] == "backward"]
    assert [e["name"] for e in backward] == [op for op, *_ in reversed(LENET_FORWARD)]
    assert {e["tid"] for e in backward}.isdisjoint({e["tid"] for e in begins if e["cat"] != "backward"})
    # An op's span lasts its record's time.
    ops = [e for e in events if e.get("cat") in ("forward", "backward")]
    for (b, e), r in zip(zip(ops[::2], ops[1::2]), profiled.records):
        assert (b["ph"], e["ph"], b["name"], b["cat"]) == ("B", "E", r.op, r.phase)
        assert e["ts"] - b["ts"] == pytest.approx(r.seconds * 1e6, abs=0.01)


def test_json_dump_has_every_record(profiled, tmp_path):
    path = tmp_path / "profile.json"
    profiled.to_json(str(path))
    data = json.loads(path.read_text())
    assert data["total_seconds"] == profiled.total_seconds and data["op_seconds"] == profiled.op_seconds()
    assert len(data["records"]) == len(profiled.records) == 26
    for saved, r in zip(data["records"], profiled.records):
        assert list(saved) == list(OpRecord._fields)
        assert (saved["op"], saved["phase"], saved["module"], saved["seconds"]) == (r.op, r.phase, r.module, r.seconds)
    assert data["records"][0]["input_shapes"] == [[2, 1, 32, 32], [6, 1, 5, 5], [6]]
    assert data["records"][-1]["output_shapes"] == [None, [6, 1, 5, 5], [6]]      # first conv's backward


# ---- on and off ----------------------------------------------------------------------------------

def test_reentering_a_profiler_adds_up(lenet_batch):
    model, x, y = lenet_batch
    prof = mc.profile()
    with prof:
        step(model, x, y)
    first, first_seconds = list(prof.records), prof.total_seconds
    step(model, x, y)                                  # between the blocks: not profiled
    assert prof.records == first
    with prof:
        step(model, x, y)
    assert len(prof.records) == 2 * len(first) == 52
    key = lambda r: (r.op, r.phase, r.module, r.input_shapes, r.output_shapes)  # noqa: E731
    assert [key(r) for r in prof.records[26:]] == [key(r) for r in first]
    assert prof.records[26].start > first[-1].start + first[-1].seconds     # one clock for the whole profile
    assert prof.total_seconds > first_seconds
    assert prof.op_seconds() <= prof.total_seconds
    check_trace_events(prof.trace_events)
    assert not autograd._observers
    ops, _ = parse_table(prof.table())
    assert prof.table().startswith("52 op calls:")
    assert {r[0]: int(r[1]) for r in ops}["Conv2d.forward"] == 4


def test_a_profiler_inside_itself_is_an_error(lenet_batch):
    model, x, y = lenet_batch
    prof = mc.profile()
    with prof:
        with pytest.raises(RuntimeError, match="already profiling"):
            with prof:
                pass
        step(model, x, y)
    assert len(prof.records) == 26 and len(autograd._observers) == 0


def test_an_exception_in_a_forward_leaves_balanced_events_and_no_observer():
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), Boom())
    prof = mc.profile()
    with pytest.raises(RuntimeError, match="boom"):
        with prof:
            model(mc.zeros((1, 1, 5, 5)))
    assert not autograd._observers and not autograd._thread.modules
    assert [(r.op, r.module) for r in prof.records] == [("Conv2d", "0"), ("ReLU", "1")]
    check_trace_events(prof.trace_events)
    spans = [e["name"] for e in prof.trace_events if e["ph"] == "B" and e["cat"] == "module"]
    assert spans == ["Sequential", "0", "1", "2"]
    # An exception inside an op's forward leaves the profiler usable.
    class Fail(mc.Function):
        def forward(self, x):
            raise ValueError("bad op")

    with pytest.raises(ValueError, match="bad op"):
        with prof:
            Fail()(mc.zeros(3))
    assert not autograd._observers
    check_trace_events(prof.trace_events)
    with prof:
        model[1](mc.zeros((1, 2, 3, 3)))
    assert [(r.op, r.module) for r in prof.records] == [("Conv2d", "0"), ("ReLU", "1"), ("ReLU", "1")]
    check_trace_events(prof.trace_events)


def test_nothing_is_recorded_after_the_block(lenet_batch):
    model, x, y = lenet_batch
    with mc.profile() as prof:
        model(x)
    assert not autograd._observers
    records, events, total = list(prof.records), list(prof.trace_events), prof.total_seconds
    step(model, x, y)
    assert prof.records == records and prof.trace_events == events and prof.total_seconds == total
