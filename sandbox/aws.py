"""AWS stand-in: moto's server on loopback with what a runner pool needs (ECS, EC2, SSM).

The test suite (tests/fakes/aws.py) and sandbox mode build the same world here: one cluster, one
FARGATE task definition (awsvpc, container "runner"), a VPC with DNS hostnames, a subnet and a
security group. ECS tasks stay RUNNING until something stops them (moto's manual state progression),
as a runner's container runs until its job is done.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
from botocore.config import Config
from werkzeug.serving import make_server

REGION = "us-east-1"
CLUSTER = "gantry-runners"
TASK_FAMILY = "gantry-runner"
CONTAINER = "runner"
# moto accepts any credentials; boto3 refuses to sign without some.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "sandbox", "AWS_SECRET_ACCESS_KEY": "sandbox"}


@dataclass
class AwsWorld:
    """What was made in moto, and boto3 clients against it."""

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

    def settings(self) -> dict[str, str]:
        """Gantry's settings that point it at this world, as a user would set them."""
        return {"AWS_ENDPOINT_URL": self.url, "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
                **DUMMY_CREDENTIALS, "ECS_CLUSTER": self.cluster, "ECS_TASK_DEFINITION": self.task_definition,
                "ECS_SUBNETS": self.subnet_id, "ECS_SECURITY_GROUPS": self.security_group_id,
                "ECS_LAUNCH_TYPE": "FARGATE"}


def start_moto() -> Any:
    """moto's server on a free loopback port, serving from a thread (`.stop()` ends it).

    Requests are answered one at a time: moto's backends are not thread-safe (ECS's DescribeTasks
    iterates the cluster's tasks while a concurrent RunTask adds one, and fails)."""
    # Imported only when a world starts moto: it loads 656 modules in 0.5 s (measured 2026-12-06), which
    # importing the sandbox for GitHub alone need not pay.
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.server import ThreadedMotoServer

    class OneAtATime(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def serial(environ: dict[str, Any], start_response: Any) -> list[bytes]:
                with lock:
                    return list(app(environ, start_response))

            self._server = make_server(self._ip_address, self._port, serial, threaded=True)
            self._server_ready_event.set()
            self._server.serve_forever()

    server = OneAtATime(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    return server


def moto_url(server: Any) -> str:
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def clients(url: str, region: str = REGION) -> tuple[Any, Any, Any]:
    """ECS, SSM and EC2 clients against moto (dummy credentials: moto checks none)."""
    config = Config(retries={"max_attempts": 1}, max_pool_connections=50)
    kwargs: dict[str, Any] = {"region_name": region, "endpoint_url": url, "config": config,
                              "aws_access_key_id": DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                              "aws_secret_access_key": DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
    return boto3.client("ecs", **kwargs), boto3.client("ssm", **kwargs), boto3.client("ec2", **kwargs)


def build_world(url: str) -> AwsWorld:
    """Reset moto, keep ECS tasks RUNNING until stopped, and make the cluster, task definition and network."""
    httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
    httpx.post(f"{url}/moto-api/state-manager/set-transition", timeout=10, json={
        "model_name": "ecs::task", "transition": {"progression": "manual", "times": 1_000_000},
    }).raise_for_status()
    ecs, ssm, ec2 = clients(url)
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
    return AwsWorld(url=url, ecs=ecs, ssm=ssm, ec2=ec2, subnet_id=subnet, security_group_id=group)
