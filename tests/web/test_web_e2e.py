"""End to end in headless Chromium (Playwright): drop, restore, compare, download.

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

import pytest
from PIL import Image

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
    page.wait_for_selector("#result-panel:not([hidden])")

    # what the file is, and which model was chosen
    assert page.text_content("#file-shape") == "68 × 68 px"
    assert page.text_content("#file-pixel") == "0.24854 nm / px"
    assert page.text_content("#file-modality") == "STEM"
    assert page.eval_on_selector("#model", "s => s.options[s.selectedIndex].text") == "Automatic: lrstem"
    assert "Restored with lrstem" in page.text_content("#result-text")
    assert page.eval_on_selector("#img-restored", "i => i.complete && i.naturalWidth") == 68

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


def test_model_and_tiling_can_be_changed(page, shared):
    source = shared("formats/test_STEM_image.dm3")
    drop_file(page, source)
    page.wait_for_selector("#result-panel:not([hidden])")
    page.select_option("#model", "hrstem")
    page.select_option("#tile", "0")
    page.click("#restore")
    page.wait_for_function("() => document.querySelector('#result-text').textContent.includes('hrstem')")
    assert "(whole image)" in page.text_content("#result-text")
    assert page.problems == []


def test_screenshot(browser, make_server, shared, tmp_path):
    """The picture in the README: a SEM image restored by the shipped model, slider at 45 %."""
    from emrestore.restoration import shipped_models

    if not shipped_models():
        pytest.skip("no shipped models to show")
    context, page = open_page(browser, make_server(models_dir=None).url)
    source = shared("formats/test_tiff_Zeiss_SEM_512pix.tif")
    drop_file(page, source)
    page.wait_for_selector("#result-panel:not([hidden])")
    page.wait_for_function("() => document.querySelector('#img-restored').complete")
    drag_slider_to(page, 0.45)
    page.mouse.move(1200, 20)  # no hover effects in the picture
    target = tmp_path / "web-app.png"
    page.screenshot(path=str(target))
    with Image.open(target) as image:
        assert image.size == (1280, 800)
    if os.environ.get("EMRESTORE_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(target, SCREENSHOT)
    assert "lrsem" in page.text_content("#result-text")  # chosen from the file's calibration
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
    from emrestore.web import store as store_module

    original = store_module._progress

    def held_until_cancelled(job):  # the restoration stays in its first tile until cancelled
        counted = original(job)

        def wait_then_count(tiles):
            job.cancel_event.wait(60)
            counted(tiles)

        return wait_then_count

    monkeypatch.setattr(store_module, "_progress", held_until_cancelled)
    drop_file(page, shared("formats/test_STEM_image.dm3"))
    page.wait_for_selector("#cancel:visible")
    page.wait_for_function("() => document.querySelector('#progress-text').textContent.startsWith('Restoring')")
    page.click("#cancel")
    page.wait_for_selector("#notice:not([hidden])")
    assert "cancelled" in page.text_content("#notice").lower()
    assert page.locator("#progress").is_hidden() and page.locator("#result-panel").is_hidden()
    assert page.locator("#error").is_hidden()
    # a new restoration works
    monkeypatch.setattr(store_module, "_progress", original)
    page.click("#restore")
    page.wait_for_selector("#result-panel:not([hidden])")
    assert page.locator("#notice").is_hidden()
    assert page.problems == []
