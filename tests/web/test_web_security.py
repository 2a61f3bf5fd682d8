"""Reliability and security of the web app (issue 21): limits, origins, headers, timeouts, jobs.

Nothing here depends on how fast the machine is: waits are on events and states with
generous deadlines, and restorations that must stay "running" are held by a gate in
the per-tile progress callback (the point where the server checks for cancellation).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from webclient import get, multipart, npy_bytes, post_form, request

DM3 = "formats/test_STEM_image.dm3"
#: Upper bound for any wait on the server [s]; never reached unless something is broken.
DEADLINE_S = 120


def noisy_image(shape=(200, 300), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (100 + rng.normal(0, 10, size=shape)).astype(np.float32)


def npy_file(shape=(32, 32), name="a.npy") -> dict[str, tuple[str, bytes]]:
    return {"file": (name, npy_bytes(noisy_image(shape)))}


def assert_error(reply, status: int, *words: str) -> str:
    assert reply.status == status, (reply.status, reply.body)
    message = reply.json()["error"]
    assert "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


def origin_of(server) -> str:
    return server.url.rstrip("/")


def wait_for(predicate, what: str, deadline_s: float = DEADLINE_S):
    deadline = time.monotonic() + deadline_s
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def job_status(server, job: str) -> dict:
    return get(server.url, f"/api/jobs/{job}").json()


def wait_finished(server, job: str) -> dict:
    return wait_for(lambda: (s := job_status(server, job))["state"] not in ("queued", "running") and s,
                    f"job {job} to finish")


# ------------------------------------------------------------------ pixel limit
def write_declared_huge_tiff(path: Path, side: int = 12000) -> Path:
    """A small zlib TIFF that declares side² uint8 pixels (all zeros; written tile by tile)."""
    import tifffile

    tile = np.zeros((512, 512), np.uint8)
    count = (-(-side // 512)) ** 2
    tifffile.imwrite(path, data=(tile for _ in range(count)), shape=(side, side), dtype=np.uint8,
                     tile=(512, 512), compression="zlib")
    return path


def _rss_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_growth_mb(action) -> tuple[object, float]:
    """Run ``action()``; return its result and how far this process's peak RSS rose [MB]."""
    if _rss_kb("VmRSS") is None:
        pytest.skip("no /proc/self/status to measure memory")
    before = _rss_kb("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    except OSError:
        samples, stop = [before], threading.Event()

        def sample():
            while not stop.is_set():
                samples.append(_rss_kb("VmRSS") or 0)
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result = action()
        finally:
            stop.set()
            sampler.join()
        return result, (max(samples) - before) / 1024
    result = action()
    return result, (_rss_kb("VmHWM") - before) / 1024


def test_declared_huge_tiff_is_413_before_decoding(server, tmp_path):
    """A 160 KB deflate TIFF declaring 12000² px (144 Mpx > 64 Mpx) is refused without decoding it."""
    source = write_declared_huge_tiff(tmp_path / "huge.tif")
    assert source.stat().st_size < 2_000_000
    body = source.read_bytes()
    reply, growth = peak_rss_growth_mb(
        lambda: post_form(server.url, "/api/inspect", files={"file": ("huge.tif", body)}))
    message = assert_error(reply, 413, "huge.tif", "12000", "--max-pixels", "Fix:")
    assert "upload.tif" not in message
    # decoding would take ≥ 144 MB (uint8) plus 576 MB (float32) in this process
    assert growth < 120, f"peak RSS rose by {growth:.0f} MB"
    assert not any(server.store.root.iterdir())  # nothing kept
    assert get(server.url, "/api/config").json()["max_pixels"] == 8192**2
    assert get(server.url, "/api/models").status == 200


def test_pixel_limit_is_configurable_and_reported(make_server, shared):
    server = make_server(max_pixels=4000)
    assert get(server.url, "/api/config").json()["max_pixels"] == 4000
    # 64 × 80 = 5120 px > 4000
    assert_error(post_form(server.url, "/api/inspect", files=npy_file((64, 80))), 413, "--max-pixels")
    assert_error(post_form(server.url, "/api/restore", files=npy_file((64, 80))), 413, "--max-pixels")
    source = shared(DM3)  # 68 × 68 = 4624 px
    assert_error(post_form(server.url, "/api/restore", files={"file": (source.name, source.read_bytes())}),
                 413, "test_STEM_image.dm3", "68")
    # within the limit: fine
    assert post_form(server.url, "/api/restore", files=npy_file((60, 60))).status == 200


def test_pixel_limit_is_checked_again_on_the_image_read(make_server, shared, monkeypatch):
    """Besides the reader's check of the declared size, the image read is checked too."""
    from emrestore.io.limits import ReadLimits
    from emrestore.web.uploads import UploadReader

    monkeypatch.setattr(UploadReader, "read_limits", lambda self: ReadLimits(max_pixels=None))
    server = make_server(max_pixels=4000)
    source = shared(DM3)
    reply = post_form(server.url, "/api/inspect", files={"file": (source.name, source.read_bytes())})
    assert_error(reply, 413, "test_STEM_image.dm3 is an image of 68 × 68 px", "--max-pixels")


def test_read_limits_are_passed_and_limit_errors_are_413(make_server, monkeypatch):
    import emrestore.io
    import emrestore.io.limits as limits_module
    from emrestore.errors import LimitExceededError

    seen = []

    def stuck_reader(path, *, index=None, allow_nonfinite=False, limits=None):
        seen.append(limits)
        raise LimitExceededError(f"Reading {Path(path).name} took longer than 7 s and was stopped.",
                                 "Copy the file again.")

    monkeypatch.setattr(emrestore.io, "read", stuck_reader)
    server = make_server(max_pixels=12345, read_timeout_s=7)
    reply = post_form(server.url, "/api/inspect", files={"file": ("scan.dm3", b"x" * 100)})
    message = assert_error(reply, 413, "Reading scan.dm3 took longer than 7 s", "--read-timeout", "--max-pixels")
    assert "upload.dm3" not in message
    (limits,) = seen
    assert isinstance(limits, limits_module.ReadLimits)
    assert limits.max_pixels == 12345 and limits.timeout_s == 7 and limits.isolate


def test_pixel_count_option_parsing():
    from emrestore.errors import ParameterError
    from emrestore.web.uploads import parse_pixel_count

    assert parse_pixel_count("8192x8192") == parse_pixel_count("67108864") == 8192**2
    assert parse_pixel_count("100 × 20") == 2000
    for bad in ("0", "-4", "big", "10x"):
        with pytest.raises(ParameterError, match="pixel limit"):
            parse_pixel_count(bad)


# ------------------------------------------------------------------ origin and CSRF
@pytest.mark.parametrize("headers, words", [
    ({"Origin": "http://evil.example"}, ("http://evil.example", "--allow-origin")),
    ({"Origin": "null"}, ("null",)),
    ({"Origin": "http://127.0.0.1:1", "X-Requested-With": "emrestore"}, ("127.0.0.1:1",)),
    ({"Sec-Fetch-Site": "cross-site", "X-Requested-With": "emrestore"}, ("cross-site",)),
    ({"Sec-Fetch-Site": "same-site", "X-Requested-With": "emrestore"}, ("same-site",)),
])
def test_cross_origin_requests_are_refused(server, headers, words):
    body, content_type = multipart(files=npy_file())
    for path in ("/api/inspect", "/api/restore"):
        reply = request(server.url, "POST", path, body=body, headers={"Content-Type": content_type, **headers})
        assert_error(reply, 403, *words, "Fix:")
    assert not any(server.store.root.iterdir())  # nothing was stored or restored
    assert get(server.url, "/api/models").status == 200


def test_browser_posts_need_the_custom_header(server):
    body, content_type = multipart(files=npy_file())
    same = {"Content-Type": content_type, "Origin": origin_of(server), "Sec-Fetch-Site": "same-origin"}
    # a same-origin browser request without X-Requested-With (what a plain form would send)
    assert_error(request(server.url, "POST", "/api/inspect", body=body, headers=same), 403, "X-Requested-With")
    # a browser without Origin / Sec-Fetch-* headers is still recognised by its user agent
    old_browser = {"Content-Type": content_type, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
    assert_error(request(server.url, "POST", "/api/inspect", body=body, headers=old_browser), 403,
                 "X-Requested-With")
    # the page's own requests
    for headers in (same, old_browser, {"Content-Type": content_type, "Sec-Fetch-Site": "none"}):
        reply = request(server.url, "POST", "/api/inspect", body=body,
                        headers={**headers, "X-Requested-With": "emrestore"})
        assert reply.status == 200, reply.body
    # clients outside a browser (curl, Python) send none of these headers and need none
    assert post_form(server.url, "/api/inspect", files=npy_file()).status == 200


def test_api_reads_from_other_sites_are_refused_but_the_page_opens(server):
    assert_error(get(server.url, "/api/models", headers={"Sec-Fetch-Site": "cross-site"}), 403, "cross-site")
    assert_error(get(server.url, "/api/config", headers={"Origin": "http://evil.example"}), 403)
    assert get(server.url, "/api/models", headers={"Sec-Fetch-Site": "same-origin"}).status == 200
    assert get(server.url, "/api/models", headers={"Sec-Fetch-Site": "none"}).status == 200
    # a link from another site to the page itself still works
    page = get(server.url, "/", headers={"Sec-Fetch-Site": "cross-site"})
    assert page.status == 200 and b"Drop an image" in page.body
    assert get(server.url, "/static/app.js", headers={"Sec-Fetch-Site": "same-origin"}).status == 200


def test_allowed_origins_get_cors(make_server):
    lims = "http://lims.example:9000"
    server = make_server(allow_origins=[lims + "/"])
    preflight = request(server.url, "OPTIONS", "/api/restore", headers={
        "Origin": lims, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-requested-with", "Sec-Fetch-Site": "cross-site"})
    assert preflight.status == 204
    assert preflight.headers["access-control-allow-origin"] == lims
    assert "X-Requested-With" in preflight.headers["access-control-allow-headers"]
    body, content_type = multipart(files=npy_file())
    reply = request(server.url, "POST", "/api/restore", body=body, headers={
        "Content-Type": content_type, "Origin": lims, "Sec-Fetch-Site": "cross-site",
        "X-Requested-With": "emrestore"})
    assert reply.status == 200, reply.body
    assert reply.headers["access-control-allow-origin"] == lims
    # another origin gets neither the preflight nor the API
    other = request(server.url, "OPTIONS", "/api/restore", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert other.status == 403 and "access-control-allow-origin" not in other.headers


def test_malformed_allowed_origin_is_a_parameter_error(make_server):
    from emrestore.errors import ParameterError

    for bad in ("lims.example", "ftp://lims.example", "http://lims.example/path"):
        with pytest.raises(ParameterError, match="--allow-origin"):
            make_server(allow_origins=[bad])


# ------------------------------------------------------------------ headers
def test_security_headers_on_every_response(server):
    for reply in (get(server.url, "/"), get(server.url, "/static/app.js"), get(server.url, "/api/models"),
                  get(server.url, "/api/nothing")):
        policy = reply.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert reply.headers["x-frame-options"] == "DENY"
        assert reply.headers["referrer-policy"] == "no-referrer"
        assert reply.headers["x-content-type-options"] == "nosniff"
    # the policy allows no inline script or style: the page has none
    html = get(server.url, "/").body.decode()
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.DOTALL | re.IGNORECASE)
    assert scripts and all(not body.strip() for body in scripts)
    assert all("src=" in tag for tag in re.findall(r"<script\b[^>]*>", html, flags=re.IGNORECASE))
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html, flags=re.IGNORECASE)


# ------------------------------------------------------------------ timeouts and connections
def open_raw(server, data: bytes, timeout: float = DEADLINE_S) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    connection.sendall(data)
    return connection


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never does)."""
    data = b""
    with connection:
        while True:
            try:
                chunk = connection.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk


def test_half_sent_requests_are_dropped(make_server):
    server = make_server(request_timeout_s=0.5)
    assert get(server.url, "/api/config").json()["request_timeout_s"] == 0.5
    # headers never finished: the connection is closed (the old server held it forever)
    assert read_until_closed(open_raw(server, b"POST /api/inspect HTTP/1.1\r\nHost: 127.0.0.1\r\n")) == b""
    # a body that stops arriving: 408 with the reason
    head = (b"POST /api/inspect HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n"
            b"Content-Type: multipart/form-data; boundary=xx\r\n\r\n--xx\r\n")
    reply = read_until_closed(open_raw(server, head))
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"stopped arriving" in reply
    assert get(server.url, "/api/models").status == 200
    assert not any(server.store.root.iterdir())


def test_connections_beyond_the_limit_get_503(make_server):
    server = make_server(max_connections=2, request_timeout_s=DEADLINE_S * 2)
    idle = [open_raw(server, b"GET /api/models HTTP/1.1\r\n") for _ in range(2)]  # each holds a thread
    try:
        reply = get(server.url, "/api/models")
        assert_error(reply, 503, "connections")
        assert reply.headers["retry-after"]
    finally:
        for connection in idle:
            connection.close()
    # the held threads end when their clients go away, and the server serves again
    wait_for(lambda: get(server.url, "/api/models").status == 200, "a free connection slot")


# ------------------------------------------------------------------ jobs: cancel, queue, cache
def test_running_job_is_cancelled_between_tiles(server, gate):
    started = post_form(server.url, "/api/restore", {"tile": "160", "wait": "0"}, npy_file((200, 300)))
    assert started.status == 202
    job = started.json()["job"]
    assert gate.inside.acquire(timeout=DEADLINE_S)  # the first batch of tiles is done
    status = job_status(server, job)
    assert status["state"] == "running" and status["tiles_total"] == 6 and not status["cancel_requested"]
    reply = request(server.url, "POST", f"/api/jobs/{job}/cancel")
    assert reply.status == 200 and reply.json()["cancel_requested"] is True
    gate.release.set()
    status = wait_finished(server, job)
    assert status["state"] == "cancelled", status
    assert status["status"] == 409 and "cancelled" in status["error"] and "Fix:" in status["error"]
    assert status["tiles_done"] < status["tiles_total"] == 6
    assert "result" not in status
    # cancelling again, or a finished job, changes nothing
    assert request(server.url, "POST", f"/api/jobs/{job}/cancel").json()["state"] == "cancelled"
    assert_error(request(server.url, "POST", f"/api/jobs/{'0' * 32}/cancel"), 404)


def test_waiting_job_is_cancelled_at_once_and_sync_request_says_so(make_server, gate):
    server = make_server(workers=1)
    first = post_form(server.url, "/api/restore", {"wait": "0"}, npy_file()).json()["job"]
    assert gate.inside.acquire(timeout=DEADLINE_S)
    second = post_form(server.url, "/api/restore", {"wait": "0"}, npy_file()).json()["job"]
    assert job_status(server, second)["state"] == "queued"
    assert request(server.url, "POST", f"/api/jobs/{second}/cancel").json()["state"] == "cancelled"

    # a synchronous request whose job is cancelled while it waits gets a 409
    replies = []
    waiting = threading.Thread(target=lambda: replies.append(
        post_form(server.url, "/api/restore", {}, npy_file())), daemon=True)
    waiting.start()
    third = wait_for(lambda: [e.id for e in list(server.store._entries.values())
                              if e.kind == "job" and e.id not in (first, second)], "the third job")[0]
    assert request(server.url, "POST", f"/api/jobs/{third}/cancel").status == 200
    waiting.join(DEADLINE_S)
    assert_error(replies[0], 409, "cancelled")

    gate.release.set()
    assert wait_finished(server, first)["state"] == "done"
    assert job_status(server, second)["state"] == "cancelled"
    assert job_status(server, second)["tiles_done"] == 0


def test_queue_of_waiting_jobs_is_bounded(make_server, gate):
    server = make_server(workers=1, max_queue=1)
    assert get(server.url, "/api/config").json()["max_queue"] == 1
    running = post_form(server.url, "/api/restore", {"wait": "0"}, npy_file()).json()["job"]
    waiting = post_form(server.url, "/api/restore", {"wait": "0"}, npy_file()).json()["job"]
    refused = post_form(server.url, "/api/restore", {"wait": "0"}, npy_file())
    assert_error(refused, 503, "busy", "--max-queue")
    assert refused.headers["retry-after"]
    jobs = [e for e in server.store._entries.values() if e.kind == "job"]
    assert len(jobs) == 2  # the refused job left nothing behind
    gate.release.set()
    for job in (running, waiting):
        assert wait_finished(server, job)["state"] == "done"
    assert post_form(server.url, "/api/restore", {"wait": "0"}, npy_file()).status == 202


def test_tile_sizes_are_validated_and_restorers_cached_boundedly(server):
    from emrestore.web.jobs import MAX_TILE_PX, MIN_TILE_PX
    from emrestore.web.models import RESTORER_CACHE_SIZE

    for tile in ("100", str(MAX_TILE_PX + 1), "1000000000"):
        assert_error(post_form(server.url, "/api/restore", {"tile": tile}, npy_file()), 400, "tile size",
                     str(MIN_TILE_PX))
    tiles = [MIN_TILE_PX + 32 * i for i in range(RESTORER_CACHE_SIZE + 3)]
    for tile in tiles:
        reply = post_form(server.url, "/api/restore", {"model": "hrstem", "tile": str(tile)}, npy_file())
        assert reply.status == 200 and reply.json()["tile"] == tile
        assert len(server.store.restorers._restorers) <= RESTORER_CACHE_SIZE
    assert list(server.store.restorers._restorers)[-1] == ("hrstem", tiles[-1])


# ------------------------------------------------------------------ stopping
def test_stop_returns_while_a_job_runs_and_deletes_the_folder(make_server, gate):
    server = make_server()
    job_id = post_form(server.url, "/api/restore", {"wait": "0"}, npy_file()).json()["job"]
    assert gate.inside.acquire(timeout=DEADLINE_S)  # the restoration is inside the network step
    job = server.store._entries[job_id]
    root = server.store.root
    assert root.exists()
    stopper = threading.Thread(target=server.stop, daemon=True)
    stopper.start()
    stopper.join(DEADLINE_S)
    assert not stopper.is_alive(), "stop() waited for the running restoration"
    assert not root.exists()
    assert job.cancel_event.is_set()
    gate.release.set()  # the worker goes on, sees the cancellation and cleans up after itself
    wait_for(lambda: job.future.done(), "the worker to end")
    assert job.state == "cancelled" and "server stopped" in job.error
    assert not root.exists()
    with pytest.raises(OSError):
        get(server.url, "/api/models")


def test_upload_that_hangs_its_parser_does_not_stop_the_server(make_server, shared):
    """A damaged HyperSpy header that makes h5py spin forever holding the GIL (found by fuzzing).

    Before, one such upload stopped every endpoint; now it is parsed in a killable child
    process: the server keeps answering while it runs and it ends in a clear error.
    """
    data = bytearray(shared("formats/example2_v3.1.hspy").read_bytes())
    data[2140:2140 + 3391] = bytes(3391)
    server = make_server(read_timeout_s=8)
    outcome: dict[str, object] = {}

    def upload() -> None:
        outcome["reply"] = post_form(server.url, "/api/inspect", files={"file": ("damaged.hspy", bytes(data))})

    thread = threading.Thread(target=upload, daemon=True)
    thread.start()
    answered = 0
    while thread.is_alive() and answered < 3:  # other requests are served during the parse
        assert get(server.url, "/api/models").status == 200
        answered += 1
    thread.join(DEADLINE_S * 4)
    assert not thread.is_alive()
    message = assert_error(outcome["reply"], 413, "damaged.hspy", "took longer than 8 s")
    assert "Fix:" in message
    assert get(server.url, "/api/config").status == 200
    assert not any(server.store.root.iterdir())
