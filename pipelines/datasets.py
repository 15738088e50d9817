"""tf.data pipelines over the in-memory splits: uint8 batches, shuffled per epoch, prefetched.

Decoding happened once in `sources`, and the decoded arrays stay in memory: that is the cache, so
no `.cache()` step copies them a second time. Scaling, normalization and augmentation are not
done here but by the model's first layers, on whole batches on the accelerator.
"""

import tensorflow as tf

from pipelines.sources import Split


def train_dataset(split: Split, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled (differently every epoch, repeatably for a seed) uint8 batches of `split`."""
    return (
        tf.data.Dataset.from_tensor_slices((split.images, split.labels))
        .shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def eval_dataset(split: Split, batch_size: int) -> tf.data.Dataset:
    """uint8 batches of `split` in a fixed order."""
    return tf.data.Dataset.from_tensor_slices((split.images, split.labels)).batch(batch_size).prefetch(tf.data.AUTOTUNE)
