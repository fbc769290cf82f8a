"""`annexa run --shard K/N` splits one Azure tenant's subscriptions between N concurrent processes.

The acme tenant (three subscriptions and Entra ID) plus eight team subscriptions on the Azure fake,
with a 403 on one team subscription's storage listing. Four `annexa run --shard k/4` processes run at
once on one PostgreSQL store; an unsharded run goes to another: the current findings and the stored
evidence must be equal, each shard seals its own run, and the store verifies. Then subscriptions
change and the shards run as 3: still equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.fakeapi.azure import acme
from agent.fakeapi.azure import infra as i
from agent.fakeapi.azure.tenant import AzureTenant
from agent.fakeapi.errors import arm_error
from tests.collectors.azure.conftest import TOKEN, source_yaml, started
from tests.support.sharded import (
    assert_reshard_matches,
    current,
    evidence,
    run_once,
    run_shards,
    sealed_runs,
    verify,
    write_config,
)

TEAMS = [f"{n:08d}-0000-4000-8000-{n:012d}" for n in range(1, 9)]
DENIED = TEAMS[3]
LOGS = ("azure.entra.signin_activity", "azure.activitylog.activity", "azure.entra.audit_activity")


def _tenant() -> AzureTenant:
    tenant, _ = acme.build()
    for n, sub in enumerate(TEAMS):
        tenant.add_subscription(sub, f"Team {n}")
        account = i.storage_account(sub, "rg-data", f"team{n}data")
        tenant.put(account, i.blob_service(account["id"]),
                   i.nsg(sub, "rg-net", "nsg-web", [i.security_rule("https", 100, ports="443", source="Internet")]))
    return tenant


def _without_logs(stored: Any) -> Any:
    """Log summaries name when their history starts (each process's first read): compared by id only."""
    return {k: v for k, v in stored.items() if k[0] not in LOGS}


def test_four_concurrent_shards_equal_one_unsharded_run(tmp_path: Path, postgres: Any) -> None:
    tenant = _tenant()
    fake = started(tenant)
    env = {"AZURE_TEST_TOKEN": TOKEN}
    try:
        fake.fail(rf"^/subscriptions/{DENIED}/providers/Microsoft\.Storage/storageAccounts$",
                  arm_error(403, "AuthorizationFailed", "The client does not have authorization to perform "
                            "action 'Microsoft.Storage/storageAccounts/read'"), times=10**6)
        single = write_config(tmp_path / "single", postgres.fresh_database(), source_yaml(fake))
        sharded = write_config(tmp_path / "sharded", postgres.fresh_database(), source_yaml(fake))
        run_once(single, env)
        outputs = run_shards(sharded, 4, env)
        expected = current(single)
        assert current(sharded) == expected  # same findings, none twice, none missing
        same = [evidence(c) for c in (sharded, single)]
        assert _without_logs(same[0]) == _without_logs(same[1])
        assert sorted(k[1] for k in same[0] if k[0] in LOGS) == sorted(k[1] for k in same[1] if k[0] in LOGS)
        accounts = {a for (_, _, a, _, _) in expected}
        assert {*TEAMS, acme.PROD, acme.DEV, acme.SANDBOX} <= accounts
        # the 403 is scoped to that subscription's storage findings
        errors = {(rule, a) for (rule, _, a, _, s) in expected if s == "error" and rule.startswith("azure.storage.")}
        assert errors and {a for _, a in errors} == {DENIED}, errors
        runs = sealed_runs(sharded)
        assert sorted(r["shard"] for r in runs) == ["0/4", "1/4", "2/4", "3/4"]
        assert all(r["seq"] is not None and r["hash"] and r["status"] in ("complete", "partial") for r in runs)
        assert sorted(o["run_id"] for o in outputs) == sorted(r["id"] for r in runs)
        assert sum(1 for o in outputs if o["sources"][0]["resources"]) >= 3  # the subscriptions were shared out
        partial = [o for o in outputs if o["status"] == "partial"]
        assert len(partial) == 1, [o["status"] for o in outputs]  # only the shard owning the denied one
        verify(sharded)

        # Subscriptions change; the shards now run as 3 and still leave exactly the unsharded findings.
        tenant.remove(f"/subscriptions/{TEAMS[0]}/resourceGroups/rg-data/providers/Microsoft.Storage/"
                      "storageAccounts/team0data")
        account = i.storage_account(TEAMS[5], "rg-data", "team5extra")
        tenant.put(account, i.blob_service(account["id"]))
        assert_reshard_matches(single, sharded, env, expected)
    finally:
        fake.stop()
