"""The quickstart on Vertex AI: train the penguins classifier, deploy it, predict, read the logged traffic, clean up.

Against Google Cloud (Application Default Credentials, a project, a region and a staging bucket):

    gcloud auth application-default login
    python examples/vertex/quickstart.py --gcp-project my-project --region us-central1 --bucket my-bucket

Against the local Vertex AI emulator, with no account (one flag, or UNIFIEDML_VERTEX_EMULATOR=1):

    python examples/vertex/quickstart.py --emulator

The training script is examples/quickstart/train.py, unchanged: it only talks to unifiedml.runtime.
The emulator really runs it (with AIP_MODEL_DIR) and stores the SavedModel in its GCS; its
predictions come from a stub (the mean of each row's numbers), not from the model.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from unifiedml import Client, TrainingSpec
from unifiedml.specs import DeploymentSpec

HERE = Path(__file__).resolve().parent
QUICKSTART = HERE.parent / "quickstart"
ROWS = [
    {"bill_length_mm": 39.1, "bill_depth_mm": 18.7, "flipper_length_mm": 181.0, "body_mass_g": 3750.0,
     "island": "Torgersen", "sex": "male"},
    {"bill_length_mm": 46.5, "bill_depth_mm": 17.9, "flipper_length_mm": 192.0, "body_mass_g": 3500.0,
     "island": "Dream", "sex": "female"},
]


class _EmulatorLog:
    """Stands in for BigQuery: answers the request-response logging query from the emulator's rows."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator

    def run(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in self.emulator.logged_rows() if r["endpoint"] == params["endpoint"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emulator", action="store_true", default=os.environ.get("UNIFIEDML_VERTEX_EMULATOR") == "1",
                        help="run against the local Vertex AI emulator (also: UNIFIEDML_VERTEX_EMULATOR=1)")
    parser.add_argument("--gcp-project", default=os.environ.get("GOOGLE_CLOUD_PROJECT"))
    parser.add_argument("--region", default=os.environ.get("GOOGLE_CLOUD_REGION", "us-central1"))
    parser.add_argument("--bucket", default=os.environ.get("VERTEX_STAGING_BUCKET"))
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    emulator = None
    settings: dict[str, Any] = {"gcp_project": args.gcp_project, "region": args.region,
                                "staging_bucket": args.bucket}
    if args.emulator:
        from unifiedml.emulators.vertex import VertexEmulator

        emulator = VertexEmulator(job_delay=1.0, run_training=True).start()
        emulator.create_bucket("uml-example")
        settings.update(gcp_project="uml-emulated", staging_bucket="gs://uml-example", api_endpoint=emulator.url,
                        storage_endpoint=emulator.gcs_url, logging_endpoint=emulator.url, credentials="anonymous",
                        poll_initial=0.5, poll_cap=2.0, log_poll=0.5)
    try:
        client = Client("vertex", project="quickstart", **settings)
        job = client.train(TrainingSpec(
            entry_point=str(QUICKSTART / "train.py"),
            inputs={"train": str(QUICKSTART / "data" / "penguins.csv")},
            hyperparameters={"epochs": args.epochs},
            resources={"size": "cpu-small"},
        ))
        print(f"training job {job.name} ({job.id})")
        job = client.provider.wait_for_job(job.name, timeout=3600)  # streams the job's Cloud Logging lines
        print(f"model artifact: {job.model.artifact_uri}")
        endpoint = client.deploy(job.model, DeploymentSpec(name="penguins-quickstart")).wait(timeout=1800)
        print(f"endpoint {endpoint.name} is {endpoint.status.value}")
        print("predictions:", client.predict(endpoint, ROWS).predictions)
        if emulator is not None:
            rows = list(client.provider.capture_records(endpoint.name, runner=_EmulatorLog(emulator)))
            print(f"{len(rows)} logged rows for drift checks")
        else:
            print("logged requests land in BigQuery; read them with capture_records(..., runner=BigQueryRunner(...))")
        client.delete_endpoint(endpoint.name)
        print("endpoint undeployed and deleted, model deleted")
    finally:
        if emulator is not None:
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
