"""ECR backed by the sandbox's registry, against moto's own ECR and a registry served from a
dict on loopback.

Run with the emulator's venv: `target/xtask/moto-venv/bin/python -m unittest discover -s
xtask/sandbox/moto_ecs`.
"""

import base64
import hashlib
import http.server
import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

import ecr_registry  # noqa: E402

REGION = "eu-central-1"
MEDIA = "application/vnd.oci.image.manifest.v1+json"


def manifest(layer):
    return json.dumps({"schemaVersion": 2, "mediaType": MEDIA, "config": {"digest": "sha256:" + "c" * 64},
                       "layers": [{"digest": "sha256:" + layer * 64}]}).encode()


class Registry(http.server.BaseHTTPRequestHandler):
    """The distribution API's two reads: tags/list and manifests/<tag>, from `images`."""

    images = {}  # {repository: {tag: manifest bytes}}

    def do_GET(self):
        parts = self.path.split("/")  # "", "v2", repository, "tags"|"manifests", ...
        tags = self.images.get(parts[2]) if len(parts) >= 5 else None
        if tags is None:
            return self.answer(404, b"{}", "application/json")
        if parts[3] == "tags":
            return self.answer(200, json.dumps({"name": parts[2], "tags": list(tags)}).encode(), "application/json")
        body = tags.get(parts[4])
        if body is None:
            return self.answer(404, b"{}", "application/json")
        self.answer(200, body, MEDIA)

    def answer(self, status, body, media_type):
        self.send_response(status)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def setUpModule():
    ecr_registry.install()


class EcrRegistryTest(unittest.TestCase):
    def setUp(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Registry)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        Registry.images = {}
        original = ecr_registry.REGISTRY
        ecr_registry.REGISTRY = f"127.0.0.1:{server.server_address[1]}"
        self.addCleanup(setattr, ecr_registry, "REGISTRY", original)
        mock = mock_aws()
        mock.start()
        self.addCleanup(mock.stop)
        self.ecr = boto3.client("ecr", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
        self.ecr.create_repository(repositoryName="eventflow-backend")

    def tags(self):
        images = self.ecr.describe_images(repositoryName="eventflow-backend")["imageDetails"]
        return {tag: image["imageDigest"] for image in images for tag in image.get("imageTags", [])}

    def test_the_authorization_token_names_the_sandbox_registry(self):
        data = self.ecr.get_authorization_token()["authorizationData"][0]
        self.assertEqual(data["proxyEndpoint"], f"http://{ecr_registry.REGISTRY}")
        self.assertTrue(base64.b64decode(data["authorizationToken"]).startswith(b"AWS:"))

    def test_without_a_registry_the_endpoint_stays_aws(self):
        ecr_registry.REGISTRY = ""
        data = self.ecr.get_authorization_token()["authorizationData"][0]
        self.assertIn(".dkr.ecr.", data["proxyEndpoint"])

    def test_a_pushed_tag_is_listed_at_the_registry_digest(self):
        self.assertEqual(self.tags(), {})
        Registry.images = {"eventflow-backend": {"abc123": manifest("a"), "develop": manifest("a")}}
        digest = "sha256:" + hashlib.sha256(manifest("a")).hexdigest()
        self.assertEqual(self.tags(), {"abc123": digest, "develop": digest})
        listed = self.ecr.list_images(repositoryName="eventflow-backend")["imageIds"]
        self.assertEqual(sorted(i["imageTag"] for i in listed), ["abc123", "develop"])
        got = self.ecr.batch_get_image(repositoryName="eventflow-backend", imageIds=[{"imageTag": "abc123"}])
        self.assertEqual(got["images"][0]["imageManifest"], manifest("a").decode())

    def test_a_moved_tag_follows_the_registry(self):
        Registry.images = {"eventflow-backend": {"develop": manifest("a")}}
        before = self.tags()["develop"]
        Registry.images = {"eventflow-backend": {"develop": manifest("b")}}
        after = self.tags()["develop"]
        self.assertNotEqual(before, after)
        self.assertEqual(after, "sha256:" + hashlib.sha256(manifest("b")).hexdigest())

    def test_an_immutable_tag_ecr_has_elsewhere_stays(self):
        self.ecr.put_image_tag_mutability(repositoryName="eventflow-backend", imageTagMutability="IMMUTABLE")
        Registry.images = {"eventflow-backend": {"v1": manifest("a")}}
        kept = self.tags()["v1"]
        Registry.images = {"eventflow-backend": {"v1": manifest("b")}}
        self.assertEqual(self.tags()["v1"], kept)

    def test_images_put_with_put_image_stay_and_other_repositories_are_untouched(self):
        self.ecr.put_image(repositoryName="eventflow-backend", imageManifest=manifest("d").decode(), imageTag="seeded")
        Registry.images = {"eventflow-frontend": {"x": manifest("a")}}
        self.assertEqual(list(self.tags()), ["seeded"])
