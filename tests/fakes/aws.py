"""AWS for tests: moto's ECS, EC2 and SSM served over real HTTP on 127.0.0.1.

    def test_something(app, fake_aws):
        fake_aws.cluster, fake_aws.task_definition, fake_aws.subnet_id, fake_aws.security_group_id
        fake_aws.ecs / fake_aws.ssm / fake_aws.ec2     # boto3 clients against the same server
        fake_aws.running_tasks()                        # ARNs of tasks not STOPPED
        fake_aws.stop(arn, "Essential container in task exited")   # a container that exits

One server per test session; every test starts from a reset server with one cluster, one
FARGATE task definition (awsvpc, container "runner"), a VPC with DNS hostnames, a subnet and a
security group. Tasks stay RUNNING until stopped (manual state progression), so a test decides
when a runner's container exits. The app's AWS_ENDPOINT_URL points at the server during the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from sandbox.aws import CLUSTER, CONTAINER, REGION, TASK_FAMILY, AwsWorld, build_world, moto_url, start_moto

__all__ = ["CLUSTER", "CONTAINER", "REGION", "TASK_FAMILY", "FakeAws", "setup_world", "moto_server", "fake_aws"]

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)


class FakeAws(AwsWorld):
    """The sandbox's AWS world (sandbox/aws.py) with what tests ask of it."""

    def running_tasks(self) -> list[str]:
        return list(self.ecs.list_tasks(cluster=self.cluster, desiredStatus="RUNNING")["taskArns"])

    def all_tasks(self) -> list[dict[str, Any]]:
        arns = self.running_tasks() + list(
            self.ecs.list_tasks(cluster=self.cluster, desiredStatus="STOPPED")["taskArns"])
        if not arns:
            return []
        found: list[dict[str, Any]] = []
        for start in range(0, len(arns), 100):
            found.extend(self.ecs.describe_tasks(cluster=self.cluster, tasks=arns[start:start + 100],
                                                 include=["TAGS"])["tasks"])
        return found

    def stop(self, arn: str, reason: str = "Essential container in task exited") -> None:
        self.ecs.stop_task(cluster=self.cluster, task=arn, reason=reason)

    def parameters(self, prefix: str = "/gantry/runners") -> list[str]:
        names: list[str] = []
        token = None
        for _ in range(1000):
            kwargs: dict[str, Any] = {"Path": prefix, "Recursive": True, "MaxResults": 10}
            if token:
                kwargs["NextToken"] = token
            answer = self.ssm.get_parameters_by_path(**kwargs)
            names += [p["Name"] for p in answer["Parameters"]]
            token = answer.get("NextToken")
            if not token:
                break
        return names

    def pool_settings(self, **overrides: Any) -> dict[str, Any]:
        """Launch settings of a pool that works against this fake."""
        settings = {
            "region": self.region, "cluster": self.cluster, "task_definition": self.task_definition,
            "capacity": "FARGATE", "subnets": [self.subnet_id], "security_groups": [self.security_group_id],
            "container_name": self.container,
        }
        settings.update(overrides)
        return settings


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server = start_moto()
    yield moto_url(server)
    server.stop()


def setup_world(url: str) -> FakeAws:
    """Reset moto and create the cluster, task definition and network a runner pool needs."""
    world = build_world(url)
    return FakeAws(**{name: getattr(world, name) for name in world.__dataclass_fields__})


@pytest.fixture
def fake_aws(app: Flask, moto_server: str) -> Iterator[FakeAws]:
    fake = setup_world(moto_server)
    previous = app.config.get("AWS_ENDPOINT_URL", "")
    app.config["AWS_ENDPOINT_URL"] = moto_server
    app.config["AWS_REGION"] = REGION
    try:
        yield fake
    finally:
        app.config["AWS_ENDPOINT_URL"] = previous
