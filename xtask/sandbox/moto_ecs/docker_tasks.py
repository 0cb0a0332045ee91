"""ECS tasks as real Docker containers, through the docker CLI (argument lists, never a shell).

Every container carries the label `eventflow.sandbox=<emulator id>`, so one emulator finds and
removes exactly its own containers and never another's.
"""

import json
import os
import subprocess
import tempfile

LABEL = "eventflow.sandbox"
SERVICE_LABEL = "eventflow.sandbox.service"
# The references this emulator pulled, so that it removes them when it stops.
PULLED = set()


def docker(*args, timeout=120):
    """Runs `docker ARGS`; returns (exit code, stdout, stderr)."""
    try:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return 124, "", f"docker {args[0]} timed out after {timeout}s"
    return done.returncode, done.stdout, done.stderr


def pull(reference):
    """Pulls `reference` unless the engine has it; returns an error text or None."""
    code, _, _ = docker("image", "inspect", "--format", "{{.Id}}", reference)
    if code == 0:
        return None
    code, _, err = docker("pull", "--quiet", reference, timeout=300)
    if code == 0:
        PULLED.add(reference)
        return None
    return err.strip().splitlines()[-1] if err.strip() else "pull failed"


def health_args(check, container_port, host_port):
    """`docker run` flags for a task definition's `healthCheck`.

    The tasks share the host's network, so each listens on a port of its own (PORT); the check's
    container port, as the task definition writes it, is rewritten to that port.
    """
    if not check or not check.get("command"):
        return ["--no-healthcheck"]
    command = list(check["command"])
    kind, rest = command[0], command[1:]
    if container_port:
        rest = [
            part.replace(f"/{container_port}", f"/{host_port}").replace(
                f":{container_port}", f":{host_port}"
            )
            for part in rest
        ]
    flags = []
    if kind == "CMD-SHELL":
        flags += ["--health-cmd", " ".join(rest)]
    else:
        # `docker run --health-cmd` takes a shell string; exec form is passed as JSON, which
        # Docker's CLI does not accept, so the argv is quoted for /bin/sh instead.
        flags += ["--health-cmd", " ".join(_sh_quote(p) for p in rest)]
    flags += [
        "--health-interval", f"{check.get('interval', 30)}s",
        "--health-timeout", f"{check.get('timeout', 5)}s",
        "--health-retries", str(check.get("retries", 3)),
        "--health-start-period", f"{check.get('startPeriod', 0)}s",
    ]
    return flags


def _sh_quote(part):
    return "'" + part.replace("'", "'\"'\"'") + "'"


def run(name, labels, image, env, health, mounts):
    """Starts a detached container on the host's network. The environment (secrets included)
    goes through an env file readable by this user only, never the command line.
    Returns (container id, None) or (None, error text)."""
    fd, env_file = tempfile.mkstemp(prefix="eventflow-task-", suffix=".env")
    try:
        with os.fdopen(fd, "w") as f:
            for key, value in env.items():
                f.write(f"{key}={value}\n")
        args = ["run", "--detach", "--name", name, "--network", "host", "--env-file", env_file]
        for key, value in labels.items():
            args += ["--label", f"{key}={value}"]
        for path in mounts:
            args += ["--volume", f"{path}:{path}:ro"]
        args += health
        args.append(image)
        code, out, err = docker(*args)
    finally:
        os.unlink(env_file)
    if code != 0:
        return None, (err.strip().splitlines() or ["docker run failed"])[-1]
    return out.strip(), None


def inspect(container):
    """The container's state: {"status", "exit_code", "health", "error"} or None if gone."""
    code, out, _ = docker("inspect", "--format", "{{json .State}}", container, timeout=30)
    if code != 0:
        return None
    state = json.loads(out)
    return {
        "status": state.get("Status"),
        "exit_code": state.get("ExitCode"),
        "health": (state.get("Health") or {}).get("Status"),
        "error": state.get("Error") or "",
    }


def remove(container, grace=10):
    """Stops (SIGTERM, then SIGKILL after `grace`) and removes the container."""
    docker("stop", "--time", str(grace), container, timeout=grace + 30)
    docker("rm", "--force", "--volumes", container, timeout=60)


def remove_all(emulator):
    """Removes every container this emulator started."""
    code, out, _ = docker("ps", "--all", "--quiet", "--filter", f"label={LABEL}={emulator}")
    ids = out.split() if code == 0 else []
    if ids:
        docker("rm", "--force", "--volumes", *ids, timeout=120)
    # Only the pulled names go: the layers stay while another image uses them.
    for reference in sorted(PULLED):
        docker("rmi", reference, timeout=60)
    return len(ids)
