"""Data sources: tfds (mocked), image folders, seeded subsets, and one clear error per bad input."""

import os
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from conftest import CIFAR_JPEG, needs_cifar_jpeg, write_image_folder, write_images
from PIL import Image

from keras_cnn import DataError
from pipelines import image_folder, tfds_source
from pipelines.datasets import eval_dataset, train_dataset
from pipelines.sources import Split, load_splits, stratified_subset

CIFAR = (32, 32, 3)


def test_stratified_subset_is_seeded_balanced_and_not_the_first_files():
    labels = np.repeat(np.arange(10), 100)  # class-sorted, like a folder listing
    subset = stratified_subset(labels, 50, seed=1)
    assert len(subset) == 50 and len(set(subset)) == 50
    assert np.array_equal(np.bincount(labels[subset], minlength=10), [5] * 10)
    assert np.array_equal(subset, stratified_subset(labels, 50, seed=1))
    assert not np.array_equal(subset, stratified_subset(labels, 50, seed=2))
    assert not np.array_equal(subset, np.arange(50))
    uneven = stratified_subset(labels, 23, seed=0)
    assert set(labels[uneven]) == set(range(10)) and np.bincount(labels[uneven]).max() == 3


def test_subset_below_the_number_of_classes_is_refused():
    with pytest.raises(DataError, match="--limit 5 is below the number of classes \\(10\\)"):
        stratified_subset(np.repeat(np.arange(10), 3), 5, seed=0)


def test_image_folder_labels_follow_sorted_class_names(tmp_path):
    root = write_image_folder(tmp_path / "data", classes=("ship", "airplane", "cat"), train=3, test=2)
    splits = load_splits("cifar10", CIFAR, data_dir=str(root))
    assert splits.class_names == ["airplane", "cat", "ship"]
    assert splits.train.images.shape == (9, 32, 32, 3) and splits.train.images.dtype == np.uint8
    assert np.array_equal(np.bincount(splits.test.labels), [2, 2, 2])
    first_ship = np.asarray(Image.open(root / "train" / "ship" / "0000.png"))
    assert np.array_equal(splits.train.images[6], first_ship)  # ship is label 2, its first file


def test_image_folder_reads_jpeg_and_grayscale_png(tmp_path):
    jpeg = write_image_folder(tmp_path / "jpeg", classes=("a", "b"), train=2, test=1, suffix=".jpg")
    assert load_splits("cifar10", CIFAR, data_dir=str(jpeg)).train.images.shape == (4, 32, 32, 3)
    gray = write_image_folder(tmp_path / "gray", classes=("0", "1"), train=2, test=1, shape=(28, 28, 1))
    assert load_splits("mnist", (28, 28, 1), data_dir=str(gray)).test.images.shape == (2, 28, 28, 1)


def test_limit_takes_a_balanced_subset_of_each_split_before_decoding(tmp_path):
    root = write_image_folder(tmp_path / "data", classes=[f"c{i}" for i in range(4)], train=10, test=5)
    splits = load_splits("cifar10", CIFAR, data_dir=str(root), limit=8, seed=3)
    assert len(splits.train) == 8 and len(splits.test) == 8
    assert np.array_equal(np.bincount(splits.train.labels), [2, 2, 2, 2])


def test_test_only_loads_the_same_test_split_and_no_training_images(tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "data", classes=[f"c{i}" for i in range(4)], train=10, test=5)
    full = load_splits("cifar10", CIFAR, data_dir=str(root), limit=8, seed=3, val_split=0.25)
    decoded = []
    real_decode = image_folder.decode_images
    monkeypatch.setattr(image_folder, "decode_images", lambda paths, shape: decoded.append(len(paths))
                        or real_decode(paths, shape))
    test_only = load_splits("cifar10", CIFAR, data_dir=str(root), limit=8, seed=3, val_split=0.25, test_only=True)
    assert len(test_only.train) == 0 and test_only.val is None
    assert np.array_equal(test_only.test.images, full.test.images)
    assert np.array_equal(test_only.test.labels, full.test.labels)
    assert decoded == [8]  # the 8 test images: the training files were not decoded


def test_flat_class_folder_is_split_with_test_fraction(tmp_path):
    for digit in "012":
        write_images(tmp_path / "digits" / digit, 10, shape=(28, 28, 1))
    splits = load_splits("mnist", (28, 28, 1), data_dir=str(tmp_path / "digits"), test_fraction=0.2)
    assert len(splits.train) == 24 and len(splits.test) == 6
    assert np.array_equal(np.bincount(splits.test.labels), [2, 2, 2])
    again = load_splits("mnist", (28, 28, 1), data_dir=str(tmp_path / "digits"), test_fraction=0.2, seed=5)
    assert np.array_equal(again.test.images, splits.test.images)  # the held-out split does not move with the seed


def error_of(tmp_path, data_dir, shape=CIFAR, **kwargs) -> str:
    with pytest.raises(DataError) as error:
        load_splits("cifar10", shape, data_dir=str(data_dir), **kwargs)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_folder(tmp_path):
    assert "does not exist" in error_of(tmp_path, tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "has no train/ and test/ folders" in error_of(tmp_path, tmp_path / "empty")


def test_class_folders_without_split_suggest_test_fraction(tmp_path):
    write_images(tmp_path / "flat" / "cat", 2)
    assert "--test-fraction 0.2" in error_of(tmp_path, tmp_path / "flat")


def test_split_without_class_folders(tmp_path):
    (tmp_path / "d" / "train").mkdir(parents=True)
    (tmp_path / "d" / "test").mkdir()
    assert "has no class folders" in error_of(tmp_path, tmp_path / "d")


def test_different_classes_in_train_and_test(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("a", "b"), train=2, test=1)
    write_images(root / "test" / "c", 1)
    assert "different class folders" in error_of(tmp_path, root)


def test_files_without_an_image_extension_are_skipped_in_one_line(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("a", "b"), train=3, test=1)
    (root / "train" / "b" / "notes.txt").write_text("not an image")
    (root / "train" / "a" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / "test" / "a" / "0001.JPG").write_bytes((root / "test" / "a" / "0000.png").read_bytes())  # any case
    splits = load_splits("cifar10", CIFAR, data_dir=str(root))
    assert (len(splits.train), len(splits.test)) == (6, 3)
    assert splits.notes == (f"{root}: skipped 2 files without an image extension (.bmp/.gif/.jpeg/.jpg/.png), "
                            f"e.g. {root}/train/a/.DS_Store",)
    assert splits.describe()["notes"] == list(splits.notes)
    assert "train/a/.DS_Store is not an image file" in error_of(tmp_path, root, strict_images=True)


def test_a_class_folder_without_images_is_empty(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("a", "b"), train=2, test=1)
    for f in (root / "test" / "b").iterdir():
        f.unlink()
    (root / "test" / "b" / "readme.md").write_text("images go here")
    assert "test/b is empty (no .bmp/.gif/.jpeg/.jpg/.png files)" in error_of(tmp_path, root)


def test_truncated_image_is_named(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("a", "b"), train=3, test=1, suffix=".jpg")
    broken = root / "train" / "a" / "0001.jpg"
    broken.write_bytes(broken.read_bytes()[:40])
    assert "train/a/0001.jpg is not a readable image" in error_of(tmp_path, root)


def test_grayscale_rgba_and_palette_images_are_converted_to_the_data_sets_channels(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("a", "b"), train=3, test=1)
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 4), dtype=np.uint8)
    Image.fromarray(pixels[..., 0]).save(root / "train" / "a" / "0000.png")  # grayscale
    Image.fromarray(pixels).save(root / "train" / "a" / "0001.png")  # RGBA
    Image.fromarray(pixels[..., :3]).convert("P").save(root / "train" / "b" / "0000.png")  # palette
    splits = load_splits("cifar10", CIFAR, data_dir=str(root))
    gray, rgba, palette = splits.train.images[0], splits.train.images[1], splits.train.images[3]
    assert np.array_equal(gray, np.repeat(pixels[..., :1], 3, axis=2))
    assert np.array_equal(rgba, pixels[..., :3])  # alpha dropped, as Keras' decoding does
    assert np.array_equal(palette, np.asarray(Image.open(root / "train" / "b" / "0000.png").convert("RGB")))
    assert splits.notes == (f"converted 2 images of 8 to RGB, e.g. {root}/train/a/0000.png (1 channel(s))",)
    mnist = load_splits("mnist", (32, 32, 1), data_dir=str(root))  # RGB -> grayscale
    assert mnist.train.images.shape == (6, 32, 32, 1) and "to grayscale" in mnist.notes[0]
    message = error_of(tmp_path, root, strict_images=True)
    assert "train/a/0000.png is 32x32 with 1 channel(s), but this data set needs 32x32 with 3" in message


def test_images_of_another_size_are_resized_bilinear_like_keras(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("a", "b"), train=3, test=1)
    big = np.random.default_rng(0).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    Image.fromarray(big).save(root / "train" / "b" / "0002.png")
    splits = load_splits("cifar10", CIFAR, data_dir=str(root))
    keras_way = tf.image.resize(big, (32, 32), method="bilinear").numpy()  # image_dataset_from_directory's resize
    assert np.array_equal(splits.train.images[5], np.clip(np.round(keras_way), 0, 255).astype(np.uint8))
    assert splits.notes == (f"resized 1 image of 8 to 32x32 (bilinear), e.g. {root}/train/b/0002.png (64x48)",)
    assert "train/b/0002.png is 64x48 with 3 channel(s), but this data set needs 32x32 with 3" in error_of(
        tmp_path, root, strict_images=True)


def test_a_folder_of_another_shape_altogether_is_converted_with_a_hint(tmp_path):
    root = write_image_folder(tmp_path / "d", classes=("a", "b"), train=2, test=1, shape=(28, 28, 1))
    notes = load_splits("cifar10", CIFAR, data_dir=str(root)).notes
    assert len(notes) == 2 and all(note.endswith("(all of them: is this the right variant for this data?)")
                                   for note in notes)


def test_tfds_source_with_mock_data():
    with tfds.testing.mock_data(num_examples=40):
        splits = load_splits("cifar10", CIFAR, limit=20, seed=0)
        mnist = load_splits("mnist", (28, 28, 1))
    assert splits.source == "tfds:cifar10"
    assert splits.train.images.shape == (20, 32, 32, 3) and splits.train.images.dtype == np.uint8
    assert splits.train.labels.dtype == np.int32 and len(splits.class_names) == 10
    assert mnist.test.images.shape == (40, 28, 28, 1)


def test_tfds_offline_fails_fast_with_a_hint(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(tfds_source, "_online", lambda: False)
    start = time.monotonic()
    with pytest.raises(DataError) as error, caplog.at_level("WARNING"):
        load_splits("cifar10", CIFAR)
    assert time.monotonic() - start < 30
    assert not [record.getMessage() for record in caplog.records if record.name == "absl"]  # the error is the one line
    assert "cannot be downloaded: this machine is offline" in str(error.value)
    assert "--data-dir" in str(error.value)


def test_pipelines_feed_uint8_batches_in_a_new_order_every_epoch_that_depends_only_on_seed_and_epoch():
    images = np.arange(64, dtype=np.uint8).reshape(64, 1, 1, 1).repeat(2, axis=1).repeat(2, axis=2)
    split = Split(images, np.arange(64, dtype=np.int32))
    def labels(dataset):
        return [int(y) for _, ys in dataset for y in ys]
    three_epochs = labels(train_dataset(split, batch_size=16, seed=0, epochs=3))
    epochs = [three_epochs[:64], three_epochs[64:128], three_epochs[128:]]
    assert len(three_epochs) == 3 * 64 and all(sorted(epoch) == list(range(64)) for epoch in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    batch_images, _ = next(iter(train_dataset(split, batch_size=16, seed=0)))
    assert batch_images.dtype == "uint8" and batch_images.shape == (16, 2, 2, 1)
    # A run resumed at epoch 2 sees epoch 2's order, whatever ran before in the process.
    assert labels(train_dataset(split, batch_size=16, seed=0, first_epoch=2, epochs=3)) == epochs[2]
    assert labels(train_dataset(split, batch_size=16, seed=1, epochs=1)) != epochs[0]
    assert [len(ys) for _, ys in train_dataset(Split(images[:40], split.labels[:40]), 16, seed=0)] == [16, 16, 8]
    assert [int(y) for _, ys in eval_dataset(split, 16) for y in ys] == list(range(64))


def write_photo_jpegs(folder, count: int, shape=CIFAR, seed=0) -> list[str]:
    """Smooth colour images (gradients and blobs, like photos) saved as JPEG the way the shared CIFAR-10 copy was:
    quality 75, 4:2:0 chroma subsampling."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]] / shape[0]
    paths = []
    for i in range(count):
        channels = [np.sin(rng.uniform(1, 8) * x + rng.uniform(0, 8) * y + rng.uniform(0, 6)) for _ in range(shape[2])]
        pixels = np.clip(127.5 + 120 * np.stack(channels, -1) + rng.normal(0, 12, (*shape[:2], shape[2])), 0, 255)
        image = Image.fromarray(pixels.astype(np.uint8)[..., 0] if shape[2] == 1 else pixels.astype(np.uint8))
        path = folder / f"{i:03d}.jpg"
        image.save(path, quality=75, subsampling=2)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("shape", [CIFAR, (28, 28, 1)])
def test_jpeg_pixels_are_pillows(tmp_path, shape):
    paths = write_photo_jpegs(tmp_path, 20, shape)
    decoded, _ = image_folder.decode_images(np.array(paths), shape)
    pillow = np.stack([np.asarray(Image.open(path).convert("RGB" if shape[2] == 3 else "L")) for path in paths])
    np.testing.assert_array_equal(decoded, pillow.reshape(decoded.shape))
    # TensorFlow's default decoding (INTEGER_FAST) gives other pixels: what the accurate one mends.
    fast = np.stack([tf.io.decode_image(tf.io.read_file(path), channels=shape[2]).numpy() for path in paths])
    assert np.mean(fast != decoded) > 0.05


@needs_cifar_jpeg
def test_the_shared_cifar10_jpegs_decode_to_pillows_pixels():
    paths = sorted(str(path) for path in (CIFAR_JPEG / "test").glob("*/00[0-4]*.jpg"))
    decoded, _ = image_folder.decode_images(np.array(paths), CIFAR)
    pillow = np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths])
    assert len(paths) >= 500
    np.testing.assert_array_equal(decoded, pillow)


def test_image_folder_runs_record_the_jpeg_decoding(tmp_path):
    root = write_image_folder(tmp_path / "data", train=2, test=1)
    assert load_splits("cifar10", CIFAR, data_dir=str(root)).describe()["jpeg_dct_method"] == "INTEGER_ACCURATE"


def test_large_folders_are_decoded_once_then_read_back_until_a_file_changes(tmp_path, monkeypatch):
    write_image_folder(tmp_path, train=6, test=3)
    monkeypatch.setenv("KERAS_CNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(image_folder.DecodedCache, "MIN_FILES", 10)  # the folder has 3 x 9 images
    first = load_splits("cifar10", (32, 32, 3), data_dir=str(tmp_path))
    decodes, decode = [], image_folder._decode
    monkeypatch.setattr(image_folder, "_decode", lambda *args: decodes.append(args) or decode(*args))
    again = load_splits("cifar10", (32, 32, 3), data_dir=str(tmp_path))
    assert decodes == []
    np.testing.assert_array_equal(again.train.images, first.train.images)
    np.testing.assert_array_equal(again.test.images, first.test.images)

    changed = sorted((tmp_path / "train").rglob("*.png"))[0]
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(changed)
    os.utime(changed, ns=(1, 1))  # another modification time, even on a coarse clock
    changed_splits = load_splits("cifar10", (32, 32, 3), data_dir=str(tmp_path))
    assert len(decodes) == 1 and changed_splits.train.images.sum() < first.train.images.sum()
    monkeypatch.setenv("KERAS_CNN_CACHE", "off")
    load_splits("cifar10", (32, 32, 3), data_dir=str(tmp_path))
    assert len(decodes) == 2
