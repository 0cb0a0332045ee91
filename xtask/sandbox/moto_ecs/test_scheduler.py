"""The scheduler's rolling update, driven tick by tick against moto's own ECS backend, with the
Docker engine replaced by a fake whose containers turn healthy on their second inspection.

Run with the emulator's venv: `target/xtask/moto-venv/bin/python -m unittest discover -s
xtask/sandbox/moto_ecs`.
"""

import itertools
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from moto.ecs.models import ecs_backends  # noqa: E402

import docker_tasks  # noqa: E402
import scheduler  # noqa: E402

ACCOUNT = "123456789012"
REGION = "eu-central-1"


class FakeDocker:
    """Containers that start healthy after one inspection, or exit when their image says so."""

    def __init__(self):
        self.containers = {}
        self.ids = itertools.count(1)

    def install(self, test):
        for name in ("pull", "run", "inspect", "remove"):
            original = getattr(docker_tasks, name)
            setattr(docker_tasks, name, getattr(self, name))
            test.addCleanup(setattr, docker_tasks, name, original)

    def pull(self, reference):
        return None

    def run(self, name, labels, image, env, health, mounts):
        cid = f"c{next(self.ids)}"
        self.containers[cid] = {"image": image, "seen": 0}
        return cid, None

    def inspect(self, container):
        state = self.containers.get(container)
        if state is None:
            return None
        state["seen"] += 1
        if state["image"].endswith(":exits"):
            return {"status": "exited", "exit_code": 1, "health": None}
        return {"status": "running", "exit_code": 0, "health": "healthy" if state["seen"] > 1 else "starting"}

    def remove(self, container, grace=10):
        self.containers.pop(container, None)


def service_with(name, desired, minimum, maximum):
    backend = ecs_backends[ACCOUNT][REGION]
    backend.create_cluster(cluster_name="percentages")
    backend.register_task_definition(family=name, container_definitions=[{"name": "app", "image": "app:one", "memory": 512}])
    backend.register_task_definition(family=name, container_definitions=[{"name": "app", "image": "app:two", "memory": 512}])
    service = backend.create_service("percentages", name, desired, task_definition_str=f"{name}:1")
    service.deployment_configuration = {"minimumHealthyPercent": minimum, "maximumPercent": maximum}
    return backend, service


def settle(service, ticks=40):
    """Runs the scheduler until the primary deployment completes; returns the most tasks that
    ran or started at once and the fewest healthy ones seen after the first rollout."""
    most, fewest = 0, None
    for _ in range(ticks):
        scheduler.reconcile(service)
        run = service._sandbox
        most = max(most, sum(len(d.tasks) for d in run.deployments))
        healthy = sum(d.running() for d in run.deployments)
        fewest = healthy if fewest is None else min(fewest, healthy)
        if len(run.deployments) == 1 and run.primary().rollout_state == "COMPLETED":
            return most, fewest
    raise AssertionError(f"no rollout completed: {[d.as_dict(service) for d in service._sandbox.deployments]}")


class RollingUpdate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        scheduler.install(start=False)

    def setUp(self):
        self.docker = FakeDocker()
        self.docker.install(self)

    def deploy(self, name, desired, minimum, maximum):
        backend, service = service_with(name, desired, minimum, maximum)
        settle(service)
        backend.update_service({"cluster": "percentages", "service": name, "task_definition": f"{name}:2"})
        self.assertEqual(len(service._sandbox.deployments), 2, "the update starts a deployment")
        most, fewest = settle(service)
        self.assertTrue(service._sandbox.primary().task_definition.endswith(f"{name}:2"))
        self.assertEqual(service._sandbox.primary().running(), desired)
        return most, fewest

    def test_maximum_100_never_runs_more_than_the_desired_count(self):
        most, fewest = self.deploy("max100", 4, 50, 100)
        self.assertEqual(most, 4)
        self.assertGreaterEqual(fewest, 2, "minimumHealthyPercent 50 keeps half serving")

    def test_the_defaults_start_the_whole_new_deployment_beside_the_old(self):
        most, fewest = self.deploy("defaults", 2, 100, 200)
        self.assertEqual(most, 4)
        self.assertEqual(fewest, 2)

    def test_maximum_150_starts_half_again(self):
        most, _ = self.deploy("max150", 4, 100, 150)
        self.assertEqual(most, 6)

    def test_the_plan_stops_unhealthy_old_tasks_before_healthy_ones(self):
        run = scheduler.Run.__new__(scheduler.Run)
        primary = scheduler.Deployment("td:2", 2)
        old = scheduler.Deployment("td:1", 2)
        healthy, starting = scheduler.Task("a", "a", 1), scheduler.Task("b", "b", 2)
        healthy.running = True
        old.tasks = [healthy, starting]
        run.deployments = [primary, old]
        plan = scheduler.rolling_plan(run, primary, (50, 100))
        self.assertEqual([t for _, t in plan.stop], [starting, healthy][:len(plan.stop)])
        self.assertEqual(plan.stop[0][1], starting)
        self.assertEqual(plan.launch, len(plan.stop))

    def test_a_deployment_completes_only_once_its_targets_pass_the_load_balancers_checks(self):
        backend, service = service_with("behind-lb", 1, 100, 200)
        settle(service)
        backend.update_service({"cluster": "percentages", "service": "behind-lb", "task_definition": "behind-lb:2"})
        scheduler.reconcile(service)
        (task,) = service._sandbox.primary().tasks
        group = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/behind-lb/1"
        key = (group, f"127.0.0.1:{task.port}")
        task.targets.append(group)
        scheduler.HEALTH[key] = ["initial", "Elb.RegistrationInProgress", "", 0]
        self.addCleanup(scheduler.HEALTH.pop, key, None)
        for _ in range(5):
            scheduler.reconcile(service)
        self.assertTrue(task.running, "the container is up")
        self.assertEqual(service._sandbox.primary().rollout_state, "IN_PROGRESS", "but its target is not healthy yet")
        self.assertEqual(len(service._sandbox.deployments), 2, "so the old task keeps serving")
        scheduler.HEALTH[key][0] = "healthy"
        scheduler.reconcile(service)
        self.assertEqual(service._sandbox.primary().rollout_state, "COMPLETED")


if __name__ == "__main__":
    unittest.main()
