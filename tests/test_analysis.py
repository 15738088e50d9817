"""`describe`: the lab's part-1 figures, checked against values worked out by hand."""

import numpy as np
import pytest

import train_keras
from keras_cnn.analysis import describe, format_markdown, format_text
from keras_cnn.fullyconv import ImageSizeError
from keras_cnn.models import build_model

# Receptive field (r) and jump (j) by hand, r_out = r_in + (k-1)*j_in, j_out = j_in*s, from r=1, j=1:
#   conv1 5x5/1: r = 1 + 4*1 = 5,   j = 1      pool1 2x2/2: r = 5 + 1*1 = 6,   j = 2
#   conv2 5x5/1: r = 6 + 4*2 = 14,  j = 2      pool2 2x2/2: r = 14 + 1*2 = 16, j = 4
#   conv3 5x5/1: r = 16 + 4*4 = 32, j = 4      pool3 2x2/2: r = 32 + 1*4 = 36, j = 8
#   fc4 on the 4x4 map of pool3 (a 4x4 convolution): r = 36 + 3*8 = 60 >= 32: it sees the whole input.
CIFAR_FIELDS = {
    "conv1": (5, 1),
    "pool1": (6, 2),
    "conv2": (14, 2),
    "pool2": (16, 4),
    "conv3": (32, 4),
    "pool3": (36, 8),
}


def field(analysis, name):
    rows, cols = analysis.row(name).fields
    assert rows == cols  # square kernels on a square input
    return rows.size, rows.jump


@pytest.mark.parametrize("variant", ["baseline", "bn"])
def test_receptive_fields_match_the_hand_computation(variant):
    analysis = describe(variant)
    assert {name: field(analysis, name) for name in CIFAR_FIELDS} == CIFAR_FIELDS
    assert analysis.row("fc4").fields[0].size == 60
    assert analysis.row("fc4").whole_input and analysis.row("fc5").whole_input
    # conv3's 32-pixel field is as wide as the image, but off-centre units reach into the padding:
    # no unit before fc4 sees all of it.
    assert not any(analysis.row(name).whole_input for name in CIFAR_FIELDS)


def test_weights_per_layer_their_shares_and_the_total():
    analysis = describe("baseline")
    weights = {row.name: row.weights for row in analysis.rows if row.weights}
    assert weights == {
        "conv1": 5 * 5 * 3 * 32 + 32,
        "conv2": 5 * 5 * 32 * 64 + 64,
        "conv3": 5 * 5 * 64 * 64 + 64,
        "fc4": 4 * 4 * 64 * 1000 + 1000,
        "fc5": 1000 * 10 + 10,
    }
    assert weights["fc4"] == 1_025_000 and analysis.total_weights == 1_191_170
    model = build_model("baseline")
    assert analysis.total_weights == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    text = format_text(analysis)
    assert f"{1_025_000 / 1_191_170:.2%}" in text and "5*5*3*32 + 32" in text and "1024*1000 + 1000" in text


def test_batch_normalization_counts_scale_and_offset_and_lists_running_statistics_apart():
    analysis = describe("bn")
    assert analysis.row("bn1").weights == 2 * 32 and analysis.row("bn1").fixed == 2 * 32
    assert analysis.total_weights == 1_191_170 + 2 * (32 + 64 + 64)
    assert analysis.total_fixed == 2 * (32 + 64 + 64)
    assert "+ 320 running statistics of batch normalization" in format_text(analysis)


def test_multiply_accumulates_per_image():
    analysis = describe("baseline")  # "same" convolutions keep 32x32, 16x16, 8x8
    macs = {row.name: row.macs for row in analysis.rows if row.macs}
    assert macs == {
        "conv1": 32 * 32 * 5 * 5 * 3 * 32,
        "conv2": 16 * 16 * 5 * 5 * 32 * 64,
        "conv3": 8 * 8 * 5 * 5 * 64 * 64,
        "fc4": 1024 * 1000,
        "fc5": 1000 * 10,
    }
    cropped = describe("augment")  # on the 28x28 crop: 28x28, 14x14, 7x7
    assert (
        cropped.row("conv1").macs == 28 * 28 * 5 * 5 * 3 * 32 and cropped.row("conv3").macs == 7 * 7 * 5 * 5 * 64 * 64
    )


def test_fully_connected_equivalent_of_each_convolution():
    analysis = describe("baseline")
    # (H_in*W_in*C_in) * (H_out*W_out*C_out) + H_out*W_out*C_out
    assert analysis.row("conv1").dense_equivalent == (32 * 32 * 3) * (32 * 32 * 32) + 32 * 32 * 32
    assert analysis.row("conv2").dense_equivalent == (16 * 16 * 32) * (16 * 16 * 64) + 16 * 16 * 64
    assert analysis.row("fc4").dense_equivalent is None  # only convolutions get the comparison
    assert "(H_in*W_in*C_in)*(H_out*W_out*C_out) + H_out*W_out*C_out" in format_text(analysis)


def test_crop_variants_show_the_crop_and_the_ceil_mode_pool():
    analysis = describe("augment")
    shapes = {row.name: row.output_shape for row in analysis.rows}
    assert shapes["scale"] == (32, 32, 3) and shapes["crop"] == (28, 28, 3) and shapes["conv1"] == (28, 28, 32)
    assert shapes["pool2"] == (7, 7, 64) and shapes["pool3"] == (4, 4, 64)
    assert "ceil mode" in analysis.row("pool3").kind and analysis.row("crop").weights == 0
    assert analysis.visible == (28, 28) and "60 (all 28x28)" in format_text(analysis)


def test_lenet5_fields_with_its_valid_second_convolution():
    analysis = describe("lenet5")
    # conv1 5 (j 1), pool1 6 (j 2), conv2 6 + 4*2 = 14 (j 2), pool2 16 (j 4), fc1 on 5x5: 16 + 4*4 = 32 >= 28.
    assert [field(analysis, name) for name in ("conv1", "pool1", "conv2", "pool2")] == [
        (5, 1),
        (6, 2),
        (14, 2),
        (16, 4),
    ]
    assert analysis.row("conv2").output_shape == (10, 10, 16) and analysis.row("fc1").fields[0].size == 32
    assert analysis.total_weights == 61_706


def test_larger_input_describes_the_fully_convolutional_equivalent():
    analysis = describe("baseline", (64, 64))
    # pool3: 64 / 8 = 8x8x64; fc4 as a valid 4x4 convolution: 8 - 4 + 1 = 5 positions per axis.
    assert analysis.row("pool3").output_shape == (8, 8, 64)
    assert analysis.row("fc4").output_shape == (5, 5, 1000) and analysis.row("softmax").output_shape == (5, 5, 10)
    assert field(analysis, "fc5") == (60, 8) and not analysis.row("fc5").whole_input
    # Centre of the first unit's field: pool1 +0.5, pool2 +0.5*2, pool3 +0.5*4, fc4 +1.5*8 -> 15.5, the centre
    # of the top-left 32x32 window.
    assert analysis.row("fc5").fields[0].center == 15.5
    assert analysis.row("fc4").macs == 5 * 5 * (4 * 4 * 64 * 1000)
    assert analysis.total_weights == 1_191_170 and "crop" not in {row.name for row in analysis.rows}
    assert "a 64x64 input gives it 8x8x64" in analysis.notes[0]


@pytest.mark.parametrize("variant, smallest", [("baseline", 32), ("bn", 28)])
def test_too_small_an_input_is_a_one_line_error(variant, smallest):
    with pytest.raises(ImageSizeError, match=f"at least {smallest}x{smallest}"):
        describe(variant, (20, 20))


def test_describe_command_text_and_markdown(capsys):
    assert train_keras.main(["describe", "--variant", "baseline"]) == 0
    text = capsys.readouterr().out
    assert "conv2" in text and "1,191,170 trainable weights" in text and "|" not in text
    assert train_keras.main(["describe", "--variant", "baseline", "--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| conv1 | conv 32@5x5, stride 1, same | 32x32x32 | 2,432 | `5*5*3*32 + 32` | 5 | 1 |" in markdown
    assert format_markdown(describe("baseline")) == markdown
    assert train_keras.main(["describe", "--variant", "baseline", "--input-size", "8", "8"]) == 1
    assert capsys.readouterr().err.startswith("error: an image of 8x8 is too small")
