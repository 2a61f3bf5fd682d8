"""End to end in headless Chromium (Playwright): drop, restore, compare, adjust, download.

Needs the ``playwright`` Python package and a Chromium at ``/usr/bin/chromium`` (Debian:
``apt-get install -y chromium``; another binary via ``EMRESTORE_CHROMIUM``); skipped with
the reason otherwise. Playwright's own browser download is never used.

The screenshot of the page (``docs/web-app.png``) is rewritten when the environment
variable ``EMRESTORE_UPDATE_SCREENSHOT=1`` is set; otherwise it goes to a temporary
folder, so a test run does not modify the repository.
"""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from webclient import get

import emrestore

CHROMIUM = Path(os.environ.get("EMRESTORE_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "web-app.png"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                               "(pip install playwright; the browser is the system's Chromium)")
if not CHROMIUM.is_file():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set EMRESTORE_CHROMIUM)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile (user-data-dir)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             timeout=TIMEOUT_MS)
        yield browser
        browser.close()


def open_page(browser, url: str):
    """A fresh browser context on ``url``, with console errors collected in ``page.problems``."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.goto(url)
    page.wait_for_function("() => document.querySelector('#model').options.length > 1")
    return context, page


@pytest.fixture
def page(browser, server):
    context, page = open_page(browser, server.url)
    yield page
    context.close()


def drop_file(page, path: Path, name: str | None = None) -> None:
    """Drop a file on the drop zone, as a user dragging it from the desktop would."""
    data = page.evaluate_handle(
        """([b64, name]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name));
            return transfer;
        }""",
        [base64.b64encode(path.read_bytes()).decode(), name or path.name])
    page.dispatch_event("#drop", "dragenter", {"dataTransfer": data})
    page.dispatch_event("#drop", "drop", {"dataTransfer": data})


def wait_for_result(page) -> None:
    """Wait until the result is shown and both images are drawn on their canvases."""
    page.wait_for_selector("#result-panel:not([hidden])")
    page.wait_for_function("() => document.querySelector('#cv-restored').dataset.lo !== undefined "
                           "&& !document.querySelector('#cv-restored').hidden")


def canvas_grey(page, selector: str) -> np.ndarray:
    """The grey levels (0-255) a canvas shows, as an (H, W) array (R = G = B for grey)."""
    width, height, values = page.eval_on_selector(selector, """c => {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        const grey = [];
        for (let i = 0; i < d.length; i += 4) grey.push(d[i]);
        return [c.width, c.height, grey];
    }""")
    return np.asarray(values, dtype=np.int16).reshape(height, width)


def shown_frame(server, page, selector: str) -> np.ndarray:
    """The float32 data a canvas is drawn from, fetched from the server like the page did."""
    src = page.get_attribute(selector, "data-src")
    reply = get(server.url, src)
    assert reply.status == 200 and reply.headers["content-type"] == "application/octet-stream"
    width, height = page.eval_on_selector(selector, "c => [c.width, c.height]")
    return np.frombuffer(reply.body, dtype="<f4").reshape(height, width)


def window(page, selector: str) -> tuple[float, float]:
    """The display window [lo, hi] a canvas was drawn with (in the image's units)."""
    return (float(page.get_attribute(selector, "data-lo")), float(page.get_attribute(selector, "data-hi")))


def expected_grey(data: np.ndarray, lo: float, hi: float, gamma: float = 1.0) -> np.ndarray:
    t = np.clip((data.astype(np.float64) - lo) / (hi - lo), 0, 1)
    return np.rint(255 * t ** (1 / gamma)).astype(np.int16)


def set_slider(page, selector: str, value: int) -> None:
    page.fill(selector, str(value))  # sets the range input and fires its input event
    page.wait_for_function("([s, v]) => document.querySelector(s).value === String(v) && "
                           "!state.renderQueued", arg=[selector, value])


def drag_slider_to(page, fraction: float) -> None:
    viewport = page.locator("#vp-a").bounding_box()
    handle = page.locator("#divider span").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(viewport["x"] + fraction * viewport["width"], handle["y"], steps=8)
    page.mouse.up()


def test_drop_restore_compare_download(page, shared, tmp_path):
    source = shared("formats/test_STEM_image.dm3")
    drop_file(page, source)
    wait_for_result(page)

    # what the file is, and which model was chosen
    assert page.text_content("#file-shape") == "68 × 68 px"
    assert page.text_content("#file-pixel") == "0.249 nm/px"
    assert page.text_content("#file-modality") == "STEM"
    assert page.eval_on_selector("#model", "s => s.options[s.selectedIndex].text") == "Automatic: lrstem"
    assert "Restored with lrstem (automatic choice)" in page.text_content("#result-text")
    assert page.eval_on_selector("#cv-restored", "c => [c.width, c.height]") == [68, 68]

    # the slider moves the boundary between original and restored
    drag_slider_to(page, 0.25)
    assert 20 <= int(page.get_attribute("#divider", "aria-valuenow")) <= 30
    assert "inset(0px 0px 0px 2" in page.eval_on_selector("#clip", "c => getComputedStyle(c).clipPath")

    # scale bar from the calibration
    assert page.text_content("#vp-a .scalebar span").endswith(" nm")

    # zoom with the wheel; side by side keeps both views in sync
    before = page.text_content("#zoom-level")
    page.mouse.move(700, 400)
    page.mouse.wheel(0, -400)
    assert page.text_content("#zoom-level") != before
    page.click("button[data-mode=side]")
    page.wait_for_selector("#vp-b:not([hidden])")
    np.testing.assert_array_equal(canvas_grey(page, "#cv-restored-side"), canvas_grey(page, "#cv-restored"))
    page.mouse.move(700, 400)
    page.mouse.wheel(0, -200)
    transforms = page.eval_on_selector_all("#vp-a .stage, #vp-b .stage", "s => s.map(e => e.style.transform)")
    assert len(set(transforms)) == 1 and "scale" in transforms[0]

    # flip mode alternates original and restored at the chosen interval
    page.click("button[data-mode=flip]")
    page.fill("#flip-interval", "150")
    page.dispatch_event("#flip-interval", "change")
    seen = set()
    for _ in range(25):  # up to 1.5 s: several flips even on a busy machine
        seen.add(page.text_content("#tag-a"))
        if len(seen) == 2:
            break
        page.wait_for_timeout(60)
    assert seen == {"Original", "Restored"}

    # download the calibrated float32 TIFF
    with page.expect_download() as download_info:
        page.click("#download-tif")
    download = download_info.value
    assert download.suggested_filename == "test_STEM_image_restored.tif"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    restored = emrestore.read(target)
    assert restored.shape == (68, 68) and restored.unit == "nm"
    assert restored.pixel_size == pytest.approx(0.2485, abs=1e-4)
    assert restored.metadata["restoration"]["model"] == "lrstem"

    # and the HyperSpy file, read back with its calibration
    with page.expect_download() as download_info:
        page.click("#download-hspy")
    download = download_info.value
    assert download.suggested_filename == "test_STEM_image_restored.hspy"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    from_hspy = emrestore.read(target)
    assert from_hspy.shape == (68, 68) and from_hspy.unit == "nm" and from_hspy.modality == "stem"
    assert from_hspy.pixel_size == pytest.approx(0.2485, abs=1e-4)
    np.testing.assert_array_equal(from_hspy.data, restored.data)
    assert page.problems == []


def test_the_uncertainty_button_computes_the_map_then_overlays_and_offers_it(page, server, shared, tmp_path):
    drop_file(page, shared("formats/test_STEM_image.dm3"))
    wait_for_result(page)
    job = page.evaluate("() => state.result.job")
    # not computed with the restoration: only the button is offered
    assert page.locator("#compute-uncertainty").is_visible()
    assert page.locator("#download-uncertainty").is_hidden() and page.locator("#show-uncertainty").is_hidden()
    assert not (server.store.root / job / "uncertainty.tif").exists()
    page.click("#compute-uncertainty")
    page.wait_for_selector("#download-uncertainty:visible")
    page.wait_for_selector("#cv-uncertainty:not([hidden])")
    assert page.locator("#compute-uncertainty").is_hidden() and page.is_checked("#show-uncertainty")
    assert "Uncertainty map: estimated local RMS error" in page.text_content("#uncertainty-text")
    # the overlay is drawn from the map's data: opaque where the map is high
    page.wait_for_function("() => state.uncertainty !== null")
    alpha = page.eval_on_selector("#cv-uncertainty", """c => {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let most = 0;
        for (let i = 3; i < d.length; i += 4) most = Math.max(most, d[i]);
        return most;
    }""")
    assert alpha > 100
    with page.expect_download() as download_info:
        page.click("#download-uncertainty")
    download = download_info.value
    assert download.suggested_filename == "test_STEM_image_uncertainty.tif"
    download.save_as(tmp_path / download.suggested_filename)
    umap = emrestore.read(tmp_path / download.suggested_filename)
    assert umap.shape == (68, 68) and umap.metadata["uncertainty"]["method"].startswith("uncertainty")
    # unticking hides the overlay; the map stays computed
    page.uncheck("#show-uncertainty")
    assert page.locator("#cv-uncertainty").is_hidden()
    assert page.problems == []


def test_both_images_share_one_display_range_and_the_controls_change_it(page, server, shared):
    drop_file(page, shared("formats/test_STEM_image.dm3"))
    wait_for_result(page)
    original, restored = shown_frame(server, page, "#cv-original"), shown_frame(server, page, "#cv-restored")
    assert original.shape == restored.shape == (68, 68)
    np.testing.assert_array_equal(original, emrestore.read(shared("formats/test_STEM_image.dm3")).data)
    low, high = np.percentile(original, [0.5, 99.5])
    own_low, own_high = np.percentile(restored, [0.5, 99.5])
    assert not np.isclose(own_low, low, rtol=1e-3)  # the restoration's own stretch would differ

    # default: both drawn with the original's robust range, pixel for pixel from the data
    assert window(page, "#cv-original") == pytest.approx((low, high), rel=1e-5)
    assert window(page, "#cv-restored") == pytest.approx((low, high), rel=1e-5)
    assert np.abs(canvas_grey(page, "#cv-original") - expected_grey(original, low, high)).max() <= 1
    assert np.abs(canvas_grey(page, "#cv-restored") - expected_grey(restored, low, high)).max() <= 1
    assert "for both images" in page.text_content("#display-range")

    # histogram of both images, with the display range marked at its two ends
    marks = [int(x) for x in page.get_attribute("#histogram", "data-marks").split()]
    start, end = (float(v) for v in page.get_attribute("#histogram", "data-span").split())
    width = page.eval_on_selector("#histogram", "c => c.width")
    assert marks == [round((v - start) / (end - start) * width) for v in (low, high)]
    colours = page.eval_on_selector("#histogram", """(c, xs) => xs.map(x =>
        Array.from(c.getContext("2d").getImageData(x, 30, 1, 1).data.slice(0, 3)))""", marks)
    assert all(abs(r - 232) < 30 and abs(g - 89) < 40 and b < 60 for r, g, b in colours), colours
    painted = page.eval_on_selector("#histogram", """c => {
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let blue = 0, grey = 0;
        for (let i = 0; i < d.length; i += 4) {
            if (d[i + 2] > 200 && d[i] < 90) blue++;
            if (Math.abs(d[i] - d[i + 2]) < 30 && d[i] < 200) grey++;
        }
        return { blue, grey };
    }""")
    assert painted["blue"] > 20 and painted["grey"] > 200, painted  # restored line, original area

    # the toggle: each image stretched to its own range
    page.check("#independent")
    page.wait_for_function("() => document.querySelector('#display-range').textContent.includes('separately')")
    assert window(page, "#cv-original") == pytest.approx((low, high), rel=1e-5)
    assert window(page, "#cv-restored") == pytest.approx((own_low, own_high), rel=1e-5)
    assert np.abs(canvas_grey(page, "#cv-restored") - expected_grey(restored, own_low, own_high)).max() <= 1
    assert len(page.get_attribute("#histogram", "data-marks").split()) == 4
    page.uncheck("#independent")
    page.wait_for_function("() => document.querySelector('#display-range').textContent.includes('both')")
    assert window(page, "#cv-restored") == pytest.approx((low, high), rel=1e-5)

    # brightness moves the window down by half its width: everything gets brighter
    before = canvas_grey(page, "#cv-original").mean()
    set_slider(page, "#brightness", 50)
    lo, hi = window(page, "#cv-original")
    assert (lo, hi) == pytest.approx((low - (high - low) / 2, high - (high - low) / 2), rel=1e-5)
    assert window(page, "#cv-restored") == pytest.approx((lo, hi), rel=1e-5)
    assert canvas_grey(page, "#cv-original").mean() > before + 20
    assert np.abs(canvas_grey(page, "#cv-restored") - expected_grey(restored, lo, hi)).max() <= 1
    assert page.text_content("#brightness-value") == "50 %"
    set_slider(page, "#brightness", 0)

    # contrast 2×: half as wide a window around the same centre
    set_slider(page, "#contrast", 50)
    lo, hi = window(page, "#cv-original")
    assert hi - lo == pytest.approx((high - low) / 2, rel=1e-5)
    assert (lo + hi) / 2 == pytest.approx((low + high) / 2, rel=1e-5)
    assert page.text_content("#contrast-value") == "2.00×"
    assert np.abs(canvas_grey(page, "#cv-original") - expected_grey(original, lo, hi)).max() <= 1
    set_slider(page, "#contrast", 0)

    # gamma 2: grey = 255 t^(1/2), mid-tones brighter, the ends unchanged
    set_slider(page, "#gamma", 50)
    assert page.text_content("#gamma-value") == "2.00"
    assert window(page, "#cv-original") == pytest.approx((low, high), rel=1e-5)
    shown = canvas_grey(page, "#cv-original")
    assert np.abs(shown - expected_grey(original, low, high, gamma=2.0)).max() <= 2
    assert shown.mean() > expected_grey(original, low, high).mean() + 10

    page.click("#display-reset")
    assert page.input_value("#gamma") == "0" and not page.is_checked("#independent")
    assert np.abs(canvas_grey(page, "#cv-original") - expected_grey(original, low, high)).max() <= 1
    assert page.problems == []


def test_lengths_are_shown_in_sensible_units(page, tmp_path):
    sem = emrestore.EMImage(np.random.default_rng(3).normal(100, 10, (96, 128)).astype(np.float32),
                            pixel_size=2610.3, unit="nm", modality="sem")
    path = emrestore.write(sem, tmp_path / "coarse_sem.tif")
    drop_file(page, path)
    wait_for_result(page)
    assert page.text_content("#file-pixel") == "2.61 µm/px"
    assert "SEM at 2.61 µm/px" in page.text_content("#model-reason")
    assert "e+" not in page.text_content("#model-reason")
    assert page.text_content("#vp-a .scalebar span").endswith(" µm")
    formatted = page.evaluate("""() => [
        formatPixelSize(2610.3, "nm"), formatPixelSize(0.0249, "nm"), formatPixelSize(0.24854, "nm"),
        formatPixelSize(1.165e-8, "m"), formatPixelSize(1.5, "Å"), formatPixelSize(1.5e6, "nm"),
        formatPixelSize(999.7, "nm"), formatPixelSize(null, null)]""")
    assert formatted == ["2.61 µm/px", "24.9 pm/px", "0.249 nm/px", "11.7 nm/px", "1.5 Å/px", "1.5 mm/px",
                         "1 µm/px", "not calibrated"]
    assert page.problems == []


def test_errors_are_shown_in_plain_words(page, tmp_path):
    junk = tmp_path / "broken.dm3"
    junk.write_bytes(b"not a micrograph" * 64)
    drop_file(page, junk)
    page.wait_for_selector("#error:not([hidden])")
    text = page.text_content("#error")
    assert "broken.dm3 could not be read" in text and "Fix:" in text
    assert "Traceback" not in text

    emi = tmp_path / "search.emi"
    emi.write_bytes(b"x")
    drop_file(page, emi)
    page.wait_for_function("() => document.querySelector('#error').textContent.includes('.ser')")
    assert page.locator("#result-panel").is_hidden()


def test_model_and_tiling_can_be_changed_and_the_reason_follows(page, shared):
    source = shared("formats/test_STEM_image.dm3")
    drop_file(page, source)
    wait_for_result(page)
    automatic = page.text_content("#model-reason")
    assert automatic.startswith("Automatic choice: from the file's metadata; STEM at 0.249 nm/px")

    page.select_option("#model", "hrstem")
    assert page.text_content("#model-reason") == "hrstem: chosen by you."
    page.select_option("#tile", "0")
    page.click("#restore")
    page.wait_for_function("() => document.querySelector('#result-text').textContent.includes('hrstem')")
    assert "hrstem (chosen by you)" in page.text_content("#result-text")
    assert "whole image at once" in page.text_content("#result-text")
    # the reason shown is the one for the model used, not the automatic one
    assert page.text_content("#model-reason") == "hrstem: chosen by you."
    assert page.input_value("#model") == "hrstem"

    page.select_option("#model", "")
    assert page.text_content("#model-reason") == automatic
    page.click("#restore")
    page.wait_for_function("() => document.querySelector('#result-text').textContent.includes('lrstem')")
    assert "lrstem (automatic choice)" in page.text_content("#result-text")
    assert page.text_content("#model-reason") == automatic
    assert page.problems == []


def test_screenshot(browser, make_server, shared, tmp_path):
    """The picture in the README: a SEM image restored by the shipped model, at 200 %, slider at 45 %.

    Saved with a 256-colour palette (no dithering), which keeps it under 300 KB.
    """
    from emrestore.restoration import shipped_models

    if not shipped_models():
        pytest.skip("no shipped models to show")
    context, page = open_page(browser, make_server(models_dir=None).url)
    source = shared("formats/test_tiff_Zeiss_SEM_512pix.tif")
    drop_file(page, source)
    wait_for_result(page)
    page.evaluate("""() => {  // 200 % around the centre: one image pixel = 2 × 2 screen pixels
        const vp = document.querySelector("#vp-a");
        zoomAt(2 / state.view.scale, vp.clientWidth / 2, vp.clientHeight / 2);
    }""")
    assert page.text_content("#zoom-level") == "200 %"
    drag_slider_to(page, 0.45)
    page.mouse.move(1200, 20)  # no hover effects in the picture
    shot = tmp_path / "web-app-rgb.png"
    page.screenshot(path=str(shot))
    target = tmp_path / "web-app.png"
    with Image.open(shot) as image:
        assert image.size == (1280, 800)
        image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            target, optimize=True)
    assert target.stat().st_size < 300_000
    if os.environ.get("EMRESTORE_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(target, SCREENSHOT)
    assert "lrsem (automatic choice)" in page.text_content("#result-text")  # chosen from the calibration
    assert page.problems == []
    context.close()


# ------------------------------------------------------------------ another origin
@pytest.fixture
def foreign_site(server):
    """A page on a second local HTTP server (another port, so another origin) that frames emrestore."""
    import http.server
    import threading

    page = (f'<!doctype html><title>elsewhere</title><h1>another site</h1>'
            f'<iframe id="framed" src="{server.url}"></iframe>').encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=site.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{site.server_address[1]}/"
    site.shutdown()
    site.server_close()


CROSS_ORIGIN_ATTACKS = """async ([target, b64]) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const form = () => { const f = new FormData(); f.append("file", new Blob([bytes]), "frame.npy"); return f; };
    const out = {};
    try {
        const r = await fetch(target + "api/restore", { method: "POST", body: form() });
        out.cors = "status " + r.status;
    } catch (e) { out.cors = "blocked"; }
    try {
        const r = await fetch(target + "api/inspect", { method: "POST", body: form(), mode: "no-cors" });
        out.nocors = r.type;
    } catch (e) { out.nocors = "blocked"; }
    try {
        const r = await fetch(target + "api/restore", { method: "POST", body: form(),
                                                       headers: { "X-Requested-With": "emrestore" } });
        out.preflighted = "status " + r.status;
    } catch (e) { out.preflighted = "blocked"; }
    return out;
}"""


def test_another_origin_cannot_use_the_server(browser, server, foreign_site, tmp_path, caplog):
    import io
    import logging

    import numpy as np
    from webclient import get

    caplog.set_level(logging.WARNING, logger="emrestore.web")
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((32, 32), np.float32))
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    console = []
    page.on("console", lambda m: console.append(m.text))
    page.goto(foreign_site)
    out = page.evaluate(CROSS_ORIGIN_ATTACKS, [server.url, base64.b64encode(buffer.getvalue()).decode()])
    # the script learns nothing (no CORS headers; Cross-Origin-Resource-Policy blocks even the
    # opaque no-cors answer), and the server itself refused the requests
    assert out == {"cors": "blocked", "nocors": "blocked", "preflighted": "blocked"}, out
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert any("POST /api/restore" in text and foreign_site.rstrip("/") in text for text in refused), refused
    assert any("POST /api/inspect" in text for text in refused), refused

    # a classic cross-site form post with a file (no script needed) is refused too
    page.evaluate("""([target, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const form = document.createElement("form");
        form.method = "POST"; form.enctype = "multipart/form-data"; form.action = target + "api/restore";
        const input = document.createElement("input");
        input.type = "file"; input.name = "file";
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "frame.npy"));
        input.files = transfer.files;
        form.append(input);
        document.body.append(form);
        form.submit();
    }""", [server.url, base64.b64encode(buffer.getvalue()).decode()])
    page.wait_for_url(server.url + "api/restore")
    assert "not from the emrestore page" in page.text_content("body")
    assert not any(server.store.root.iterdir())  # nothing was uploaded or restored
    context.close()

    # the frame was refused (frame-ancestors 'none' / X-Frame-Options), and the server still answers
    assert any("frame-ancestors" in text or "X-Frame-Options" in text for text in console), console
    assert get(server.url, "/api/models").status == 200
    context, own = open_page(browser, server.url)
    assert own.problems == []
    context.close()


def test_cancel_button_stops_a_restoration(page, shared, monkeypatch):
    from emrestore.web import jobs as jobs_module

    original = jobs_module._progress

    def held_until_cancelled(job):  # the restoration stays in its first tile until cancelled
        counted = original(job)

        def wait_then_count(tiles):
            job.cancel_event.wait(60)
            counted(tiles)

        return wait_then_count

    monkeypatch.setattr(jobs_module, "_progress", held_until_cancelled)
    drop_file(page, shared("formats/test_STEM_image.dm3"))
    page.wait_for_selector("#cancel:visible")
    # one tile (68 x 68 px): no count to show, so an indeterminate bar with the elapsed time
    page.wait_for_function(
        "() => document.querySelector('#progress-text').textContent.startsWith('Restoring in one pass')")
    assert page.text_content("#progress-text").endswith(" s")
    assert page.get_attribute("#progress-bar", "value") is None
    page.click("#cancel")
    page.wait_for_selector("#notice:not([hidden])")
    assert "cancelled" in page.text_content("#notice").lower()
    assert page.locator("#progress").is_hidden() and page.locator("#result-panel").is_hidden()
    assert page.locator("#error").is_hidden()
    # a new restoration works
    monkeypatch.setattr(jobs_module, "_progress", original)
    page.click("#restore")
    wait_for_result(page)
    assert page.locator("#notice").is_hidden()
    assert page.problems == []
