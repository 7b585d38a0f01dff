import json

import numpy as np
import pytest

import minicnn as mc
from minicnn import models, nn
from minicnn.summary import main, summarize


def test_three_stacked_3x3_convs_see_7x7():
    """Lecture 11: a stack of three 3x3 convolutions has the receptive field of one 7x7."""
    net = nn.Sequential(*[nn.Conv2d(4, 4, 3, padding=1) for _ in range(3)])
    rows = summarize(net, (4, 16, 16)).rows
    assert [r.receptive_field for r in rows[1:]] == [(3, 3), (5, 5), (7, 7)]


def test_strides_multiply_the_jump_and_branches_take_the_larger_field():
    class TwoBranch(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 2, 3, stride=2)       # rf 3, jump 2
            self.wide = nn.Conv2d(2, 2, 5, padding=2)      # rf 3 + 4*2 = 11
            self.narrow = nn.Conv2d(2, 2, 1)               # rf 3

        def forward(self, x):
            h = self.stem(x)
            return mc.ops.concat([self.wide(h), self.narrow(h)])

    rows = {r.name: r for r in summarize(TwoBranch(), (1, 17, 17)).rows}
    assert rows["wide"].receptive_field == (11, 11) and rows["narrow"].receptive_field == (3, 3)
    assert rows[""].receptive_field == (11, 11)


def test_adaptive_pooling_grows_the_field_like_the_pooling_it_is():
    # 3x3 conv (rf 3, jump 1) on 12x12: to 4x4 is a 3x3/3 pooling, to 5x5 has bins of up to 4 pixels
    # starting about 3 apart, to 12x12 is the identity, to 1x1 sees the whole image (a 3x3 conv after it
    # still adds its 2 pixels, as the arithmetic does for any layer).
    fields = {}
    for out in (4, 5, 12, 1):
        net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.AdaptiveAvgPool2d(out), nn.Conv2d(2, 2, 3, padding=1))
        rows = summarize(net, (1, 12, 12)).rows
        fields[out] = (rows[2].receptive_field[0], rows[3].receptive_field[0])
    assert fields == {4: (5, 11), 5: (6, 12), 12: (3, 5), 1: (12, 14)}


def test_macs_and_params_follow_the_formulas():
    net = nn.Sequential(nn.Conv2d(3, 8, (3, 1), stride=(2, 1), padding=(1, 0), groups=1), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, padding=1, groups=4), nn.GlobalAvgPool2d(), nn.Flatten(), nn.Linear(8, 5))
    s = summarize(net, (3, 10, 6))
    conv1 = 8 * 5 * 6 * 3 * 3 * 1            # OC * OH * OW * C * KH * KW
    conv2 = 8 * 5 * 6 * 2 * 3 * 3            # C / groups = 2
    assert s.total_macs == conv1 + conv2 + 8 * 5
    assert s.total_params == net.num_parameters() == s.trainable_params == s.used_params
    assert s.rows[-1].receptive_field is None and s.rows[-2].output_shape == (8,)
    assert s.activation_bytes == 4 * (8 * 5 * 6 * 3 + 8 + 8 + 5)


def test_summary_leaves_the_model_as_it_found_it():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout())
    summarize(net, (1, 5, 5))
    assert all(m.training for m in net.modules())
    assert int(net[1].num_batches_tracked.item()) == 0
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in net.modules())


def test_depth_folds_nested_rows():
    net = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten())
    s = summarize(net, (1, 5, 5))
    assert "0 (Sequential)" in s.table(depth=1) and "(Conv2d)" not in s.table(depth=1)
    assert "(Conv2d)" in s.table()
    assert [layer["name"] for layer in s.to_dict(depth=1)["layers"]] == ["0", "1"]


def test_cli_table_and_json(capsys):
    main(["--arch", "lenet5"])
    text = capsys.readouterr().out
    assert "Total params: 61,706" in text and "Multiply-adds (one image): 416,520" in text and "Source:" in text
    main(["--arch", "lenet5_28", "--json", "--depth", "1"])
    data = json.loads(capsys.readouterr().out)
    assert data["total_params"] == 61706 and data["input_size"] == [1, 28, 28] and len(data["layers"]) == 2
    with pytest.raises(SystemExit):
        main(["--arch", "lenet5", "--input", "1,32"])


@pytest.mark.parametrize("arch", ["lenet5", "resnet20", "googlenet"])
def test_on_cuda_the_table_and_the_json_are_the_cpus(arch, cupy, capsys):
    """The zero image runs on the device (the model is built there); what is reported does not change."""
    printed = {}
    for device in ("cuda", "cpu"):           # cpu last: the command leaves its device as the default
        main(["--arch", arch, "--device", device])
        main(["--arch", arch, "--device", device, "--json"])
        printed[device] = capsys.readouterr().out
    assert "Total params" in printed["cpu"] and printed["cuda"] == printed["cpu"]
    model, size = models.get(arch).to("cuda"), models.info(arch).input_size
    on_cuda = summarize(model, size)
    assert on_cuda.rows == summarize(model.to("cpu"), size).rows


def test_registry_lookup_errors():
    with pytest.raises(ValueError, match="unknown model 'lenet7'; known models: .*lenet5"):
        models.get("lenet7")
    assert "lenet5" in models.list() and models.info("lenet5").input_size == (1, 32, 32)
    assert models.get("lenet5", num_classes=3)(mc.zeros((1, 1, 32, 32))).shape == (1, 3)


@pytest.mark.parametrize("name", models.list())
def test_summary_handles_every_registered_model(name):
    spec = models.info(name)
    model = models.get(name, num_classes=7)
    s = summarize(model, (spec.input_size[0], spec.min_size, spec.min_size))     # the cheapest input it takes
    assert s.total_params == model.num_parameters() and s.total_macs > 0
    assert s.rows[0].output_shape == (7,)
    assert np.isfinite(s.activation_bytes)


def test_parameters_unused_at_inference_are_reported_apart():
    class WithAuxHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Linear(4, 2)
            self.aux = nn.Linear(4, 3)          # used only in training, as GoogLeNet's auxiliary classifiers

        def forward(self, x):
            return (self.body(x), self.aux(x)) if self.training else self.body(x)

    s = summarize(nn.Sequential(nn.Flatten(), WithAuxHead()), (4, 1, 1))
    assert s.total_params == 10 + 15 and s.used_params == 10
    assert "Total params: 25 (10 in the layers used at inference" in s.table()
