"""predict: PNG/JPEG files and folders through an exported model, conversions, bad files, exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from conftest import write_image_folder, write_images
from PIL import Image

import train_keras
from keras_cnn import train
from keras_cnn.export import export_run
from keras_cnn.predict import predict, read_image
from pipelines.image_folder import decode_images

CLASSES = ["cat", "dog", "ship"]  # sorted, as the class folders are


@pytest.fixture(scope="module")
def grayscale_export(tmp_path_factory):
    """A one-epoch LeNet5 on a 3-class 28x28 grayscale folder, exported: (run dir, export dir)."""
    root = tmp_path_factory.mktemp("predict")
    data = write_image_folder(root / "data", classes=CLASSES, train=4, test=2, shape=(28, 28, 1))
    _, run_dir = train("lenet5", data_dir=str(data), epochs=1, batch_size=16, verbose=0, run_dir=str(root / "run"))
    export_run(run_dir, to=str(root / "saved_models" / "lenet5"), verbose=False)
    return Path(run_dir), root / "saved_models" / "lenet5"


def keras_predict(run_dir: Path, images: np.ndarray) -> np.ndarray:
    return keras.saving.load_model(run_dir / "last.keras").predict(images, verbose=0)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
@pytest.mark.parametrize("shape", [(32, 32, 3), (28, 28, 1)])
def test_native_size_files_decode_exactly_as_the_training_data(tmp_path, suffix, shape):
    paths = write_images(tmp_path, 3, shape=shape, suffix=suffix)
    decoded = np.stack([read_image(str(path), shape)[0] for path in paths])
    np.testing.assert_array_equal(decoded, decode_images(np.array([str(p) for p in paths]), shape)[0])


def test_predict_png_and_jpeg_files_equals_the_keras_model(grayscale_export, tmp_path):
    run_dir, export_dir = grayscale_export
    paths = [
        *write_images(tmp_path, 2, shape=(28, 28, 1), suffix=".png"),
        *write_images(tmp_path, 2, shape=(28, 28, 1), suffix=".jpg", seed=1),
    ]
    results = predict(str(export_dir), [str(p) for p in paths], top_k=2)

    expected = keras_predict(run_dir, decode_images(np.array([str(p) for p in paths]), (28, 28, 1))[0])
    assert [r["file"] for r in results] == [str(p) for p in paths]
    for result, probabilities in zip(results, expected):
        assert result["resized_from"] is None and len(result["predictions"]) == 2
        best = np.argsort(-probabilities)[:2]
        assert [p["index"] for p in result["predictions"]] == best.tolist()
        assert [p["class"] for p in result["predictions"]] == [CLASSES[i] for i in best]
        np.testing.assert_allclose([p["probability"] for p in result["predictions"]], probabilities[best], atol=1e-5)


def test_predict_of_a_jpeg_equals_the_saved_model_fed_pillows_pixels(grayscale_export, tmp_path):
    """A client that decodes with Pillow (or OpenCV, a browser) gets what `predict` says of the file."""
    import tensorflow as tf
    from test_sources import write_photo_jpegs

    _, export_dir = grayscale_export
    paths = write_photo_jpegs(tmp_path, 4, shape=(28, 28, 1))
    results = predict(str(export_dir), paths, top_k=3)
    pillow = np.stack([np.asarray(Image.open(path).convert("L"))[..., None] for path in paths])
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    [probabilities] = serve(tf.constant(pillow)).values()
    for result, expected in zip(results, probabilities.numpy()):
        got = {p["index"]: p["probability"] for p in result["predictions"]}
        np.testing.assert_allclose([got[i] for i in range(3)], expected, rtol=0, atol=1e-6)


LITERT_CLIENT = """
import json, sys
import numpy as np
from PIL import Image
from ai_edge_litert.interpreter import Interpreter

model, paths = sys.argv[1], sys.argv[2:]
pixels = np.stack([np.asarray(Image.open(path).convert("L"))[..., None] for path in paths])  # as a client decodes
run = Interpreter(model_path=model).get_signature_runner("serving_default")
print(json.dumps(run(pixels=pixels)["probabilities"].tolist()))
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "keras", "keras_cnn"))
print(loaded, file=sys.stderr)
"""


def test_a_litert_client_decoding_jpegs_with_pillow_gets_predicts_answers(grayscale_export, tmp_path):
    """docs/export-and-serving.md's client: the .tflite file under LiteRT, without TensorFlow, on Pillow's pixels."""
    pytest.importorskip("ai_edge_litert")
    from test_sources import write_photo_jpegs

    run_dir, _ = grayscale_export
    export_dir = tmp_path / "export"
    export_run(str(run_dir), to=str(export_dir), tflite=True, verbose=False)
    paths = write_photo_jpegs(tmp_path / "photos", 6, shape=(28, 28, 1))
    client = subprocess.run([sys.executable, "-c", LITERT_CLIENT, str(export_dir / "model.tflite"), *paths],
                            capture_output=True, text=True, timeout=120, check=True)
    assert client.stderr.strip().splitlines()[-1] == "[]"  # no TensorFlow, Keras or project code in the client
    served = np.array(json.loads(client.stdout))
    for result, probabilities in zip(predict(str(export_dir), paths, top_k=3), served):
        assert [p["index"] for p in result["predictions"]] == np.argsort(-probabilities).tolist()
        np.testing.assert_allclose([p["probability"] for p in result["predictions"]], np.sort(probabilities)[::-1],
                                   atol=1e-4)  # TFLite's kernels sum in another order


def test_rgb_and_other_sizes_are_converted_to_the_model_input(grayscale_export, tmp_path):
    run_dir, export_dir = grayscale_export
    rgb = np.random.default_rng(0).integers(0, 256, (56, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    [result] = predict(str(export_dir), [str(tmp_path / "photo.png")], top_k=5)
    assert result["resized_from"] == [56, 40]
    assert len(result["predictions"]) == 3  # top-k beyond the class count lists every class
    assert sum(p["probability"] for p in result["predictions"]) == pytest.approx(1, abs=1e-5)

    image, original = read_image(str(tmp_path / "photo.png"), (28, 28, 1))
    assert image.shape == (28, 28, 1) and image.dtype == np.uint8 and original == (56, 40, 3)
    expected = keras_predict(run_dir, image[None])[0]
    assert [p["probability"] for p in result["predictions"]] == pytest.approx(sorted(expected, reverse=True), abs=1e-5)


def test_folders_are_searched_for_images(grayscale_export, tmp_path):
    _, export_dir = grayscale_export
    write_images(tmp_path / "photos" / "b", 2, shape=(28, 28, 1), suffix=".png")
    write_images(tmp_path / "photos" / "a", 1, shape=(28, 28, 1), suffix=".jpg")
    (tmp_path / "photos" / "notes.txt").write_text("not an image")
    results = predict(str(export_dir), [str(tmp_path / "photos")])
    names = [Path(r["file"]).relative_to(tmp_path / "photos").as_posix() for r in results]
    assert names == ["a/0000.jpg", "b/0000.png", "b/0001.png"]
    assert all("predictions" in r for r in results)


def test_bad_files_get_one_line_each_and_the_rest_is_predicted(grayscale_export, tmp_path, capsys):
    _, export_dir = grayscale_export
    [good] = write_images(tmp_path, 1, shape=(28, 28, 1), suffix=".png")
    (tmp_path / "text.png").write_text("hello")
    (tmp_path / "empty.jpg").write_bytes(b"")
    truncated = (tmp_path / "truncated.jpg")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:20])
    (tmp_path / "no_images").mkdir()
    bad = [tmp_path / "text.png", tmp_path / "empty.jpg", truncated, tmp_path / "missing.png", tmp_path / "no_images"]

    code = train_keras.main(["predict", "--model", str(export_dir), str(good), *map(str, bad)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[0].startswith(f"{good}: ") and len(out.splitlines()) == 1
    errors = err.strip().splitlines()
    assert len(errors) == len(bad) + 1 and errors[-1] == f"{len(bad)} of {len(bad) + 1} file(s) could not be predicted"
    for path, line in zip(bad, errors):
        assert line.startswith(f"error: {path}: ")

    assert train_keras.main(["predict", "--model", str(export_dir), str(good)]) == 0


def test_json_output(grayscale_export, tmp_path, capsys):
    _, export_dir = grayscale_export
    [good] = write_images(tmp_path, 1, shape=(28, 28, 1), suffix=".png")
    (tmp_path / "bad.png").write_text("hello")
    argv = ["predict", "--model", str(export_dir), str(good), str(tmp_path / "bad.png"), "--json", "--top-k", "1"]
    code = train_keras.main(argv)
    out, err = capsys.readouterr()
    results = json.loads(out)["results"]
    assert code == 1 and err == ""
    assert results[0]["file"] == str(good) and len(results[0]["predictions"]) == 1
    # The top class and its probability are those of the run's last.keras applied to the image directly.
    run_dir, _ = grayscale_export
    expected = keras_predict(run_dir, np.asarray(Image.open(good))[None, :, :, None])[0]
    top = results[0]["predictions"][0]
    assert top["class"] == CLASSES[int(expected.argmax())]
    assert top["probability"] == pytest.approx(expected.max(), abs=1e-5)
    assert results[1]["file"] == str(tmp_path / "bad.png")
    assert "not an image file, or a damaged one" in results[1]["error"]


@pytest.mark.parametrize("make", ["missing", "not a SavedModel"])
def test_a_model_folder_that_is_not_an_export_is_one_line(tmp_path, capsys, make):
    model = tmp_path / "model"
    if make == "not a SavedModel":
        model.mkdir()
    [image] = write_images(tmp_path, 1, shape=(28, 28, 1))
    assert train_keras.main(["predict", "--model", str(model), str(image)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and str(model) in error and "\n" not in error
