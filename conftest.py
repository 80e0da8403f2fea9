"""Root conftest: lets nbval execute the book's MyST Markdown notebooks.

The collector lives in ``tests/nbval_myst.py``: it reads each ``.md`` chapter
with MyST-NB's reader and, with ``--nb-cache``, stores the executed chapter
for the book build, so that ``make test`` runs every chapter once.
"""
from __future__ import annotations

import os

os.environ.setdefault("COMPANION_PROFILE", "quick")  # tests run the quick profile
# The tests run notebooks side by side (two nbval workers). The quick-profile
# models are tiny, and two multi-threaded kernels on two cores oversubscribe
# the CPU: PyTorch training then slows down more than tenfold. One thread per
# kernel (inherited by every kernel the tests start) avoids it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
# TensorFlow's start-up notices (oneDNN, CPU features) are INFO messages, one
# set per kernel; level 1 hides INFO only, so its warnings and errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

pytest_plugins = ["tests.nbval_myst"]
