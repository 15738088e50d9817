"""The page of `serve` (keras_cnn/serving.py): one HTML document with its style and script inline.

Nothing is loaded from elsewhere (no CDN script, style or font) and nothing is sent anywhere but
this server, so the page works offline. It reads /api/info, posts images to /api/classify and
shows the answer's one-line error when there is one. tests/test_serve_browser.py drives it in Chromium
through the element ids below.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keras-cnn serve</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0; background: #f5f5f7; color: #1d1d1f; }
  header { background: #1d3557; color: white; padding: 12px 24px; }
  header h1 { font-size: 20px; margin: 0; }
  header p { margin: 4px 0 0; font-size: 13px; opacity: 0.85; }
  main { display: grid; grid-template-columns: 340px 1fr; gap: 16px; padding: 16px 24px; }
  section { background: white; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
  h2 { font-size: 15px; margin: 0 0 8px; }
  #drop { display: block; border: 2px dashed #8a8a8e; border-radius: 8px; padding: 18px; text-align: center; \
cursor: pointer; }
  #drop.over { background: #e8f0fe; border-color: #1a73e8; }
  #preview { display: block; margin: 10px auto 0; width: 128px; height: 128px; object-fit: contain;
             image-rendering: pixelated; background: #eee; }
  #file-name { text-align: center; font-size: 13px; color: #555; min-height: 1.2em; }
  button { margin-top: 10px; padding: 6px 12px; font-size: 14px; }
  #error { color: #b00020; font-weight: 600; min-height: 1.2em; margin: 8px 0 0; }
  #status { color: #555; font-size: 13px; min-height: 1.2em; }
  .row { display: grid; grid-template-columns: 110px 1fr 64px; align-items: center; gap: 8px; margin: 5px 0; }
  .bar { background: #e0e0e0; height: 16px; border-radius: 3px; overflow: hidden; }
  .bar div { background: #1a73e8; height: 100%; }
  .row:first-child .bar div { background: #2a9d55; }
  .prob { text-align: right; font-variant-numeric: tabular-nums; }
  #heatmap { max-width: 100%; }
  #curves { max-width: 100%; max-height: 380px; }
  #summary td { padding: 2px 10px 2px 0; font-size: 14px; }
  .note { font-size: 13px; color: #555; }
</style>
</head>
<body>
<header><h1>keras-cnn: <span id="model-name">...</span></h1><p id="source"></p></header>
<main>
  <div>
    <section>
      <h2>Image</h2>
      <label id="drop" for="file">Drop an image here, or click to choose one<br>
        <span class="note">PNG, JPEG, GIF or BMP, any size</span></label>
      <input id="file" type="file" accept="image/*" hidden>
      <button id="random" type="button" hidden>Random test image</button>
      <img id="preview" alt="">
      <div id="file-name"></div>
      <p id="error" role="alert"></p>
      <div id="status"></div>
    </section>
    <section style="margin-top:16px">
      <h2>Top 5 classes</h2>
      <div id="predictions"></div>
    </section>
    <section style="margin-top:16px">
      <h2>The run</h2>
      <table id="summary"></table>
    </section>
  </div>
  <div>
    <section>
      <h2>Class-score heatmap of the fully-convolutional network (lab questions 4-6)</h2>
      <p class="note" id="heatmap-note"></p>
      <img id="heatmap" alt="" hidden>
    </section>
    <section style="margin-top:16px">
      <h2>Training curves</h2>
      <img id="curves" alt="" hidden><p class="note" id="curves-note"></p>
    </section>
  </div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let info = null;
let busy = 0;

function row(cells) {
  const tr = document.createElement("tr");
  for (const text of cells) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
  return tr;
}

async function loadInfo() {
  info = await (await fetch("/api/info")).json();
  $("model-name").textContent = info.name;
  $("source").textContent = info.source + ", input " + info.input_shape.join("x") + " uint8, classes: " +
    info.class_names.join(", ");
  const s = info.summary;
  const table = $("summary");
  table.appendChild(row(["variant", s.variant || "unknown"]));
  table.appendChild(row(["final " + (s.accuracy_split === "val" ? "validation" : "test") + " accuracy",
                         s.final_accuracy_text]));
  if (s.epochs) table.appendChild(row(["epochs", String(s.epochs)]));
  if (s.train_images) table.appendChild(row(["images", s.train_images + " train, " + s.test_images + " test"]));
  if (s.data) table.appendChild(row(["data", s.data]));
  if (info.curves) { $("curves").src = "/api/curves.png"; $("curves").hidden = false; }
  else { $("curves-note").textContent = "no curves.png: the run has not finished, or the export's run is not here"; }
  $("heatmap-note").textContent = info.heatmap
    ? "The image enlarged to " + info.heatmap_size.join("x") + ": each cell is the network's softmax over one " +
      "window of its input size; the classes most probable anywhere are shown."
    : info.heatmap_note;
  $("random").hidden = !info.random;
}

function showError(message) {
  $("error").textContent = message;
}

async function classify(blob, name) {
  busy += 1;
  showError("");
  $("status").textContent = "classifying " + name + " ...";
  const form = new FormData();
  form.append("image", blob, name);
  try {
    const response = await fetch("/api/classify?top_k=5&heatmap=" + (info && info.heatmap), \
{method: "POST", body: form});
    let answer;
    try { answer = await response.json(); } catch (e) { answer = {error: "HTTP " + response.status}; }
    if (!response.ok) {
      $("predictions").replaceChildren();
      $("predictions").removeAttribute("data-top1");
      $("heatmap").hidden = true;
      $("preview").removeAttribute("src");
      $("file-name").textContent = name;
      showError(answer.error || ("HTTP " + response.status));
      return;
    }
    $("preview").src = URL.createObjectURL(blob);
    $("file-name").textContent = name + (answer.resized_from ? " (" + answer.resized_from.join("x") +
      ", resized to " + info.input_shape.slice(0, 2).join("x") + ")" : "");
    const list = $("predictions");
    list.replaceChildren();
    for (const p of answer.predictions) {
      const div = document.createElement("div");
      div.className = "row";
      const label = document.createElement("span"); label.className = "cls"; label.textContent = p["class"];
      const bar = document.createElement("div"); bar.className = "bar";
      const fill = document.createElement("div"); fill.style.width = (100 * p.probability).toFixed(1) + "%";
      bar.appendChild(fill);
      const prob = document.createElement("span"); prob.className = "prob";
      prob.textContent = (100 * p.probability).toFixed(1) + "%";
      div.append(label, bar, prob);
      list.appendChild(div);
    }
    list.dataset.top1 = answer.predictions[0]["class"];
    if (answer.heatmap) { $("heatmap").src = answer.heatmap; $("heatmap").hidden = false; }
  } catch (e) {
    showError("the server did not answer (" + e + "): is serve still running?");
  } finally {
    busy -= 1;
    $("status").textContent = "";
    document.body.dataset.busy = String(busy);
  }
}

$("file").addEventListener("change", () => {
  const file = $("file").files[0];
  if (file) classify(file, file.name);
  $("file").value = "";
});
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const file = e.dataTransfer.files[0];
  if (file) classify(file, file.name);
});
$("random").addEventListener("click", async () => {
  const response = await fetch("/api/random");
  if (!response.ok) { showError((await response.json()).error); return; }
  classify(await response.blob(), response.headers.get("X-Image-Path"));
});
loadInfo().then(() => { document.body.dataset.ready = "true"; },
                (e) => showError("cannot read /api/info (" + e + ")"));
</script>
</body>
</html>
"""
