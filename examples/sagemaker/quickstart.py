"""The quickstart on SageMaker: train the penguins classifier, deploy it, predict, clean up.

Against AWS (needs credentials, an execution role and a bucket in the region):

    python examples/sagemaker/quickstart.py --role-arn arn:aws:iam::<acct>:role/<Role> --bucket <bucket>

Against the local AWS emulator, with no account (one flag, or UNIFIEDML_AWS_EMULATOR=1):

    python examples/sagemaker/quickstart.py --emulator

The training script is examples/quickstart/train.py, unchanged: it only talks to unifiedml.runtime.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from unifiedml import Client, TrainingSpec
from unifiedml.specs import DeploymentSpec

HERE = Path(__file__).resolve().parent
QUICKSTART = HERE.parent / "quickstart"
ROWS = [
    {
        "bill_length_mm": 39.1,
        "bill_depth_mm": 18.7,
        "flipper_length_mm": 181.0,
        "body_mass_g": 3750.0,
        "island": "Torgersen",
        "sex": "male",
    },
    {
        "bill_length_mm": 46.5,
        "bill_depth_mm": 17.9,
        "flipper_length_mm": 192.0,
        "body_mass_g": 3500.0,
        "island": "Dream",
        "sex": "female",
    },
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--emulator",
        action="store_true",
        default=os.environ.get("UNIFIEDML_AWS_EMULATOR") == "1",
        help="run against the local AWS emulator (also: UNIFIEDML_AWS_EMULATOR=1)",
    )
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--role-arn", default=os.environ.get("SAGEMAKER_ROLE_ARN"))
    parser.add_argument("--bucket", default=os.environ.get("SAGEMAKER_BUCKET"))
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    emulator = None
    settings: dict[str, object] = {"region": args.region, "role_arn": args.role_arn, "bucket": args.bucket}
    if args.emulator:
        from unifiedml.emulators.aws import AwsEmulator

        # The emulator really runs train.py with SageMaker's SM_* variables and serves the SavedModel.
        emulator = AwsEmulator(training_delay=1.0, run_training=True, serve_models=True).start()
        os.environ.update(emulator.env(args.region))
        settings.update(
            role_arn="arn:aws:iam::123456789012:role/EmulatedSageMakerRole",
            bucket="uml-example",
            endpoint_url=emulator.url,
            poll_initial=0.5,
            poll_cap=2.0,
            log_poll=0.5,
        )
        import boto3

        boto3.client("s3", endpoint_url=emulator.url, region_name=args.region).create_bucket(
            Bucket="uml-example"
        )
    try:
        client = Client("sagemaker", project="quickstart", **settings)
        job = client.train(
            TrainingSpec(
                entry_point=str(QUICKSTART / "train.py"),
                inputs={"train": str(QUICKSTART / "data" / "penguins.csv")},
                hyperparameters={"epochs": args.epochs},
                resources={"size": "cpu-small"},
            )
        )
        print(f"training job {job.name} ({job.id})")
        job = client.provider.wait_for_job(job.name, timeout=3600)  # streams the CloudWatch log
        print(f"model artifact: {job.model.artifact_uri}")
        endpoint = client.deploy(job.model, DeploymentSpec(name="penguins-quickstart")).wait(timeout=1800)
        print(f"endpoint {endpoint.name} is {endpoint.status.value}")
        print("predictions:", client.predict(endpoint, ROWS).predictions)
        rows = list(client.provider.capture_records(endpoint.name))
        print(f"{len(rows)} captured rows for drift checks")
        client.delete_endpoint(endpoint.name)
        print("endpoint, its configuration and model deleted")
    finally:
        if emulator is not None:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
