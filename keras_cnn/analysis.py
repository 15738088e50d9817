"""The architecture, layer by layer: output shapes, weights, receptive fields and multiply-accumulates.

Answers the lab's part-1 questions from the built Keras model (`build_model(config).layers`), so
the figures always describe the code that trains. Receptive-field arithmetic, per image axis, from
r = 1, j = 1 at the input pixels, for a layer with kernel k and stride s:

    r_out = r_in + (k - 1) * j_in      (pixels one unit sees)
    j_out = j_in * s                   (pixels between neighbouring units)
    c_out = c_in + ((k - 1) / 2 - pad_before) * j_in   (pixel at the centre of the first unit's field)
"""

import dataclasses
import math
import textwrap
from dataclasses import dataclass

import keras
from keras import layers

from keras_cnn.config import TrainConfig, resolve_config
from keras_cnn.errors import ConfigError
from keras_cnn.formatting import decimal, markdown_table, pair
from keras_cnn.fullyconv import fully_convolutional
from keras_cnn.models import build_model
from pipelines.preprocessing import ColorJitter, Cutout, RandomCrop, ZCAWhitening

# Formulas are in backticks for Markdown (where * would mean emphasis); plain text drops them.
WEIGHTS_LEGEND = (
    "weights: trainable parameters: `k*k*C_in*C_out + C_out` for a convolution, `n_in*n_out + n_out` for a dense "
    "layer, `2*C` (scale and offset) for batch normalization, whose running mean and variance (`2*C` more, not "
    "trained) are counted apart; scaling and standardization use fixed constants, not weights"
)
FIELD_LEGEND = (
    "RF: receptive field of one unit on the input image, in pixels (`r_out = r_in + (k-1)*j_in`, r = 1 at the "
    "input); jump: input pixels between neighbouring units (`j_out = j_in*s`)"
)
MACS_LEGEND = (
    "MACs: multiply-accumulates per image of convolutions (`H_out*W_out*k*k*C_in*C_out`) and dense layers "
    "(`n_in*n_out`); bias adds, batch normalization, ReLU and pooling are not counted"
)
DENSE_LEGEND = (
    "Convolutions vs fully-connected layers: a fully-connected layer producing the same output from the same input "
    "needs `(H_in*W_in*C_in)*(H_out*W_out*C_out) + H_out*W_out*C_out` weights."
)


TEXT_COLUMNS = ("layer", "does", "= formula")


@dataclass(frozen=True)
class Field:
    """Receptive field of the units of a layer along one axis of the input image."""

    size: int = 1  # r: input pixels one unit sees
    jump: int = 1  # j: input pixels between neighbouring units
    center: float = 0.0  # input pixel at the centre of the first unit's field

    def through(self, kernel: int, stride: int, pad_before: int) -> "Field":
        return Field(
            self.size + (kernel - 1) * self.jump,
            self.jump * stride,
            self.center + ((kernel - 1) / 2 - pad_before) * self.jump,
        )


@dataclass(frozen=True)
class LayerRow:
    """One layer: what it does, its output, its weights, its receptive field and its cost."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    fields: tuple[Field, Field]  # rows, columns
    whole_input: bool = False  # every unit sees all the pixels the network sees
    spatial: bool = True  # False after Flatten: one unit per output value, no neighbours
    weights: int = 0
    formula: str = ""
    fixed: int = 0  # non-trainable statistics (batch normalization's running mean and variance)
    macs: int = 0
    input_shape: tuple[int, ...] = ()
    dense_equivalent: int | None = None  # convolutions: weights of a dense layer with the same input and output


@dataclass(frozen=True)
class Analysis:
    title: str
    input_shape: tuple[int, int, int]
    visible: tuple[int, int]  # the pixels the network sees: the input, or its crop
    rows: list[LayerRow]
    notes: tuple[str, ...] = ()

    @property
    def total_weights(self) -> int:
        return sum(row.weights for row in self.rows)

    @property
    def total_fixed(self) -> int:
        return sum(row.fixed for row in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(row.macs for row in self.rows)

    def row(self, name: str) -> LayerRow:
        return next(row for row in self.rows if row.name == name)


def describe(
    variant: str | TrainConfig = "bn", input_size: tuple[int, int] | None = None, fully_conv: bool = False
) -> Analysis:
    """The analysis of a variant's network, on its own input size or on `input_size` (H, W).

    The dense layers only fit the input size the network was built for, so on another size (or
    with `fully_conv`) this describes the fully-convolutional equivalent (see `fullyconv`).
    """
    config = resolve_config(variant) if isinstance(variant, str) else variant
    model = build_model(config)
    height, width, channels = model.inputs[0].shape[1:]
    size = tuple(input_size) if input_size else (height, width)
    if size == (height, width) and not fully_conv:
        return analyse(model, f"{config.variant}: input {height}x{width}x{channels}")
    if min(size) < 1:
        raise ConfigError(f"--input-size must be positive, got {size[0]} {size[1]}")
    converted = fully_convolutional(model, size)
    analysis = analyse(converted, f"{config.variant}, fully convolutional: input {size[0]}x{size[1]}x{channels}")
    return dataclasses.replace(analysis, notes=(_conversion_note(model, converted, size),))


def analyse(model: keras.Sequential, title: str = "") -> Analysis:
    """Walk the layers of a built `keras.Sequential` (image input, channels last)."""
    input_shape = tuple(model.inputs[0].shape[1:])
    fields = (Field(), Field())
    visible = input_shape[:2]  # the crop layer narrows it
    first_visible = (0, 0)  # per axis, in input pixels
    grid = input_shape[:2]  # units per axis of the current map
    spatial = True
    rows = []
    for layer in model.layers:
        in_shape, out_shape = tuple(layer.input.shape[1:]), tuple(layer.output.shape[1:])
        row = {"name": layer.name, "output_shape": out_shape, "input_shape": in_shape}
        if isinstance(layer, layers.Conv2D):
            fields = _through(fields, in_shape, out_shape, layer.kernel_size, layer.strides, layer.padding)
            k_h, k_w = layer.kernel_size
            c_in, c_out = in_shape[2], out_shape[2]
            activation = "" if layer.activation.__name__ == "linear" else f", {layer.activation.__name__}"
            row |= {
                "kind": f"conv {c_out}@{_size(k_h, k_w)}, stride {pair(*layer.strides)}, {layer.padding}{activation}",
                "weights": k_h * k_w * c_in * c_out + c_out,
                "formula": f"{k_h}*{k_w}*{c_in}*{c_out} + {c_out}",
                "macs": out_shape[0] * out_shape[1] * k_h * k_w * c_in * c_out,
                "dense_equivalent": math.prod(in_shape) * math.prod(out_shape) + math.prod(out_shape),
            }
        elif isinstance(layer, layers.MaxPooling2D):
            fields = _through(fields, in_shape, out_shape, layer.pool_size, layer.strides, layer.padding)
            ceil = " (same = ceil mode)" if layer.padding == "same" else ""
            row |= {"kind": f"max-pool {_size(*layer.pool_size)}, stride {pair(*layer.strides)}{ceil}"}
        elif isinstance(layer, layers.Dense):
            n_in, n_out = in_shape[0], out_shape[0]
            # Like a valid convolution as large as the flattened map: one unit that sees all of it
            # (a no-op for the dense layers after the first, whose map is 1x1).
            fields = tuple(field.through(n, 1, 0) for field, n in zip(fields, grid))
            grid = (1, 1)
            activation = "" if layer.activation.__name__ == "linear" else f", {layer.activation.__name__}"
            row |= {
                "kind": f"dense {n_out}{activation}",
                "weights": n_in * n_out + n_out,
                "formula": f"{n_in}*{n_out} + {n_out}",
                "macs": n_in * n_out,
            }
        elif isinstance(layer, layers.BatchNormalization):
            channels = out_shape[-1]
            row |= {
                "kind": "batch normalization",
                "weights": 2 * channels,
                "formula": f"2*{channels}",
                "fixed": 2 * channels,
            }
        elif isinstance(layer, RandomCrop):
            # The test-time crop: centered in the (padded) image.
            pad = layer.padding
            top, left = (
                (in_shape[0] + 2 * pad - layer.height) // 2 - pad,
                (in_shape[1] + 2 * pad - layer.width) // 2 - pad,
            )
            fields = tuple(Field(f.size, f.jump, f.center + offset * f.jump) for f, offset in zip(fields, (top, left)))
            visible, first_visible = (layer.height, layer.width), (first_visible[0] + top, first_visible[1] + left)
            padded = f"pad {pad}, " if pad else ""
            row |= {"kind": f"{padded}crop {_size(layer.height, layer.width)} (random in training, centered at test)"}
        elif isinstance(layer, layers.Flatten):
            spatial = False
            row |= {"kind": "flatten (H, W, C order)"}
        else:
            row |= {"kind": _describe_elementwise(layer)}
        if spatial:
            grid = out_shape[:2]
        covers = all(
            _covers(field, units, start, start + extent - 1)
            for field, units, start, extent in zip(fields, grid, first_visible, visible)
        )
        rows.append(LayerRow(fields=fields, whole_input=covers, spatial=spatial, **row))
    return Analysis(title, input_shape, visible, rows)


def format_text(analysis: Analysis) -> str:
    """The analysis as aligned plain-text tables with their legends."""
    return _format(analysis, markdown=False)


def format_markdown(analysis: Analysis) -> str:
    """The analysis as Markdown tables with their legends."""
    return _format(analysis, markdown=True)


def _format(analysis: Analysis, markdown: bool) -> str:
    def prose(text: str) -> str:
        return text if markdown else textwrap.fill(text.replace("`", ""), 110)

    total = analysis.total_weights
    layer_rows = [
        [
            row.name,
            row.kind,
            _shape(row.output_shape),
            decimal(row.weights, 0) if row.weights else "-",
            f"`{row.formula}`" if markdown and row.formula else row.formula,
            pair(*(f.size for f in row.fields)) + (f" (all {_size(*analysis.visible)})" if row.whole_input else ""),
            pair(*(f.jump for f in row.fields)) if row.spatial else "-",
            decimal(row.macs, 0) if row.macs else "-",
            f"{row.weights / total:.2%}" if row.weights else "-",
        ]
        for row in analysis.rows
    ]
    fixed = analysis.total_fixed
    lines = [
        f"**{analysis.title}**" if markdown else analysis.title,
        "",
        *(prose(note) for note in analysis.notes),
        *([""] if analysis.notes else []),
        _table(
            ["layer", "does", "output", "weights", "= formula", "RF", "jump", "MACs", "share"], layer_rows, markdown
        ),
        "",
        f"Total: {decimal(total, 0)} trainable weights"
        + (f" (+ {decimal(fixed, 0)} running statistics of batch normalization, not trained)" if fixed else "")
        + f"; {decimal(analysis.total_macs, 0)} MACs per image.",
        "",
        *(f"- {legend}" if markdown else prose(legend) for legend in (WEIGHTS_LEGEND, FIELD_LEGEND, MACS_LEGEND)),
    ]
    convolutions = [row for row in analysis.rows if row.dense_equivalent is not None]
    if convolutions:
        dense_rows = [
            [
                row.name,
                _shape(row.input_shape),
                _shape(row.output_shape),
                decimal(row.weights, 0),
                decimal(row.dense_equivalent, 0),
                f"{row.dense_equivalent / row.weights:,.0f}x",
            ]
            for row in convolutions
        ]
        lines += [
            "",
            prose(DENSE_LEGEND),
            "",
            _table(
                ["layer", "input", "output", "conv weights", "fully-connected weights", "ratio"], dense_rows, markdown
            ),
        ]
    return "\n".join(lines) + "\n"


def _through(fields, in_shape, out_shape, kernel, strides, padding) -> tuple[Field, Field]:
    """The fields after a convolution or pooling; "same" pads like TensorFlow (the odd pixel after)."""
    result = []
    for axis in (0, 1):
        k, s, n_in, n_out = kernel[axis], strides[axis], in_shape[axis], out_shape[axis]
        pad_before = max((n_out - 1) * s + k - n_in, 0) // 2 if padding == "same" else 0
        result.append(fields[axis].through(k, s, pad_before))
    return tuple(result)


def _covers(field: Field, units: int, first: int, last: int) -> bool:
    """Whether every one of `units` units sees all the pixels first..last of this axis."""
    reach = (field.size - 1) / 2
    last_center = field.center + (units - 1) * field.jump
    return field.center + reach >= last and last_center - reach <= first


def _describe_elementwise(layer: layers.Layer) -> str:
    """Layers that keep the shape and have no trainable weights."""
    if isinstance(layer, layers.Rescaling):
        return f"scale x 1/{1 / layer.scale:.6g}"
    if isinstance(layer, layers.Normalization):
        return "standardize per channel (fixed mean, std)"
    if isinstance(layer, layers.RandomFlip):
        return f"flip {layer.mode} (training only)"
    if isinstance(layer, layers.Dropout):
        return f"dropout {layer.rate:g} (training only)"
    if isinstance(layer, ColorJitter):
        return f"colour jitter +-{layer.strength:g} (training only)"
    if isinstance(layer, Cutout):
        return f"cutout {_size(layer.size, layer.size)} (training only)"
    if isinstance(layer, ZCAWhitening):
        # Each output pixel mixes all input pixels; the RF columns count pixels of the whitened image.
        return "ZCA whitening (fixed; mixes all pixels)"
    if isinstance(layer, layers.ReLU):
        return "ReLU"
    if isinstance(layer, layers.Activation):
        return layer.activation.__name__
    raise TypeError(f"the analysis does not know layer {layer.name} ({type(layer).__name__})")


def _table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    left = [header in TEXT_COLUMNS for header in headers]  # figures are right-aligned
    if markdown:
        return markdown_table(headers, rows, right=[index for index, is_left in enumerate(left) if not is_left])
    widths = [max(len(cells[i]) for cells in [headers, *rows]) for i in range(len(headers))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if is_left else cell.rjust(width) for cell, width, is_left in zip(cells, widths, left)
        ).rstrip()
        for cells in [headers, *rows]
    )


def _conversion_note(model: keras.Sequential, converted: keras.Sequential, size: tuple[int, int]) -> str:
    dense = next(layer for layer in model.layers if isinstance(layer, layers.Dense))
    map_shape = next(layer for layer in model.layers if isinstance(layer, layers.Flatten)).input.shape[1:]
    seen = converted.get_layer(dense.name).input.shape[1:]
    output = converted.outputs[0].shape[1:3]
    crop = ", the crop left out" if any(isinstance(layer, RandomCrop) for layer in model.layers) else ""
    return (
        f"Fully-convolutional equivalent (same weights; dense layers as convolutions{crop}): {dense.name} is a dense "
        f"layer on a {_shape(map_shape)} map ({math.prod(map_shape):,} values); a {_size(*size)} input gives it "
        f"{_shape(seen)}, so the output is a map of class scores at {_size(*output)} positions."
    )


def _shape(shape) -> str:
    return "x".join(str(n) for n in shape)


def _size(height: int, width: int) -> str:
    return f"{height}x{width}"


