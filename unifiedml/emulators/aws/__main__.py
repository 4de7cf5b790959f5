"""``python -m unifiedml.emulators.aws --port 5005``: run the AWS emulator until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from unifiedml.emulators.aws.server import AwsEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m unifiedml.emulators.aws", description=__doc__)
    parser.add_argument("--port", type=int, default=5005)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--training-delay", type=float, default=2.0)
    parser.add_argument(
        "--run-training",
        action="store_true",
        help="really run uploaded entry points with SM_* variables (else placeholder artifacts)",
    )
    parser.add_argument(
        "--serve-models",
        action="store_true",
        help="answer invoke_endpoint with the real SavedModel (needs TensorFlow)",
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of calls answered with throttling"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    emulator = AwsEmulator(
        port=args.port,
        host=args.host,
        training_delay=args.training_delay,
        run_training=args.run_training,
        serve_models=args.serve_models,
        fault_rate=args.fault_rate,
    ).start()
    sys.stdout.write(
        f"AWS emulator on {emulator.url}\nexport AWS_ENDPOINT_URL={emulator.url} "
        "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1\n"
    )
    sys.stdout.flush()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
