"""The one model the app serves, loaded once in a background thread so that the page opens at once."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacer_core.infer import SpatialReasoner

# Every event that runs the model shares this concurrency id (limit 1): one model call at a time.
MODEL_QUEUE = "model"
# A model this small answers faster on one CPU thread: its matrices are too small to share out, and
# threads wait at every barrier (benchmarks/bench_ask.py, the tiny model on 2 cores: slowest Ask 1.3 s
# on one thread, 2.8 s on two). The other cores stay free for a Train tab run.
ONE_THREAD_BELOW = 50_000_000  # parameters


class ModelNotReady(RuntimeError):
    """The model failed to load; the message says why."""


class ModelHost:
    """Starts loading ``name`` (tiny, a checkpoint folder or a hub id) when created; `get` waits for
    it. `switch` loads another model the same way (the Train tab hands its trained model over)."""

    def __init__(self, name: str):
        self._lock = threading.Lock()
        self._one_load = threading.Lock()  # from_pretrained is not safe to run twice at once in a process
        self.switch(name)

    def switch(self, name: str) -> None:
        """Load ``name`` in the background; calls already running keep the model they got, later
        ones wait for the new one. A newer switch supersedes a load still under way."""
        with self._lock:
            self.name = name
            self._reasoner: SpatialReasoner | None = None
            self._one_thread = False  # run it on one torch thread (ONE_THREAD_BELOW)
            self._error: str | None = None
            self._started = time.monotonic()
            self._loaded_in: float | None = None
            self._ready = threading.Event()
            self._loading = object()
            threading.Thread(target=self._load, args=(name, self._loading, self._ready), name=f"load {name}",
                             daemon=True).start()

    def _load(self, name: str, token: object, ready: threading.Event) -> None:
        reasoner = error = None
        one_thread = False
        with self._one_load:
            try:
                if token is self._loading:  # else superseded while waiting: skip it
                    from spacer_core.infer import SpatialReasoner

                    reasoner = SpatialReasoner.from_pretrained(name)
                    model = reasoner.model
                    one_thread = model.device.type == "cpu" and \
                        sum(p.numel() for p in model.parameters()) < ONE_THREAD_BELOW
            except Exception as err:  # shown in the header and raised to every model call
                error = f"{type(err).__name__}: {err}"
        with self._lock:
            if token is self._loading:
                self._reasoner, self._error, self._one_thread = reasoner, error, one_thread
                self._loaded_in = time.monotonic() - self._started
        ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def get(self, timeout: float | None = None) -> SpatialReasoner:
        """The loaded reasoner (waits for loading to finish); raises ModelNotReady if it failed."""
        return self.current(timeout)[1]

    def current(self, timeout: float | None = None) -> tuple[str, SpatialReasoner]:
        """(name, reasoner) of the loaded model, read together (a switch may come at any time). A
        model smaller than ONE_THREAD_BELOW on CPU is run on one torch thread from the calling
        thread on (torch keeps the count per thread: the one that runs the model sets it)."""
        while True:
            ready, name = self._ready, self.name
            if not ready.wait(timeout):
                raise ModelNotReady(f"model {name} is still loading")
            with self._lock:
                if ready is not self._ready:  # switched while waiting: wait for the new model
                    continue
                if self._reasoner is None:
                    raise ModelNotReady(f"model {name} could not be loaded: {self._error}")
                name, reasoner, one_thread = self.name, self._reasoner, self._one_thread
            if one_thread:
                import torch

                torch.set_num_threads(1)
            return name, reasoner

    def status(self) -> str:
        """One line of Markdown for the page header."""
        with self._lock:
            name, reasoner, error = self.name, self._reasoner, self._error
            ready, started, loaded_in = self._ready.is_set(), self._started, self._loaded_in
        if not ready:
            return f"Loading model **{name}** … ({time.monotonic() - started:.0f} s)"
        if reasoner is None:
            return f"⚠ Model **{name}** could not be loaded: `{error}`"
        model, video = reasoner.model, reasoner.video
        params = sum(p.numel() for p in model.parameters())
        size = f"{params / 1e9:.1f} B" if params >= 1e9 else f"{params / 1e6:.1f} M"
        frames = f"{video.nframes} frames" if video.nframes else f"≤ {video.max_frames} frames at {video.fps:g} fps"
        return (f"● Model **{name}** ready · {size} parameters · {model.device} · "
                f"default {frames} · loaded in {loaded_in:.0f} s")
