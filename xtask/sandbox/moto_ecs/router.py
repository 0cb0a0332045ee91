"""The load balancer and its WAF on loopback (see README.md).

Every listener the emulator creates gets an HTTP server on a free loopback port, named by the
listener's tag `eventflow:sandbox-url`. It reads the listener's rules and weights from the
emulator on every request and forwards to a registered target whose health check passes.
The WAF does what our Terraform's web ACL does that a client can trip: a request without a
User-Agent gets 403 (AWSManagedRulesCommonRuleSet, NoUserAgent_HEADER); bodies over 8 KB are
counted, not blocked (our SizeRestrictions_BODY override).
"""

import fnmatch
import http.client
import http.server
import random
import threading

from moto.elbv2 import models as elbv2_models

import scheduler

URL_TAG = "eventflow:sandbox-url"
TARGET_HEADER = "X-Sandbox-Target"
BODY_LIMIT = 8 * 1024
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "host", "content-length"}
# WAF counters, as CloudWatch would show them per rule.
COUNTS = {"NoUserAgent_HEADER": 0, "SizeRestrictions_BODY": 0}

_create_listener = elbv2_models.ELBv2Backend.create_listener


def matches(rule, path, headers):
    """Whether every condition of `rule` holds: an ALB ANDs a rule's conditions and ORs the
    values within one. `headers` maps lower-case header names to values."""
    for condition in rule.conditions or []:
        field = condition.get("Field")
        if field == "path-pattern":
            values = (condition.get("PathPatternConfig") or {}).get("Values") or condition.get("Values") or []
            if not any(fnmatch.fnmatchcase(path, v) for v in values):
                return False
        elif field == "http-header":
            # The test listener's rules: forward only with the test key (modules/alb). An ALB
            # compares header values case-insensitively, with * and ? wildcards.
            config = condition.get("HttpHeaderConfig") or {}
            value = headers.get((config.get("HttpHeaderName") or "").lower())
            if value is None or not any(
                fnmatch.fnmatchcase(value.lower(), v.lower()) for v in config.get("Values") or []
            ):
                return False
        elif field is not None:
            return False  # conditions the sandbox doesn't model never match
    return True


def choose(listener, path, headers):
    """The action of the first rule that matches, by priority, else the default."""
    rules = sorted(listener._non_default_rules.values(), key=lambda r: int(r.priority))
    for rule in rules:
        if matches(rule, path, headers):
            return rule.actions[0]
    return listener._default_rule[0].actions[0]


def pick_target(backend, action):
    data = action.data
    groups = []
    if data.get("ForwardConfig"):
        groups = [(g["TargetGroupArn"], int(g.get("Weight", 1))) for g in data["ForwardConfig"]["TargetGroups"]]
    elif data.get("TargetGroupArn"):
        groups = [(data["TargetGroupArn"], 1)]
    groups = [(arn, w) for arn, w in groups if w > 0]
    if not groups:
        return None
    arn = random.choices([a for a, _ in groups], weights=[w for _, w in groups])[0]
    group = backend.target_groups.get(arn)
    if group is None:
        return None
    targets = list(group.targets.items())
    healthy = [t for key, t in targets if scheduler.HEALTH.get((arn, key), ["initial"])[0] == "healthy"]
    # An ALB fails open: with no healthy target it routes to all of them.
    pool = healthy or [t for _, t in targets]
    return random.choice(pool) if pool else None


def handler_for(backend, listener_arn):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def answer(self, status, body, headers=()):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if not self.headers.get("User-Agent"):
                COUNTS["NoUserAgent_HEADER"] += 1
                return self.answer(403, "<html><body>403 Forbidden</body></html>", [("Content-Type", "text/html")])
            if len(body) > BODY_LIMIT:
                COUNTS["SizeRestrictions_BODY"] += 1  # counted, not blocked
            path = self.path.split("?", 1)[0]
            with scheduler.LOCK:
                listener = backend.describe_listeners(None, [listener_arn])[0]
                action = choose(listener, path, {k.lower(): v for k, v in self.headers.items()})
                if action.type == "fixed-response":
                    config = action.data.get("FixedResponseConfig") or {}
                    return self.answer(int(config.get("StatusCode", 503)), config.get("MessageBody", ""),
                                       [("Content-Type", config.get("ContentType", "text/plain"))])
                target = pick_target(backend, action)
            if target is None:
                return self.answer(503, "503 Service Temporarily Unavailable")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["X-Forwarded-For"] = self.client_address[0]
            try:
                conn = http.client.HTTPConnection(target["Id"], int(target["Port"]), timeout=30)
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                conn.close()
            except OSError:
                return self.answer(502, "502 Bad Gateway")
            out = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            # The sandbox's own header (an ALB sends none): which task answered, so a test can
            # see a traffic shift land on the other colour's containers.
            out.append((TARGET_HEADER, f"{target['Id']}:{target['Port']}"))
            self.answer(response.status, data, out)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = handle_any

    return Handler


def create_listener(self, *args, **kwargs):
    listener = _create_listener(self, *args, **kwargs)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self, listener.arn))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name=f"router-{listener.port}", daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    self.tagging_service.tag_resource(listener.arn, [{"Key": URL_TAG, "Value": url}])
    scheduler.log(f"listener {listener.port} of {listener.load_balancer_arn.split('/')[-2]} serves {url}")
    return listener


def install():
    elbv2_models.ELBv2Backend.create_listener = create_listener
