"""`annexa init`: write a commented starter configuration."""

from __future__ import annotations

from pathlib import Path

import click

STARTER = """\
# Annexa configuration. Reference: docs/reference.md in the Annexa repository, and `annexa --help`.
# Secrets never go in this file: name the environment variable that holds them (token_env).

store:
  url: sqlite:///annexa.db        # or postgresql+psycopg://user@host/annexa; env ANNEXA_STORE_URL wins
  evidence: ./evidence            # evidence blobs: a folder, or s3://bucket/prefix

soa: soa.yaml                     # Statement of Applicability (annexa soa init writes one)
# exceptions: exceptions.yaml     # risk acceptances with owner and expiry

sources:
  - name: aws-main
    type: aws
    regions: [us-east-1, eu-west-1]   # or: all
    # accounts: organization         # walk AWS Organizations and assume role_name in each account
    # role_name: AnnexaReadOnly
    schedule: "0 */6 * * *"          # used by `annexa daemon`

  # - name: gh
  #   type: github
  #   org: acme
  #   token_env: GITHUB_TOKEN

  # - name: okta
  #   type: okta
  #   endpoint: https://acme.okta.com
  #   token_env: OKTA_API_TOKEN       # a read-only admin's API token (or auth: bearer for OAuth)

  # - name: workspace
  #   type: google_workspace
  #   credentials_file: /etc/annexa/workspace-reader.json   # service account with domain-wide delegation
  #   subject: annexa-reader@acme.com # the administrator it acts as

  # - name: hr                       # who works here: leavers, joiners (docs/people.md)
  #   type: hr_csv
  #   path: people/roster.csv        # relative to this file
  #   columns: {email: Work Email, status: Status, start_date: Hire Date, end_date: Termination Date}

identity:
  domains: []                      # e-mail domains of your company, e.g. [acme.com]
  # aliases: {"github:carol-acme": carol@acme.com}   # other identifiers -> the person's e-mail
  service_accounts: []             # accounts that are never leavers or orphans (globs allowed)

metrics:
  listen: 127.0.0.1:9464
"""


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=".", show_default=True)
def init(force: bool, directory: str) -> None:
    """Write a commented starter annexa.yaml (and soa.yaml)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "annexa.yaml"
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; use --force to overwrite it")
    target.write_text(STARTER, encoding="utf-8")
    click.echo(f"wrote {target}")
    try:
        from agent.soa import write_starter_soa
    except ImportError:
        return
    soa_path = folder / "soa.yaml"
    if soa_path.exists() and not force:
        click.echo(f"kept existing {soa_path}")
    else:
        write_starter_soa(soa_path)
        click.echo(f"wrote {soa_path}")


COMMANDS = [init]
