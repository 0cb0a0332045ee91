"""Deploy principals in the AWS emulator (moto), for the deploy tests and `cargo xtask sandbox`.

Reads one JSON object on stdin:
  {"endpoint": "http://127.0.0.1:PORT", "region": "eu-central-1",
   "admin": {"AWS_ACCESS_KEY_ID": ..., "AWS_SECRET_ACCESS_KEY": ...} | null,
   "roles": {"staging": <policy document>, ...},
   "enforce": true | false}
and writes one JSON object on stdout:
  {"admin": {...credentials...}, "roles": {"staging": {...credentials...}, ...}}

With "admin": null the emulator must not enforce IAM yet: an admin user (every action) is made
first and does the rest. Each role is an IAM role holding its policy inline, assumed by the
admin through the emulator's STS: moto's access control authorises assumed-role credentials
against the role's policies. With "enforce", IAM enforcement is switched on last
(`POST /moto-api/reset-auth`, body 0: every later request is authenticated and authorised).

Credentials go through stdin and stdout only, never the command line.
"""

import json
import sys
import urllib.request

import boto3

ACCOUNT = "123456789012"
ADMIN_USER = "eventflow-admin"
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# Assumed-role credentials last as long as moto lets them: a sandbox stays up for a working day.
SESSION_SECONDS = 43200


def client(service, request, credentials):
    return boto3.client(
        service,
        endpoint_url=request["endpoint"],
        region_name=request["region"],
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=credentials.get("AWS_SESSION_TOKEN"),
    )


def make_admin(request):
    # Before enforcement any key is accepted; this one only creates the admin.
    bootstrap = {"AWS_ACCESS_KEY_ID": "bootstrap", "AWS_SECRET_ACCESS_KEY": "bootstrap"}
    iam = client("iam", request, bootstrap)
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(
        UserName=ADMIN_USER,
        PolicyName="everything",
        PolicyDocument=json.dumps(ADMIN_POLICY),
    )
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def make_role(request, admin, name, policy):
    iam = client("iam", request, admin)
    role_name = f"eventflow-{name}-github-deploy"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{ADMIN_USER}"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=json.dumps(trust),
        MaxSessionDuration=SESSION_SECONDS,
    )
    iam.put_role_policy(
        RoleName=role_name, PolicyName="deploy", PolicyDocument=json.dumps(policy)
    )
    assumed = client("sts", request, admin).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role_name}",
        RoleSessionName=f"eventflow-{name}",
        DurationSeconds=SESSION_SECONDS,
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": assumed["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": assumed["SecretAccessKey"],
        "AWS_SESSION_TOKEN": assumed["SessionToken"],
        "role_arn": f"arn:aws:iam::{ACCOUNT}:role/{role_name}",
    }


def enforce(request):
    reset = urllib.request.Request(
        request["endpoint"] + "/moto-api/reset-auth",
        data=b"0",
        headers={"Content-Type": "text/plain"},
        method="POST",
    )
    with urllib.request.urlopen(reset, timeout=10) as response:
        if response.status != 200:
            raise SystemExit(f"moto-api/reset-auth answered {response.status}")


def main():
    request = json.load(sys.stdin)
    admin = request.get("admin") or make_admin(request)
    roles = {
        name: make_role(request, admin, name, policy)
        for name, policy in request.get("roles", {}).items()
    }
    if request.get("enforce"):
        enforce(request)
    json.dump({"admin": admin, "roles": roles}, sys.stdout)


if __name__ == "__main__":
    main()
