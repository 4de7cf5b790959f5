"""Apply benchmark: 12 endpoints across providers, with injected per-call latency, in one run.

Compares, on the same machine and emulator settings:

* the slowest *single* deployment (one SageMaker endpoint alone, one local
  TensorFlow endpoint alone), each applied from its own file;
* ``unifiedml apply`` of 12 endpoints (10 on SageMaker through the AWS
  emulator with ``--latency`` seconds added to every API call and endpoints
  taking ``--endpoint-delay`` seconds to come into service, 2 local TensorFlow
  endpoints) with ``--parallelism 12``, and the same file with parallelism 1
  (the sum: what a sequential tool would take).

Goal (issue 7): the parallel apply within 1.3x of the slowest single deployment.

    python benchmarks/apply_parallel.py [--latency 0.05] [--endpoint-delay 2.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::123456789012:role/UnifiedMLBench"
BUCKET = "uml-bench"


def _config(path: Path, *, project: str, sagemaker: list[str], local: list[str], emulator_url: str,
            savedmodel: str) -> Path:
    lines = [
        f"project: {project}",
        "providers:",
        "  local: {}",
        "  sagemaker:",
        "    region: us-east-1",
        f"    role_arn: {ROLE}",
        f"    bucket: {BUCKET}",
        f"    endpoint_url: {emulator_url}",
        "    poll_initial: 0.1",
        "    poll_cap: 0.5",
        "models:",
        "  sm-model:",
        "    provider: sagemaker",
        f"    artifact: s3://{BUCKET}/models/model.tar.gz",
        "  local-model:",
        "    provider: local",
        f"    artifact: {savedmodel}",
        "endpoints:" if (sagemaker or local) else "endpoints: {}",
    ]
    for name in sagemaker:
        lines += [f"  {name}:", "    model: sm-model", "    instance_type: ml.m5.large"]
    for name in local:
        lines += [f"  {name}:", "    model: local-model", "    capture: false"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _timed_apply(cfg: Path, parallelism: int) -> float:
    from unifiedml.deploy import DeploySession

    session = DeploySession.from_file(cfg)
    start = time.perf_counter()
    result = session.apply(parallelism=parallelism, wait_timeout=600)
    took = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"apply failed: {[(i.name, str(e)) for i, e in result.failed]}")
    session.destroy(parallelism=12)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every AWS API call")
    parser.add_argument("--endpoint-delay", type=float, default=2.0, help="seconds an endpoint stays Creating")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="uml-apply-bench-"))
    os.environ["UNIFIEDML_HOME"] = str(work / "home")
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1", "TF_CPP_MIN_LOG_LEVEL": "2"})
    import boto3

    from unifiedml import Client, TrainingSpec
    from unifiedml.emulators.aws import AwsEmulator

    print("preparing: a real SavedModel for the local endpoints, a model artifact in emulated S3 ...")
    job = Client("local", home=work / "model-home").train(
        TrainingSpec.tabular(data=str(REPO / "examples/quickstart/data/penguins.csv"), target="species", epochs=1))
    job.wait(timeout=600, progress=False)
    savedmodel = job.model.extra["path"]

    emulator = AwsEmulator(endpoint_delay=args.endpoint_delay).start()
    try:
        s3 = boto3.client("s3", endpoint_url=emulator.url, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        blob = io.BytesIO()
        with tarfile.open(fileobj=blob, mode="w:gz") as tar:
            data = b"placeholder"
            info = tarfile.TarInfo("model/1/placeholder.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        s3.put_object(Bucket=BUCKET, Key="models/model.tar.gz", Body=blob.getvalue())
        emulator.configure(latency=args.latency)

        sm_names = [f"sm-{i:02d}" for i in range(10)]
        local_names = ["local-a", "local-b"]
        results: dict[str, float] = {}
        results["single sagemaker endpoint"] = _timed_apply(
            _config(work / "one-sm.yaml", project="bench-one-sm", sagemaker=["sm-solo"], local=[],
                    emulator_url=emulator.url, savedmodel=savedmodel), 1)
        results["single local endpoint"] = _timed_apply(
            _config(work / "one-local.yaml", project="bench-one-local", sagemaker=[], local=["local-solo"],
                    emulator_url=emulator.url, savedmodel=savedmodel), 1)
        twelve = _config(work / "twelve.yaml", project="bench-twelve", sagemaker=sm_names, local=local_names,
                         emulator_url=emulator.url, savedmodel=savedmodel)
        results["12 endpoints, parallelism 12"] = _timed_apply(twelve, 12)
        twelve_sm = _config(work / "twelve-sm.yaml", project="bench-twelve-sm",
                            sagemaker=[*sm_names, "sm-10", "sm-11"], local=[], emulator_url=emulator.url,
                            savedmodel=savedmodel)
        results["12 SageMaker endpoints, parallelism 12"] = _timed_apply(twelve_sm, 12)
        results["12 endpoints, parallelism 1 (sequential)"] = _timed_apply(twelve, 1)
    finally:
        emulator.stop()

    slowest = max(results["single sagemaker endpoint"], results["single local endpoint"])
    print(f"\nper-call latency {args.latency}s, endpoint creation {args.endpoint_delay}s, 2 cores")
    print(f"{'run':45} {'wall':>8} {'x slowest single':>17}")
    for label, took in results.items():
        print(f"{label:45} {took:7.2f}s {took / slowest:16.2f}x")
    ratio = results["12 endpoints, parallelism 12"] / slowest
    sm_ratio = results["12 SageMaker endpoints, parallelism 12"] / results["single sagemaker endpoint"]
    print(f"\ngoal: 12 endpoints within 1.3x of the slowest single deployment -> {ratio:.2f}x "
          f"({'met' if ratio <= 1.3 else 'MISSED'})")
    print(f"12 SageMaker endpoints vs one SageMaker endpoint (I/O-bound part alone): {sm_ratio:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "ratio": ratio, "sagemaker_only_ratio": sm_ratio,
                                               "latency": args.latency, "endpoint_delay": args.endpoint_delay},
                                              indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
