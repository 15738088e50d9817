"""Concurrent requests against a running `serve`: requests per second, latency, and whether every answer agreed.

    python train_keras.py serve --run runs/bn --port 8000 &
    python benchmarks/serve_load.py http://127.0.0.1:8000/ --image cat.jpg --image ship.png \
        --requests 320 --concurrency 32

Each request uploads one of the --image files to POST /api/classify (or, with --endpoint predict,
sends its pixels, decoded by Pillow, to POST /v1/models/NAME:predict); the files take turns. It
prints one JSON document: the counts, the wall time, requests per second, latency (median, 95th
percentile, max), and per file every distinct answer (probabilities of all classes), which a
correct server gives once per file. Bounded: --requests in all, each with a --timeout. Only the
standard library and Pillow, so it runs from any Python.
"""

import argparse
import concurrent.futures
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path


def upload_request(url: str, path: Path) -> urllib.request.Request:
    """POST /api/classify?top_k=<all> with the file as multipart field `image`."""
    boundary = uuid.uuid4().hex
    body = ((f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"{path.name}\"\r\n"
             f"Content-Type: application/octet-stream\r\n\r\n").encode()
            + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode())
    return urllib.request.Request(url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def predict_request(url: str, path: Path, channels: int) -> urllib.request.Request:
    """POST /v1/models/NAME:predict with the file's pixels as TF Serving's {"instances": [...]}."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB" if channels == 3 else "L"))
    pixels = pixels if channels == 3 else pixels[..., None]
    body = json.dumps({"instances": [pixels.tolist()]}).encode()
    return urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})


def probabilities_of(answer: dict, classes: int) -> list[float]:
    """Every class's probability, in class order, from either endpoint's answer."""
    if "predictions" in answer and answer["predictions"] and isinstance(answer["predictions"][0], dict):
        by_index = {p["index"]: p["probability"] for p in answer["predictions"]}
        return [by_index[i] for i in range(classes)]
    return answer["predictions"][0]


def run_load(base_url: str, images: list[Path], requests: int, concurrency: int, endpoint: str = "classify",
             timeout: float = 60.0) -> dict:
    base_url = base_url.rstrip("/") + "/"
    with urllib.request.urlopen(base_url + "api/info", timeout=timeout) as response:
        info = json.load(response)
    classes, channels = len(info["class_names"]), info["input_shape"][-1]
    if endpoint == "classify":
        url = f"{base_url}api/classify?top_k={classes}"
        prepared = [upload_request(url, path) for path in images]
    else:
        url = f"{base_url}v1/models/{info['name']}:predict"
        prepared = [predict_request(url, path, channels) for path in images]

    def one(i: int):
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(prepared[i % len(images)], timeout=timeout) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        except OSError as error:
            status, body = None, str(error).encode()
        return i % len(images), status, body, time.perf_counter() - started

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, range(requests)))
    seconds = time.perf_counter() - started

    answers = {str(path): [] for path in images}
    errors = []
    for index, status, body, _ in results:
        if status != 200:
            errors.append(f"{status}: {body[:200].decode(errors='replace')}")
            continue
        probabilities = probabilities_of(json.loads(body), classes)
        if probabilities not in answers[str(images[index])]:
            answers[str(images[index])].append(probabilities)
    latencies = sorted(1000 * latency for *_, latency in results)
    return {
        "endpoint": endpoint,
        "requests": requests,
        "concurrency": concurrency,
        "ok": requests - len(errors),
        "errors": errors[:5],
        "seconds": round(seconds, 3),
        "requests_per_second": round(requests / seconds, 1),
        "latency_ms": {"median": round(statistics.median(latencies), 1),
                       "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1), "max": round(latencies[-1], 1)},
        "answers": answers,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:8000/")
    parser.add_argument("--image", action="append", required=True, type=Path, help="an image file (repeat for more)")
    parser.add_argument("--requests", type=int, default=320)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--endpoint", choices=["classify", "predict"], default="classify")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default: 60)")
    args = parser.parse_args()
    result = run_load(args.url, args.image, args.requests, args.concurrency, args.endpoint, args.timeout)
    print(json.dumps(result, indent=2))
    agreed = all(len(seen) == 1 for seen in result["answers"].values())
    return 0 if result["ok"] == result["requests"] and agreed else 1


if __name__ == "__main__":
    sys.exit(main())
