"""Reading and writing microscope files (filled in below)."""
from .api import read, write  # noqa: F401
