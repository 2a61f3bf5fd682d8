// emrestore web app: upload, restore (with progress), compare, adjust the display, download.
// The images are drawn here from their float32 data (display.js), not from server-made PNGs.
"use strict";

const $ = (id) => document.getElementById(id);
// Sent with every POST: the server refuses state-changing browser requests without it, which
// other web pages cannot add to a form (and, from a script, only after a CORS preflight).
const CSRF_HEADER = ["X-Requested-With", "emrestore"];

const state = {
  config: null, upload: null, result: null, job: null, xhr: null, cancelled: false,
  view: { scale: 1, x: 0, y: 0 }, width: 0, height: 0,
  mode: "slider", split: 0.5, flipTimer: null, showRestored: true,
  // float32 frames shown: { url, data: Float32Array, width, height, range: {min, max, low, high} }
  images: { input: null, result: null }, loading: 0, renderQueued: false, histogramCache: null,
  uncertainty: null,  // the uncertainty map's float32 frame, fetched when first overlaid (once computed)
};

// ---------------------------------------------------------------- helpers
function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function showNotice(message) {
  $("notice").textContent = message;
  $("notice").hidden = !message;
}

function setProgress(text, fraction) {
  $("progress").hidden = text === null;
  if (text === null) {
    $("cancel").disabled = false;
    $("cancel").textContent = "Cancel";
  }
  $("progress-text").textContent = text || "";
  const bar = $("progress-bar");
  if (fraction === null || fraction === undefined) bar.removeAttribute("value");
  else bar.value = fraction;
}

function errorText(body, status) {
  if (body && body.error) return body.error;
  return `The server answered with status ${status}. Is emrestore serve still running?`;
}

// Thrown when the user cancelled (shown as a notice, not an error).
class Cancelled extends Error {}

// Send a form with XMLHttpRequest (for upload progress); resolves to {status, body}.
function send(url, form, onUpload) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.setRequestHeader(...CSRF_HEADER);
    xhr.responseType = "json";
    if (onUpload) xhr.upload.onprogress = (e) => e.lengthComputable && onUpload(e.loaded / e.total);
    xhr.onload = () => { state.xhr = null; resolve({ status: xhr.status, body: xhr.response }); };
    xhr.onerror = () => {
      state.xhr = null;
      reject(new Error("The connection to the emrestore server was lost. Is it still running?"));
    };
    xhr.onabort = () => { state.xhr = null; reject(new Cancelled("The upload was cancelled.")); };
    state.xhr = xhr;
    xhr.send(form);
  });
}

// Cancel what runs: abort an upload, or ask the server to stop the restoration after its current tile.
async function cancel() {
  state.cancelled = true;
  $("cancel").disabled = true;
  $("cancel").textContent = "Cancelling…";
  if (state.xhr) { state.xhr.abort(); return; }
  if (!state.job) return;
  try {
    const response = await fetch(`/api/jobs/${state.job}/cancel`, { method: "POST", headers: [CSRF_HEADER] });
    if (!response.ok) {
      let body = null;
      try { body = await response.json(); } catch (e) { /* not JSON */ }
      throw new Error(errorText(body, response.status));
    }
  } catch (e) {
    showError(e.message);
  }
}

async function getJSON(url) {
  const response = await fetch(url);
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON */ }
  if (!response.ok) throw new Error(errorText(body, response.status));
  return body;
}

// ---------------------------------------------------------------- start-up
async function init() {
  try {
    state.config = await getJSON("/api/config");
    const { models } = await getJSON("/api/models");
    $("version").textContent = `v${state.config.version}`;
    const limits = [`${Math.round(state.config.max_upload_bytes / 1e6)} MB`];
    if (state.config.max_pixels) limits.push(`${+(state.config.max_pixels / 1e6).toPrecision(3)} Mpx`);
    $("formats").textContent = `Formats: ${state.config.extensions.join(" ")} · up to ${limits.join(", ")}`;
    const select = $("model");
    select.append(new Option("Automatic", ""));
    for (const m of models) {
      const what = [m.modality && m.modality.toUpperCase(), m.config].filter(Boolean).join(", ");
      select.append(new Option(what ? `${m.name} — ${what}` : m.name, m.name));
    }
    if (!models.length) showError("This server has no restoration model installed. Fix: start it with "
      + "'emrestore serve --models-dir FOLDER'.");
  } catch (e) {
    showError(e.message);
  }
}

// ---------------------------------------------------------------- upload + restore
async function handleFile(file) {
  if (!file) return;
  showError("");
  showNotice("");
  $("result-panel").hidden = true;
  const ext = file.name.includes(".") ? "." + file.name.split(".").pop().toLowerCase() : "";
  if (ext === ".emi") {
    showError("A TIA .emi file holds only metadata; the image is in the matching .ser file. Drop the .ser file instead.");
    return;
  }
  if (state.config && !state.config.extensions.includes(ext)) {
    showError(`${file.name} is not a format emrestore reads. Use one of: ${state.config.extensions.join(", ")}.`);
    return;
  }
  if (state.config && file.size > state.config.max_upload_bytes) {
    showError(`${file.name} is ${(file.size / 1e6).toFixed(1)} MB; this server accepts files up to ${
      Math.round(state.config.max_upload_bytes / 1e6)} MB. Crop or bin it first, or restart the server with a larger --max-upload-mb.`);
    return;
  }
  resetView();
  const form = new FormData();
  form.append("file", file);
  state.cancelled = false;
  setProgress("Uploading…", 0);
  try {
    const { status, body } = await send("/api/inspect", form, (f) =>
      setProgress(f < 1 ? `Uploading ${Math.round(f * 100)} %` : "Reading the file…", f < 1 ? f : null));
    if (status !== 200) throw new Error(errorText(body, status));
    showFile(body);
    if (state.cancelled) throw new Cancelled("Cancelled before the restoration started.");
    await restore();
  } catch (e) {
    setProgress(null);
    if (e instanceof Cancelled) showNotice(e.message); else showError(e.message);
  }
}

function showFile(info) {
  state.upload = info;
  state.result = null;
  $("file-panel").hidden = false;
  $("drop").classList.add("compact");
  $("drop-title").textContent = "Drop another image";
  $("file-name").textContent = info.name;
  $("file-shape").textContent = info.shape.join(" × ") + (info.frames > 1 ? ` (${info.frames} frames)` : " px");
  $("file-pixel").textContent = formatPixelSize(info.pixel_size, info.unit);
  $("file-modality").textContent = info.modality ? info.modality.toUpperCase() : "unknown";
  $("file-dtype").textContent = info.dtype;
  $("file-notes").replaceChildren(...(info.notes || []).map((note) => {
    const item = document.createElement("li");
    item.textContent = note;
    return item;
  }));
  $("model").options[0].text = info.model ? `Automatic: ${info.model}` : "Automatic";
  $("model").value = "";
  showModelReason();
  showImages(info.input_f32, info.input_display, null, null);
}

// Why the model in the menu is the one Restore uses: the chooser's reason, or the user's choice.
function showModelReason() {
  const info = state.upload;
  const chosen = $("model").value;
  let text = "";
  if (chosen) text = `${chosen}: chosen by you.`;
  else if (info && info.model_reason) text = `Automatic choice: ${info.model_reason}.`;
  $("model-reason").textContent = text;
}

async function restore() {
  if (!state.upload) return;
  showError("");
  showNotice("");
  state.cancelled = false;
  $("restore").disabled = true;
  $("result-panel").hidden = true;
  const form = new FormData();
  form.append("upload", state.upload.upload);
  form.append("model", $("model").value);
  form.append("tile", $("tile").value);
  form.append("wait", "0");
  const started = performance.now();
  const elapsed = () => ((performance.now() - started) / 1000).toFixed(1);
  setProgress("Restoring…", null);
  try {
    const { status, body } = await send("/api/restore", form);
    if (status !== 202) throw new Error(errorText(body, status));
    state.job = body.job;
    if (state.cancelled) await cancel();
    for (;;) {
      const job = await getJSON(`/api/jobs/${body.job}`);
      if (job.state === "done") { showResult(job.result); break; }
      if (job.state === "cancelled") {
        throw new Cancelled(`Restoration cancelled after ${job.tiles_done} of ${job.tiles_total || "?"} tiles.`);
      }
      if (job.state === "error") throw new Error(job.error);
      setProgress(...progressText(job, elapsed()));
      await new Promise((r) => setTimeout(r, 250));
    }
  } catch (e) {
    setProgress(null);
    if (e instanceof Cancelled) showNotice(e.message); else showError(e.message);
  } finally {
    state.job = null;
    $("restore").disabled = false;
  }
}

// What a running job is doing, and the bar's fraction: a count where the network reports one
// (several tiles, or several frames), otherwise an indeterminate bar with the elapsed time.
function progressText(job, seconds) {
  if (job.state === "queued") return [`Waiting for a free worker… ${seconds} s`, null];
  if (job.phase === "reading") return [`Reading the file… ${seconds} s`, null];
  if (job.phase === "saving") return [`Saving the result… ${seconds} s`, null];
  const total = job.tiles_total;
  if (total > 1) {
    const what = total === job.frames ? "frame" : "tile";
    return [`Restoring: ${what} ${job.tiles_done} of ${total} · ${seconds} s`, job.tiles_done / total];
  }
  return [`Restoring in one pass (a single tile, so no count to show) · ${seconds} s`, null];
}

function showResult(result) {
  state.result = result;
  setProgress(null);
  const byUser = result.model_chosen_by === "user";
  $("result-text").textContent = `Restored with ${result.model} (${byUser ? "chosen by you" : "automatic choice"}) in ${
    result.seconds.toFixed(1)} s${result.tile === 0 ? ", whole image at once" : `, ${result.tile} px tiles`}.`;
  // the reason shown is the one for the model used (until another model is picked in the menu)
  $("model").value = byUser ? result.model : "";
  $("model-reason").textContent = byUser ? `${result.model}: chosen by you.` : `Automatic choice: ${result.model_reason}.`;
  $("download-tif").href = result.result_tif + "?download=1";
  $("download-hspy").href = result.result_hspy + "?download=1";
  $("download-png").href = result.result_png + "?download=1";
  state.uncertainty = null;
  showUncertaintyControls(result);
  $("result-panel").hidden = false;
  $("restore").textContent = "Restore again";
  showImages(result.input_f32, result.input_display, result.result_f32, result.result_display);
}

// The uncertainty map is computed on request, once per restoration (the server keeps it): until
// then the "Uncertainty map" button offers it; afterwards the overlay toggle and the TIFF download.
function showUncertaintyControls(result) {
  const map = result.uncertainty_tif ? result.uncertainty : null;
  const button = $("compute-uncertainty");
  button.hidden = Boolean(map) || !result.uncertainty_url;
  button.disabled = false;
  button.textContent = "Uncertainty map";
  $("download-uncertainty").hidden = !map;
  $("show-uncertainty").parentElement.hidden = !map;
  $("uncertainty-text").hidden = !map;
  if (map) {
    $("download-uncertainty").href = result.uncertainty_tif + "?download=1";
    $("uncertainty-text").textContent = `Uncertainty map: estimated local RMS error in the input's units ` +
      `(median ${formatValue(map.median)}, 99th percentile ${formatValue(map.p99)}); it marks where ` +
      "the restoration may have removed or invented signal, it is not an error bar.";
  }
}

// Ask the server for the shown restoration's uncertainty map, then overlay it.
async function computeUncertainty() {
  const result = state.result;
  if (!result || !result.uncertainty_url) return;
  const button = $("compute-uncertainty");
  button.disabled = true;
  button.textContent = "Computing the uncertainty map…";
  showError("");
  try {
    const response = await fetch(result.uncertainty_url, { method: "POST", headers: [CSRF_HEADER] });
    let body = null;
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) throw new Error(errorText(body, response.status));
    if (state.result !== result) return;  // another restoration is shown meanwhile
    Object.assign(result, body);
    showUncertaintyControls(result);
    $("show-uncertainty").checked = true;
    drawUncertainty();
  } catch (e) {
    if (state.result !== result) return;
    showError(e.message);
    button.disabled = false;
    button.textContent = "Uncertainty map";
  }
}

// ---------------------------------------------------------------- images and display
// Fetch a float32 frame (raw little-endian, height × width values).
async function fetchFrame(url, shown) {
  const response = await fetch(url);
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (e) { /* not JSON */ }
    throw new Error(errorText(body, response.status));
  }
  const data = new Float32Array(await response.arrayBuffer());
  const [height, width] = shown.shape;
  if (data.length !== width * height) throw new Error("The image data arrived incomplete. Fix: restore again.");
  return { url, data, width, height, range: shown.range };
}

// Show the input (and the result, once there is one), keeping the view when the input stays.
async function showImages(inputUrl, inputShown, resultUrl, resultShown) {
  const token = ++state.loading;
  try {
    const keep = state.images.input && state.images.input.url === inputUrl;
    const input = keep ? state.images.input : await fetchFrame(inputUrl, inputShown);
    const result = resultUrl ? await fetchFrame(resultUrl, resultShown) : null;
    if (token !== state.loading) return;  // another file or result arrived meanwhile
    state.images = { input, result };
    state.histogramCache = null;
    for (const id of ["cv-original", "cv-restored", "cv-restored-side"]) {
      const frame = id === "cv-original" ? input : result;
      const canvas = $(id);
      canvas.hidden = !frame;
      if (frame && (canvas.width !== frame.width || canvas.height !== frame.height)) {
        canvas.width = frame.width;
        canvas.height = frame.height;
        canvas.pixels = null;
      }
      canvas.dataset.src = frame ? frame.url : "";
    }
    state.width = input.width;
    state.height = input.height;
    $("placeholder").hidden = true;
    $("display-panel").hidden = false;
    render();
    if (!keep) fit();
    setMode(state.mode);
  } catch (e) {
    if (token === state.loading) showError(e.message);
  }
}

// The current settings of the display controls, and their labels.
function currentSettings() {
  const settings = displaySettings(+$("brightness").value, +$("contrast").value, +$("gamma").value);
  $("brightness-value").textContent = `${Math.round(settings.brightness * 100)} %`;
  $("contrast-value").textContent = `${settings.contrast.toFixed(2)}×`;
  $("gamma-value").textContent = settings.gamma.toFixed(2);
  return settings;
}

// Draw one frame into its canvas with the window [lo, hi]; the window is kept on the canvas
// (data-lo, data-hi) so that what is shown can be checked against the data.
function drawFrame(canvas, frame, window, table) {
  const ctx = canvas.getContext("2d");
  if (!canvas.pixels) {
    canvas.imageData = ctx.createImageData(frame.width, frame.height);
    canvas.pixels = new Uint32Array(canvas.imageData.data.buffer);
  }
  renderGrey(frame.data, canvas.pixels, window, table);
  ctx.putImageData(canvas.imageData, 0, 0);
  canvas.dataset.lo = window.lo;
  canvas.dataset.hi = window.hi;
}

// Render both images with the current display settings. By default both share the input's
// robust range (0.5–99.5 percentiles), so they can be compared grey level for grey level;
// "Stretch each image separately" gives each its own.
function render() {
  const { input, result } = state.images;
  if (!input) return;
  const settings = currentSettings();
  const independent = $("independent").checked;
  const table = greyTable(settings.gamma);
  const inputWindow = displayWindow(input.range, settings);
  drawFrame($("cv-original"), input, inputWindow, table);
  const windows = [{ ...inputWindow, colour: "#e8590c", dashed: false }];
  let text = `Display range ${formatValue(inputWindow.lo)} to ${formatValue(inputWindow.hi)}`;
  if (result) {
    const resultWindow = independent ? displayWindow(result.range, settings) : inputWindow;
    drawFrame($("cv-restored"), result, resultWindow, table);
    $("cv-restored-side").stale = true;
    copySideView();
    if (independent) {
      windows.push({ ...resultWindow, colour: "#1f6feb", dashed: true });
      text = `Original ${formatValue(inputWindow.lo)} to ${formatValue(inputWindow.hi)}; restored ${
        formatValue(resultWindow.lo)} to ${formatValue(resultWindow.hi)} (each stretched separately)`;
    } else {
      text += " for both images (the original's 0.5–99.5 % range)";
    }
  }
  $("display-range").textContent = text + ".";
  drawHistograms(windows, settings.gamma);
  drawUncertainty();
}

// Overlay the uncertainty map on the restored image: transparent at 0, orange-red and more
// opaque up to the map's 99.5th percentile (fetched on first use).
async function drawUncertainty() {
  const canvas = $("cv-uncertainty");
  const result = state.result;
  const wanted = $("show-uncertainty").checked && result && result.uncertainty_f32 && state.images.result;
  canvas.hidden = !wanted;
  if (!wanted) return;
  if (!state.uncertainty || state.uncertainty.url !== result.uncertainty_f32) {
    try {
      state.uncertainty = await fetchFrame(result.uncertainty_f32, result.uncertainty_display);
    } catch (e) {
      showError(e.message);
      return;
    }
  }
  const frame = state.uncertainty;
  if (canvas.width !== frame.width || canvas.height !== frame.height) {
    canvas.width = frame.width;
    canvas.height = frame.height;
  }
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(frame.width, frame.height);
  const high = frame.range.high > 0 ? frame.range.high : 1;
  for (let i = 0, n = frame.data.length; i < n; i++) {
    const t = Math.min(Math.max(frame.data[i] / high, 0), 1);
    image.data[4 * i] = 255;
    image.data[4 * i + 1] = Math.round(200 * (1 - t));
    image.data[4 * i + 2] = 0;
    image.data[4 * i + 3] = Math.round(200 * t);
  }
  ctx.putImageData(image, 0, 0);
}

// The histograms of the shown images, computed once per image pair, and the display window(s).
function drawHistograms(windows, gamma) {
  const { input, result } = state.images;
  const canvas = $("histogram");
  if (!state.histogramCache) {
    const frames = [input, result].filter(Boolean);
    const span = histogramSpan(frames.map((f) => f.range), frames.every((f) => integerValued(f.data)));
    const bins = span.bins || canvas.width / 2;
    state.histogramCache = {
      span,
      series: frames.map((f, k) => ({
        counts: histogram(f.data, span.start, span.end, bins),
        fill: k === 0 ? "rgba(80, 90, 105, 0.35)" : null,
        stroke: k === 0 ? "#505a69" : "#1f6feb",
      })),
    };
  }
  const { span, series } = state.histogramCache;
  const marks = drawHistogram(canvas, span, series, windows, gamma);
  canvas.dataset.marks = marks.join(" ");
  canvas.dataset.span = `${span.start} ${span.end}`;
}

// The side-by-side view shows a copy of the restored canvas, made only while it is visible.
function copySideView() {
  const side = $("cv-restored-side");
  if (!side.stale || $("vp-b").hidden || !state.images.result) return;
  side.getContext("2d").drawImage($("cv-restored"), 0, 0);
  side.dataset.lo = $("cv-restored").dataset.lo;
  side.dataset.hi = $("cv-restored").dataset.hi;
  side.stale = false;
}

// Draw at the next frame, once, however many control events arrive meanwhile.
function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => { state.renderQueued = false; render(); });
}

function resetDisplay() {
  for (const id of ["brightness", "contrast", "gamma"]) $(id).value = 0;
  $("independent").checked = false;
  render();
}

// Forget the previous file: empty panels and viewer.
function resetView() {
  state.upload = null;
  state.result = null;
  state.width = state.height = 0;
  state.images = { input: null, result: null };
  state.loading++;
  $("file-panel").hidden = true;
  $("display-panel").hidden = true;
  for (const canvas of document.querySelectorAll(".stage canvas")) canvas.hidden = true;
  $("placeholder").hidden = false;
  $("restore").textContent = "Restore";
  setMode(state.mode);
  $("tag-a").hidden = true;
  applyView();
}

function applyView() {
  const { scale, x, y } = state.view;
  for (const stage of document.querySelectorAll(".stage")) {
    stage.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
  }
  $("viewers").classList.toggle("pixelated", scale >= 2);
  $("zoom-level").textContent = state.width ? `${Math.round(scale * 100)} %` : "";
  updateScaleBars();
}

function fit() {
  const vp = $("vp-a");
  if (!state.width || !vp.clientWidth) return;
  const scale = Math.min(vp.clientWidth / state.width, vp.clientHeight / state.height) * 0.96;
  state.view = { scale, x: (vp.clientWidth - state.width * scale) / 2, y: (vp.clientHeight - state.height * scale) / 2 };
  applyView();
}

function zoomAt(factor, cx, cy) {
  const v = state.view;
  const scale = Math.min(64, Math.max(0.02, v.scale * factor));
  state.view = { scale, x: cx - (cx - v.x) * (scale / v.scale), y: cy - (cy - v.y) * (scale / v.scale) };
  applyView();
}

function updateScaleBars() {
  const info = state.upload;
  for (const bar of document.querySelectorAll(".scalebar")) {
    bar.hidden = !info || !info.pixel_size || !state.width;
    if (bar.hidden) continue;
    const perScreenPx = info.pixel_size / state.view.scale;  // length per screen pixel
    const target = 110 * perScreenPx;
    const power = 10 ** Math.floor(Math.log10(target));
    const nice = [5, 2, 1].map((m) => m * power).find((len) => len <= target);
    bar.querySelector(".bar").style.width = `${nice / perScreenPx}px`;
    bar.querySelector("span").textContent = formatLength(nice, info.unit);
  }
}

function setSplit(fraction) {
  state.split = Math.min(1, Math.max(0, fraction));
  const percent = state.split * 100;
  $("clip").style.clipPath = `inset(0 0 0 ${percent}%)`;
  $("divider").style.left = `${percent}%`;
  $("divider").setAttribute("aria-valuenow", Math.round(percent));
}

function setMode(mode) {
  state.mode = mode;
  const hasResult = Boolean(state.images.result);
  for (const b of document.querySelectorAll(".modes button")) b.classList.toggle("active", b.dataset.mode === mode);
  clearInterval(state.flipTimer);
  $("flip-control").hidden = mode !== "flip";
  $("vp-b").hidden = !(hasResult && mode === "side");
  copySideView();
  $("divider").hidden = !(hasResult && mode === "slider");
  $("tag-b").hidden = !(hasResult && mode === "slider");
  $("tag-a").hidden = !state.images.input;
  $("tag-a").textContent = "Original";
  if (!hasResult || mode === "side") {
    $("clip").hidden = true;
  } else if (mode === "slider") {
    $("clip").hidden = false;
    setSplit(state.split);
  } else {
    $("clip").style.clipPath = "none";
    state.showRestored = true;
    const flip = () => {
      $("clip").hidden = !state.showRestored;
      $("tag-a").textContent = state.showRestored ? "Restored" : "Original";
      state.showRestored = !state.showRestored;
    };
    flip();
    const interval = Math.max(100, Number($("flip-interval").value) || 800);
    state.flipTimer = setInterval(flip, interval);
  }
  const sideBySide = !$("vp-b").hidden;
  const relayout = sideBySide !== state.sideBySide;
  state.sideBySide = sideBySide;
  requestAnimationFrame(relayout ? fit : applyView);
}

function bindViewport(vp) {
  let drag = null;
  vp.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = vp.getBoundingClientRect();
    zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
  }, { passive: false });
  vp.addEventListener("pointerdown", (e) => {
    if (e.target.closest(".divider") || !state.width) return;
    drag = { x: e.clientX, y: e.clientY, view: { ...state.view } };
    vp.setPointerCapture(e.pointerId);
    vp.classList.add("panning");
  });
  vp.addEventListener("pointermove", (e) => {
    if (!drag) return;
    state.view = { ...drag.view, x: drag.view.x + e.clientX - drag.x, y: drag.view.y + e.clientY - drag.y };
    applyView();
  });
  const end = () => { drag = null; vp.classList.remove("panning"); };
  vp.addEventListener("pointerup", end);
  vp.addEventListener("pointercancel", end);
  vp.addEventListener("dblclick", fit);
}

function bindDivider() {
  const divider = $("divider");
  const vp = $("vp-a");
  const move = (e) => {
    const r = vp.getBoundingClientRect();
    setSplit((e.clientX - r.left) / r.width);
  };
  divider.addEventListener("pointerdown", (e) => {
    divider.setPointerCapture(e.pointerId);
    divider.addEventListener("pointermove", move);
  });
  const release = () => divider.removeEventListener("pointermove", move);
  divider.addEventListener("pointerup", release);
  divider.addEventListener("pointercancel", release);
  divider.addEventListener("keydown", (e) => {
    const step = { ArrowLeft: -0.02, ArrowRight: 0.02 }[e.key];
    if (step) { setSplit(state.split + step); e.preventDefault(); }
  });
}

// ---------------------------------------------------------------- wiring
function bindPage() {
  const drop = $("drop");
  const input = $("file-input");
  input.addEventListener("change", () => { handleFile(input.files[0]); input.value = ""; });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") input.click(); });
  for (const name of ["dragenter", "dragover"]) {
    document.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  document.addEventListener("dragleave", (e) => { if (!e.relatedTarget) drop.classList.remove("over"); });
  document.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) handleFile(files[0]);
  });
  $("restore").addEventListener("click", restore);
  $("model").addEventListener("change", showModelReason);
  for (const id of ["brightness", "contrast", "gamma"]) $(id).addEventListener("input", scheduleRender);
  $("independent").addEventListener("change", scheduleRender);
  $("show-uncertainty").addEventListener("change", drawUncertainty);
  $("compute-uncertainty").addEventListener("click", computeUncertainty);
  $("display-reset").addEventListener("click", resetDisplay);
  $("cancel").addEventListener("click", cancel);
  for (const b of document.querySelectorAll(".modes button")) b.addEventListener("click", () => setMode(b.dataset.mode));
  $("flip-interval").addEventListener("change", () => setMode("flip"));
  $("fit").addEventListener("click", fit);
  $("zoom-1").addEventListener("click", () => {
    const vp = $("vp-a");
    zoomAt(1 / state.view.scale, vp.clientWidth / 2, vp.clientHeight / 2);
  });
  for (const vp of document.querySelectorAll(".viewport")) bindViewport(vp);
  bindDivider();
  window.addEventListener("resize", fit);
  setSplit(0.5);
  setMode("slider");
}

bindPage();
init();
