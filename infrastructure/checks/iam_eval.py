"""Evaluates IAM policies against exact (action, resource ARN) pairs with moto's own policy
evaluator, `moto.iam.access_control.IAMPolicy(document).is_action_permitted(action, resource)`,
which matches resources as IAM does (wildcards in ARNs, Deny over Allow). Its condition support
is basic (a condition key without a value fails the statement), so each request carries the
condition keys AWS would set for it (`context`), and no refusal may rely on a condition.

Run with the AWS emulator's venv (where moto is installed). Reads one JSON object on stdin:
  {"policies": {"staging": <policy document>, ...},
   "requests": [{"action": "ecs:UpdateService", "resource": "arn:...", "context": {...}}, ...]}
and writes, for each request in order, each policy's verdict:
  [{"staging": "ALLOW" | "DENY" | "NEUTRAL", ...}, ...]
(NEUTRAL: no statement matched, which IAM treats as a refusal.)

`cargo test -p eventflow-infra-checks --test iam_eval` runs it (tests/iam_eval.rs).
"""

import json
import sys

from moto.iam.access_control import IAMPolicy, PermissionResult


def verdict(document, action, resource, context):
    result = IAMPolicy(json.dumps(document)).is_action_permitted(
        action, resource, incoming_condition_values=context or None
    )
    return {
        PermissionResult.PERMITTED: "ALLOW",
        PermissionResult.DENIED: "DENY",
        PermissionResult.NEUTRAL: "NEUTRAL",
    }[result]


def main():
    request = json.load(sys.stdin)
    policies = request["policies"]
    out = [
        {
            name: verdict(document, r["action"], r["resource"], r.get("context"))
            for name, document in policies.items()
        }
        for r in request["requests"]
    ]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
