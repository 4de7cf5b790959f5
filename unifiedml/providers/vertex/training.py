"""Vertex AI custom training: CustomJob from a packaged entry folder, logs, stop, delete."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from unifiedml.errors import NotFound
from unifiedml.providers.base import TAG_PROJECT, Capability
from unifiedml.providers.content import resolve_inputs
from unifiedml.providers.vertex import images, naming, packaging
from unifiedml.providers.vertex.common import (
    _STATE,
    _STATE_NAMES,
    _js,
    _now,
    _ts,
)
from unifiedml.providers.vertex.errors import PROVIDER, call, no_retry
from unifiedml.resources import Model, Status, TrainingJob
from unifiedml.specs import DataRef, TrainingSpec

logger = logging.getLogger(__name__)

__all__ = ["TrainingMixin"]


class TrainingMixin:
    """Vertex AI custom training: CustomJob from a packaged entry folder, logs, stop, delete.

    A mixin of :class:`~unifiedml.providers.vertex.provider.VertexProvider`, whose clients,
    settings and operation helpers it uses.
    """

    # -- training -------------------------------------------------------------------------
    def _resolve_inputs(self, inputs: dict[str, DataRef], *, field: str) -> dict[str, tuple[str, Path | None]]:
        """Check every input before any upload or create: local paths exist, gs:// URIs hold objects."""
        return resolve_inputs(
            inputs, field=field, scheme="gs", platform="Vertex AI", provider=PROVIDER,
            check_remote=lambda uri, where: packaging.check_gcs_uri(self.client("storage"), uri, field=where),
        )

    def _upload_inputs(self, resolved: dict[str, tuple[str, Path | None]], *, files: bool = False) -> dict[str, str]:
        """gs:// locations of the inputs: folders (channels are folders everywhere), or files when ``files``."""
        out = {}
        for channel, (uri, path) in resolved.items():
            if path is None:
                out[channel] = uri
            else:
                prefix, _ = packaging.upload_data(self.client("storage"), path, data_root=self.gcs_root("data"))
                out[channel] = prefix + path.name if files and path.is_file() else prefix
        return out

    def _train(self, spec: TrainingSpec, *, name: str, tags: dict[str, str]) -> TrainingJob:
        """Create the CustomJob (non-blocking). Validates everything first; a retried create finds the job."""
        self._check()
        naming.check_labels(spec.tags)
        res = spec.resources
        machine, accel, count = images.machine_for(res.size, res.instance_type, res.accelerator_type,
                                                   res.accelerator_count, default=self.settings.training_machine_type,
                                                   field="resources")
        if accel:
            self.require(Capability.GPU)
        image = self.settings.training_image or images.training_image(
            self.region, spec.framework_version or self.settings.framework_version, gpu=bool(accel))
        package = packaging.build_package(spec)
        resolved = self._resolve_inputs(spec.inputs, field="inputs")
        existing = call(lambda: self._find("job", "list_custom_jobs", "customJobs", name),
                        what=f"look up training job {name}")
        if existing is not None:
            return self._job_handle(existing)
        storage = self.client("storage")
        package_uri = self.gcs_root("source", package.sha256, package.filename)
        packaging.upload_if_absent(storage, package_uri, package.data)
        channels = self._upload_inputs(resolved)
        v1 = self._types()
        env = [v1.EnvVar(name=k, value=v) for k, v in sorted(spec.environment.items())]
        for channel, uri in sorted(channels.items()):
            # Training containers mount buckets at /gcs/ (Cloud Storage FUSE); the runtime reads UML_CHANNEL_*.
            env.append(v1.EnvVar(name=f"UML_CHANNEL_{channel.upper().replace('-', '_')}",
                                 value="/gcs/" + uri.removeprefix("gs://").rstrip("/")))
        args = [*spec.args] + [
            f"--{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in spec.hyperparameters.items()
        ]
        machine_spec = v1.MachineSpec(machine_type=machine)
        if accel:
            machine_spec.accelerator_type = getattr(v1.AcceleratorType, accel)
            machine_spec.accelerator_count = count
        python_spec = v1.PythonPackageSpec(executor_image_uri=image, package_uris=[package_uri],
                                           python_module=package.module, args=args, env=env)
        pools = [v1.WorkerPoolSpec(machine_spec=machine_spec, replica_count=1, python_package_spec=python_spec,
                                   disk_spec=v1.DiskSpec(boot_disk_type="pd-ssd", boot_disk_size_gb=100))]
        if res.instance_count > 1:
            pools.append(v1.WorkerPoolSpec(machine_spec=machine_spec, replica_count=res.instance_count - 1,
                                           python_package_spec=python_spec))
        scheduling = v1.Scheduling(timeout=spec.max_runtime)
        if spec.spot:
            scheduling.strategy = v1.Scheduling.Strategy.SPOT
        job_spec = v1.CustomJobSpec(
            worker_pool_specs=pools,
            base_output_directory=v1.GcsDestination(output_uri_prefix=self.gcs_root("jobs", name)),
            scheduling=scheduling,
        )
        if self.settings.service_account:
            job_spec.service_account = self.settings.service_account
        job = v1.CustomJob(display_name=name, labels=naming.to_labels(tags), job_spec=job_spec)
        options = spec.options_for(self.name)
        if options:  # the escape hatch: CustomJob JSON fields (camelCase) merged over ours
            merged = {**_js(job), **options}
            job = v1.CustomJob.from_json(json.dumps(merged))
        created, _ = self._create_once(
            lambda: self._find("job", "list_custom_jobs", "customJobs", name),
            lambda: _js(self.client("job").create_custom_job(parent=self.parent, custom_job=job, **no_retry())),
            what=f"create training job {name}",
        )
        self.state.add_event(provider=self.name, kind="training_job", name=name, event="job_start",
                             attrs={"instance_type": machine, "instance_count": res.instance_count,
                                    "accelerator": accel, "accelerator_count": count, "spot": spec.spot})
        return self._job_handle(created)

    def _describe_job(self, name: str) -> dict[str, Any]:
        try:
            record = self.state.get_resource(self.name, "training_job", name)
            native = record.native_id
        except NotFound:
            native = None
        if native:
            try:
                return call(lambda: _js(self.client("job").get_custom_job(name=native, **no_retry())),
                            what=f"get training job {name}")
            except NotFound:
                pass
        found = call(lambda: self._find("job", "list_custom_jobs", "customJobs", name),
                     what=f"look up training job {name}")
        if found is None:
            raise NotFound(f"no Vertex AI training job named {name!r}", provider=PROVIDER,
                           hint="list jobs with `unifiedml jobs list --provider vertex`")
        return found

    def _get_training_job(self, name: str) -> TrainingJob:
        return self._job_handle(self._describe_job(name))

    def _job_handle(self, job: dict[str, Any]) -> TrainingJob:
        name = job["displayName"]
        state = int(job.get("state") or 0)
        status = _STATE.get(state, Status.UNKNOWN)
        spec = job.get("jobSpec") or {}
        base = ((spec.get("baseOutputDirectory") or {}).get("outputUriPrefix") or "").rstrip("/")
        pools = spec.get("workerPoolSpecs") or [{}]
        machine = (pools[0].get("machineSpec") or {}).get("machineType")
        replicas = sum(int(p.get("replicaCount") or 0) for p in pools)
        tags = naming.from_labels(job.get("labels") or {})
        model = None
        if status is Status.SUCCEEDED and base:
            model = Model(provider=self.name, name=name, id=job["name"], artifact_uri=f"{base}/model",
                          framework="tensorflow", framework_version=self.settings.framework_version,
                          source_job=name, created_at=_ts(job.get("endTime")), tags=tags, _client=self,
                          extra={"registered": False, "custom_job": job["name"]})
        if status in (Status.SUCCEEDED, Status.FAILED, Status.STOPPED):
            self._record_job_end(name, job, machine, replicas)
        return TrainingJob(
            provider=self.name, name=name, id=job["name"], status=status,
            created_at=_ts(job.get("createTime")), started_at=_ts(job.get("startTime")),
            ended_at=_ts(job.get("endTime")), model=model,
            failure_reason=(job.get("error") or {}).get("message"),
            resources_used={"instance_type": machine, "instance_count": replicas},
            tags=tags,
            extra={"custom_job": job["name"], "vertex_state": _STATE_NAMES.get(state, str(state)),
                   "base_output_directory": base, "job_id": job["name"].rsplit("/", 1)[-1],
                   "executor_image": ((pools[0].get("pythonPackageSpec") or {}).get("executorImageUri"))},
            _client=self,
        )

    def _record_job_end(self, name: str, job: dict[str, Any], machine: str | None, replicas: int | None,
                        kind: str = "training_job") -> None:
        """Record ``job_end`` once (cost estimates pair it with ``job_start``)."""
        if any(e.event == "job_end" for e in self.state.events(provider=self.name, kind=kind, name=name)):
            return
        self.state.add_event(provider=self.name, kind=kind, name=name, event="job_end", ts=_ts(job.get("endTime")),
                             attrs={"instance_type": machine, "instance_count": replicas,
                                    "status": _STATE_NAMES.get(int(job.get("state") or 0))})

    def _list_training_jobs(self) -> list[TrainingJob]:
        def fetch() -> list[dict[str, Any]]:
            pager = self.client("job").list_custom_jobs(
                request={"parent": self.parent, "filter": f'labels.{TAG_PROJECT}="{self.project}"'}, **no_retry())
            return [_js(j) for j in pager]

        jobs = [self._job_handle(j) for j in call(fetch, what="list training jobs")]
        return sorted(jobs, key=lambda j: j.created_at or _now(), reverse=True)

    def _training_logs(self, name: str, *, follow: bool) -> Iterator[str]:
        job = self._describe_job(name)  # NotFound before the generator starts
        return self._log_lines(name, job["name"].rsplit("/", 1)[-1], follow=follow)

    def _log_lines(self, name: str, job_id: str, *, follow: bool) -> Iterator[str]:
        """Cloud Logging ``entries.list`` for ``resource.type="ml_job"`` and the job id, oldest first."""
        from google.auth.transport.requests import AuthorizedSession

        session = AuthorizedSession(self.credentials())
        url = self.settings.logging_endpoint.rstrip("/") + "/v2/entries:list"
        seen = 0
        while True:
            lines: list[str] = []
            token = None
            while True:
                body: dict[str, Any] = {
                    "resourceNames": [f"projects/{self.gcp_project}"],
                    "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"',
                    "orderBy": "timestamp asc", "pageSize": 1000,
                }
                if token:
                    body["pageToken"] = token

                def post(b: dict[str, Any] = body) -> dict[str, Any]:
                    response = session.post(url, json=b, timeout=60)
                    if response.status_code >= 400:
                        from google.api_core import exceptions as gx

                        raise gx.from_http_response(response)
                    return dict(response.json())

                page = call(post, what=f"read logs of {name}")
                for entry in page.get("entries", []):
                    text = entry.get("textPayload")
                    if text is None:
                        text = json.dumps(entry.get("jsonPayload", {}))
                    lines.append(text)
                token = page.get("nextPageToken")
                if not token:
                    break
            yield from lines[seen:]
            seen = max(seen, len(lines))
            if not follow:
                return
            if self._get_training_job(name).done:
                follow = False  # one more pass drains what was written last
                continue
            time.sleep(self.settings.log_poll)

    def wait_for_job(self, name: str, *, timeout: float | None = None) -> TrainingJob:
        """Block until job ``name`` ends, streaming its log lines to this module's logger."""
        for line in self.training_logs(name, follow=True):
            logger.info("[%s] %s", name, line)
        return self._get_training_job(name).wait(timeout=timeout, progress=False)

    def _stop_training_job(self, name: str) -> None:
        job = self._describe_job(name)
        if _STATE.get(int(job.get("state") or 0)) not in (Status.PENDING, Status.RUNNING):
            return
        call(lambda: self.client("job").cancel_custom_job(name=job["name"], **no_retry()),
             what=f"cancel training job {name}")

    def _delete_training_job(self, name: str) -> None:
        # Keep the CustomJob record (it holds the run's history); stop it if running.
        try:
            self._stop_training_job(name)
        except NotFound:
            return
