"""Real SavedModels behind the emulators' prediction calls: unifiedml's local model server, one per artifact.

An emulator that is asked to serve models (``serve_models=True``) hands this
pool an artifact URI and a function that copies the artifact's files into a
folder; the pool finds the SavedModel in it, starts
``python -m unifiedml.providers.local.server`` on a free port of 127.0.0.1
(the same TF Serving-compatible server the local backend runs) and keeps it
until the emulator resets. Starting TensorFlow takes seconds, which is why
serving is off unless a test asks for it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["ModelServers"]

#: Copies an artifact's files into the given (empty, existing) folder.
Fetch = Callable[[Path], None]


class ModelServers:
    """Local model servers, one per model artifact, started on first use and kept until :meth:`stop_all`."""

    def __init__(self, *, start_timeout: float = 180.0) -> None:
        self._servers: dict[str, tuple[subprocess.Popen[bytes], int, Path]] = {}
        self._lock = threading.Lock()
        self.start_timeout = start_timeout

    def port_for(self, artifact: str, fetch: Fetch, python: str | None = None) -> int | None:
        """The port of a running server for ``artifact``; None when its files hold no SavedModel.

        Blocking (the first call per artifact copies it and waits for the
        server to load the model). Raises RuntimeError when the server fails
        to start, with its reason.
        """
        with self._lock:
            found = self._servers.get(artifact)
            if found is not None and found[0].poll() is None:
                return found[1]
            from unifiedml.providers.local.layout import find_savedmodel

            root = Path(tempfile.mkdtemp(prefix="uml-emulated-model-"))
            (root / "model").mkdir()
            fetch(root / "model")
            saved = find_savedmodel(root / "model")
            if saved is None:
                shutil.rmtree(root, ignore_errors=True)
                return None
            ready = root / "ready.json"
            config = {"name": "emulated", "model_name": "model", "model_dir": str(saved), "host": "127.0.0.1",
                      "port": 0, "ready_file": str(ready)}
            (root / "server.json").write_text(json.dumps(config))
            with open(root / "server.log", "ab") as log:
                proc = subprocess.Popen(
                    [python or sys.executable, "-m", "unifiedml.providers.local.server", "--config",
                     str(root / "server.json")],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                )
            deadline = time.monotonic() + self.start_timeout
            while time.monotonic() < deadline and not ready.exists() and proc.poll() is None:
                time.sleep(0.1)
            info = json.loads(ready.read_text()) if ready.exists() else {"error": "the model server did not start"}
            if "error" in info:
                proc.kill()
                raise RuntimeError(f"model server failed: {info['error']}")
            self._servers[artifact] = (proc, int(info["port"]), root)
            return int(info["port"])

    def stop_all(self) -> None:
        """Stop every server and remove its files. Idempotent."""
        with self._lock:
            for proc, _, _ in self._servers.values():
                proc.terminate()
            for proc, _, root in self._servers.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                shutil.rmtree(root, ignore_errors=True)
            self._servers.clear()
