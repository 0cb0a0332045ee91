"""ECS's deployment scheduler, played inside moto's server (see README.md).

moto stores UpdateService but never moves `deployments[]` on. This module wraps moto's ECS
backend so that a service behaves as ECS's rolling scheduler does: a new task definition starts
a new PRIMARY deployment (the old one ACTIVE until drained), its rollout goes IN_PROGRESS then
COMPLETED or FAILED, each task is a real container, and the circuit breaker rolls back.
A background thread does the scheduling once a second; request handlers only record intent.
"""

import atexit
import copy
import datetime
import hashlib
import math
import os
import random
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

from moto.ecr import models as ecr_models
from moto.ecs import models as ecs_models
from moto.ecs import responses as ecs_responses
from moto.elbv2 import models as elbv2_models
from moto.secretsmanager.models import secretsmanager_backends
from moto.ssm.models import ssm_backends

import docker_tasks
import ecr_registry

# One lock for everything the scheduler and the request handlers share.
LOCK = threading.RLock()
# Labels this emulator's containers, so that it removes its own and never another's.
EMULATOR = os.environ.get("EVENTFLOW_SANDBOX_ID") or str(os.getpid())
# Where `images push` put the images: ECR's tags resolve to digests, pulled from here.
REGISTRY = os.environ.get("EVENTFLOW_SANDBOX_REGISTRY", "")
TICK_SECONDS = 1.0
# How long a stopped task's container gets between SIGTERM and SIGKILL.
STOP_GRACE_SECONDS = 10


def log(message):
    print(f"[ecs-scheduler {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Task:
    def __init__(self, container, name, port):
        self.container = container
        self.name = name
        self.port = port
        self.running = False
        self.targets = []  # (target group ARN, port) it is registered in


class Deployment:
    def __init__(self, task_definition, desired):
        self.id = f"ecs-svc/{random.randint(10**18, 10**19 - 1)}"
        self.status = "PRIMARY"
        self.task_definition = task_definition
        self.desired = desired
        self.rollout_state = "IN_PROGRESS"
        self.rollout_reason = f"ECS deployment {self.id} in progress."
        self.failed = 0
        self.tasks = []
        self.created_at = self.updated_at = now()
        self.retry_at = 0.0

    def running(self):
        return sum(1 for t in self.tasks if t.running)

    def serving(self):
        return sum(1 for t in self.tasks if serving(t))

    def as_dict(self, service):
        return {
            "id": self.id,
            "status": self.status,
            "taskDefinition": self.task_definition,
            "desiredCount": self.desired,
            "pendingCount": len(self.tasks) - self.running(),
            "runningCount": self.running(),
            "failedTasks": self.failed,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "launchType": service.launch_type,
            "rolloutState": self.rollout_state,
            "rolloutStateReason": self.rollout_reason,
        }


class Run:
    """What the scheduler keeps per service."""

    def __init__(self, service):
        self.deployments = [Deployment(service.task_definition, service.desired_count)]
        self.breaker = False
        self.rollback = False
        self.last_good = None
        # What the next DescribeServices shows instead: ECS's reads are eventually consistent.
        self.stale = None
        self.launched = 0

    def primary(self):
        return self.deployments[0]


def serving(task):
    """Running, and passing the health checks of every target group it is registered in: a task
    of a service behind a load balancer counts as healthy for ECS (toward minimumHealthyPercent and
    a deployment's completion) only then, not when its container starts."""
    if not task.running:
        return False
    key = f"127.0.0.1:{task.port}"
    return all(HEALTH.get((arn, key), ["initial"])[0] == "healthy" for arn in task.targets)


def threshold(desired):
    """ECS's circuit-breaker failure threshold: half the desired count, from 3 to 200."""
    return max(3, min(200, math.ceil(desired / 2)))


def publish(service):
    """Writes the scheduler's view into the attributes moto serialises."""
    run = service._sandbox
    service.deployments = [d.as_dict(service) for d in run.deployments]
    service.running_count = sum(d.running() for d in run.deployments)
    service.pending_count = sum(len(d.tasks) - d.running() for d in run.deployments)
    service.task_definition = run.primary().task_definition


def snapshot(service):
    return {
        "deployments": copy.deepcopy(service.deployments),
        "task_definition": service.task_definition,
        "running_count": service.running_count,
        "pending_count": service.pending_count,
        "desired_count": service.desired_count,
    }


def event(service, message):
    service.events.insert(
        0, {"id": str(random.randint(10**9, 10**10)), "createdAt": now(), "message": message}
    )
    del service.events[100:]
    log(message)


# --- moto's ECS backend, wrapped ---------------------------------------------------------------

_create_service = ecs_models.EC2ContainerServiceBackend.create_service
_update_service = ecs_models.EC2ContainerServiceBackend.update_service
_describe_services = ecs_models.EC2ContainerServiceBackend.describe_services
_delete_service = ecs_models.EC2ContainerServiceBackend.delete_service
_create_service_response = ecs_responses.EC2ContainerServiceResponse.create_service


def create_service(self, *args, **kwargs):
    with LOCK:
        service = _create_service(self, *args, **kwargs)
        service._sandbox = Run(service)
        service._sandbox_backend = self
        publish(service)
        return service


def create_service_response(self):
    """Keeps what moto's backend drops: the circuit breaker and the load balancers' ports."""
    config = self._get_param("deploymentConfiguration") or {}
    result = _create_service_response(self)
    with LOCK:
        cluster = self.ecs_backend._get_cluster(self._get_param("cluster", "default"))
        service = self.ecs_backend.services[f"{cluster.name}:{self._get_param('serviceName')}"]
        breaker = config.get("deploymentCircuitBreaker") or {}
        service._sandbox.breaker = bool(breaker.get("enable"))
        service._sandbox.rollback = bool(breaker.get("rollback"))
        service.deployment_configuration = config
    return result


def update_service(self, properties):
    with LOCK:
        cluster = properties.get("cluster", "default")
        name = properties.get("service", "").split("/")[-1]
        service = self._get_service(cluster, name)
        run = service._sandbox
        before = snapshot(service)
        new_td = properties.get("task_definition")
        force = properties.get("force_new_deployment", False)
        desired = properties.get("desired_count")
        service = _update_service(self, properties)
        primary = run.primary()
        if new_td:
            arn = self.describe_task_definition(new_td).arn
            if arn != primary.task_definition or force:
                for d in run.deployments:
                    d.status = "ACTIVE"
                run.deployments.insert(0, Deployment(arn, service.desired_count))
                run.stale = before
                event(service, f"(service {service.name}) has started a deployment of {arn}.")
        if desired is not None:
            run.primary().desired = desired
        publish(service)
        return service


def describe_services(self, cluster_str, names):
    with LOCK:
        services, failures = _describe_services(self, cluster_str, names)
        shown = []
        for service in services:
            run = getattr(service, "_sandbox", None)
            if run is not None and run.stale is not None:
                view = copy.copy(service)
                for key, value in run.stale.items():
                    setattr(view, key, value)
                run.stale = None
                shown.append(view)
            else:
                shown.append(service)
        return shown, failures


def delete_service(self, cluster_name, service_name, force):
    with LOCK:
        service = _delete_service(self, cluster_name, service_name, force)
        run = getattr(service, "_sandbox", None)
        if run is not None:
            for d in run.deployments:
                d.desired = 0
        return service


# --- ECR: digests as ECR computes them ----------------------------------------------------------


def create_digest(self):
    """ECR's digest is the SHA-256 of the manifest's bytes, as the registry's is (moto derives
    it from the layers), so a digest read from ECR names the image the registry serves."""
    self._image_digest = "sha256:" + hashlib.sha256(self.image_manifest.encode()).hexdigest()


# --- ELBv2: targets on loopback, told apart by port, with real health checks --------------------

_health_for = elbv2_models.FakeTargetGroup.health_for
# (target group ARN, "id:port") -> [state, reason, description, failures in a row]
HEALTH = {}


def target_key(target, default_port):
    return f"{target['Id']}:{target.get('Port', default_port)}"


def register(self, targets):
    with LOCK:
        for target in targets:
            port = int(target.get("Port", self.port))
            key = target_key(target, port)
            self.targets[key] = {"Id": target["Id"], "Port": port}
            self.deregistered_targets.pop(key, None)
            HEALTH[(self.arn, key)] = [
                "initial",
                "Elb.RegistrationInProgress",
                "Target registration is in progress",
                0,
            ]


def deregister(self, targets):
    with LOCK:
        for target in targets:
            key = target_key(target, self.port)
            found = self.targets.pop(key, None)
            if found is None:
                raise elbv2_models.InvalidTargetError()
            self.deregistered_targets[key] = found
            HEALTH.pop((self.arn, key), None)


def health_for(self, target, ec2_backend):
    key = target_key(target, self.port)
    registered = self.targets.get(key)
    if registered is None:
        return _health_for(self, target, ec2_backend)
    state, reason, description, _ = HEALTH.get(
        (self.arn, key), ["initial", "Elb.RegistrationInProgress", "", 0]
    )
    return elbv2_models.FakeHealthStatus(
        registered["Id"],
        registered["Port"],
        self.health_check_port,
        state,
        reason if state != "healthy" else None,
        description if state != "healthy" else None,
    )


def probe(group, target):
    """One health check of a target as the target group describes it; True if it passed."""
    path = group.health_check_path or "/"
    url = f"http://{target['Id']}:{target['Port']}{path}"
    codes = str((getattr(group, "matcher", None) or {}).get("HttpCode", "200"))
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"User-Agent": "ELB-HealthChecker/2.0"}),
            timeout=float(min(float(group.health_check_timeout_seconds or 5), 5.0)),
        ) as response:
            status = response.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        return False, "Target.Timeout", "Request timed out"
    wanted = set()
    for part in codes.split(","):
        if "-" in part:
            low, high = part.split("-")
            wanted.update(range(int(low), int(high) + 1))
        else:
            wanted.add(int(part))
    if status in wanted:
        return True, None, None
    return False, "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]"


def check_target_groups():
    with LOCK:
        groups = [
            group
            for account in list(elbv2_models.elbv2_backends.values())
            for backend in list(account.values())
            for group in list(backend.target_groups.values())
        ]
        work = [(g, k, dict(t)) for g in groups for k, t in list(g.targets.items())]
    for group, key, target in work:
        if not target["Id"].startswith("127."):
            continue
        ok, reason, description = probe(group, target)
        with LOCK:
            health = HEALTH.get((group.arn, key))
            if health is None:
                continue
            if ok:
                health[:] = ["healthy", None, None, 0]
            else:
                health[3] += 1
                if health[0] != "initial" or health[3] >= int(group.unhealthy_threshold_count):
                    health[:] = ["unhealthy", reason, description, health[3]]


# --- the scheduler ------------------------------------------------------------------------------


def ecr_reference(account, region, image):
    """The registry reference for a task definition's image: an ECR tag resolved to its digest
    through the emulator's ECR, then that digest in the sandbox's registry. Returns (ref, error)."""
    match = re.match(r"^(\d+)\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)(?::([^@]+))?(?:@(.+))?$", image)
    if not match:
        return image, None  # not ECR: an image the Docker engine has
    _, ecr_region, repository, tag, digest = match.groups()
    backend = ecr_models.ecr_backends[account][ecr_region or region]
    ecr_registry.mirror(backend, repository, REGISTRY)
    repo = backend.repositories.get(repository)
    if repo is None:
        return None, f"CannotPullContainerError: repository {repository} not found in ECR"
    if digest is None:
        try:
            digest = repo._get_image(tag or "latest", None).get_image_digest()
        except Exception:
            return None, f"CannotPullContainerError: {repository}:{tag} not found in ECR"
    if not REGISTRY:
        return None, "CannotPullContainerError: the sandbox has no registry (EVENTFLOW_SANDBOX_REGISTRY)"
    return f"{REGISTRY}/{repository}@{digest}", None


def secret_value(account, region, value_from):
    """A task definition secret's value from the emulator's Secrets Manager or SSM."""
    if ":secretsmanager:" in value_from:
        arn_region = value_from.split(":")[3]
        return secretsmanager_backends[account][arn_region].get_secret_value(
            value_from, None, None
        )["SecretString"]
    name = value_from
    if ":ssm:" in value_from:
        name = "/" + value_from.split(":parameter/", 1)[1]
    parameter = ssm_backends[account][region].get_parameter(name)
    if parameter is None:
        raise KeyError(f"parameter {name} not found")
    # moto keeps a SecureString as "kms:<key>:<value>"; GetParameter decrypts it, as ECS does.
    return parameter.decrypt(parameter.value)


def launch(service, deployment):
    """Starts one task of `deployment`; a task that cannot start counts as failed."""
    backend = service._sandbox_backend
    account, region = backend.account_id, backend.region_name
    run = service._sandbox
    td = backend.describe_task_definition(deployment.task_definition)
    container = td.container_definitions[0]
    ref, error = ecr_reference(account, region, container.get("image", ""))
    if error is None:
        error = docker_tasks.pull(ref)
        if error is not None:
            error = f"CannotPullContainerError: {error}"
    env = {e["name"]: e["value"] for e in container.get("environment") or []}
    if error is None:
        try:
            for secret in container.get("secrets") or []:
                env[secret["name"]] = secret_value(account, region, secret["valueFrom"])
        except Exception as e:  # the name, never a value
            error = f"ResourceInitializationError: unable to retrieve secret {secret['name']}: {e}"
    if error is not None:
        return failed(service, deployment, None, error)
    port = free_port()
    # Each task gets its own loopback port, as awsvpc gives each its own address.
    env["HOST"] = "127.0.0.1"
    env["PORT"] = str(port)
    mappings = container.get("portMappings") or []
    container_port = mappings[0].get("containerPort") if mappings else None
    health = docker_tasks.health_args(container.get("healthCheck"), container_port, port)
    # A TLS root certificate the connection strings name (`sslrootcert=`), mounted where they say.
    mounts = sorted(
        {
            path
            for value in env.values()
            for path in re.findall(r"sslrootcert=([^&\s]+)", value)
            if os.path.isabs(path) and os.path.exists(path)
        }
    )
    run.launched += 1
    name = re.sub(r"[^a-zA-Z0-9_.-]", "-", f"eventflow-task-{service.name}-{EMULATOR}-{run.launched}-{random.randint(1000, 9999)}")
    labels = {docker_tasks.LABEL: EMULATOR, docker_tasks.SERVICE_LABEL: service.arn}
    cid, error = docker_tasks.run(name, labels, ref, env, health, mounts)
    if error is not None:
        return failed(service, deployment, None, f"CannotStartContainerError: {error}")
    with LOCK:
        deployment.tasks.append(Task(cid, name, port))
        publish(service)
    event(service, f"(service {service.name}) has started 1 tasks: (task {name}) of {short(deployment.task_definition)} on port {port}.")


def short(arn):
    return arn.split("/")[-1]


def failed(service, deployment, task, reason):
    with LOCK:
        deployment.failed += 1
        deployment.updated_at = now()
        # A deployment that keeps failing retries with back-off, as ECS throttles task launches.
        deployment.retry_at = time.time() + min(2 ** min(deployment.failed, 5), 30)
        publish(service)
    if task is not None:
        stop(service, deployment, task)
    name = task.name if task else "not started"
    event(service, f"(service {service.name}) (task {name}) stopped: {reason} ({short(deployment.task_definition)}, failed tasks {deployment.failed}).")
    service._sandbox.last_stop = reason


def stop(service, deployment, task):
    """Takes the task out of its deployment and its target groups at once; its container gets
    SIGTERM and its grace period in the background, as ECS drains a task."""
    with LOCK:
        if task in deployment.tasks:
            deployment.tasks.remove(task)
        deregister_task(service, task)
        publish(service)
    threading.Thread(
        target=docker_tasks.remove, args=(task.container, STOP_GRACE_SECONDS), daemon=True
    ).start()


def register_task(service, task):
    backend = elbv2_models.elbv2_backends[service._sandbox_backend.account_id][service.region_name]
    for lb in service.load_balancers or []:
        arn = lb.get("targetGroupArn")
        group = backend.target_groups.get(arn)
        if group is not None:
            register(group, [{"Id": "127.0.0.1", "Port": task.port}])
            task.targets.append(arn)


def deregister_task(service, task):
    backend = elbv2_models.elbv2_backends[service._sandbox_backend.account_id][service.region_name]
    for arn in task.targets:
        group = backend.target_groups.get(arn)
        if group is not None and f"127.0.0.1:{task.port}" in group.targets:
            deregister(group, [{"Id": "127.0.0.1", "Port": task.port}])
    task.targets = []


def observe(service, deployment, task):
    state = docker_tasks.inspect(task.container)
    if state is None or state["status"] in ("exited", "dead"):
        code = state["exit_code"] if state else "unknown"
        return failed(service, deployment, task, f"Essential container in task exited (exit code {code})")
    if state["health"] == "unhealthy":
        return failed(service, deployment, task, "Task failed container health checks")
    if state["status"] == "running" and state["health"] in (None, "healthy"):
        if not task.running:
            with LOCK:
                task.running = True
                register_task(service, task)
                publish(service)
            event(service, f"(service {service.name}) (task {task.name}) is running and healthy.")


# ECS's defaults when a service sets no deployment configuration.
DEFAULT_MINIMUM_HEALTHY_PERCENT = 100
DEFAULT_MAXIMUM_PERCENT = 200


def percentages(service):
    """The service's (minimumHealthyPercent, maximumPercent)."""
    config = getattr(service, "deployment_configuration", None) or {}
    return (
        int(config.get("minimumHealthyPercent", DEFAULT_MINIMUM_HEALTHY_PERCENT)),
        int(config.get("maximumPercent", DEFAULT_MAXIMUM_PERCENT)),
    )


class Plan:
    def __init__(self, launch, stop, surplus):
        self.launch = launch  # new tasks of the primary deployment to start now
        self.stop = stop  # (deployment, task) of older deployments to stop now
        self.surplus = surplus  # primary tasks above its desired count (a scale-in)


def rolling_plan(run, primary, limits):
    """One step of ECS's rolling update: never more than maximumPercent of the desired count
    running or starting over all deployments, and never fewer than minimumHealthyPercent of it
    running and healthy while older deployments' tasks are stopped to make room."""
    minimum, maximum = limits
    desired = primary.desired
    ceiling = desired * maximum // 100
    floor = math.ceil(desired * minimum / 100)
    older = [(d, t) for d in run.deployments[1:] for t in d.tasks]
    total = len(primary.tasks) + len(older)
    healthy = primary.serving() + sum(1 for _, t in older if serving(t))
    missing = max(desired - len(primary.tasks), 0)
    stop = []
    # Tasks of older deployments that never became healthy go first: they serve nobody.
    for deployment, task in sorted(older, key=lambda dt: serving(dt[1])):
        if total - len(stop) + missing <= ceiling:
            break
        if serving(task) and healthy - 1 < floor:
            break
        stop.append((deployment, task))
        if serving(task):
            healthy -= 1
    launch = max(min(missing, ceiling - (total - len(stop))), 0)
    return Plan(launch, stop, max(len(primary.tasks) - desired, 0))


def reconcile(service):
    run = service._sandbox
    with LOCK:
        deployments = list(run.deployments)
    for deployment in deployments:
        for task in list(deployment.tasks):
            observe(service, deployment, task)
    with LOCK:
        primary = run.primary()
        tripped = (
            run.breaker
            and primary.rollout_state == "IN_PROGRESS"
            and primary.failed >= threshold(primary.desired)
        )
        to_stop = []
        if tripped:
            primary.rollout_state = "FAILED"
            primary.rollout_reason = f"ECS deployment circuit breaker: tasks failed to start. ({run.__dict__.get('last_stop', '')})"
            primary.updated_at = now()
            to_stop += [(primary, t) for t in primary.tasks]
            if run.rollback and run.last_good and run.last_good != primary.task_definition:
                primary.status = "ACTIVE"
                primary.desired = 0
                back = Deployment(run.last_good, service.desired_count)
                run.deployments.insert(0, back)
                event(service, f"(service {service.name}) rolling back to {short(run.last_good)}: deployment circuit breaker.")
            else:
                event(service, f"(service {service.name}) deployment {primary.id} FAILED: deployment circuit breaker.")
            publish(service)
        primary = run.primary()
    for deployment, task in to_stop:
        stop(service, deployment, task)

    if primary.rollout_state != "FAILED":
        with LOCK:
            plan = rolling_plan(run, primary, percentages(service))
        for deployment, task in plan.stop:
            stop(service, deployment, task)
        if time.time() >= primary.retry_at:
            for _ in range(plan.launch):
                launch(service, primary)
        for task in list(reversed(primary.tasks))[: plan.surplus]:
            stop(service, primary, task)

    with LOCK:
        drained = []
        if primary.serving() == primary.desired == len(primary.tasks):
            if primary.rollout_state == "IN_PROGRESS":
                primary.rollout_state = "COMPLETED"
                primary.rollout_reason = f"ECS deployment {primary.id} completed."
                primary.updated_at = now()
                run.last_good = primary.task_definition
                event(service, f"(service {service.name}) deployment {primary.id} completed.")
            if primary.rollout_state == "COMPLETED":
                drained = [d for d in run.deployments[1:]]
                run.deployments = [primary]
        publish(service)
    for deployment in drained:
        for task in list(deployment.tasks):
            stop(service, deployment, task)
    with LOCK:
        publish(service)


def every_service():
    with LOCK:
        return [
            service
            for account in list(ecs_models.ecs_backends.values())
            for backend in list(account.values())
            for service in list(backend.services.values())
            if hasattr(service, "_sandbox")
        ]


def loop():
    while True:
        started = time.time()
        try:
            for service in every_service():
                reconcile(service)
            check_target_groups()
        except Exception as e:  # one bad tick must not stop the scheduler
            log(f"tick failed: {e!r}")
        time.sleep(max(0.0, TICK_SECONDS - (time.time() - started)))


def cleanup():
    removed = docker_tasks.remove_all(EMULATOR)
    if removed:
        log(f"removed {removed} task container(s)")


def install(start=True):
    """Wraps moto's backends and starts the scheduler thread (unless `start` is false, for the
    tests, which tick it themselves); call before moto's server runs."""
    ecs_models.EC2ContainerServiceBackend.create_service = create_service
    ecs_models.EC2ContainerServiceBackend.update_service = update_service
    ecs_models.EC2ContainerServiceBackend.describe_services = describe_services
    ecs_models.EC2ContainerServiceBackend.delete_service = delete_service
    ecs_responses.EC2ContainerServiceResponse.create_service = create_service_response
    ecr_models.Image._create_digest = create_digest
    elbv2_models.FakeTargetGroup.register = register
    elbv2_models.FakeTargetGroup.deregister = deregister
    elbv2_models.FakeTargetGroup.health_for = health_for
    if not start:
        return
    atexit.register(cleanup)
    threading.Thread(target=loop, name="ecs-scheduler", daemon=True).start()
    log(f"ECS scheduler on (containers labelled {docker_tasks.LABEL}={EMULATOR}, registry {REGISTRY or 'none'})")
