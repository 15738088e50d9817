"""serve: the REST API against `predict` and the model itself, bad input, concurrent load, start errors, Ctrl-C.

The servers run as a user runs them (`train_keras.py serve ... --port 0` in a fresh process, on
127.0.0.1, on the free port it prints) and are stopped with Ctrl-C (SIGINT) at the end of the module.
The browser test of the page is tests/test_serve_browser.py; it shares `start_server` from here.
"""

import base64
import contextlib
import io
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image_folder, write_images
from PIL import Image

from keras_cnn import train
from keras_cnn.export import export_run
from keras_cnn.predict import predict

REPO = Path(__file__).resolve().parents[1]
CLASSES = [f"class{i}" for i in range(10)]
START_TIMEOUT = 120  # seconds for a server to print its URL (TensorFlow's import, the model's load)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch bn run on a tiny 10-class CIFAR-shaped folder, and its export:
    {"data", "run", "export", "images"}."""
    root = tmp_path_factory.mktemp("serve")
    data = write_image_folder(root / "data", classes=CLASSES, train=8, test=2)
    _, run_dir = train("bn", data_dir=str(data), epochs=1, batch_size=16, verbose=0, run_dir=str(root / "runs" / "bn"),
                       tensorboard=False)
    export_run(run_dir, to=str(root / "saved_models" / "bn"), verbose=False)
    photos = root / "photos"
    images = [*write_images(photos, 2, suffix=".png", seed=7), *write_images(photos / "jpg", 2, suffix=".jpg", seed=8),
              *write_images(photos / "large", 1, shape=(96, 72, 3), suffix=".png", seed=9)]
    return {"root": root, "data": data, "run": Path(run_dir), "export": root / "saved_models" / "bn", "images": images}


@contextlib.contextmanager
def start_server(*args: str, cwd: Path):
    """`train_keras.py serve ARGS --port 0` on 127.0.0.1; yields (base URL, process); Ctrl-C at the end, exit 0."""
    process = subprocess.Popen([sys.executable, str(REPO / "train_keras.py"), "serve", *args, "--port", "0"], cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        first = lines.get(timeout=START_TIMEOUT)
    except queue.Empty:
        process.kill()
        pytest.fail(f"serve printed no URL in {START_TIMEOUT} s: {process.communicate()[1][-2000:]}")
    url = re.search(r"at (http://127\.0\.0\.1:\d+/) ", first)
    assert url, first + process.stderr.read()
    try:
        yield url.group(1), process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0 and err.strip().splitlines()[-1] == "stopped", err
    assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def servers(trained):
    """Two servers of the same network: from the run folder (--run) and from its export (--model)."""
    root = trained["root"]
    with start_server("--run", str(trained["run"]), "--data-dir", str(trained["data"]), cwd=root) as (run_url, _), \
            start_server("--model", str(trained["export"]), cwd=root) as (model_url, _):
        yield {"run": run_url, "model": model_url}


def request(url: str, data: bytes | None = None, headers: dict | None = None, timeout: float = 60):
    """(status, parsed JSON or raw bytes) of a GET, or of a POST when `data` is given; 4xx/5xx are answers too."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers or {}),
                                    timeout=timeout) as r:
            status, body, kind = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read(), error.headers.get("Content-Type", "")
    return status, json.loads(body) if kind.startswith("application/json") else body


def multipart(fields: dict[str, tuple[str, bytes]]) -> tuple[bytes, dict]:
    """A multipart/form-data body of file fields {name: (filename, content)} and its Content-Type header."""
    boundary = "keras-cnn-test-boundary"
    body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                    f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n"
                    for name, (filename, content) in fields.items()) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def classify(base: str, filename: str, content: bytes, query: str = "top_k=10"):
    return request(f"{base}api/classify?{query}", *multipart({"image": (filename, content)}))


def tf_serving_predict(base: str, body: dict | bytes, name: str = "bn"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(f"{base}v1/models/{name}:predict", data, {"Content-Type": "application/json"})


def pillow_pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def by_index(predictions: list[dict]) -> list[float]:
    probabilities = {p["index"]: p["probability"] for p in predictions}
    return [probabilities[i] for i in range(len(probabilities))]


@pytest.mark.parametrize("source", ["run", "model"])
def test_uploads_get_predicts_probabilities(trained, servers, source):
    expected = predict(str(trained["export"]), [str(path) for path in trained["images"]], top_k=10)
    for path, wanted in zip(trained["images"], expected):
        status, answer = classify(servers[source], path.name, path.read_bytes())
        assert status == 200, answer
        assert [p["class"] for p in answer["predictions"]] == [p["class"] for p in wanted["predictions"]]
        np.testing.assert_allclose([p["probability"] for p in answer["predictions"]],
                                   [p["probability"] for p in wanted["predictions"]], rtol=0, atol=1e-6)
        assert answer["resized_from"] == wanted["resized_from"]
    status, answer = classify(servers[source], "a.png", trained["images"][0].read_bytes(), "top_k=3")
    assert status == 200 and len(answer["predictions"]) == 3


@pytest.mark.parametrize("source", ["run", "model"])
def test_tf_serving_predict_equals_the_keras_model_and_predict(trained, servers, source):
    """A TF Serving client's request, row and column format, with and without the input's name."""
    import keras

    native = [path for path in trained["images"] if pillow_pixels(path).shape == (32, 32, 3)]
    pixels = np.stack([pillow_pixels(path) for path in native])
    model = keras.saving.load_model(trained["run"] / "last.keras")
    direct = model.predict(pixels, verbose=0)
    from_predict = np.array([by_index(r["predictions"]) for r in predict(str(trained["export"]), list(map(str, native)),
                                                                          top_k=10)])
    for body, key in (({"instances": pixels.tolist()}, "predictions"),
                      ({"signature_name": "serving_default", "instances": [{"pixels": p.tolist()} for p in pixels]},
                       "predictions"),
                      ({"inputs": pixels.tolist()}, "outputs"),
                      ({"inputs": {"pixels": pixels.tolist()}}, "outputs")):
        status, answer = tf_serving_predict(servers[source], body)
        assert status == 200, answer
        assert list(answer) == [key]
        np.testing.assert_allclose(answer[key], from_predict, rtol=0, atol=1e-6)
        np.testing.assert_allclose(answer[key], direct, rtol=0, atol=1e-5)


def test_metadata_and_status(trained, servers):
    info = json.loads((trained["export"] / "model_info.json").read_text())
    for base in servers.values():
        status, answer = request(f"{base}v1/models/bn/metadata")
        assert status == 200
        assert answer["class_names"] == info["class_names"] == CLASSES
        assert answer["input"] == {"name": "pixels", "dtype": "uint8", "shape": [None, 32, 32, 3]}
        signature = answer["metadata"]["signature_def"]["signature_def"]["serving_default"]
        assert [d["size"] for d in signature["inputs"]["pixels"]["tensor_shape"]["dim"]] == ["-1", "32", "32", "3"]
        assert (signature["inputs"]["pixels"]["dtype"] == "DT_UINT8"
                and signature["outputs"]["probabilities"]["dtype"] == "DT_FLOAT")
        status, answer = request(f"{base}v1/models/bn")
        assert status == 200 and answer["model_version_status"][0]["state"] == "AVAILABLE"


def test_the_page_summary_and_random_images(trained, servers):
    metrics = json.loads((trained["run"] / "metrics.json").read_text())
    for base in servers.values():
        status, page = request(base)
        assert status == 200 and b"<title>keras-cnn serve</title>" in page
        assert not re.search(rb"(src|href)=\"(https?:)?//", page), "the page loads nothing from elsewhere"
        status, info = request(f"{base}api/info")
        assert (info["summary"]["variant"] == "bn"
                and info["summary"]["final_accuracy"] == metrics["final_test_accuracy"])
        assert info["heatmap"] and info["curves"]  # the export's run folder is still here, and agrees with it
        status, curves = request(f"{base}api/curves.png")
        assert status == 200 and curves == (trained["run"] / "curves.png").read_bytes()
    status, image = request(f"{servers['run']}api/random")
    assert status == 200 and image in {path.read_bytes() for path in (trained["data"] / "test").rglob("*.png")}
    status, answer = request(f"{servers['model']}api/random")
    assert status == 404 and "--data-dir" in answer["error"]


def test_the_heatmap_is_heatmaps_drawing_of_the_enlarged_image(trained, servers, tmp_path):
    import keras

    from keras_cnn.fullyconv import fully_convolutional
    from keras_cnn.heatmap import draw_heatmap
    from keras_cnn.predict import decode_image

    path = trained["images"][-1]  # 96x72
    status, answer = classify(servers["run"], path.name, path.read_bytes(), "heatmap=true")
    assert status == 200 and answer["heatmap"].startswith("data:image/png;base64,")
    served = np.asarray(Image.open(io.BytesIO(base64.b64decode(answer["heatmap"].split(",", 1)[1]))))

    model = keras.saving.load_model(trained["run"] / "last.keras")
    large, _ = decode_image(path.read_bytes(), (96, 96, 3))
    title = f"{path.name} at 96x96, run {trained['run']} (last.keras)"
    draw_heatmap(fully_convolutional(model, (96, 96)), large, CLASSES, str(tmp_path / "h.png"), 3, title)
    np.testing.assert_array_equal(served, np.asarray(Image.open(tmp_path / "h.png")))


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]  # its header intact, half its data gone


def huge_png() -> bytes:
    """8000x6500 = 52 megapixels of black: a small file over the 50-megapixel limit."""
    buffer = io.BytesIO()
    Image.new("1", (8000, 6500)).save(buffer, "PNG")
    return buffer.getvalue()


PIXEL = [[[0, 0, 0]] * 32] * 32  # one valid 32x32x3 image
UPLOADS = {
    "a text file": (lambda: ("notes.png", b"hello, not an image"), 400, "notes.png is not an image file"),
    "a truncated JPEG": (lambda: ("cut.jpg", truncated_jpeg()), 400, "cut.jpg cannot be decoded"),
    "an empty upload": (lambda: ("empty.jpg", b""), 400, "empty.jpg is empty (0 bytes)"),
    "over 50 megapixels": (lambda: ("huge.png", huge_png()), 413,
                           "huge.png has 8000x6500 pixels, over the limit of 50"),
    "over 20 MiB": (lambda: ("big.png", b"\0" * (21 * 2**20)), 413, "over the limit of 20 MiB"),
}
BODIES = {
    "not JSON": (b"{instances: nope", 400, "the body is not JSON"),
    "no instances": ({"images": [PIXEL]}, 400, "one of \"instances\" or \"inputs\""),
    "empty instances": ({"instances": []}, 400, "must be a non-empty list of images"),
    "the wrong shape": ({"instances": [[[0, 0, 0]] * 32]}, 400, "must be a 32x32x3 array of pixels"),
    "ragged arrays": ({"instances": [PIXEL, PIXEL[:3]]}, 400, "got arrays of uneven lengths"),
    "strings": ({"instances": [[[["a"] * 3] * 32] * 32]}, 400, "pixels must be integers 0-255"),
    "fractions": ({"instances": [[[[0.5, 0, 0]] * 32] * 32]}, 400, "numbers with fractions"),
    "out of range": ({"instances": [[[[300, 0, 0]] * 32] * 32]}, 400, "got values from 0 to 300"),
    "another input name": ({"instances": [{"image": PIXEL}]}, 400, "named inputs must be {\"pixels\": ...}"),
    "another signature": ({"signature_name": "x", "instances": [PIXEL]}, 400, "signature_name must be"),
    "too many images": ({"instances": [PIXEL] * 1025}, 413, "1025 images in one request, over the limit of 1024"),
}


@pytest.mark.parametrize("case", [*UPLOADS, "no file field", *BODIES, "another model name", "an unknown path"])
def test_bad_input_gets_a_one_line_4xx_and_the_next_request_is_served(trained, servers, case):
    base = servers["run"]
    if case in UPLOADS:
        make, wanted_status, wanted = UPLOADS[case]
        status, answer = classify(base, *make())
    elif case == "no file field":
        wanted_status, wanted = 400, "no file in the upload"
        status, answer = request(f"{base}api/classify", b"text=1",
                                 {"Content-Type": "application/x-www-form-urlencoded"})
    elif case in BODIES:
        body, wanted_status, wanted = BODIES[case]
        status, answer = tf_serving_predict(base, body)
    elif case == "another model name":
        wanted_status, wanted = 404, "model 'resnet' is not served here: this server serves 'bn'"
        status, answer = tf_serving_predict(base, {"instances": [PIXEL]}, name="resnet")
    else:
        wanted_status, wanted = 404, "no such endpoint: GET /v2/models"
        status, answer = request(f"{base}v2/models")
    assert status == wanted_status, answer
    assert list(answer) == ["error"] and wanted in answer["error"] and "\n" not in answer["error"], answer
    assert len(answer["error"]) < 300

    path = trained["images"][0]
    status, good = classify(base, path.name, path.read_bytes())
    expected = predict(str(trained["export"]), [str(path)], top_k=10)[0]["predictions"]
    assert status == 200 and [p["index"] for p in good["predictions"]] == [p["index"] for p in expected]


@pytest.mark.parametrize("endpoint", ["classify", "predict"])
def test_32_concurrent_requests_are_all_answered_correctly(trained, servers, endpoint):
    """benchmarks/serve_load.py: 64 requests, 32 at a time, each with a 60 s timeout, the whole within 120 s."""
    images = trained["images"][:4]  # the native-size ones: :predict takes the model's size
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "serve_load.py"), servers["run"],
                             *[arg for path in images for arg in ("--image", str(path))], "--requests", "64",
                             "--concurrency", "32", "--endpoint", endpoint, "--timeout", "60"],
                            capture_output=True, text=True, timeout=120)
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"] == 64, report["errors"]
    expected = predict(str(trained["export"]), list(map(str, images)), top_k=10)
    for path, wanted in zip(images, expected):
        [answer] = report["answers"][str(path)]  # one answer per image across its 16 requests
        np.testing.assert_allclose(answer, by_index(wanted["predictions"]), rtol=0, atol=1e-6)


def run_serve(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "train_keras.py"), "serve", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=START_TIMEOUT)


def test_a_missing_or_damaged_model_or_a_taken_port_is_one_line_and_exit_1(trained, tmp_path):
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in ("saved_model.pb", "model_info.json"):
        (damaged / name).write_bytes((trained["export"] / name).read_bytes())
    (damaged / "saved_model.pb").write_bytes(b"garbage" * 100)
    broken_run = tmp_path / "broken-run"
    broken_run.mkdir()
    for name in ("config.json", "history.csv"):
        (broken_run / name).write_bytes((trained["run"] / name).read_bytes())
    (broken_run / "last.keras").write_bytes(b"not a zip")
    with contextlib.closing(__import__("socket").socket()) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        cases = {
            "does not exist": ["--model", str(tmp_path / "missing")],
            "cannot load the SavedModel": ["--model", str(damaged)],
            "does not exist: pass --run": ["--run", str(tmp_path / "missing")],
            "the file is unreadable (truncated, or not a .keras file)": ["--run", str(broken_run)],
            "is not a folder": ["--model", str(trained["export"]), "--data-dir", str(tmp_path / "nothing")],
            "--checkpoint chooses a run's checkpoint": ["--model", str(trained["export"]), "--checkpoint", "best"],
            f"cannot listen on 127.0.0.1:{port}": ["--model", str(trained["export"]), "--port", port],
        }
        for wanted, args in cases.items():
            result = run_serve(*args, cwd=trained["root"])
            assert result.returncode == 1, (args, result.stderr)
            [line] = result.stderr.strip().splitlines()
            assert line.startswith("error: ") and wanted in line, (args, line)
            assert result.stdout == ""


def test_an_export_whose_run_is_gone_is_served_without_heatmap_and_curves(trained, tmp_path):
    """The export's own record gives the page's summary; the heatmap needs the run's Keras model."""
    import shutil

    from keras_cnn.serving import classify_upload, info, load_served

    export = tmp_path / "bn"
    shutil.copytree(trained["export"], export)
    model_info = json.loads((export / "model_info.json").read_text())
    model_info["source"]["run_dir"] = str(tmp_path / "deleted-run")
    (export / "model_info.json").write_text(json.dumps(model_info))

    served = load_served(model_dir=str(export))
    page = info(served)
    assert not page["heatmap"] and not page["curves"] and "is not here; serve with --run" in page["heatmap_note"]
    assert page["summary"]["variant"] == "bn"
    assert page["summary"]["final_accuracy"] == model_info["metrics"]["final_test_accuracy"]
    path = trained["images"][0]
    answer = classify_upload(served, path.read_bytes(), path.name, top_k=10, heatmap=True)
    assert answer["heatmap"] is None and answer["heatmap_note"] == page["heatmap_note"]
    expected = predict(str(trained["export"]), [str(path)], top_k=10)[0]["predictions"]
    np.testing.assert_allclose(by_index(answer["predictions"]), by_index(expected), rtol=0, atol=1e-6)
