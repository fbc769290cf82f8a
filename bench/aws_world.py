"""The seeded AWS world of the scan benchmarks: a moto server in its own process, two Regions.

The scenario is `bench.aws_scan.seed` (every collected service, two copies per Region, with
deliberate passes and failures) plus an IAM layer where bulk reads matter: more users, groups,
customer-managed policies (one granting `*:*`), inline policies and a role trusting an outside
account. The same world feeds `bench/aws_scan.py`, `bench/compare_peers.py` and the detection
baseline (`bench/aws_detection_baseline.json`).

    python bench/aws_world.py serve [--port P]   # start moto, seed, print the URL, wait for Ctrl-C
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REGIONS = ("us-east-1", "eu-west-1")
COPIES = 2
OUTSIDE_ACCOUNT = "999999999999"
ADMIN = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
READ_S3 = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]})
TRUST_OUTSIDE = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDE_ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def moto_env(url: str) -> dict[str, str]:
    """What a scanner needs to reach the emulator (dummy credentials, the endpoint)."""
    return {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGIONS[0],
            "AWS_REGION": REGIONS[0], "AWS_ENDPOINT_URL": url}


class MotoWorld:
    """`python -m moto.server` on a free loopback port (its own process: its memory is not ours)."""

    def __init__(self, port: int | None = None) -> None:
        port = port or free_port()
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
        for key in ("AWS_ENDPOINT_URL",):
            env.pop(key, None)
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=120)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def seed_iam_layer() -> dict[str, int]:
    """Users in groups, customer-managed policies (one admin), inline policies, an outside trust."""
    import boto3

    iam = boto3.client("iam", region_name=REGIONS[0])
    made: Counter[str] = Counter()
    admin = iam.create_policy(PolicyName="world-admin", PolicyDocument=ADMIN)["Policy"]["Arn"]
    reader = iam.create_policy(PolicyName="world-s3-read", PolicyDocument=READ_S3)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=reader, PolicyDocument=READ_S3, SetAsDefault=True)
    made["iam.policy"] += 2
    iam.create_group(GroupName="world-ops")
    iam.attach_group_policy(GroupName="world-ops", PolicyArn=admin)
    iam.create_group(GroupName="world-readers")
    iam.attach_group_policy(GroupName="world-readers", PolicyArn=reader)
    made["iam.group"] += 2
    for i in range(6):
        name = f"world-user-{i}"
        iam.create_user(UserName=name, Tags=[{"Key": "email", "Value": f"{name}@example.com"}])
        iam.add_user_to_group(GroupName="world-ops" if i < 2 else "world-readers", UserName=name)
        if i % 2 == 0:
            iam.create_access_key(UserName=name)
        if i == 5:
            iam.put_user_policy(UserName=name, PolicyName="inline-admin", PolicyDocument=ADMIN)
        made["iam.user"] += 1
    iam.create_role(RoleName="world-vendor", AssumeRolePolicyDocument=TRUST_OUTSIDE)
    iam.attach_role_policy(RoleName="world-vendor", PolicyArn=reader)
    iam.put_role_policy(RoleName="world-vendor", PolicyName="inline-read", PolicyDocument=READ_S3)
    made["iam.role"] += 1
    return dict(made)


def seed_world(url: str) -> dict[str, Any]:
    """Seed the scenario into the emulator at `url` (boto3 from this process)."""
    saved = {k: os.environ.get(k) for k in moto_env(url)}
    os.environ.update(moto_env(url))
    try:
        from bench.aws_scan import seed

        made = seed(REGIONS, COPIES)
        for key, n in seed_iam_layer().items():
            made[key] = made.get(key, 0) + n
        return made
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="start moto, seed the world, print the URL and wait")
    serve.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    world = MotoWorld(args.port or None)
    try:
        made = seed_world(world.url)
        print(json.dumps({"url": world.url, "seeded": made}), flush=True)
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
