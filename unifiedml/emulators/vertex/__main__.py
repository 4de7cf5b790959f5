"""``python -m unifiedml.emulators.vertex [--port P] [--gcs-port G] [--bucket B]``: run the emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from unifiedml.emulators.vertex.server import VertexEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unifiedml.emulators.vertex", description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--gcs-port", type=int, default=9023)
    parser.add_argument("--bucket", action="append", default=[], help="create this bucket (repeatable)")
    parser.add_argument("--job-delay", type=float, default=1.0)
    parser.add_argument("--no-run-training", action="store_true", help="write placeholder models")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    emulator = VertexEmulator(port=args.port, gcs_port=args.gcs_port, job_delay=args.job_delay,
                              run_training=not args.no_run_training).start()
    for bucket in args.bucket:
        emulator.create_bucket(bucket)
    logging.getLogger(__name__).info(
        "Vertex AI emulator ready: api_endpoint=%s storage_endpoint=%s", emulator.url, emulator.gcs_url
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
