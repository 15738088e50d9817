"""Fully-connected layers as convolutions (the lab's questions 5 and 6).

A dense layer on a H x W x C map is a H x W convolution with one filter per unit, and a dense
layer on a vector is a 1x1 convolution: `fully_convolutional` rewrites a trained model that way,
with the same weights. On the input size the model was trained on it predicts exactly what the
model predicts; on a larger image it slides the classifier over the image and returns a map of
class probabilities (a softmax over the classes at every position): `heatmap.py` draws it.
"""

import keras
from keras import layers

from keras_cnn.errors import ConfigError, KerasCnnError
from pipelines.preprocessing import RandomCrop, ZCAWhitening


class ImageSizeError(KerasCnnError, ValueError):
    """An image (or --input-size) smaller than the smallest input the network can take."""


def fully_convolutional(model: keras.Sequential, image_size: tuple[int, int] | None = None) -> keras.Sequential:
    """`model` with its dense layers as convolutions and the same weights, for images of `image_size` (default: any).

    The first dense layer after Flatten becomes a convolution as large as the map it was trained
    on (the CIFAR-10 net's fc4: 4x4, 1000 filters), the later ones 1x1 convolutions (fc5: 10
    filters). The crop layer is left out, since it would cut a larger image down: at test time it
    only takes the centered crop (28x28 of the 32x32 image in the lab), and on that crop the two
    models agree. Layers keep their names.
    """
    if image_size is not None:
        _check_image_size(fully_convolutional(model), image_size)
    pixels = model.inputs[0]
    rebuilt, weights = [], []
    map_size = None  # (H, W) of the map that Flatten flattened
    for layer in model.layers:
        if isinstance(layer, ZCAWhitening) or (isinstance(layer, layers.Normalization) and len(layer.axis) > 1):
            what = "ZCA whitening" if isinstance(layer, ZCAWhitening) else "per-pixel normalization (a mean image)"
            raise ConfigError(
                f"a model with {what} only takes images of its training size: it has no fully-convolutional form"
            )
        if isinstance(layer, RandomCrop):
            continue
        if isinstance(layer, layers.Flatten):
            map_size = tuple(layer.input.shape[1:3])
            continue
        if isinstance(layer, layers.Dense):
            if map_size is None:
                raise ValueError(
                    f"dense layer {layer.name} follows no Flatten: the model is not a convolutional network"
                )
            kernel, bias = layer.get_weights()
            # Keras flattens channels-last maps in (H, W, C) order, the order of a convolution
            # kernel's first three axes: the dense kernel reshapes directly.
            kernel = kernel.reshape(*map_size, -1, layer.units)
            rebuilt.append(
                layers.Conv2D(
                    layer.units, map_size, activation=layer.activation, name=layer.name, dtype=layer.dtype_policy
                )
            )
            weights.append([kernel, bias])
            map_size = (1, 1)  # the next dense layers see one position
            continue
        rebuilt.append(type(layer).from_config(layer.get_config()))
        weights.append(layer.get_weights())
    shape = (*(image_size or (None, None)), pixels.shape[-1])
    converted = keras.Sequential(
        [keras.Input(shape, dtype=pixels.dtype, name="pixels"), *rebuilt], name=f"{model.name}_fullyconv"
    )
    for layer, values in zip(rebuilt, weights):
        layer.set_weights(values)
    return converted


def _check_image_size(model: keras.Sequential, size: tuple[int, int]) -> None:
    """Raise ImageSizeError, naming the smallest size, if the fully-convolutional `model` cannot take `size`."""
    if _fits(model, size):
        return
    smallest = next(n for n in range(1, 4096) if _fits(model, (n, n)))
    raise ImageSizeError(
        f"an image of {size[0]}x{size[1]} is too small for this network: it needs at least {smallest}x{smallest} pixels"
    )


def _fits(model: keras.Sequential, size: tuple[int, int]) -> bool:
    try:
        model.compute_output_shape((1, *size, model.inputs[0].shape[-1]))
    except ValueError:  # Keras: "Computed output size would be zero or negative"
        return False
    return True
