"""Network layers of our own, where Keras' fall short (each says why)."""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="keras_cnn")
class FusedBatchNormalization(layers.BatchNormalization):
    """keras.layers.BatchNormalization computed by TensorFlow's fused kernel (one op forward, one backward).

    Why: Keras 3 composes batch normalization from moments, arithmetic and variable updates, each a
    separate op over the whole activation; on CPU that took a third of the `bn` training step, the
    fused kernel less than a tenth (see BENCHMARKS.md). Same weights and checkpoint format.
    Like PyTorch's BatchNorm2d (the lab's), the running variance is updated with the unbiased
    (Bessel-corrected) batch variance. Synchronized BN (several replicas), other axes and ranks use
    Keras' own implementation.
    """

    def call(self, inputs, training=None, mask=None):
        import tensorflow as tf

        if self.synchronized or mask is not None or len(inputs.shape) != 4 or self.axis not in (3, -1):
            return super().call(inputs, training=training, mask=mask)
        # The fused kernel takes float32 statistics whatever the activations' dtype (mixed precision).
        gamma, beta = tf.cast(self.gamma, "float32"), tf.cast(self.beta, "float32")
        mean, variance = tf.cast(self.moving_mean, "float32"), tf.cast(self.moving_variance, "float32")
        if not training:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, mean=mean, variance=variance, epsilon=self.epsilon, is_training=False
            )
            return outputs
        outputs, moving_mean, moving_variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, gamma, beta, mean=mean, variance=variance, epsilon=self.epsilon, is_training=True,
            exponential_avg_factor=1.0 - self.momentum,
        )
        self.moving_mean.assign(tf.cast(moving_mean, self.moving_mean.dtype))
        self.moving_variance.assign(tf.cast(moving_variance, self.moving_variance.dtype))
        return outputs
