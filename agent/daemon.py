"""`annexa daemon`: collect each source on its cron schedule, serve metrics, stop cleanly on SIGTERM.

Decisions (see docs/operations.md):
- Schedules are 5-field cron expressions evaluated in UTC. A source without `schedule` runs on the
  default schedule (every 6 hours unless `--default-schedule` says otherwise); disabled sources never run.
- Each firing is delayed by a random jitter (up to `--jitter` seconds) so replicas and sources do not
  hit the APIs at the same second. Missed firings are coalesced into one run, dropped after
  `misfire_grace_time`, and a source never runs twice at once in one process (`max_instances=1`).
- Across processes a source lock (agent.locks) is taken for the whole run; a source locked
  elsewhere is skipped and logged, never queued.
- SIGTERM/SIGINT set one stop flag shared by every run: the runs stop after the current item,
  seal themselves as `incomplete`, and the process exits 0 once they have. A second signal exits at once.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.config import DEFAULT_SCHEDULE
from agent.errors import AnnexaError
from agent.locks import SourceLocks
from agent.runner import RunInterrupted, Runner

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger

    from agent.cli.app import App
    from agent.config import SourceConfig
    from agent.metrics.collector import StoreMetrics
    from agent.metrics.server import MetricsServer
    from agent.store.store import EvidenceStore

log = logging.getLogger("annexa.daemon")
#: What a job can end as (also the `outcome` label of annexa_daemon_jobs_total).
OUTCOMES = ("complete", "partial", "incomplete", "failed", "skipped")
VERIFY_JOB = "annexa:verify"


@dataclass
class DaemonOptions:
    listen: str | None = None
    jitter: int = 60
    default_schedule: str = DEFAULT_SCHEDULE
    misfire_grace_time: int = 600
    workers: int = 4
    run_at_start: bool = False
    sources: tuple[str, ...] = ()


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _day(token: str) -> int:
    token = token.lower()
    if token in _DAYS:
        return _DAYS.index(token)
    value = int(token)
    if not 0 <= value <= 7:
        raise ValueError(f"day of week out of range: {token}")
    return value % 7


def cron_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 = Sunday) written with day names.

    APScheduler 3 numbers weekdays from Monday = 0, so a number handed to it unchanged would move
    every weekly job by one day; names mean the same to both.
    """
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            lo, hi = _day(a), _day(b)
            if b.strip() == "7":
                hi = 7
        else:
            lo = hi = _day(base)
            if step_text:
                hi = 6
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DAYS[d] for d in sorted(days))


def cron_trigger(expression: str, jitter: int | None = None) -> CronTrigger:
    """A UTC trigger for a standard 5-field crontab expression (weekdays as crontab numbers them)."""
    from apscheduler.triggers.cron import CronTrigger

    values = expression.split()
    if len(values) != 5:
        raise ValueError(f"expected 5 cron fields, got {len(values)}: {expression!r}")
    minute, hour, day, month, weekday = values
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=cron_weekdays(weekday),
                       timezone=UTC, jitter=jitter or None)


class Daemon:
    def __init__(self, app: App, options: DaemonOptions, *, store: EvidenceStore | None = None):
        self.app = app
        self.options = options
        self.stop_event = threading.Event()
        self._store = store
        self._store_lock = threading.Lock()
        self.scheduler: BackgroundScheduler | None = None
        self.server: MetricsServer | None = None
        self._jobs_total: Any = None
        self.metrics: StoreMetrics | None = None
        self._plan: list[tuple[SourceConfig, str]] | None = None
        self._running: Any = None

    # -- plan --------------------------------------------------------------------------------
    def sources(self) -> list[SourceConfig]:
        cfg = self.app.config
        if self.options.sources:
            return [cfg.source(name) for name in self.options.sources]
        return [s for s in cfg.sources if s.enabled]

    def plan(self) -> list[tuple[SourceConfig, str]]:
        """(source, cron expression) for every source the daemon will run (worked out once)."""
        if self._plan is not None:
            return self._plan
        out = []
        for src in self.sources():
            if src.schedule is None:
                log.info("source has no schedule: using the default", extra={
                    "source": src.name, "schedule": self.options.default_schedule})
            expression = src.schedule or self.options.default_schedule
            try:
                cron_trigger(expression)
            except ValueError as exc:
                where = "--default-schedule" if src.schedule is None else f"source {src.name}: schedule"
                raise AnnexaError(f"{where}: not a usable cron expression {expression!r} ({exc})") from None
            out.append((src, expression))
        self._plan = out
        return out

    @property
    def store(self) -> EvidenceStore:
        """The store, opened (and created if empty) once, before any job thread needs it."""
        with self._store_lock:
            if self._store is None:
                self._store = self.app.store()
            return self._store

    # -- one job -----------------------------------------------------------------------------
    def _count(self, source: str, outcome: str) -> None:
        if self._jobs_total is not None:
            self._jobs_total.labels(source, outcome).inc()

    def run_source(self, name: str) -> str:
        """Run one source under its cross-process lock; returns the outcome (one of OUTCOMES)."""
        if self.stop_event.is_set():
            return "incomplete"
        outcome = "failed"
        try:
            with SourceLocks(self.store).hold(name) as acquired:
                if not acquired:
                    log.info("source is being collected by another process: skipped", extra={"source": name})
                    outcome = "skipped"
                else:
                    outcome = self._run_locked(name)
        except Exception as exc:  # the store went away, a collector bug...: log, keep the daemon alive
            log.exception("run of source %s failed: %s", name, exc, extra={"source": name})
        self._count(name, outcome)
        return outcome

    def _run_locked(self, name: str) -> str:
        from agent.cli.progress import LogObserver

        cfg = self.app.config
        hook = None
        try:
            from agent.exceptions import finding_hook_from_config
        except ImportError:
            pass
        else:
            from agent import clock

            hook = finding_hook_from_config(cfg, rules=self.app.rules, now=clock.now())
        runner = Runner(cfg, self.store, self.app.rule_set(), observer=LogObserver(),
                        finding_hook=hook, stop_event=self.stop_event)
        if self._running is not None:
            self._running.labels(name).set(1)
        log.info("run started", extra={"source": name})
        try:
            result = runner.run([cfg.source(name)])
        except RunInterrupted:
            log.warning("run interrupted by shutdown: sealed as incomplete", extra={"source": name})
            return "incomplete"
        finally:
            if self._running is not None:
                self._running.labels(name).set(0)
        log.info("run finished", extra={"source": name, "run_id": result.run_id, "status": result.status})
        return result.status

    # -- signals -----------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: Any) -> None:
            if self.stop_event.is_set():
                log.warning("second stop signal: exiting without waiting")
                os._exit(1)
            log.info("stop requested: finishing the current item of each run",
                     extra={"signal": signal.Signals(signum).name})
            self.stop_event.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    # -- modes -------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Every source once, in parallel (up to `workers`), through the same locks. Exit code 0 or 3."""
        plan = self.plan()
        if not plan:
            log.warning("no enabled sources to run")
            return 0
        _ = self.store
        with ThreadPoolExecutor(max_workers=max(1, min(self.options.workers, len(plan))),
                                thread_name_prefix="run") as pool:
            outcomes = list(pool.map(self.run_source, [src.name for src, _ in plan]))
        log.info("all sources done", extra={"outcomes": dict(zip([s.name for s, _ in plan], outcomes,
                                                                     strict=True))})
        return 0 if all(o in ("complete", "skipped") for o in outcomes) else 3

    def ready(self) -> bool:
        """/readyz: the scheduler runs (and is not stopping) and the store answers."""
        running = self.scheduler is not None and self.scheduler.running and not self.stop_event.is_set()
        return running and self.metrics is not None and self.metrics.ping()

    def _metrics(self) -> Any:
        from prometheus_client import Counter, Gauge

        from agent.metrics.collector import StoreMetrics, store_registry

        self.metrics = StoreMetrics(self.app, store=self.store)
        registry = store_registry(self.metrics)  # also turns off the `*_created` series
        self._jobs_total = Counter("annexa_daemon_jobs", "Scheduled source runs of this daemon process, by outcome.",
                                   ["source", "outcome"], registry=registry)
        self._running = Gauge("annexa_daemon_job_running", "1 while this daemon process runs the source.",
                              ["source"], registry=registry)
        for src, _ in self.plan():
            self._running.labels(src.name).set(0)
            for outcome in OUTCOMES:
                self._jobs_total.labels(src.name, outcome)
        return registry

    def build_scheduler(self) -> BackgroundScheduler:
        from apscheduler.executors.pool import ThreadPoolExecutor as JobPool
        from apscheduler.schedulers.background import BackgroundScheduler

        opts = self.options
        scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": JobPool(max_workers=max(1, opts.workers))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": opts.misfire_grace_time})
        for src, expression in self.plan():
            extra: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if opts.run_at_start else {}
            scheduler.add_job(self.run_source, cron_trigger(expression, opts.jitter), args=[src.name],
                              id=src.name, name=f"collect {src.name}", **extra)
        verify_schedule = self.app.config.verify.schedule
        if verify_schedule:
            # Source names cannot contain ':', so this job id never clashes with a source's.
            scheduler.add_job(self.verify_store, cron_trigger(verify_schedule, opts.jitter),
                              id=VERIFY_JOB, name="annexa verify --store")
        return scheduler

    def verify_store(self) -> bool | None:
        """The scheduled `annexa verify --store`; its result is kept in the store for the exporter."""
        if self.stop_event.is_set():
            return None
        from agent.verifystatus import verify_and_record

        try:
            status = verify_and_record(self.store, self.app.config.verify.full_every_days)
        except Exception as exc:  # the store went away: logged, and the stale timestamp shows it
            log.exception("scheduled store verification could not run: %s", exc)
            return None
        if status.ok:
            log.info("store verification passed", extra={"runs": status.runs})
        else:
            log.error("store verification FAILED", extra={"problem": status.problem})
        return status.ok

    def serve(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code (0)."""
        from agent.metrics.server import MetricsServer

        _ = self.store
        registry = self._metrics()
        self.scheduler = self.build_scheduler()
        self.server = MetricsServer(self.options.listen or self.app.config.metrics.listen, registry, self.ready)
        self.server.start()
        self.scheduler.start()
        for job in self.scheduler.get_jobs():
            log.info("scheduled", extra={"source": job.id, "trigger": str(job.trigger),
                                         "next_run": str(job.next_run_time)})
        try:
            while not self.stop_event.wait(0.5):
                pass
        finally:
            self.stop_event.set()
            log.info("waiting for running collections to stop")
            self.scheduler.shutdown(wait=True)
            self.server.stop()
            self.store.close()
            log.info("daemon stopped")
        return 0
