"""`serve`: a trained network on a local web page and over HTTP, with TF Serving's REST predict API.

    serve(run_dir="runs/bn", data_dir="../shared/data/cifar10-jpeg")  # the page at http://127.0.0.1:8000/, until Ctrl-C
    app = make_app(load_served(model_dir="saved_models/bn"))          # the ASGI app, for another server

The library is FastAPI on uvicorn (chosen over Gradio): two small, well-kept packages whose whole
surface here is a few routes and one static page, which we write ourselves (serving_page.py: no
script, style or font from elsewhere, nothing sent anywhere, no share links), so the page works
offline by construction; Gradio would bring a large front end, analytics to turn off and its own
API instead of TF Serving's. The endpoints:

- `GET /`: the page (upload or drop an image, or a random test image; top 5, heatmap, the run's summary);
- `POST /v1/models/<name>:predict`: TF Serving's REST predict API, {"instances": [uint8 images]} ->
  {"predictions": [probabilities]} (or {"inputs": ...} -> {"outputs": ...});
- `GET /v1/models/<name>` (TF Serving's model status) and `GET /v1/models/<name>/metadata` (the
  signature as TF Serving writes it, with the class names);
- `POST /api/classify`: an image file (multipart field `image`) -> the top-k classes as JSON;
- `GET /api/info`, `/api/curves.png`, `/api/random`: what the page reads.

Images are decoded as `predict` decodes files (`predict.decode_image`) and classified by the
same function as the export's `serving_default`, so the probabilities are `predict`'s; the heatmap
is `heatmap`'s drawing (`heatmap.draw_heatmap`) of the image enlarged HEATMAP_SCALE times. Bad
input gets a 4xx answer {"error": one line} and the server goes on.
"""

import base64
import dataclasses
import io
import json
import os
import random
import socket
import tempfile
import threading
import warnings
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from keras_cnn.errors import KerasCnnError
from keras_cnn.export import (
    CHECK_IMAGES,
    INPUT_NAME,
    OUTPUT_NAME,
    SIGNATURE,
    TOLERANCE,
    ExportError,
    load_checkpoint,
    read_export_info,
    serving_function,
)
from keras_cnn.formatting import percent
from keras_cnn.fullyconv import fully_convolutional
from keras_cnn.heatmap import draw_heatmap, load_model_and_classes
from keras_cnn.history import DEFAULT_CHECKPOINT
from keras_cnn.predict import BATCH_SIZE, ImageError, decode_image, image_files, top_classes
from keras_cnn.runfolder import NotARun, Run, read_run
from keras_cnn.serving_page import PAGE

# The limits of one request, said in the error of a request over them and in docs/export-and-serving.md.
MAX_BODY_BYTES = 20 * 2**20  # 20 MiB: an upload or a JSON body
MAX_MEGAPIXELS = 50  # an uploaded image's width x height, checked from its header before it is decoded
MAX_INSTANCES = 1024  # images in one :predict request
TOP_K = 5  # the page's classes; /api/classify takes ?top_k=
HEATMAP_SCALE = 3  # the heatmap is drawn on the image enlarged to 3x the native size (96x96 for CIFAR-10)
HEATMAP_TOP = 3  # classes drawn in the heatmap


class ServeError(KerasCnnError):
    """A model, run or data folder that cannot be served, or an address that cannot be listened on."""


class BadInput(Exception):
    """A request the server refuses: its HTTP status and one line naming the problem and the fix."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Served:
    """What the server serves: the classifier, its classes and input, and what the page shows beside it."""

    name: str  # the <name> of /v1/models/<name>
    source: str  # "run runs/bn (last.keras)" or "export saved_models/bn"
    class_names: list[str]
    image_shape: tuple[int, int, int]
    classify: Callable[[np.ndarray], np.ndarray]  # uint8 [n, *image_shape] -> float32 [n, classes],
                                                  # the export's serving_default
    summary: dict  # variant, final accuracy, epochs: the run's record
    curves: str | None = None  # the run's curves.png
    heatmap_model: object = None  # the fully-convolutional model for HEATMAP_SCALE x the native size
    heatmap_note: str | None = None  # why there is no heatmap
    random_files: list[str] = dataclasses.field(default_factory=list)  # --data-dir's test images
    data_dir: str | None = None
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)  # matplotlib draws one figure at a time

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Probabilities of uint8 `images`, in batches of predict's BATCH_SIZE."""
        return np.concatenate([self.classify(images[i : i + BATCH_SIZE]) for i in range(0, len(images), BATCH_SIZE)])


def load_served(
    run_dir: str | None = None,
    model_dir: str | None = None,
    checkpoint: str = DEFAULT_CHECKPOINT,
    data_dir: str | None = None,
    name: str | None = None,
) -> Served:
    """A run's checkpoint (`run_dir`) or an export (`model_dir`) ready to serve; ServeError/ExportError in one line.

    An export's page shows the run it was exported from (model_info.json's source) when that folder
    is still here and its checkpoint still gives the export's probabilities (export's check).
    """
    if (run_dir is None) == (model_dir is None):
        raise ServeError("give one of --run runs/<name> or --model saved_models/<name>")
    if model_dir is not None and checkpoint != DEFAULT_CHECKPOINT:
        raise ServeError("--checkpoint chooses a run's checkpoint: give it with --run (an export holds one model)")
    if run_dir is not None:
        model, class_names = load_model_and_classes(run_dir, checkpoint)
        image_shape = tuple(model.inputs[0].shape[1:])
        served = Served(
            name=name or _folder_name(run_dir),
            source=f"run {run_dir} ({os.path.basename(read_run(run_dir).checkpoint(checkpoint))})",
            class_names=class_names,
            image_shape=image_shape,
            classify=keras_serving_function(model, image_shape),
            summary={},
        )
        _attach_run(served, read_run(run_dir), model)
    else:
        info = read_export_info(model_dir)
        try:
            classify = serving_function(model_dir)
        except Exception as error:  # noqa: BLE001  (TensorFlow raises many kinds on a damaged SavedModel)
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ExportError(
                f"cannot load the SavedModel in {model_dir} ({first_line[:200]}): it is damaged; export it again "
                f"with `train_keras.py export --run runs/<name> --overwrite`"
            ) from None
        served = Served(
            name=name or _folder_name(model_dir),
            source=f"export {model_dir}",
            class_names=list(info["class_names"]),
            image_shape=tuple(info["input"]["shape"][1:]),
            classify=classify,
            summary=_summary_of_record(info.get("run") or {}, info.get("metrics")),
        )
        _attach_source_run(served, info)
    if data_dir is not None:
        served.data_dir = data_dir
        served.random_files = _test_images(data_dir)
    return served


def keras_serving_function(model, image_shape: tuple[int, int, int]):
    """uint8 images -> probabilities through `model`, traced as export.write_saved_model's endpoint is."""
    endpoint = tf.function(
        lambda pixels: model(pixels, training=False),
        input_signature=[tf.TensorSpec([None, *image_shape], tf.uint8, name=INPUT_NAME)],
    )
    return lambda images: endpoint(tf.constant(images, tf.uint8)).numpy()


def _folder_name(path: str) -> str:
    return os.path.basename(os.path.normpath(path))


def _attach_run(served: Served, run: Run, model) -> None:
    """The run's summary and curves, and the heatmap's fully-convolutional model, on `served`."""
    served.summary = _summary_of_record(run.record, run.metrics or (run.summary if run.rows else None))
    curves = os.path.join(run.path, "curves.png")
    served.curves = curves if os.path.isfile(curves) else None
    height, width, _ = served.image_shape
    try:
        served.heatmap_model = fully_convolutional(model, (height * HEATMAP_SCALE, width * HEATMAP_SCALE))
    except (KerasCnnError, ValueError) as error:
        served.heatmap_note = f"no heatmap: {error}"


def _attach_source_run(served: Served, info: dict) -> None:
    """For an export: the run it came from, if it is still here and still gives the export's probabilities."""
    source = info.get("source") or {}
    run_dir, checkpoint_file = source.get("run_dir"), source.get("checkpoint")
    served.heatmap_note = (f"no heatmap: the run the export came from ({run_dir}) is not here; "
                           f"serve with --run to see one")
    if not run_dir or not checkpoint_file:
        return
    try:
        run = read_run(run_dir)
        model = load_checkpoint(os.path.join(run_dir, checkpoint_file))
    except (NotARun, ExportError):
        return
    images = np.random.default_rng(0).integers(0, 256, (CHECK_IMAGES, *served.image_shape), dtype=np.uint8)
    difference = np.max(np.abs(np.asarray(model(images, training=False)) - served.classify(images)))
    if not difference <= TOLERANCE["saved_model"]:
        served.heatmap_note = (f"no heatmap: {run_dir}/{checkpoint_file} no longer matches the export "
                               f"(trained on since?); serve with --run {run_dir}")
        return
    served.heatmap_note = None
    _attach_run(served, run, model)
    served.summary = _summary_of_record(info.get("run") or {}, info.get("metrics"))


def _summary_of_record(record: dict, metrics: dict | None) -> dict:
    """variant, final accuracy (test, or validation for a --val-split run), epochs, data: for the page."""
    config = record.get("config") or {}
    metrics = metrics or {}
    split = "val" if "final_val_accuracy" in metrics else "test"
    accuracy = metrics.get(f"final_{split}_accuracy")
    data = record.get("data") or {}
    return {
        "variant": config.get("variant"),
        "accuracy_split": split,
        "final_accuracy": accuracy,
        "final_accuracy_text": percent(accuracy, 2) if accuracy is not None else "not recorded (an unfinished run?)",
        "epochs": metrics.get("epochs"),
        "data": data.get("source") or config.get("data_dir"),
        "train_images": data.get("train_images"),
        "test_images": data.get("test_images"),
    }


def _test_images(data_dir: str) -> list[str]:
    """The image files of `data_dir`'s test/ split (of the whole folder without one), for the page's random image."""
    if not os.path.isdir(data_dir):
        raise ServeError(f"--data-dir {data_dir} is not a folder: "
                         f"pass an image folder such as ../shared/data/cifar10-jpeg")
    folder = os.path.join(data_dir, "test") if os.path.isdir(os.path.join(data_dir, "test")) else data_dir
    found = [path for path, error in image_files([folder]) if error is None]
    if not found:
        raise ServeError(f"--data-dir {data_dir} holds no image files: "
                         f"pass an image folder such as ../shared/data/cifar10-jpeg")
    return found


# ---- reading requests ---------------------------------------------------------------------------------------


def read_upload(data: bytes, filename: str, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, tuple]:
    """An uploaded file as predict converts it (native size, model's channels) and its own shape; BadInput if not."""
    from PIL import Image, UnidentifiedImageError

    name = os.path.basename(filename or "") or "the upload"
    if not data:
        raise BadInput(f"{name} is empty (0 bytes): choose an image file (PNG, JPEG, GIF or BMP)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as header:  # reads the header only
                width, height = header.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        width, height = None, None
    except (UnidentifiedImageError, ValueError):
        raise BadInput(f"{name} is not an image file: choose a PNG, JPEG, GIF or BMP image") from None
    except OSError:  # Pillow: "Truncated File Read" within the header
        raise BadInput(f"{name} cannot be decoded (a damaged or truncated image file): choose another image") from None
    if width is None or width * height > MAX_MEGAPIXELS * 10**6:
        size = f"{width}x{height} pixels" if width else "far too many pixels"
        raise BadInput(f"{name} has {size}, over the limit of {MAX_MEGAPIXELS} megapixels: shrink it first", 413)
    try:
        return decode_image(data, image_shape)
    except ImageError:
        raise BadInput(f"{name} cannot be decoded (a damaged or truncated image file): choose another image") from None


def read_instances(body: bytes, image_shape: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    """TF Serving's JSON request as uint8 images, and the key of its answer ("predictions" or "outputs")."""
    shape_text = "x".join(map(str, image_shape))
    example = f'{{"instances": [<{shape_text} array of integers 0-255>, ...]}}'
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInput(f"the body is not JSON ({error}): send {example}") from None
    if not isinstance(request, dict) or ("instances" in request) == ("inputs" in request):
        raise BadInput(f"the body must be a JSON object with one of \"instances\" or \"inputs\": send {example}")
    if request.get("signature_name", SIGNATURE) != SIGNATURE:
        raise BadInput(f"signature_name must be \"{SIGNATURE}\" (the only signature), "
                       f"got {request['signature_name']!r}")
    row_format = "instances" in request
    values = request["instances" if row_format else "inputs"]
    if row_format and isinstance(values, list) and values and all(isinstance(v, dict) for v in values):
        values = [_named_input(v) for v in values]  # [{"pixels": image}, ...]
    elif not row_format and isinstance(values, dict):
        values = _named_input(values)  # {"pixels": images}
    if not isinstance(values, list) or not values:
        raise BadInput(f"\"{'instances' if row_format else 'inputs'}\" must be a non-empty list of images: "
                       f"send {example}")
    if len(values) > MAX_INSTANCES:
        raise BadInput(f"{len(values)} images in one request, over the limit of {MAX_INSTANCES}: "
                       f"split the request", 413)
    try:
        array = np.array(values)
    except ValueError:
        array = None
    if array is None or array.dtype == object or array.shape[1:] != image_shape:
        got = ("arrays of uneven lengths" if array is None or array.dtype == object
               else "x".join(map(str, array.shape[1:])))
        raise BadInput(f"each image must be a {shape_text} array of pixels (height x width x channels), got {got}: "
                       f"resize it to the model's input first")
    if array.dtype.kind not in "iuf":
        raise BadInput(f"pixels must be integers 0-255 (uint8), "
                       f"got {array.dtype.kind == 'b' and 'booleans' or 'non-numbers'}")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
        raise BadInput("pixels must be integers 0-255 (uint8), got numbers with fractions: "
                       "send raw pixels, not scaled ones")
    if array.min() < 0 or array.max() > 255:
        raise BadInput(f"pixels must be integers 0-255 (uint8), got values from {array.min():g} to {array.max():g}")
    return array.astype(np.uint8), "predictions" if row_format else "outputs"


def _named_input(value: dict):
    if set(value) != {INPUT_NAME}:
        raise BadInput(f"named inputs must be {{\"{INPUT_NAME}\": ...}} (the only input), got keys {sorted(value)}")
    return value[INPUT_NAME]


# ---- answering --------------------------------------------------------------------------------------------


def classify_upload(served: Served, data: bytes, filename: str, top_k: int = TOP_K, heatmap: bool = False) -> dict:
    """/api/classify's answer: {"file", "predictions": [{"class", "index", "probability"}], "resized_from",
    "heatmap"}."""
    image, original_shape = read_upload(data, filename, served.image_shape)
    probabilities = served.predict(image[None])[0]
    resized = original_shape[:2] != served.image_shape[:2]
    answer = {
        "file": filename,
        "predictions": top_classes(probabilities, served.class_names, top_k),
        "resized_from": list(original_shape[:2]) if resized else None,
        "heatmap": None,
        "heatmap_note": served.heatmap_note,
    }
    if heatmap and served.heatmap_model is not None:
        answer["heatmap"] = "data:image/png;base64," + base64.b64encode(heatmap_png(served, data, filename)).decode()
    return answer


def heatmap_png(served: Served, data: bytes, filename: str) -> bytes:
    """`heatmap`'s figure for the uploaded image enlarged to HEATMAP_SCALE x the native size, as PNG bytes."""
    height, width, channels = served.image_shape
    size = (height * HEATMAP_SCALE, width * HEATMAP_SCALE, channels)
    large, _ = decode_image(data, size)
    title = f"{os.path.basename(filename or 'upload')} at {size[0]}x{size[1]}, {served.source}"
    top = min(HEATMAP_TOP, len(served.class_names))
    with served.lock, tempfile.TemporaryDirectory(prefix="keras-cnn-serve-") as folder:
        path = os.path.join(folder, "heatmap.png")
        draw_heatmap(served.heatmap_model, large, served.class_names, path, top, title)
        with open(path, "rb") as f:
            return f.read()


def metadata(served: Served) -> dict:
    """GET /v1/models/<name>/metadata: TF Serving's answer (the signature_def), with the class names and limits."""
    def tensor(name, dtype, shape, tensor_name):
        return {"dtype": dtype, "tensor_shape": {"dim": [{"size": str(n), "name": ""} for n in shape],
                                                 "unknown_rank": False}, "name": tensor_name}

    signature = {
        "inputs": {INPUT_NAME: tensor(INPUT_NAME, "DT_UINT8", (-1, *served.image_shape),
                                      f"{SIGNATURE}_{INPUT_NAME}:0")},
        "outputs": {OUTPUT_NAME: tensor(OUTPUT_NAME, "DT_FLOAT", (-1, len(served.class_names)), OUTPUT_NAME)},
        "method_name": "tensorflow/serving/predict",
    }
    return {
        "model_spec": {"name": served.name, "signature_name": "", "version": "1"},
        "metadata": {"signature_def": {"signature_def": {SIGNATURE: signature}}},
        "class_names": served.class_names,
        "input": {"name": INPUT_NAME, "dtype": "uint8", "shape": [None, *served.image_shape]},
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, len(served.class_names)]},
        "source": served.source,
        "limits": limits(),
    }


def limits() -> dict:
    return {"max_body_bytes": MAX_BODY_BYTES, "max_megapixels": MAX_MEGAPIXELS, "max_instances": MAX_INSTANCES}


def info(served: Served) -> dict:
    """GET /api/info: what the page shows beside the predictions."""
    return {
        "name": served.name,
        "source": served.source,
        "class_names": served.class_names,
        "input_shape": list(served.image_shape),
        "summary": served.summary,
        "curves": served.curves is not None,
        "heatmap": served.heatmap_model is not None,
        "heatmap_note": served.heatmap_note,
        "heatmap_size": [n * HEATMAP_SCALE for n in served.image_shape[:2]],
        "random": bool(served.random_files),
        "data_dir": served.data_dir,
        "limits": limits(),
    }


# ---- the app ----------------------------------------------------------------------------------------------


class _BodyLimit:
    """ASGI middleware: a request body over `limit` bytes is answered 413 before the app reads it into memory."""

    class TooLarge(Exception):
        pass

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self.TooLarge
            return message

        started = False

        async def tracking_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._drain(receive)
            return await self._refuse(send)
        try:
            await self.app(scope, limited_receive, tracking_send)
        except self.TooLarge:
            if not started:
                await self._drain(receive)
                await self._refuse(send)

    @staticmethod
    async def _drain(receive):
        """Read the rest of the body (and drop it), so that the client, still sending, reads the answer."""
        more = True
        while more:
            message = await receive()
            more = message["type"] == "http.request" and message.get("more_body", False)

    async def _refuse(self, send):
        body = json.dumps({"error": f"the request is over the limit of {self.limit // 2**20} MiB: send a smaller "
                                    f"file (or fewer images)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def make_app(served: Served):
    """The FastAPI app of `served` (no docs pages: they load scripts from a CDN)."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException

    app = FastAPI(title="keras-cnn", docs_url=None, redoc_url=None, openapi_url=None)
    model_path = f"/v1/models/{served.name}"

    def error(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, problem: BadInput):
        return error(str(problem), problem.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, problem: HTTPException):
        if problem.status_code == 404:
            return error(f"no such endpoint: {request.method} {request.url.path}; this server answers GET / (the "
                         f"page), POST {model_path}:predict, GET {model_path}/metadata and POST /api/classify", 404)
        if problem.status_code == 405:
            return error(f"{request.method} is not allowed on {request.url.path}", 405)
        return error(str(problem.detail), problem.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, problem: RequestValidationError):
        first = problem.errors()[0] if problem.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return error(f"invalid request: {where}: {first.get('msg', 'invalid')}")

    def check_name(name: str) -> None:
        if name != served.name:
            raise BadInput(f"model '{name}' is not served here: this server serves '{served.name}' ({model_path})", 404)

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(PAGE)

    @app.get("/api/info")
    async def get_info():
        return info(served)

    @app.get("/api/curves.png")
    async def curves():
        if served.curves is None:
            raise BadInput("this run has no curves.png (an unfinished run, or an export whose run is not here)", 404)
        return FileResponse(served.curves, media_type="image/png")

    @app.get("/api/random")
    async def random_image():
        if not served.random_files:
            raise BadInput("no --data-dir was given: restart serve with --data-dir ../shared/data/cifar10-jpeg", 404)
        path = random.choice(served.random_files)
        with open(path, "rb") as f:
            data = f.read()
        shown = os.path.relpath(path, served.data_dir)
        return Response(data, media_type="application/octet-stream", headers={"X-Image-Path": shown})

    @app.post("/api/classify")
    async def classify(request: Request, top_k: int = TOP_K, heatmap: bool = False):
        if not 1 <= top_k <= len(served.class_names):
            raise BadInput(f"top_k must be between 1 and {len(served.class_names)} (the number of classes), "
                           f"got {top_k}")
        try:
            form = await request.form()
        except Exception as problem:  # noqa: BLE001  (starlette's multipart parser raises its own kinds)
            raise BadInput(f"the upload is not a readable multipart form ({problem}): send the image as a file field, "
                           f"e.g. curl -F image=@cat.jpg") from None
        files = [value for value in form.values() if isinstance(value, UploadFile)]
        if not files:
            raise BadInput("no file in the upload: send the image as a file field, e.g. curl -F image=@cat.jpg")
        upload = files[0]
        data = await upload.read()
        return await run_in_threadpool(classify_upload, served, data, upload.filename or "", top_k, heatmap)

    @app.get(model_path)
    async def status():
        return {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}

    @app.get("/v1/models/{name}/metadata")
    async def get_metadata(name: str):
        check_name(name)
        return metadata(served)

    @app.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request):
        check_name(name)
        images, key = read_instances(await request.body(), served.image_shape)
        probabilities = await run_in_threadpool(served.predict, images)
        return {key: probabilities.tolist()}

    return _BodyLimit(app, MAX_BODY_BYTES)


def serve(
    run_dir: str | None = None,
    model_dir: str | None = None,
    checkpoint: str = DEFAULT_CHECKPOINT,
    data_dir: str | None = None,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """The `serve` command: load the model, listen, print the URL and the endpoints, answer until Ctrl-C or SIGTERM.

    Ctrl-C ends with KeyboardInterrupt, once uvicorn has finished the requests in progress.
    """
    served = load_served(run_dir=run_dir, model_dir=model_dir, checkpoint=checkpoint, data_dir=data_dir, name=name)
    sock = listen(host, port)
    url = url_of(sock)
    print(f"Serving {served.source} as '{served.name}' at {url} (Ctrl-C to stop)")
    print(f"  page {url}  |  POST {url}v1/models/{served.name}:predict  |  POST {url}api/classify  |  "
          f"GET {url}v1/models/{served.name}/metadata", flush=True)
    run_server(make_app(served), sock)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host`:`port` (0: a free port); ServeError in one line if it cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as error:
        raise ServeError(f"cannot listen on {host}:{port} ({error.strerror or error}): pass another --port "
                         f"(0 for any free one) or --host") from None
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def run_server(app, sock: socket.socket) -> None:
    """Serve `app` on the listening `sock` until Ctrl-C (SIGINT) or SIGTERM; uvicorn's own logs: warnings only."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5)
    uvicorn.Server(config).run(sockets=[sock])
