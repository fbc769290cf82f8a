"""collect → evaluate → store, streaming. Sources run in parallel threads; one thread writes the store.

Collectors push resources into a bounded queue (back-pressure keeps memory flat however many
resources there are). The main thread takes them in batches per source (up to 500, or what
arrived within half a second), looks up the previous run's verdicts once per batch (agent.reuse),
evaluates what cannot be reused and hands resources and findings to the store's buffered
recorder. Only the resource types that Python (cross-resource) rules read are kept for the end of
the run.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.config import Config, SourceConfig
from agent.errors import AnnexaError
from agent.gcfreeze import existing_objects_frozen
from agent.health import gap_note, log_summary, real_errors
from agent.locks import RunLiveness
from agent.metrics.remediation_summary import record_remediation
from agent.metrics.snapshot import record_summaries
from agent.model import CollectionError, Finding, Resource, Status, canonical_json_text
from agent.policy_inputs import capture_for_run
from agent.redaction import Redactor
from agent.reuse import SourceReuse
from agent.rules.engine import CompiledRule, Evaluation, PythonRuleFailed, RuleSet
from agent.runtypes import RunFailed, RunInterrupted, RunObserver, SourceSummary, interruption
from agent.sharding import Shard
from agent.store.blobs import digest_of
from agent.store.recorder import SourceRecorder
from agent.store.store import EvidenceStore
from collectors.base import Collector, CollectorContext, Cursor, Progress
from collectors.registry import get_collector

log = logging.getLogger("annexa.runner")
QUEUE_SIZE = 1000
REUSE_BATCH = 500  # resources recorded and judged together (one prior-verdict lookup per batch)
BATCH_WAIT = 0.5  # seconds a slow source's resources wait at most for their batch to fill
MAX_PARALLEL_SOURCES = 8
EXIT_OK, EXIT_POLICY, EXIT_PARTIAL = 0, 1, 3


@dataclass
class RunResult:
    run_id: int
    status: str
    sources: dict[str, SourceSummary]
    manifest: dict[str, Any]

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.sources.values():
            for k, v in s.findings.items():
                out[k] = out.get(k, 0) + v
        return out

    def exit_code(self, fail_on: str | None = None) -> int:
        if self.status != "complete":
            return EXIT_PARTIAL
        if fail_on and self.totals().get(fail_on, 0):
            return EXIT_POLICY
        return EXIT_OK


_DONE = object()


def select_sources(config: Config, names: list[str] | None, shard: tuple[int, int] | None) -> list[SourceConfig]:
    """The configured sources to run: by name, then this shard's share.

    A partitioned source (e.g. AWS: accounts x regions, agent.sharding) runs in every shard, each
    shard collecting its own part; the other sources are dealt out whole, stable by name.
    """
    chosen = [config.source(n) for n in names] if names else [s for s in config.sources if s.enabled]
    if shard:
        k, n = shard
        split = [s for s in chosen if get_collector(s.type).partitioned]
        ordered = sorted((s for s in chosen if s not in split), key=lambda s: s.name)
        whole = {s.name for i, s in enumerate(ordered) if i % n == k}
        chosen = [s for s in chosen if s in split or s.name in whole]
    return chosen


def partition_of(src: SourceConfig, shard: str | None) -> Shard | None:
    """This run's share of `src` when `--shard` splits inside it; None when the run takes it whole."""
    if not shard or not get_collector(src.type).partitioned:
        return None
    return Shard.parse(shard)


class Runner:
    def __init__(self, config: Config, store: EvidenceStore, rules: RuleSet, *,
                 observer: RunObserver | None = None,
                 finding_hook: Callable[[Finding], Finding] | None = None,
                 http_factory: Callable[[SourceConfig], Callable[..., Any]] | None = None,
                 stop_event: threading.Event | None = None,
                 manifest_inputs: dict[str, Any] | None = None, reuse_verdicts: bool = True):
        self.config = config
        self.reuse_verdicts = reuse_verdicts  # agent.reuse: unchanged resource + unchanged rule
        self.store = store
        self.rules = rules
        self.observer = observer or RunObserver()
        self.finding_hook = finding_hook or (lambda f: f)
        self.http_factory = http_factory or default_http_factory
        self.stop_event = stop_event or threading.Event()
        # Extra fields sealed into every run manifest under "inputs" (e.g. rule pack / SoA digests).
        self.manifest_inputs: dict[str, Any] = dict(manifest_inputs or {})
        self.redactor = Redactor.from_lists(config.redaction.extra_keys, config.redaction.keep_keys)

    # -- helpers ---------------------------------------------------------------------------
    def _finding(self, compiled: CompiledRule, ev: Evaluation, evidence: str | None) -> Finding:
        rule = compiled.rule
        finding = Finding(rule=rule.id, status=ev.status, source=ev.resource.source,
                          resource=ev.resource.envelope(), message=ev.message, severity=rule.severity.value,
                          controls=rule.controls, title=rule.title, evidence=evidence)
        return self.finding_hook(finding)

    def _error_findings(self, err: CollectionError) -> list[Finding]:
        """One finding per rule that reads the uncollectable type, on the failed scope: `error`, or
        `not_applicable` (with the gap's reason, approver and expiry) while an expected gap covers it."""
        resource = {"id": err.scope_id, "type": err.resource_type,
                    "name": f"{err.resource_type} in {err.account or '*'}/{err.region or '*'}",
                    "account": err.account, "region": err.region}
        status, message = Status.ERROR, f"could not collect {err.resource_type}: {err.message}"
        if err.expected is not None:
            status, message = Status.NOT_APPLICABLE, f"not applicable ({gap_note(err.expected)}); {message}"
        return [Finding(rule=c.rule.id, status=status, source=err.source, resource=resource, message=message,
                        severity=c.rule.severity.value, controls=c.rule.controls, title=c.rule.title)
                for c in self.rules.rules_for_type(err.resource_type)]

    def _context(self, src: SourceConfig, collector_cls: type[Collector], sink: Callable[[str, str], None],
                 part: Shard | None = None) -> CollectorContext:
        options = collector_cls.Options.model_validate(src.options())
        owns_unit = None if part is None else (
            lambda account, region, name=src.name: part.owns_unit(name, account, region))
        return CollectorContext(
            owns_unit=owns_unit, shard=part,
            source=src, options=options, logger=logging.getLogger(f"annexa.collector.{src.name}"),
            progress=Progress(sink, src.name),
            cursor=Cursor(lambda key, name=src.name: self.store.cursor_value(name, key)),
            http_factory=self.http_factory(src), expected_gaps=list(self.config.expected_gaps))

    # -- the run ---------------------------------------------------------------------------
    def run(self, sources: list[SourceConfig], shard: str | None = None) -> RunResult:
        """One run, always sealed: complete or partial when it ends, `incomplete` on a signal or an error.

        Runs left `running` by a process that is gone (kill -9, crash) are sealed `incomplete` first,
        so they take their place in the chain before this run. While this run is open, its liveness
        lock (agent.locks.RunLiveness) tells other processes that it is not an orphan.
        """
        self.store.check_not_wiped()  # never start a new chain on a wiped or replaced database
        liveness = RunLiveness(self.store)
        for orphan in self.store.seal_orphans(liveness.claim):
            log.warning("run %s was left running by a process that is gone: sealed as incomplete", orphan,
                        extra={"run_id": orphan})
        run_id = self.store.begin_run([s.name for s in sources], shard, liveness=liveness.hold)
        try:
            with existing_objects_frozen():  # no full garbage collections over the process's long-lived objects
                return self._run(run_id, sources, shard)
        finally:
            liveness.release(run_id)  # only once the run is sealed (or left for the next run to seal)

    def _run(self, run_id: int, sources: list[SourceConfig], shard: str | None) -> RunResult:
        policy: dict[str, Any] = {}
        summaries = {s.name: SourceSummary(s.name, s.type) for s in sources}
        recorders: dict[str, SourceRecorder] = {}
        contexts: dict[str, CollectorContext] = {}
        items: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=QUEUE_SIZE)
        stop = threading.Event()
        keep_types = self.rules.python_input_types()
        kept: dict[str, list[Resource]] = {t: [] for t in keep_types}
        started: dict[str, float] = {}
        reuse: dict[str, SourceReuse] = {}
        batches: dict[str, list[Resource]] = {s.name: [] for s in sources}
        foreign: dict[str, list[CollectionError]] = {}  # errors owned by another shard that span this part
        batch_since: dict[str, float] = {}

        slots = threading.BoundedSemaphore(MAX_PARALLEL_SOURCES)

        def put(entry: tuple[str, Any]) -> bool:
            while not stop.is_set():
                try:
                    items.put(entry, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def flush_batches(only: str | None = None) -> None:
            """Record and judge what the batches hold. A batch leaves `batches` before it is consumed, so an
            interruption in the middle never records a resource twice."""
            for waiting in [only] if only else list(batches):
                batch, batches[waiting] = batches[waiting], []
                if batch:
                    self._consume(recorders[waiting], summaries[waiting], batch, kept, reuse[waiting])

        def produce(name: str, collector: Collector) -> None:
            with slots:
                self._produce(name, collector, put)

        try:
            policy["policy_inputs"] = capture_for_run(self.store, self.config, self.rules)  # sealed below
            for src in sources:
                collector_cls = get_collector(src.type)
                part = partition_of(src, shard)
                contexts[src.name] = self._context(src, collector_cls, self.observer.message, part)
                owner = None if part is None else _owner(collector_cls, part, src.name)
                recorders[src.name] = self.store.source_recorder(run_id, src.name, src.type, owner=owner,
                                                                 shard=shard)
                reuse[src.name] = SourceReuse(self.store, run_id, src.name, self.rules, collector_cls.resource_types,
                                              enabled=self.reuse_verdicts and shard is None)
            if shard is None:  # sealed for the next run to compare with (agent.reuse)
                policy["rule_digests"] = [{"source": name, "blob": r.seal_digests()} for name, r in reuse.items()]
            for src in sources:
                started[src.name] = time.monotonic()
                self.observer.source_started(src.name, src.type)
                collector = get_collector(src.type)(contexts[src.name])
                # Daemon threads: an interrupted run must not wait for a hung API call to return.
                threading.Thread(target=produce, args=(src.name, collector), daemon=True,
                                 name=f"collect-{src.name}").start()
            pending = len(sources)
            while pending:
                try:
                    name, item = items.get(timeout=0.25)
                except queue.Empty:
                    flush_batches()  # a slow source: do not hold its resources back
                    if self.stop_event.is_set():
                        raise RunInterrupted("stop requested") from None
                    continue
                summary = summaries[name]
                if item is not _DONE:
                    if not batches[name]:
                        batch_since[name] = time.monotonic()
                    batches[name].append(item)
                if batches[name] and (item is _DONE or len(batches[name]) >= REUSE_BATCH
                                      or time.monotonic() - batch_since[name] > BATCH_WAIT):
                    flush_batches(name)
                if self.stop_event.is_set():
                    raise RunInterrupted("stop requested")
                if item is _DONE:
                    pending -= 1
                    summary.seconds = time.monotonic() - started[name]
                    summary.errors = [e for e in contexts[name].errors  # this shard's part's errors
                                      if recorders[name].owns(e.resource_type, e.account, e.region, e.scope_id)]
                    # Another unit's error with no Region (an account- or organisation-wide call such as a
                    # listing) may cover this part's rows too: the recorder carries those as `error`.
                    foreign[name] = [e for e in contexts[name].errors if e not in summary.errors and e.region is None]
                    for err in summary.errors:  # an expected gap's findings are `not_applicable`
                        for finding in self._error_findings(err):
                            self._record(recorders[name], summary, finding)
                    continue
            seen_errors = {e.resource_type for c in contexts.values() for e in c.errors}  # other units' too
            self._python_rules(sources, summaries, recorders, kept, seen_errors)
            for src in sources:
                ctx = contexts[src.name]
                summary = summaries[src.name]
                summary.status = recorders[src.name].complete(summary.errors, ctx.cursor.pending,
                                                              foreign=foreign.get(src.name, ()))
                log_summary(log, src.name, summary.status, summary.errors, summary.resources,
                            len(get_collector(src.type).resource_types))
                self.observer.source_finished(summary)
            status = "partial" if any(real_errors(e.to_json() for e in s.errors)
                                      for s in summaries.values()) else "complete"
            policy["reused_verdicts"] = sum(r.count for r in reuse.values())
            manifest = self.store.seal_run(run_id, status, extra=policy)
            record_summaries(self.store, run_id)  # what a metrics scrape reads (agent.metrics.snapshot)
            record_remediation(self.store, run_id)  # and its remediation figures
            return RunResult(run_id, status, summaries, manifest)
        except BaseException as exc:  # a signal, a stop request, a full disk, a bug: the run ends sealed
            stop.set()
            self._drain(items)
            try:  # every resource the run had taken is kept (a stop lands between batches, not inside one)
                flush_batches()
            except BaseException as flush_exc:  # e.g. the disk is full: keep what was flushed
                log.info("could not record the resources waiting in a batch: %s", flush_exc)
            log.debug("run %s ends incomplete: %s", run_id, type(exc).__name__, exc_info=True)
            sealed = self._seal_incomplete(run_id, recorders, policy, exc)
            exc.annexa_run = (run_id, sealed)  # type: ignore[attr-defined]  # read by `annexa run`'s last line
            if isinstance(exc, (RunInterrupted, AnnexaError)) or not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SIGTERM (Terminated), SystemExit and stop requests unwind as they are
            raise RunFailed(run_id, exc, sealed) from exc
        finally:
            stop.set()
            self._drain(items)

    def _seal_incomplete(self, run_id: int, recorders: dict[str, SourceRecorder], policy: dict[str, Any],
                         cause: BaseException) -> bool:
        """Keep what can be kept and seal the run `incomplete`. False if even that failed (then the run
        stays `running` and the next run seals it as an orphan, once this run's liveness lock is released)."""
        for rec in recorders.values():
            if not rec.done:
                try:
                    rec.abandon()
                except Exception as exc:  # e.g. the disk is full: the unflushed rows are lost, the run is not
                    log.info("source %s: could not keep its unflushed rows: %s", rec.name, exc)
        try:
            self.store.close_open_sources(run_id)  # a recorder that could not finish: roots over its rows
            self.store.seal_run(run_id, "incomplete", extra={**policy, "interruption": interruption(cause)})
        except Exception as exc:  # the caller says so (RunFailed); the next run seals it as an orphan
            log.info("could not seal run %s as incomplete (%s): the next run will", run_id, exc)
            return False
        return True

    @staticmethod
    def _produce(name: str, collector: Collector, put: Callable[[tuple[str, Any]], bool]) -> None:
        try:
            for resource in collector.collect():
                resource.source = name
                if not put((name, resource)):
                    return
        except Exception as exc:  # a collector bug or an unexpected API failure: never abort the run
            log.exception("collector for source %s failed", name)
            for rtype in type(collector).resource_types:
                collector.ctx.report_error(rtype, f"collector failed: {type(exc).__name__}: {exc}")
        finally:
            put((name, _DONE))

    @staticmethod
    def _drain(items: queue.Queue[tuple[str, Any]]) -> None:
        try:
            while True:
                items.get_nowait()
        except queue.Empty:
            pass

    def _record(self, recorder: SourceRecorder, summary: SourceSummary, finding: Finding,
                seen_key: str | None = None) -> None:
        """`seen_key`: the key of the open interval the finding equals column for column (agent.reuse)."""
        recorded = recorder.record_seen_finding(finding, seen_key) if seen_key else recorder.record_finding(finding)
        if not recorded:
            return  # another shard's part of the source
        summary.findings[finding.status.value] = summary.findings.get(finding.status.value, 0) + 1

    def _consume(self, recorder: SourceRecorder, summary: SourceSummary, batch: list[Resource],
                 kept: dict[str, list[Resource]], reuse: SourceReuse) -> None:
        """Record and judge a batch of one source's resources (previous verdicts are looked up per batch)."""
        prepared: list[tuple[Resource, bytes, str]] = []
        for resource in batch:
            owned = recorder.owns(resource.type, resource.account, resource.region, resource.id)
            if not owned and resource.type not in kept:
                continue  # another shard's part (e.g. the account inventory every shard lists)
            self._redact(resource)  # before anything is hashed, stored or evaluated
            text = canonical_json_text(resource.evidence_document())
            raw = text.encode()
            # Rules judge exactly what is stored: the JSON form (times as ISO strings, no Python objects).
            resource.data = json.loads(text)["data"]
            if not owned:  # unrecorded context for Python rules that join across units (e.g. sinks -> buckets)
                kept[resource.type].append(resource)
                continue
            prepared.append((resource, raw, digest_of(raw)))
        prior = reuse.lookup([(r, d) for r, _, d in prepared])
        unchanged = {} if prior is None else prior.unchanged
        for resource, raw, digest in prepared:
            resource_key = unchanged.get((resource.type, resource.id))
            if resource_key is not None:  # same evidence, name and location as its open interval
                recorder.record_seen_resource(resource, resource_key)
            else:
                recorder.record_resource(resource, raw, digest)
            summary.resources += 1
            self.observer.resource(summary.name, summary.resources)
            for compiled in self.rules.for_type(resource.type):
                reused, finding, seen_key = (False, None, None) if prior is None else \
                    reuse.take(compiled, resource, digest, prior, self.finding_hook)
                if not reused:
                    ev = compiled.evaluate(resource, self.rules.params.for_rule(compiled.rule, resource.source))
                    finding = None if ev is None else self._finding(compiled, ev, digest)
                if finding is not None:
                    self._record(recorder, summary, finding, seen_key)
            if resource.type in kept:
                kept[resource.type].append(resource)

    def _redact(self, resource: Resource) -> None:
        replaced = self.redactor.redact(resource.data)
        if replaced:  # the count only: never the keys' values
            log.debug("redacted %d secret-looking value(s) in %s %s", replaced, resource.type, resource.id)

    def _python_rules(self, sources: list[SourceConfig], summaries: dict[str, SourceSummary],
                      recorders: dict[str, SourceRecorder], kept: dict[str, list[Resource]],
                      errored: set[str]) -> None:
        available: set[str] = set()
        for src in sources:
            available.update(get_collector(src.type).resource_types)
        # Any scope that could not be read, expected gap or not (in a shard: read as context for another
        # shard's unit too): a cross-type rule on partial input could pass wrongly; its per-scope `error` /
        # `not_applicable` findings are already recorded (by the unit's owner).
        for compiled in self.rules.python:
            inputs = set(compiled.rule.resources)
            if not inputs <= available or inputs & errored:
                continue  # not applicable to this run, or already recorded per failed scope
            try:
                evaluations = self.rules.evaluate_python(compiled, kept, self.config.identity)
            except PythonRuleFailed as exc:
                for src in sources:
                    if set(get_collector(src.type).resource_types) & inputs:
                        err = CollectionError(src.name, f"rule:{compiled.id}", str(exc))
                        resource = {"id": err.scope_id, "type": compiled.rule.resources[0],
                                    "name": compiled.id, "account": None, "region": None}
                        self._record(recorders[src.name], summaries[src.name], Finding(
                            rule=compiled.id, status=Status.ERROR, source=src.name, resource=resource,
                            message=str(exc), severity=compiled.rule.severity.value,
                            controls=compiled.rule.controls, title=compiled.rule.title))
                continue
            for ev in evaluations:
                name = ev.resource.source
                res = ev.resource
                if name not in recorders or not recorders[name].owns(res.type, res.account, res.region, res.id):
                    continue  # another shard's unit (a resource read as context)
                self._redact(ev.resource)
                digest = recorders[name].store.blobs.put_json(ev.resource.evidence_document())
                self._record(recorders[name], summaries[name], self._finding(compiled, ev, digest))


def _owner(collector_cls: type[Collector], part: Shard, source: str
           ) -> Callable[[str, str | None, str | None, str | None], bool]:
    def owns(resource_type: str, account: str | None, region: str | None, resource_id: str | None = None) -> bool:
        return part.owns_unit(source, *collector_cls.shard_unit(resource_type, account, region, resource_id))
    return owns


def default_http_factory(src: SourceConfig) -> Callable[..., Any]:
    """Build the shared HTTP client for a source: its endpoint, limits and token from `token_env`."""
    import os

    def factory(**overrides: Any) -> Any:
        from agent.http import HttpClient

        token_env = src.token_env

        def auth() -> dict[str, str]:
            token = os.environ.get(token_env or "")
            return {"Authorization": f"Bearer {token}"} if token else {}

        kwargs: dict[str, Any] = {"base_url": src.endpoint, "max_concurrency": src.max_concurrency,
                                  "rate_limit": src.rate_limit, "auth": auth if token_env else None}
        kwargs.update(overrides)
        return HttpClient(**kwargs)

    return factory
