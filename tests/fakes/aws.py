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
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from flask import Flask

REGION = "us-east-1"
CLUSTER = "gantry-runners"
TASK_FAMILY = "gantry-runner"
CONTAINER = "runner"

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", REGION)


@dataclass
class FakeAws:
    url: str
    ecs: Any
    ssm: Any
    ec2: Any
    cluster: str = CLUSTER
    task_definition: str = TASK_FAMILY
    container: str = CONTAINER
    subnet_id: str = ""
    security_group_id: str = ""
    region: str = REGION

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
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _clients(url: str) -> tuple[Any, Any, Any]:
    config = Config(retries={"max_attempts": 1}, max_pool_connections=50)
    kwargs = {"region_name": REGION, "endpoint_url": url, "config": config}
    return boto3.client("ecs", **kwargs), boto3.client("ssm", **kwargs), boto3.client("ec2", **kwargs)


def setup_world(url: str) -> FakeAws:
    """Reset moto and create the cluster, task definition and network a runner pool needs."""
    requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    requests.post(f"{url}/moto-api/state-manager/set-transition", timeout=10, json={
        "model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000},
    }).raise_for_status()
    ecs, ssm, ec2 = _clients(url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="gantry-runners", Description="runners", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(
        family=TASK_FAMILY, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="1024", memory="2048",
        containerDefinitions=[{"name": CONTAINER, "image": "ghcr.io/example/gantry-runner:latest", "memory": 2048,
                               "essential": True}],
    )
    return FakeAws(url=url, ecs=ecs, ssm=ssm, ec2=ec2, subnet_id=subnet, security_group_id=group)


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
