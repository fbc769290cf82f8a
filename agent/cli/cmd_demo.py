"""`annexa demo`: the whole pipeline, offline, on a bundled simulated AWS organisation."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default="annexa-demo",
              show_default=True, help="Folder for the demo's annexa.yaml, store and bundle (recreated on each run).")
def demo(directory: Path) -> None:
    """Run collection, evaluation, storage and export on a simulated AWS organisation.

    No credentials and no network: AWS is simulated in this process (moto). Afterwards the folder's
    annexa.yaml lets every other command explore the result, e.g.
    `annexa findings --config annexa-demo/annexa.yaml`.
    """
    import time

    from agent.demo.report import print_report
    from agent.demo.runner import run_demo

    began = time.monotonic()
    result = run_demo(directory, say=lambda msg: click.echo(f"… {msg}", err=True), quiet=False)
    print_report(result, began=began)


COMMANDS = [demo]
