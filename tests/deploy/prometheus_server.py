"""A real Prometheus server on a free loopback port, for tests.

    from tests.deploy.prometheus_server import PrometheusServer

    with PrometheusServer(targets=["127.0.0.1:9464"], scrape_interval="1s") as prom:
        prom.wait_for_scrapes(2)                     # rate()/increase() need two samples
        result = prom.query('sum by (status) (annexa_findings)')   # the "data" part of the answer

``prometheus`` comes from Debian's package (scripts/install-deploy-tools.sh installs it). Port 0
is not supported by ``--web.listen-address``, so a free port is picked by binding a socket first;
a start that loses the race for that port is retried on another one. ``StaticExporter`` serves a
fixed Prometheus exposition on loopback, to be scraped in place of a real exporter.
"""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml


class PrometheusError(RuntimeError):
    """Prometheus could not be started, or answered a query with an error."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrometheusServer:
    """Start ``prometheus`` scraping *targets* (``host:port`` strings; none is fine), stop it on exit.

    *rule_files* are copied into the server's config folder and loaded. The server's own
    ``up`` series for each target appears with ``job="annexa"`` (or *job*).
    """

    def __init__(
        self,
        targets: list[str] | None = None,
        *,
        scrape_interval: str = "1s",
        job: str = "annexa",
        metrics_path: str = "/metrics",
        rule_files: list[str | Path] | None = None,
        binary: str | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.targets = list(targets or [])
        self.scrape_interval = scrape_interval
        self.job = job
        self.metrics_path = metrics_path
        self.rule_files = [Path(p) for p in rule_files or []]
        self.binary = binary or shutil.which("prometheus")
        self.start_timeout = start_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise PrometheusError("Prometheus is not running")
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------
    def _write_config(self, folder: Path) -> Path:
        rule_names = []
        for i, rule_file in enumerate(self.rule_files):
            name = f"rules-{i}-{rule_file.name}"
            shutil.copyfile(rule_file, folder / name)
            rule_names.append(name)
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": self.scrape_interval},
            "rule_files": rule_names,
            "scrape_configs": [],
        }
        if self.targets:
            config["scrape_configs"].append(
                {
                    "job_name": self.job,
                    "metrics_path": self.metrics_path,
                    "static_configs": [{"targets": self.targets}],
                }
            )
        path = folder / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return path

    def start(self) -> PrometheusServer:
        if not self.binary:
            raise PrometheusError("prometheus not found on PATH: run scripts/install-deploy-tools.sh")
        self._tmp = tempfile.TemporaryDirectory(prefix="annexa-prometheus-")
        folder = Path(self._tmp.name)
        config = self._write_config(folder)
        last_error = ""
        for _attempt in range(3):
            self.port = free_port()
            log = (folder / "prometheus.log").open("wb")
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={folder / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=folder,
            )
            log.close()
            if self._wait_ready():
                return self
            last_error = self.log()
            self._terminate()
            if "address already in use" not in last_error:
                break
        self.stop()
        raise PrometheusError(f"prometheus did not become ready:\n{last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return True
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        return False

    def _terminate(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
        self._proc = None

    def stop(self) -> None:
        self._terminate()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.port = None

    def log(self) -> str:
        """What Prometheus printed so far."""
        if self._tmp is None:
            return ""
        path = Path(self._tmp.name) / "prometheus.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP API ----------------------------------------------------------------------------
    def api(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        """GET /api/v1/<path>; returns the whole JSON answer, also for errors (status "error")."""
        query = urllib.parse.urlencode(params or {})
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as err:  # 400/422/503 carry a JSON error body
            body = err.read()
            try:
                return json.loads(body)
            except ValueError:
                return {"status": "error", "errorType": str(err.code), "error": body.decode(errors="replace")}

    def query_raw(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """Instant query; the whole answer (``status`` is "success" or "error")."""
        params = {"query": expr}
        if at is not None:
            params["time"] = str(at)
        return self.api("query", params)

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """Instant query; the ``data`` part. Raises PrometheusError if Prometheus rejects it."""
        answer = self.query_raw(expr, at)
        if answer.get("status") != "success":
            raise PrometheusError(f"{answer.get('errorType')}: {answer.get('error')} -- in: {expr}")
        return answer["data"]

    def query_range(self, expr: str, start: float, end: float, step: str = "15s") -> dict[str, Any]:
        answer = self.api("query_range", {"query": expr, "start": str(start), "end": str(end), "step": step})
        if answer.get("status") != "success":
            raise PrometheusError(f"{answer.get('errorType')}: {answer.get('error')} -- in: {expr}")
        return answer["data"]

    def wait_for_scrapes(self, count: int = 2, timeout: float = 30.0) -> None:
        """Wait until every target has been scraped *count* times (rate() needs 2 samples)."""
        expected = len(self.targets)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(f'count_over_time(up{{job="{self.job}"}}[1m]) >= {count}')["result"]
            if len(result) >= expected:
                return
            time.sleep(0.2)
        raise PrometheusError(f"targets not scraped {count} times within {timeout}s:\n{self.api('targets')}")


class StaticExporter:
    """Serve a fixed exposition text at /metrics on a free loopback port (a stand-in exporter)."""

    def __init__(self, exposition: str) -> None:
        self.exposition = exposition.encode("utf-8")
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def target(self) -> str:
        if self._server is None:
            raise RuntimeError("StaticExporter is not running")
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def __enter__(self) -> StaticExporter:
        body = self.exposition

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
