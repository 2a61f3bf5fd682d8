// emrestore web app: turning float32 pixel data into grey levels, the histogram, and units.
// Pure functions (no page state); app.js calls them. Loaded before app.js.
"use strict";

// Lengths and their size in nanometres.
const NM_PER = { pm: 1e-3, "Å": 0.1, nm: 1, "µm": 1e3, mm: 1e6, m: 1e9 };

// A length with 3 significant digits in the unit a microscopist would quote it in:
// pm below 0.1 nm, nm up to 1000 nm, then µm and mm ("2.61 µm", not "2.61e+03 nm").
// A length given in Å stays in Å while that reads 1 to 999 Å. Other units (e.g. 1/nm) as given.
function formatLength(value, unit) {
  if (!(unit in NM_PER)) return `${+value.toPrecision(3)} ${unit}`;
  if (unit === "Å" && Math.abs(+value.toPrecision(3)) >= 1 && Math.abs(+value.toPrecision(3)) < 1000) {
    return `${+value.toPrecision(3)} Å`;
  }
  const nm = +(value * NM_PER[unit]).toPrecision(3);
  const size = Math.abs(nm);
  const u = size < 0.1 ? "pm" : size < 1e3 ? "nm" : size < 1e6 ? "µm" : "mm";
  return `${+(nm / NM_PER[u]).toPrecision(3)} ${u}`;
}

// "2.61 µm/px"; "not calibrated" without a pixel size.
function formatPixelSize(value, unit) {
  return value ? `${formatLength(value, unit)}/px` : "not calibrated";
}

// A pixel value for the page (4 significant digits, no exponent for everyday numbers).
function formatValue(value) {
  if (!Number.isFinite(value)) return String(value);
  const size = Math.abs(value);
  return size !== 0 && (size < 1e-3 || size >= 1e6) ? value.toExponential(3) : String(+value.toPrecision(4));
}

// The slider positions (−100…100) as numbers: brightness shifts the window by up to its width,
// contrast scales it 4× down or up, gamma runs from 0.25 to 4 (grey = t^(1/γ)).
function displaySettings(brightness, contrast, gamma) {
  return { brightness: brightness / 100, contrast: 2 ** (contrast / 50), gamma: 2 ** (gamma / 50) };
}

// The display window [lo, hi] (in the image's units) from a base range and the settings.
function displayWindow(base, settings) {
  const width = base.high - base.low;
  const centre = (base.low + base.high) / 2 - settings.brightness * width;
  const half = width / (2 * settings.contrast);
  return { lo: centre - half, hi: centre + half };
}

// Number of steps of the grey-level table: fine enough that rounding to it is below 1/16 grey level.
const LUT_SIZE = 4096;

// The table of packed RGBA grey levels for t = i / (LUT_SIZE − 1): 255·t^(1/γ), rounded.
function greyTable(gamma) {
  const table = new Uint32Array(LUT_SIZE);
  for (let i = 0; i < LUT_SIZE; i++) {
    const grey = Math.round(255 * (i / (LUT_SIZE - 1)) ** (1 / gamma));
    table[i] = (0xff000000 | (grey << 16) | (grey << 8) | grey) >>> 0;  // little-endian RGBA
  }
  return table;
}

// Draw float32 data into ImageData pixels (a Uint32Array view) with the window [lo, hi] and a
// grey table: one multiply, a clamp and a table look-up per pixel. NaN is drawn black.
function renderGrey(data, pixels, window, table) {
  const last = table.length - 1;
  const scale = window.hi > window.lo ? last / (window.hi - window.lo) : 0;
  const lo = window.lo;
  const n = data.length;
  for (let i = 0; i < n; i++) {
    const t = (data[i] - lo) * scale + 0.5;
    pixels[i] = table[t <= 0 ? 0 : t >= last ? last : t | 0];
  }
}

// Counts of the values of data in `bins` equal bins over [start, end] (values outside are left out).
// Reads at most about `maxSamples` values, evenly strided, so a 4k² frame costs the same as 1k².
function histogram(data, start, end, bins, maxSamples = 1 << 21) {
  const counts = new Float64Array(bins);
  const step = Math.max(1, Math.floor(data.length / maxSamples));
  const scale = end > start ? bins / (end - start) : 0;
  for (let i = 0; i < data.length; i += step) {
    const k = Math.floor((data[i] - start) * scale);
    if (k >= 0 && k < bins) counts[k]++;
    else if (data[i] === end) counts[bins - 1]++;
  }
  return counts;
}

// True if (a sample of) the values are whole numbers, as counts from a detector are.
function integerValued(data, samples = 4096) {
  const step = Math.max(1, Math.floor(data.length / samples));
  for (let i = 0; i < data.length; i += step) if (Number.isFinite(data[i]) && data[i] !== Math.round(data[i])) return false;
  return true;
}

// The span a histogram shows: the base ranges widened by their width on each side, kept within
// the data's minimum and maximum (so one hot pixel does not squash the rest into a bin). For
// whole-number data the bins are whole numbers wide and centred on the values (no comb pattern).
function histogramSpan(ranges, integer = false, maxBins = 160) {
  let start = Infinity, end = -Infinity;
  for (const r of ranges) {
    const width = Math.max(r.high - r.low, Math.abs(r.high) * 1e-6, 1e-30);
    start = Math.min(start, Math.max(r.min, r.low - width));
    end = Math.max(end, Math.min(r.max, r.high + width));
  }
  if (!(end > start)) end = start + 1;
  if (!integer) return { start, end, bins: 0 };
  const binWidth = Math.max(1, Math.ceil((end - start + 1) / maxBins));
  start = Math.floor(start) - 0.5;
  const bins = Math.ceil((Math.ceil(end) + 0.5 - start) / binWidth);
  return { start, end: start + bins * binWidth, bins };
}

// Draw the histogram(s) on a canvas (square-root counts), the display window(s) as vertical
// lines with the grey mapping between them. Returns the x positions of the window lines.
function drawHistogram(canvas, span, series, windows, gamma) {
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#f4f5f7";
  ctx.fillRect(0, 0, width, height);
  let peak = 0;
  for (const s of series) for (const c of s.counts) peak = Math.max(peak, Math.sqrt(c));
  const top = 4;
  const y = (count) => height - 1 - (height - 1 - top) * (peak ? Math.sqrt(count) / peak : 0);
  for (const s of series) {
    const n = s.counts.length;
    ctx.beginPath();
    ctx.moveTo(0, height);
    for (let k = 0; k < n; k++) {
      ctx.lineTo((k / n) * width, y(s.counts[k]));
      ctx.lineTo(((k + 1) / n) * width, y(s.counts[k]));
    }
    ctx.lineTo(width, height);
    if (s.fill) { ctx.fillStyle = s.fill; ctx.fill(); }
    ctx.strokeStyle = s.stroke;
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }
  const xOf = (v) => Math.round(Math.min(width - 1, Math.max(0, ((v - span.start) / (span.end - span.start)) * width)));
  const marks = [];
  for (const w of windows) {
    const [x0, x1] = [xOf(w.lo), xOf(w.hi)];
    ctx.strokeStyle = w.colour;
    ctx.lineWidth = 1;
    ctx.setLineDash(w.dashed ? [4, 3] : []);
    ctx.beginPath();  // the grey mapping from the bottom at lo to the top at hi
    for (let x = x0; x <= x1; x++) {
      const t = x1 > x0 ? (x - x0) / (x1 - x0) : 1;
      const yy = height - 1 - (height - 1 - top) * t ** (1 / gamma);
      if (x === x0) ctx.moveTo(x + 0.5, yy); else ctx.lineTo(x + 0.5, yy);
    }
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (const x of [x0, x1]) { ctx.moveTo(x + 0.5, 0); ctx.lineTo(x + 0.5, height); }
    ctx.stroke();
    marks.push(x0, x1);
  }
  return marks;
}
