"""Headless Qt and OpenGL for the napari plugin tests.

Qt needs a display and napari's canvas needs OpenGL. ``QT_QPA_PLATFORM=offscreen`` has
no OpenGL (vispy fails in ``glGetParameter``), so where no ``DISPLAY`` is set and
``Xvfb`` is installed (``.ci/run`` installs it with Mesa's software GL), the first test
here starts a private virtual X server for this session. Qt exits the process when its X
server goes away, so the server is not killed while a QApplication may be connected: it
stops by itself when pytest exits (``-terminate`` on the last client's disconnect, and a
parent-death signal on Linux), and is terminated at once if Qt never started. Without
Xvfb, Qt runs offscreen: the widget tests still run (they need no canvas) and the viewer
tests skip, naming what is missing.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest

#: How long the X server may take to start before the tests give up on it [s] (it takes
#: well under a second; the margin only catches a hung server).
XVFB_START_TIMEOUT_S = 30
#: Why there is no OpenGL, when the display fixture already knows (no Xvfb).
_NO_GL_REASON: list[str] = []


def _parent_death_signal() -> Callable[[], None] | None:
    """A function for the child, between fork and exec, that asks Linux to send it SIGTERM
    when pytest exits (PR_SET_PDEATHSIG); None elsewhere. Looked up here, in the parent, so
    that the child only calls into libc (no imports, no locks)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _start_xvfb() -> tuple[subprocess.Popen | None, str]:
    """Start ``Xvfb`` on a free display; (process, why not) -- process None on failure."""
    binary = shutil.which("Xvfb")
    if binary is None:
        return None, "Xvfb is not installed (apt-get install xvfb)"
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [binary, "-displayfd", str(write_end), "-screen", "0", "1280x1024x24", "-nolisten", "tcp",
             "+extension", "GLX", "-terminate"],
            pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_parent_death_signal())  # noqa: PLW1509 -- calls only prctl, before Qt starts threads
    finally:
        os.close(write_end)
    number = b""
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([pipe], [], [], XVFB_START_TIMEOUT_S)
            chunk = pipe.read(16) if ready else b""
            if not chunk:
                break
            number += chunk
    if not number.strip().isdigit():
        process.terminate()
        process.wait(XVFB_START_TIMEOUT_S)
        return None, "Xvfb did not start"
    return process, f":{number.strip().decode()}"


@pytest.fixture(scope="session", autouse=True)
def headless_display() -> Iterator[str]:
    """Where Qt draws in these tests: the user's display, a private Xvfb, or offscreen."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        yield "existing display"
        return
    process, where = _start_xvfb()
    if process is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        _NO_GL_REASON.append(f"no OpenGL: no display and {where}")
        yield "offscreen"
        return
    os.environ["DISPLAY"] = where
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    yield f"Xvfb {where}"
    try:
        from qtpy.QtWidgets import QApplication

        connected = QApplication.instance() is not None
    except ImportError:  # no Qt binding: nothing can have connected
        connected = False
    if not connected:  # nothing is connected: stop the server now
        process.terminate()
        try:
            process.wait(XVFB_START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
        del os.environ["DISPLAY"]


def _opengl_problem() -> str | None:
    """Why napari's canvas cannot draw here, or None when OpenGL works."""
    if _NO_GL_REASON:
        return _NO_GL_REASON[0]
    from qtpy.QtGui import QOffscreenSurface, QOpenGLContext

    context = QOpenGLContext()
    if not context.create():
        return "no OpenGL: Qt could not create an OpenGL context"
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    try:
        if not context.makeCurrent(surface):
            return "no OpenGL: the OpenGL context cannot be made current"
        from OpenGL import GL

        version = GL.glGetString(GL.GL_VERSION)
        if not version:
            return f"no OpenGL: glGetString returns nothing on Qt's '{os.environ.get('QT_QPA_PLATFORM')}' platform"
    finally:
        context.doneCurrent()
        surface.destroy()
    return None


@pytest.fixture(scope="session")
def opengl(headless_display: str, qapp) -> str:
    """Skip the test unless napari's canvas can draw (OpenGL through Qt)."""
    problem = _opengl_problem()
    if problem:
        pytest.skip(f"{problem} ({headless_display}); install xvfb and libgl1-mesa-dri, see .ci/run")
    return headless_display


@pytest.fixture
def make_viewer(opengl: str, make_napari_viewer):
    """napari's ``make_napari_viewer`` (hidden by default; ``show=True`` to draw the canvas),
    skipping the test where OpenGL cannot be had."""
    return make_napari_viewer
