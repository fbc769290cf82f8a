"""A throwaway PostgreSQL cluster on loopback for tests (initdb + pg_ctl, as the postgres user)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field


def _bin_dir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def postgres_available() -> str | None:
    """None if a cluster can be started here, else the reason it cannot."""
    if _bin_dir() is None:
        return "initdb not found (apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("su") is None:
        return "running as root without su"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'annexa[postgres]')"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: str) -> None:
    if os.geteuid() == 0:
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", cmd], check=True, capture_output=True)
    else:
        subprocess.run(["/bin/sh", "-c", cmd], check=True, capture_output=True)


@dataclass
class PostgresServer:
    url: str
    data_dir: str | None = None
    bin_dir: str | None = None
    created: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = _bin_dir()
        assert bindir
        port = _free_port()
        base = tempfile.mkdtemp(prefix="annexa-pg-")
        os.chmod(base, 0o755)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        data = os.path.join(base, "data")
        _as_postgres(f"{bindir}/initdb -D {data} -U postgres -A trust --no-sync -E UTF8 >/dev/null")
        _as_postgres(f"{bindir}/pg_ctl -D {data} -l {base}/log -w -o '-c listen_addresses=127.0.0.1 -p {port} "
                     f"-k {base} -c fsync=off -c max_connections=200' start")
        return cls(url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", data_dir=data, bin_dir=bindir)

    def fresh_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        plain = self.url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self.data_dir and self.bin_dir:
            _as_postgres(f"{self.bin_dir}/pg_ctl -D {self.data_dir} -m immediate -w stop")
            shutil.rmtree(os.path.dirname(self.data_dir), ignore_errors=True)
            return
        self._drop_created()  # a server we did not start (ANNEXA_TEST_PG_URL): leave it as we found it

    def drop_database(self, url: str) -> None:
        """Drop a database `fresh_database` made (connections still open to it are ended)."""
        name = url.rsplit("/", 1)[1]
        if name in self.created:
            self._drop([name])
            self.created.remove(name)

    def _drop_created(self) -> None:
        self._drop(self.created)
        self.created.clear()

    def _drop(self, names: list[str]) -> None:
        import psycopg

        plain = self.url.replace("postgresql+psycopg://", "postgresql://")
        try:
            with psycopg.connect(plain, autocommit=True) as conn:
                for name in names:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass  # the server went away first: nothing left to tidy
