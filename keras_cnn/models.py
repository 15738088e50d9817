"""The lab's networks as `keras.Sequential` models that take raw uint8 pixels.

A model is its on-device preprocessing (scaling, normalization, augmentation) followed by the
network. Variants differ only in their `TrainConfig`, never in a copied model.
"""

import math

import keras
import numpy as np
from keras import layers

from keras_cnn.config import DATASET_SHAPES, LAB_MEAN, LAB_STD, TrainConfig, resolve_config
from keras_cnn.layers import FusedBatchNormalization
from pipelines.preprocessing import (
    ChannelStats,
    ColorJitter,
    Cutout,
    PixelStats,
    RandomCrop,
    RandomFlip,
    ZCAWhitening,
    inference_views,
    mix_batch,
)

CROP_SIZE = 28  # the lab's augmentation crop
CONV1_FILTERS = {"cifar_cnn": 32, "lenet5": 6}
MIXING = ("mixup", "cutmix")


def build_model(
    config: TrainConfig | str = "bn",
    norm_stats: ChannelStats | PixelStats | None = None,
    num_classes: int = 10,
    zca: tuple[np.ndarray, np.ndarray] | None = None,
    conv1_kernel: np.ndarray | None = None,
) -> keras.Sequential:
    """The uncompiled model of a variant name or config.

    With normalization="train" ("pixel"), `norm_stats` are the training split's per-channel (per-pixel) statistics;
    without them the Normalization layer is left to be set by `layer.adapt(images / 255)`.
    With whitening="zca", `zca` is the (mean, matrix) pair of `zca_whitening` (identity if None).
    With whiten_conv1, `conv1_kernel` is conv1's initial kernel (`patch_whitening_kernel`; random if None).
    With mixup, cutmix, sharpness-aware minimization or test-time flips the model is a
    `LabSequential` (see there).
    """
    if isinstance(config, str):
        config = resolve_config(config)
    height, width, channels = DATASET_SHAPES[config.dataset]
    stack = [
        keras.Input((height, width, channels), dtype="uint8", name="pixels"),
        *preprocessing_layers(config, norm_stats, zca),
        *(lenet5(num_classes, compute_dtype(config), config.init) if config.arch == "lenet5"
          else cifar_cnn(config, num_classes)),
    ]
    if any(name in config.augment for name in MIXING) or config.tta != "none" or config.sam_rho:
        model = LabSequential(stack, augment=config.augment, mixup_alpha=config.mixup_alpha,
                              cutmix_alpha=config.cutmix_alpha,
                              mix_seed=config.seed, tta=config.tta, sam_rho=config.sam_rho, name=config.variant)
    else:
        model = keras.Sequential(stack, name=config.variant)
    conv1 = model.get_layer("conv1")
    if config.whiten_conv1 and conv1_kernel is not None:
        conv1.kernel.assign(conv1_kernel)
    # The whole layer, not only its kernel: a layer's `trainable` is saved with the model (a variable's is not),
    # so a reloaded checkpoint has the same trainable weights and optimizer slots.
    conv1.trainable = not config.freeze_conv1
    return model


def compute_dtype(config: TrainConfig) -> str:
    """Keras dtype policy of the network's layers: float32, or a mixed policy (variables stay float32)."""
    if not config.mixed_precision:
        return "float32"
    import tensorflow as tf

    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def preprocessing_layers(
    config: TrainConfig, norm_stats: ChannelStats | PixelStats | None = None,
    zca: tuple[np.ndarray, np.ndarray] | None = None
) -> list[layers.Layer]:
    """Scaling to [0, 1], colour jitter, normalization, whitening, crop, flip, cutout: in that order, in float32.

    Colour jitter needs pixels in [0, 1]; crops and cutout come after normalization so that
    their zeros (padding, erased squares) are the mean colour.
    """
    augment = config.augment
    steps = [layers.Rescaling(1 / 255, name="scale")]
    if "color" in augment:
        steps.append(ColorJitter(config.color_jitter, seed=config.seed, name="color"))
    if config.normalization in ("train", "pixel"):
        axis = -1 if config.normalization == "train" else (1, 2, 3)  # one mean per channel, or per pixel and channel
        if norm_stats is None:
            steps.append(layers.Normalization(axis=axis, name="standardize"))
        else:
            steps.append(layers.Normalization(axis=axis, mean=norm_stats.mean, variance=np.square(norm_stats.std),
                                              name="standardize"))
    elif config.normalization == "lab":
        steps.append(layers.Normalization(mean=LAB_MEAN, variance=np.square(LAB_STD), name="standardize"))
    if config.whitening == "zca":
        steps.append(ZCAWhitening(*(zca or (None, None)), name="zca"))
    if "crop28" in augment:
        steps.append(RandomCrop(CROP_SIZE, CROP_SIZE, seed=config.seed, name="crop"))
    if "pad-crop32" in augment:
        size = DATASET_SHAPES[config.dataset][0]
        steps.append(RandomCrop(size, size, padding=config.crop_padding, seed=config.seed,
                                padding_mode=config.crop_padding_mode, name="crop"))
    if "flip" in augment:
        steps.append(RandomFlip("horizontal", seed=config.seed, name="flip"))
    if "vflip" in augment:  # upside down: the lab's contrast to the mirror image (Q23)
        steps.append(RandomFlip("vertical", seed=config.seed, name="vflip"))
    if "cutout" in augment:
        steps.append(Cutout(config.cutout_size, seed=config.seed, name="cutout"))
    return steps


def initial_weights(init: str, fan_in: int) -> dict:
    """Initializer arguments of a Conv2D or Dense layer with `fan_in` inputs per output.

    torch: PyTorch's default for Conv2d and Linear (kaiming_uniform with a=sqrt(5), which is
    uniform in +-1/sqrt(fan_in), and the same bound for biases), which the lab's code uses.
    glorot: Keras' defaults (Glorot-uniform kernels, zero biases).
    """
    if init == "glorot":
        return {}
    bound = 1 / math.sqrt(fan_in)
    return dict(kernel_initializer=keras.initializers.RandomUniform(-bound, bound),
                bias_initializer=keras.initializers.RandomUniform(-bound, bound))


def cifar_cnn(config: TrainConfig, num_classes: int = 10) -> list[layers.Layer]:
    """conv1 32@5x5, pool; conv2 64@5x5, pool; conv3 64@5x5, pool; fc4 1000; fc5 (+ BN, dropout by config)."""
    dtype = compute_dtype(config)
    channels_in = {1: DATASET_SHAPES[config.dataset][2], 2: 32, 3: 64}

    def conv(filters: int, index: int) -> list[layers.Layer]:
        # PyTorch's BatchNorm2d defaults, as in the lab: running stats updated by 0.1 per step
        # (bn_momentum 0.9 in Keras' terms), eps 1e-5.
        # Across replicas the statistics are synchronized, so a global batch normalizes as on one device.
        normalize = [
            FusedBatchNormalization(momentum=config.bn_momentum, epsilon=1e-5,
                                    synchronized=config.strategy != "default", dtype=dtype, name=f"bn{index}")
        ] if config.batch_norm else []
        return [
            layers.Conv2D(filters, 5, padding="same", dtype=dtype, name=f"conv{index}",
                          **initial_weights(config.init, 5 * 5 * channels_in[index])),
            *normalize,
            layers.ReLU(dtype=dtype, name=f"relu{index}"),
        ]

    # A 28x28 crop reaches pool3 at 7x7. The lab pools it in ceil mode to keep fc4's 4x4x64 input;
    # "same" padding on a 2x2/2 max-pool is exactly ceil mode (the padded cell never wins the max).
    size = CROP_SIZE if "crop28" in config.augment else DATASET_SHAPES[config.dataset][0]
    pool3_padding = "same" if (size // 4) % 2 else "valid"
    dropout = [layers.Dropout(config.dropout, seed=config.seed, dtype=dtype, name="dropout")] if config.dropout else []
    return [
        *conv(CONV1_FILTERS["cifar_cnn"], 1),
        layers.MaxPooling2D(2, dtype=dtype, name="pool1"),
        *conv(64, 2),
        layers.MaxPooling2D(2, dtype=dtype, name="pool2"),
        *conv(64, 3),
        layers.MaxPooling2D(2, padding=pool3_padding, dtype=dtype, name="pool3"),
        layers.Flatten(dtype=dtype, name="flatten"),
        layers.Dense(1000, activation="relu", dtype=dtype, name="fc4", **initial_weights(config.init, 4 * 4 * 64)),
        *dropout,
        layers.Dense(num_classes, dtype=dtype, name="fc5", **initial_weights(config.init, 1000)),
        layers.Activation("softmax", dtype="float32", name="softmax"),  # float32 even under mixed precision
    ]


def lenet5(num_classes: int = 10, dtype: str = "float32", init: str = "torch") -> list[layers.Layer]:
    """The lab's starting code: conv 6@5x5 pad 2 + tanh, pool, conv 16@5x5 + tanh, pool, fc 120, 84, 10."""
    return [
        layers.Conv2D(CONV1_FILTERS["lenet5"], 5, padding="same", activation="tanh", dtype=dtype, name="conv1",
                      **initial_weights(init, 5 * 5 * 1)),
        layers.MaxPooling2D(2, dtype=dtype, name="pool1"),
        layers.Conv2D(16, 5, activation="tanh", dtype=dtype, name="conv2", **initial_weights(init, 5 * 5 * 6)),
        layers.MaxPooling2D(2, dtype=dtype, name="pool2"),
        layers.Flatten(dtype=dtype, name="flatten"),
        layers.Dense(120, activation="tanh", dtype=dtype, name="fc1", **initial_weights(init, 400)),
        layers.Dense(84, activation="tanh", dtype=dtype, name="fc2", **initial_weights(init, 120)),
        layers.Dense(num_classes, dtype=dtype, name="fc3", **initial_weights(init, 84)),
        layers.Activation("softmax", dtype="float32", name="softmax"),
    ]


@keras.saving.register_keras_serializable(package="keras_cnn")
class LabSequential(keras.Sequential):
    """A Sequential plus the steps that layers cannot express.

    - mixup / cutmix (in `augment`) need the labels, which layers never see: the training step
      mixes each batch on the device first. Labels must then be one-hot.
    - sam_rho > 0: sharpness-aware minimization needs two passes per step (see `sharpness_aware_step`).
    - tta="flip" or "flip-translate": at inference (evaluate, predict, checkpoints, exports) the
      output is the weighted mean of the softmax of several views of each image (its mirror image,
      and with flip-translate one-pixel shifts: `inference_views`); a layer sees one input, so this
      lives in `call`. Training sees single images.
    """

    SETTINGS = {"augment": (), "mixup_alpha": 0.2, "cutmix_alpha": 1.0, "mix_seed": None, "tta": "none", "sam_rho": 0.0}

    def __init__(self, *args, augment=(), mixup_alpha=0.2, cutmix_alpha=1.0, mix_seed=None, tta="none", sam_rho=0.0,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.augment, self.mix_seed = tuple(augment), mix_seed
        self.mixup_alpha, self.cutmix_alpha = mixup_alpha, cutmix_alpha
        self.tta, self.sam_rho = tta, sam_rho
        self.mix_seed_generator = keras.random.SeedGenerator(mix_seed)

    def call(self, inputs, training=None, mask=None):
        if training or self.tta == "none":
            return super().call(inputs, training=training, mask=mask)
        views, weights = inference_views(inputs, self.tta)
        # One pass over all views stacked along the batch: inference treats each image alone.
        outputs = super().call(keras.ops.concatenate(views, axis=0), training=training, mask=mask)
        outputs = keras.ops.reshape(outputs, (len(views), -1, outputs.shape[-1]))
        return sum(weight * outputs[index] for index, weight in enumerate(weights))

    def train_step(self, data):
        images, labels, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if any(name in self.augment for name in MIXING):
            images, labels = mix_batch(images, labels, self.augment, self.mixup_alpha, self.cutmix_alpha,
                                       self.mix_seed_generator)
        if self.sam_rho:
            return self.sharpness_aware_step(images, labels, sample_weight)
        return super().train_step((images, labels, sample_weight))

    def sharpness_aware_step(self, images, labels, sample_weight=None):
        """Sharpness-aware minimization (Foret et al., 2021): step with the gradient at w + rho * g / |g|.

        Keras has no SAM: it needs a second forward and backward pass per step, which an optimizer
        cannot run. The second pass is a `stateless_call` on the moved weights, so no variable is
        changed in place (which also keeps it valid under tf.distribute) and batch-norm statistics
        are updated once per step, by the first pass, as without SAM. It starts from the random
        seed states the first pass started from, so both gradients are of the same crops, flips
        and dropout masks: the same batch, at two points.
        """
        import tensorflow as tf  # the TensorFlow backend's training step, as Keras' own

        weights = self.trainable_variables
        # Read now (tf.identity: `.value` is the variable itself, read only where used), seed states included.
        state_before = [tf.identity(variable.value) for variable in self.non_trainable_variables]
        with tf.GradientTape() as tape:
            predictions = self(images, training=True)
            loss = self._compute_loss(x=images, y=labels, y_pred=predictions, sample_weight=sample_weight,
                                      training=True)
            # As Keras' step: the tracked loss undoes compute_loss's division by the replica count.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            self._loss_tracker.update_state(loss * replicas, sample_weight=tf.shape(images)[0])
            loss = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(loss, weights)
        # Only the direction counts, so the loss scale of float16 cancels; an overflow (inf) moves nothing.
        scale = self.sam_rho / (tf.linalg.global_norm(gradients) + 1e-12)
        moved = [
            weight.value + tf.where(tf.math.is_finite(gradient), gradient * scale, tf.zeros_like(gradient))
            for weight, gradient in zip(weights, gradients)
        ]
        with tf.GradientTape() as tape:
            tape.watch(moved)
            moved_predictions, _ = self.stateless_call(moved, state_before, images, training=True)
            moved_loss = self.optimizer.scale_loss(
                self._compute_loss(x=images, y=labels, y_pred=moved_predictions, sample_weight=sample_weight,
                                   training=True)
            )
        self.optimizer.apply_gradients(zip(tape.gradient(moved_loss, moved), weights))
        return self.compute_metrics(images, labels, predictions, sample_weight=sample_weight)

    def get_config(self):
        return super().get_config() | {
            "augment": list(self.augment), "mixup_alpha": self.mixup_alpha,
            "cutmix_alpha": self.cutmix_alpha, "mix_seed": self.mix_seed, "tta": self.tta, "sam_rho": self.sam_rho,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        settings = {key: config.pop(key, default) for key, default in cls.SETTINGS.items()}
        model = super().from_config(config, custom_objects=custom_objects)
        for key, value in settings.items():
            setattr(model, key, tuple(value) if key == "augment" else value)
        return model
