"""Start-up benchmark: `import unifiedml` and `unifiedml --help` against `python -c pass`, in one run.

Each command runs ``--repeat`` times as a fresh process; the table shows the
median and best wall time and the ratio to the bare interpreter. It also
reports which vendor SDKs each command imported (the goal: none).

    python benchmarks/startup.py [--repeat 15] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

VENDORS = ["tensorflow", "keras", "boto3", "botocore", "google.cloud.aiplatform", "azure.ai.ml", "huggingface_hub"]

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import unifiedml": [sys.executable, "-c", "import unifiedml"],
    "import unifiedml; Client": [sys.executable, "-c", "import unifiedml; unifiedml.Client"],
    "unifiedml --help": [sys.executable, "-m", "unifiedml.cli.main", "--help"],
}

PROBE = {
    "import unifiedml": "import sys, unifiedml",
    "import unifiedml; Client": "import sys, unifiedml; unifiedml.Client",
    "unifiedml --help": (
        "import sys\nfrom unifiedml.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass"
    ),
}


def time_once(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def vendors_loaded(code: str) -> list[str]:
    probe = code + f"\nprint([v for v in {VENDORS!r} if v in sys.modules])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1].replace("'", '"'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()

    for cmd in CASES.values():  # warm the OS file cache once
        time_once(cmd)
    results = {}
    for label, cmd in CASES.items():
        samples = [time_once(cmd) for _ in range(args.repeat)]
        results[label] = {"median_s": statistics.median(samples), "best_s": min(samples)}
    base = results["python -c pass"]["median_s"]
    print(f"{'command':28} {'median':>9} {'best':>9} {'x python':>9}  vendor SDKs imported")
    for label, r in results.items():
        r["ratio_to_python"] = r["median_s"] / base
        r["vendors"] = vendors_loaded(PROBE[label]) if label in PROBE else []
        print(
            f"{label:28} {r['median_s'] * 1000:8.0f}ms {r['best_s'] * 1000:8.0f}ms {r['ratio_to_python']:8.1f}x  "
            f"{', '.join(r['vendors']) or 'none'}"
        )
    help_s = results["unifiedml --help"]["median_s"]
    print(f"\ngoal: `unifiedml --help` within 0.3 s -> {help_s:.3f} s ({'met' if help_s <= 0.3 else 'MISSED'})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
