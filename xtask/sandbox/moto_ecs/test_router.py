"""The load balancer on loopback: a test listener as modules/alb builds it (403 by default, a
rule that forwards only with the X-EventFlow-Test-Key header), served by router.py in-process
against moto's ELBv2, with a loopback HTTP server as the registered target.

Run with the emulator's venv: `target/xtask/moto-venv/bin/python -m unittest discover -s
xtask/sandbox/moto_ecs`.
"""

import http.server
import os
import sys
import threading
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# moto's in-process mock only: a stage that runs these tests has the emulator's server and a
# deploy role's keys in its environment, and boto3 would send these calls there instead.
for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(name, None)
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

import router  # noqa: E402
import scheduler  # noqa: E402

REGION = "eu-central-1"
HEADER = "X-EventFlow-Test-Key"
KEY = "0123456789abcdef"


class Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"from the target"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def get(url, headers):
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class TestListener(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        scheduler.install(start=False)
        router.install()

    def setUp(self):
        self.mock = mock_aws()
        self.mock.start()
        self.addCleanup(self.mock.stop)
        target = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
        threading.Thread(target=target.serve_forever, daemon=True).start()
        self.addCleanup(target.server_close)
        self.addCleanup(target.shutdown)
        self.url = self.listener(target.server_address[1])

    def listener(self, target_port):
        ec2 = boto3.client("ec2", region_name=REGION)
        elb = boto3.client("elbv2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnets = [
            ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
            for cidr, zone in [("10.0.1.0/24", "eu-central-1a"), ("10.0.2.0/24", "eu-central-1b")]
        ]
        lb = elb.create_load_balancer(Name="eventflow-production", Subnets=subnets)["LoadBalancers"][0]
        group = elb.create_target_group(
            Name="eventflow-prod-backend-green", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=group, Targets=[{"Id": "127.0.0.1", "Port": target_port}])
        listener = elb.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"],
            Protocol="HTTP",
            Port=8443,
            DefaultActions=[
                {
                    "Type": "fixed-response",
                    "FixedResponseConfig": {"StatusCode": "403", "ContentType": "text/plain", "MessageBody": "Forbidden"},
                }
            ],
        )["Listeners"][0]["ListenerArn"]
        elb.create_rule(
            ListenerArn=listener,
            Priority=10,
            Conditions=[
                {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/health"]}},
                {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": HEADER, "Values": [KEY]}},
            ],
            Actions=[{"Type": "forward", "TargetGroupArn": group}],
        )
        tags = elb.describe_tags(ResourceArns=[listener])["TagDescriptions"][0]["Tags"]
        return next(t["Value"] for t in tags if t["Key"] == router.URL_TAG)

    def test_without_the_test_key_the_listener_answers_403(self):
        status, body = get(f"{self.url}/health", {"User-Agent": "eventflow-test"})
        self.assertEqual((status, body), (403, "Forbidden"))

    def test_with_a_wrong_test_key_the_listener_answers_403(self):
        status, _ = get(f"{self.url}/health", {"User-Agent": "eventflow-test", HEADER: "not-the-key"})
        self.assertEqual(status, 403)

    def test_with_the_test_key_it_forwards_to_the_target(self):
        status, body = get(f"{self.url}/health", {"User-Agent": "eventflow-test", HEADER: KEY})
        self.assertEqual((status, body), (200, "from the target"))

    def test_the_waf_refuses_a_request_without_user_agent_even_with_the_key(self):
        request = urllib.request.Request(f"{self.url}/health", headers={HEADER: KEY})
        request.remove_header("User-agent")
        opener = urllib.request.build_opener()
        opener.addheaders = []  # urllib adds a User-Agent of its own otherwise
        try:
            opener.open(request, timeout=5)
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
        self.assertEqual(status, 403)


if __name__ == "__main__":
    unittest.main()
