"""ECR backed by the sandbox's registry: GetAuthorizationToken names the loopback registry as
the `proxyEndpoint` (so `docker login` and `docker push` never leave the machine), and ECR's
image reads list what was pushed there.

In AWS, ECR's API and its registry are one store: a `docker push` is at once visible to
DescribeImages, ListImages and BatchGetImage. In the sandbox the registry is a separate
process, so before each of those reads (and before the scheduler resolves a tag) the
repository's tags are mirrored from the registry into moto's ECR, with the digest the registry
serves (the SHA-256 of the manifest's bytes, as ECR's is). Images put with PutImage stay."""

import hashlib
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from moto.ecr import models as ecr_models
from moto.ecr import responses as ecr_responses

# `host:port` of the sandbox's registry, which `images push` fills.
REGISTRY = os.environ.get("EVENTFLOW_SANDBOX_REGISTRY", "")
# Everything `docker push` may send: single-platform manifests and multi-platform indexes.
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
TIMEOUT_SECONDS = 5
_LOCK = threading.RLock()


def log(message):
    print(f"[ecr-registry {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _get(url, accept=None):
    """(body, content type), or None when the registry has no such thing (404)."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def registry_tags(registry, repository):
    """{tag: (manifest text, media type, digest)} of the repository in the registry."""
    base = f"http://{registry}/v2/{repository}"
    listed = _get(f"{base}/tags/list")
    if listed is None:
        return {}
    tags = json.loads(listed[0]).get("tags") or []
    found = {}
    for tag in tags:
        got = _get(f"{base}/manifests/{urllib.parse.quote(tag)}", MANIFEST_TYPES)
        if got is None:
            continue  # deleted between the listing and now
        body, media_type = got
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        found[tag] = (body.decode(), media_type.split(";")[0].strip(), digest)
    return found


def mirror(backend, repository_name, registry=None):
    """Makes the tags the registry holds for the repository ECR's, each at the registry's
    digest. A repository ECR doesn't have is left alone: ECR's reads then fail as AWS's do."""
    registry = REGISTRY if registry is None else registry
    repository = backend.repositories.get(repository_name)
    if not registry or repository is None:
        return
    with _LOCK:
        try:
            pushed = registry_tags(registry, repository_name)
        except (OSError, ValueError) as e:
            log(f"could not read {repository_name} from the registry {registry}: {e!r}")
            return
        for tag, (manifest, media_type, digest) in pushed.items():
            current = next((i for i in repository.images if tag in (i.image_tags or [])), None)
            if current is not None and current.get_image_digest() == digest:
                continue
            try:
                backend.put_image(repository_name, manifest, tag, media_type, digest)
            except Exception as e:  # an immutable tag ECR already has elsewhere: ECR's word stands
                log(f"{repository_name}:{tag} not mirrored: {e}")


def _mirroring(read):
    def wrapped(self, repository_name, *args, **kwargs):
        mirror(self, repository_name)
        return read(self, repository_name, *args, **kwargs)

    wrapped.__name__ = read.__name__
    return wrapped


def get_authorization_token(self):
    """moto's answer, with the sandbox's registry as the endpoint instead of AWS's host. The
    registry speaks plain HTTP on loopback, which Docker allows without TLS."""
    result = _original_get_authorization_token(self)
    if REGISTRY:
        for data in result.result["authorizationData"]:
            data["proxyEndpoint"] = f"http://{REGISTRY}"
    return result


_original_get_authorization_token = ecr_responses.ECRResponse.get_authorization_token


def install():
    """Wraps moto's ECR; call before moto's server runs."""
    backend = ecr_models.ECRBackend
    for name in ("list_images", "describe_images", "batch_get_image"):
        setattr(backend, name, _mirroring(getattr(backend, name)))
    ecr_responses.ECRResponse.get_authorization_token = get_authorization_token
    log(f"ECR's registry is {REGISTRY or 'AWS (no EVENTFLOW_SANDBOX_REGISTRY)'}")
