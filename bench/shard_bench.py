"""Benchmark: one AWS organisation read by one `annexa run` against N concurrent `--shard K/N` runs.

Starts a moto server on loopback (in this process), seeds an organisation (ACCOUNTS accounts, the
management one included, each with KMS keys and log groups in every Region and IAM users), then
times, each on a fresh database: an unsharded run, and N shard processes started together for each
N in --shards. Prints wall time, the slowest and fastest shard, and how many findings each store
holds (they must match), and writes the figures as JSON.

    python bench/shard_bench.py --pg-url postgresql+psycopg://postgres@127.0.0.1:54329/postgres
    python bench/shard_bench.py --accounts 8 --regions 3 --shards 2,4      # SQLite when no --pg-url

On one machine moto itself is CPU-bound and shares the cores with the shards: the figures show
the overhead and the split, not the speed-up of shards on separate nodes against real AWS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ALL_REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "us-west-2", "ap-southeast-2"]


def seed(accounts: int, regions: list[str], per_region: int) -> list[str]:
    import boto3

    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    members = [org.create_account(Email=f"m{i}@example.com", AccountName=f"m{i}")["CreateAccountStatus"]["AccountId"]
               for i in range(accounts - 1)]
    home = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
    for account in [home, *members]:
        if account == home:
            session = boto3.Session(region_name="us-east-1")
        else:
            creds = boto3.client("sts", region_name="us-east-1").assume_role(
                RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
                RoleSessionName="seed")["Credentials"]
            session = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                    aws_secret_access_key=creds["SecretAccessKey"],
                                    aws_session_token=creds["SessionToken"], region_name="us-east-1")
            session.client("iam").create_role(RoleName="AnnexaReadOnly", AssumeRolePolicyDocument="{}")
        for i in range(per_region):
            session.client("iam").create_user(UserName=f"user{i}")
        for region in regions:
            for i in range(per_region):
                session.client("kms", region_name=region).create_key(Description=f"k{i}")
                session.client("logs", region_name=region).create_log_group(logGroupName=f"/app/{i}")
    return [home, *members]


def store_url(pg_url: str | None, folder: Path) -> str:
    if not pg_url:
        return f"sqlite:///{folder / 'annexa.db'}"
    import psycopg

    name = "shardbench_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url.rsplit("/", 1)[0] + "/" + name


def config(folder: Path, url: str, regions: list[str]) -> Path:
    folder.mkdir(parents=True)
    cfg = folder / "annexa.yaml"
    cfg.write_text(f"store:\n  url: {url}\n  evidence: {folder / 'evidence'}\nsources:\n"
                   f"  - name: aws-org\n    type: aws\n    regions: [{', '.join(regions)}]\n"
                   "    accounts: organization\n    services: [kms, logs, iam]\n")
    return cfg


def run_all(cfg: Path, shards: int | None) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ks = [None] if shards is None else list(range(shards))
    before = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    procs = []
    for k in ks:
        args = [sys.executable, "-m", "agent", "--config", str(cfg), "run", "--quiet", "--format", "json"]
        if k is not None:
            args += ["--shard", f"{k}/{shards}"]
        procs.append((time.monotonic(), subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                         text=True, env=env)))
    walls, resources = [], []
    for began, proc in procs:
        out, err = proc.communicate(timeout=1800)
        walls.append(time.monotonic() - began)
        if proc.returncode not in (0, 3):
            raise SystemExit(f"annexa run failed ({proc.returncode}): {err[-2000:]}")
        resources.append(sum(s["resources"] for s in json.loads(out)["sources"]))
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = [round((a.ru_utime + a.ru_stime) - (b.ru_utime + b.ru_stime), 2) for a, b in zip(after, before, strict=True)]
    from agent.config import load_config
    from agent.store.store import EvidenceStore

    conf = load_config(cfg)
    store = EvidenceStore.open(conf.store_url, conf.evidence_dir)
    findings = sum(1 for _ in store.current_findings())
    store.engine.dispose()
    return {"shards": "-" if shards is None else shards, "wall_s": round(wall, 2), "slowest_s": round(max(walls), 2),
            "fastest_s": round(min(walls), 2), "emulator_cpu_s": cpu[0], "annexa_cpu_s": cpu[1],
            "resources_per_shard": resources, "findings": findings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--regions", type=int, default=3)
    parser.add_argument("--per-region", type=int, default=3, help="KMS keys, log groups (and IAM users) each")
    parser.add_argument("--shards", default="2,4")
    parser.add_argument("--pg-url", default=os.environ.get("ANNEXA_TEST_PG_URL"))
    parser.add_argument("--json", default=str(ROOT / "bench" / "shard_latest.json"))
    args = parser.parse_args()

    os.environ.update({"MOTO_IAM_LOAD_MANAGED_POLICIES": "false", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    regions = ALL_REGIONS[: args.regions]
    try:
        seed(args.accounts, regions, args.per_region)
        rows = []
        with tempfile.TemporaryDirectory(prefix="annexa-shards-") as tmp:
            for n in [None, *(int(x) for x in args.shards.split(","))]:
                folder = Path(tmp) / ("unsharded" if n is None else f"n{n}")
                rows.append(run_all(config(folder, store_url(args.pg_url, folder), regions), n))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        server.stop()
    units = args.accounts * (len(regions) + 1)
    report = {"accounts": args.accounts, "regions": len(regions), "units": units,
              "store": "postgresql" if args.pg_url else "sqlite", "cpus": os.cpu_count(), "runs": rows}
    print(f"\n{args.accounts} accounts x {len(regions)} Regions ({units} units), {report['store']} store")
    print(f"{'shards':>6} {'wall s':>7} {'slowest':>7} {'fastest':>7} {'moto cpu':>8} {'annexa cpu':>10} "
          f"{'findings':>8}  resources per shard")
    for r in rows:
        print(f"{r['shards']:>6} {r['wall_s']:>7} {r['slowest_s']:>7} {r['fastest_s']:>7} {r['emulator_cpu_s']:>8} "
              f"{r['annexa_cpu_s']:>10} {r['findings']:>8}  {r['resources_per_shard']}")
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
