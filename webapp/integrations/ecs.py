"""AWS for runners: ECS tasks (run, describe, stop, list) and SSM parameters holding JIT configs.

One `Aws` object per app (in `app.extensions`), built from settings: `AWS_ENDPOINT_URL` (empty
means real AWS; tests point it at moto served over HTTP) and `AWS_REGION` (the default region;
each pool may name its own). Credentials come from boto3's usual chain. Errors surface as
`AwsError` with AWS's error code, so callers can tell configuration mistakes from throttling.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, current_app

# boto3 and botocore are imported where AWS is first called: they weigh about 6 MB in every web
# process, and most web requests never reach AWS.

EXTENSION_KEY = "gantry.aws"
THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
                    "ServerException", "ServiceUnavailableException", "InternalServerError"}


class AwsError(Exception):
    """An AWS call failed; `code` is AWS's error code ("ClusterNotFoundException", ...) or "network"."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.code in THROTTLING_CODES or self.code == "network"


@dataclass
class TaskLaunch:
    """What RunTask needs to start one runner."""

    cluster: str
    task_definition: str
    container_name: str
    environment: dict[str, str]
    tags: dict[str, str]
    started_by: str
    client_token: str
    capacity: str = "FARGATE"  # FARGATE, FARGATE_SPOT or EC2
    subnets: Sequence[str] = ()
    security_groups: Sequence[str] = ()
    assign_public_ip: bool = False
    cpu: int | None = None
    memory: int | None = None
    network_awsvpc: bool = True


@dataclass
class RunTaskResult:
    task_arn: str | None
    failures: list[dict[str, Any]] = field(default_factory=list)


NO_CREDENTIALS = "no_credentials"


def _wrap(exc: Exception) -> AwsError:
    # Imported on first use, not at start-up: boto3 and botocore cost 1.2 s and 350 modules (measured 2026-12-05).
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return AwsError(str(error.get("Code") or "ClientError"), str(error.get("Message") or exc))
    if isinstance(exc, NoCredentialsError):
        return AwsError(NO_CREDENTIALS, "Gantry has no AWS credentials: set AWS_ACCESS_KEY_ID and "
                                        "AWS_SECRET_ACCESS_KEY, a profile, or give its host or container a role")
    return AwsError("network", f"AWS could not be reached ({exc})")


class Aws:
    """ECS and SSM clients per region, created on first use and shared by threads."""

    def __init__(self, endpoint_url: str, default_region: str, *, max_attempts: int = 3,
                 connect_timeout: float = 5, read_timeout: float = 20) -> None:
        self.endpoint_url = endpoint_url or None
        self.default_region = default_region
        self._config_options: dict[str, Any] = {
            "retries": {"max_attempts": max_attempts, "mode": "standard"},
            "connect_timeout": connect_timeout, "read_timeout": read_timeout, "max_pool_connections": 50,
        }
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.default_region)
        with self._lock:
            if key not in self._clients:
                # Imported on first use, not at start-up: boto3 and botocore cost 1.2 s and 350 modules.
                import boto3
                from botocore.config import Config

                session = boto3.session.Session()
                self._clients[key] = session.client(service, region_name=key[1],  # type: ignore[call-overload]
                                                    endpoint_url=self.endpoint_url,
                                                    config=Config(**self._config_options))
            return self._clients[key]

    def _call(self, service: str, region: str | None, operation: str, **params: Any) -> Any:
        # Imported on first use, not at start-up: boto3 and botocore cost 1.2 s and 350 modules.
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client(service, region), operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            raise _wrap(exc) from exc

    # --- ECS ----------------------------------------------------------------------------

    def describe_cluster(self, region: str, cluster: str) -> dict[str, Any] | None:
        """The cluster if it exists and is ACTIVE-or-not; None when ECS does not know it."""
        answer = self._call("ecs", region, "describe_clusters", clusters=[cluster])
        for found in answer.get("clusters", []):
            return dict(found)
        return None

    def describe_task_definition(self, region: str, task_definition: str) -> dict[str, Any] | None:
        try:
            answer = self._call("ecs", region, "describe_task_definition", taskDefinition=task_definition)
        except AwsError as exc:
            if exc.code in ("ClientException", "InvalidParameterException"):
                return None
            raise
        return dict(answer["taskDefinition"])

    def run_task(self, region: str, launch: TaskLaunch) -> RunTaskResult:
        """Start one task; ECS answers either a task or `failures[]` (capacity, missing resources)."""
        override: dict[str, Any] = {
            "name": launch.container_name,
            "environment": [{"name": k, "value": v} for k, v in sorted(launch.environment.items())],
        }
        overrides: dict[str, Any] = {"containerOverrides": [override]}
        if launch.cpu:
            overrides["cpu"] = str(launch.cpu)
        if launch.memory:
            overrides["memory"] = str(launch.memory)
        params: dict[str, Any] = {
            "cluster": launch.cluster,
            "taskDefinition": launch.task_definition,
            "count": 1,
            "startedBy": launch.started_by,
            "clientToken": launch.client_token,
            "overrides": overrides,
            "tags": [{"key": k, "value": v} for k, v in sorted(launch.tags.items())],
            "enableECSManagedTags": True,
            "propagateTags": "TASK_DEFINITION",
        }
        if launch.capacity == "FARGATE_SPOT":
            params["capacityProviderStrategy"] = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
        else:
            params["launchType"] = launch.capacity
        if launch.network_awsvpc:
            params["networkConfiguration"] = {
                "awsvpcConfiguration": {
                    "subnets": list(launch.subnets),
                    "securityGroups": list(launch.security_groups),
                    "assignPublicIp": "ENABLED" if launch.assign_public_ip else "DISABLED",
                }
            }
        answer = self._call("ecs", region, "run_task", **params)
        tasks = answer.get("tasks") or []
        return RunTaskResult(tasks[0]["taskArn"] if tasks else None, list(answer.get("failures") or []))

    def find_task_started_by(self, region: str, cluster: str, started_by: str) -> str | None:
        """A task (running or stopped) that an earlier launch under `started_by` already started."""
        for status in ("RUNNING", "STOPPED"):
            answer = self._call("ecs", region, "list_tasks", cluster=cluster, startedBy=started_by,
                                desiredStatus=status)
            arns = answer.get("taskArns") or []
            if arns:
                return str(arns[0])
        return None

    def describe_tasks(self, region: str, cluster: str, arns: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Tasks by ARN (in batches of 100); an ARN ECS no longer knows is missing from the answer."""
        arns = list(arns)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(arns), 100):
            answer = self._call("ecs", region, "describe_tasks", cluster=cluster, tasks=arns[start:start + 100])
            for task in answer.get("tasks") or []:
                found[task["taskArn"]] = task
        return found

    def stop_task(self, region: str, cluster: str, arn: str, reason: str) -> None:
        try:
            self._call("ecs", region, "stop_task", cluster=cluster, task=arn, reason=reason[:255])
        except AwsError as exc:
            if exc.code not in ("InvalidParameterException", "ClientException"):  # already gone
                raise

    def list_clusters(self, region: str | None = None) -> list[str]:
        return list(self._call("ecs", region, "list_clusters", maxResults=10).get("clusterArns") or [])

    # --- EC2 (checks on save) ----------------------------------------------------------

    def missing_subnets(self, region: str, subnets: Sequence[str]) -> list[str]:
        return self._missing(region, "describe_subnets", "SubnetIds", "Subnets", "SubnetId", subnets)

    def missing_security_groups(self, region: str, groups: Sequence[str]) -> list[str]:
        return self._missing(region, "describe_security_groups", "GroupIds", "SecurityGroups", "GroupId", groups)

    def _missing(self, region: str, op: str, param: str, key: str, id_key: str, wanted: Sequence[str]) -> list[str]:
        if not wanted:
            return []
        try:
            answer = self._call("ec2", region, op, **{param: list(wanted)})
        except AwsError as exc:
            if exc.code.endswith(".NotFound") or exc.code.endswith(".Malformed"):
                # One call names only the first bad id; ask one by one to name them all.
                missing = []
                for item in wanted:
                    try:
                        self._call("ec2", region, op, **{param: [item]})
                    except AwsError:
                        missing.append(item)
                return missing
            raise
        present = {item[id_key] for item in answer.get(key, [])}
        return [item for item in wanted if item not in present]

    # --- SSM Parameter Store --------------------------------------------------------------

    def put_secure_parameter(self, region: str, name: str, value: str, kms_key_id: str = "",
                             tags: dict[str, str] | None = None) -> None:
        params: dict[str, Any] = {"Name": name, "Value": value, "Type": "SecureString", "Overwrite": True}
        if kms_key_id:
            params["KeyId"] = kms_key_id
        self._call("ssm", region, "put_parameter", **params)
        if tags:
            self._call("ssm", region, "add_tags_to_resource", ResourceType="Parameter", ResourceId=name,
                       Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def parameter_exists(self, region: str, name: str) -> bool:
        try:
            self._call("ssm", region, "get_parameter", Name=name, WithDecryption=False)
        except AwsError as exc:
            if exc.code == "ParameterNotFound":
                return False
            raise
        return True

    def get_secure_parameter(self, region: str, name: str) -> str | None:
        try:
            answer = self._call("ssm", region, "get_parameter", Name=name, WithDecryption=True)
        except AwsError as exc:
            if exc.code == "ParameterNotFound":
                return None
            raise
        return str(answer["Parameter"]["Value"])

    def delete_parameter(self, region: str, name: str) -> bool:
        """Delete a parameter; False when it was already gone."""
        try:
            self._call("ssm", region, "delete_parameter", Name=name)
        except AwsError as exc:
            if exc.code == "ParameterNotFound":
                return False
            raise
        return True

    def list_parameter_names(self, region: str, prefix: str) -> list[str]:
        names: list[str] = []
        token: str | None = None
        for _ in range(1000):  # bounded: 10 per page in moto, 50 in AWS
            params: dict[str, Any] = {"Path": prefix, "Recursive": True, "WithDecryption": False, "MaxResults": 10}
            if token:
                params["NextToken"] = token
            answer = self._call("ssm", region, "get_parameters_by_path", **params)
            names.extend(p["Name"] for p in answer.get("Parameters", []))
            token = answer.get("NextToken")
            if not token:
                break
        return names


def credentials_configured() -> bool:
    """AWS credentials (or a local AWS endpoint) are set where boto3 looks first.

    Answers from the environment and files only: boto3's own lookup may ask the instance metadata
    service, which takes seconds where there is none.
    """
    if current_app.config.get("AWS_ENDPOINT_URL"):
        return True
    if any(os.environ.get(name) for name in CREDENTIAL_VARIABLES):
        return True
    shared = os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    return Path(shared).expanduser().is_file()


CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE")


def init_app(app: Flask) -> None:
    # botocore's DEBUG records carry request and response bodies, and a put_parameter body is a
    # runner's JIT config: keep those loggers at INFO whatever LOG_LEVEL says.
    for name in ("botocore", "boto3", "s3transfer"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger(name).getEffectiveLevel()))
    app.extensions[EXTENSION_KEY] = Aws(app.config.get("AWS_ENDPOINT_URL", ""),
                                        app.config.get("AWS_REGION", "us-east-1"))


def aws() -> Aws:
    """The app's AWS clients (rebuilt when tests point AWS_ENDPOINT_URL elsewhere)."""
    client: Aws | None = current_app.extensions.get(EXTENSION_KEY)
    endpoint = current_app.config.get("AWS_ENDPOINT_URL", "") or None
    if client is None or client.endpoint_url != endpoint:
        client = Aws(endpoint or "", current_app.config.get("AWS_REGION", "us-east-1"))
        current_app.extensions[EXTENSION_KEY] = client
    return client
