"""The runner simulator: what Gantry's runner image does inside an ECS task, for sandbox mode.

It watches moto for RUNNING tasks. For each new one it does what the real container does: reads the
task's environment (GANTRY_JITCONFIG_PARAMETER, GANTRY_JITCONFIG_REGION), reads the JIT config from
SSM as the runner image does, and comes online with the GitHub simulator under the name inside it.
It then takes the oldest queued job whose labels it has (sandbox/github/jobs.py), which makes the
simulator send `workflow_job` in_progress, runs for `job_seconds`, and finishes it (completed, with
the outcome the job was queued with), after which the ephemeral runner is removed and the task stops
("Essential container in task exited"), so Gantry's reconciler, figures and costs see a real lifecycle.
A runner left without a job stays online until Gantry stops its task.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from typing import Any

from sandbox.aws import AwsWorld, clients
from sandbox.github import actions, jobs
from sandbox.github.server import FakeServer

log = logging.getLogger(__name__)

EXITED = "Essential container in task exited"


class RunnerSimulator:
    """Plays every runner container that Gantry starts in moto; `step()` once, or `start()` a watching thread."""

    def __init__(self, github: FakeServer, aws: AwsWorld, *, job_seconds: float = 3.0,
                 poll_seconds: float = 1.0) -> None:
        self.github = github
        self.aws = aws
        self.job_seconds = job_seconds
        self.poll_seconds = poll_seconds
        self.handled: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- watching ECS ---------------------------------------------------------------------

    def new_tasks(self) -> list[dict[str, Any]]:
        """RUNNING tasks of every cluster that no simulated container has taken yet."""
        found: list[dict[str, Any]] = []
        for cluster in self.aws.ecs.list_clusters()["clusterArns"]:
            arns = [a for a in self.aws.ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING")["taskArns"]
                    if a not in self.handled]
            for start in range(0, len(arns), 100):
                found += self.aws.ecs.describe_tasks(cluster=cluster, tasks=arns[start:start + 100])["tasks"]
        return found

    def step(self, *, wait: bool = True) -> int:
        """Start a container for every new task; with `wait`, run them to their end before answering."""
        tasks = self.new_tasks()
        for task in tasks:
            self.handled.add(task["taskArn"])
            thread = threading.Thread(target=self.run_container, args=(task,), name="sandbox-runner", daemon=True)
            thread.start()
            self._threads.append(thread)
        if wait:
            for thread in self._threads:
                thread.join()
        self._threads = [t for t in self._threads if t.is_alive()]
        return len(tasks)

    def start(self) -> None:
        threading.Thread(target=self._watch, name="sandbox-runner-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.step(wait=False)
            except Exception:  # moto going away at shutdown, a bad task: keep watching
                log.exception("runner simulator: watching ECS failed")

    # --- one container --------------------------------------------------------------------

    def _running(self, task: dict[str, Any]) -> bool:
        found = self.aws.ecs.describe_tasks(cluster=task["clusterArn"], tasks=[task["taskArn"]])["tasks"]
        return bool(found) and found[0].get("desiredStatus") == "RUNNING"

    def _exit(self, task: dict[str, Any], reason: str = EXITED) -> None:
        self.aws.ecs.stop_task(cluster=task["clusterArn"], task=task["taskArn"], reason=reason)

    def read_jit_config(self, task: dict[str, Any]) -> dict[str, Any] | None:
        """The decoded JIT config the task was pointed at (None: no parameter, or it is gone)."""
        overrides = (task.get("overrides") or {}).get("containerOverrides") or [{}]
        env = {e["name"]: e["value"] for e in overrides[0].get("environment") or []}
        parameter = env.get("GANTRY_JITCONFIG_PARAMETER")
        if not parameter:
            return None
        ssm = clients(self.aws.url, env.get("GANTRY_JITCONFIG_REGION") or self.aws.region)[1]
        try:
            value = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
        except ssm.exceptions.ParameterNotFound:
            return None
        return json.loads(base64.b64decode(value))

    def run_container(self, task: dict[str, Any]) -> str:
        """The life of one runner container; answers how it ended."""
        state = self.github.state
        config = self.read_jit_config(task)
        runner = actions.find(state, config["name"]) if config else None
        if runner is None:
            self._exit(task, "Runner could not read its JIT config or registration")
            return "no registration"
        actions.set_status(state, runner["name"], "online", busy=False)
        labels = [label["name"] for label in runner["labels"]]
        record = jobs.next_for(state, labels)
        while record is None:
            if self._stop.is_set() or not self._running(task):
                actions.remove(state, runner["name"])
                return "stopped while idle"
            time.sleep(self.poll_seconds)
            record = jobs.next_for(state, labels)
        actions.set_status(state, runner["name"], "online", busy=True)
        jobs.start(state, record, runner)
        time.sleep(self.job_seconds)
        jobs.finish(state, record)
        actions.set_status(state, runner["name"], "offline", busy=False)
        actions.remove(state, runner["name"])
        self._exit(task)
        return f"job {record['job']['id']} {record['outcome']}"
