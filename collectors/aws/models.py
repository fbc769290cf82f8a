"""botocore service models for the collector's clients: cut down, shared, read one at a time, evicted.

A botocore client is built from its service's model: the operations, every shape they reference,
paginators, waiters and endpoint rules. The stock loader parses the whole model of a service and
keeps it for the life of the process. This loader instead

- keeps only the operations of `collectors.aws.operations.OPERATIONS` and the shapes they reach
  (EC2: ~860 operations and ~4,600 shapes become 10 and ~200), and empties their documentation;
- parses one model at a time (a lock), so threads starting clients together never parse the same
  file twice nor several large files at once;
- forgets a service's models when the last client holding them is released (`hold` / `release`),
  so a scan holds the models of the services it is reading now, not of every service it has read.

Services not listed in OPERATIONS get botocore's full model (with documentation emptied).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader

from collectors.aws.operations import OPERATIONS

TRIMMED_TYPES = frozenset({"service-2", "paginators-1", "waiters-2", "endpoint-rule-set-1"})
DOC_KEYS = frozenset({"documentation", "documentationUrl"})


def _drop_docs(obj: dict[str, Any]) -> dict[str, Any]:
    """Empty the documentation strings (the keys stay: botocore reads some of them)."""
    for key in DOC_KEYS & obj.keys():
        if isinstance(obj[key], str):
            obj[key] = ""
    return obj


class LeanJSONFileLoader(JSONFileLoader):
    """botocore's JSON loader, but service models' documentation strings are emptied while parsed."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            payload = fp.read()
        if os.path.basename(full_path).startswith("service-2."):
            return json.loads(payload, object_hook=_drop_docs)
        return json.loads(payload)


class _PlainJSONFileLoader(JSONFileLoader):
    """The file as parsed JSON, nothing dropped (trimming comes after, on what is kept)."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            return json.loads(fp.read())


def _shape_refs(shape: dict[str, Any]) -> Iterable[str]:
    for member in (shape.get("members") or {}).values():
        yield member["shape"]
    for key in ("member", "key", "value"):
        if key in shape:
            yield shape[key]["shape"]


def trim_service(model: dict[str, Any], keep: frozenset[str]) -> dict[str, Any]:
    """`model` (a service-2 document) with only the operations in `keep` and the shapes they reach."""
    operations = {name: _drop_docs(op) for name, op in model["operations"].items() if name in keep}
    shapes = model["shapes"]
    todo = [ref["shape"] for op in operations.values()
            for ref in (op.get("input"), op.get("output"), *(op.get("errors") or ())) if ref]
    reached: set[str] = set()
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        todo.extend(_shape_refs(shapes[name]))
    kept: dict[str, Any] = {}
    for name in sorted(reached):
        shape = _drop_docs(shapes[name])
        for member in (shape.get("members") or {}).values():
            _drop_docs(member)
        kept[name] = shape
    return {**model, "operations": operations, "shapes": kept}


def trim(type_name: str, model: dict[str, Any], keep: frozenset[str]) -> dict[str, Any]:
    if type_name == "service-2":
        return trim_service(model, keep)
    if type_name == "paginators-1":
        return {**model, "pagination": {k: v for k, v in (model.get("pagination") or {}).items() if k in keep}}
    if type_name == "waiters-2":
        return {**model, "waiters": {k: v for k, v in (model.get("waiters") or {}).items()
                                     if v.get("operation") in keep}}
    return model  # endpoint rules: needed whole


class ModelLoader(Loader):
    """A botocore Loader that serves trimmed models of the services in `operations` (see module doc)."""

    def __init__(self, operations: dict[str, frozenset[str]] = OPERATIONS) -> None:
        super().__init__(file_loader=LeanJSONFileLoader())
        self.operations = operations
        self._plain = _PlainJSONFileLoader()
        self._models: dict[tuple[str, str, str | None], Any] = {}
        self._holders: Counter[str] = Counter()
        self._lock = threading.RLock()
        self.parsed: Counter[str] = Counter()  # files parsed per service (tests, bench)

    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        if service_name not in self.operations or type_name not in TRIMMED_TYPES:
            return super().load_service_model(service_name, type_name, api_version=api_version)
        key = (service_name, type_name, api_version)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = self._models[key] = self._read(service_name, type_name, api_version)
            return model

    def _read(self, service_name: str, type_name: str, api_version: str | None) -> Any:
        version = api_version or self.determine_latest_version(service_name, type_name)
        path = os.path.join(service_name, version, type_name)
        for candidate in self._potential_locations(path):
            model = self._plain.load_file(candidate)
            if model is not None:
                break
        else:
            raise DataNotFoundError(data_path=path)
        self.parsed[service_name] += 1
        self._extras_processor.process(model, self._find_extras(service_name, type_name, version))
        return trim(type_name, model, self.operations[service_name])

    # -- lifetime --------------------------------------------------------------------------
    def hold(self, service_name: str) -> None:
        """A client of `service_name` is being built and will use its models."""
        with self._lock:
            self._holders[service_name] += 1

    def release(self, service_name: str) -> None:
        """A client of `service_name` was closed; the last one out drops the service's models."""
        with self._lock:
            self._holders[service_name] -= 1
            if self._holders[service_name] > 0:
                return
            del self._holders[service_name]
            for key in [k for k in self._models if k[0] == service_name]:
                del self._models[key]

    @property
    def cached_services(self) -> set[str]:
        with self._lock:
            return {k[0] for k in self._models}


# Every session of the process shares this loader (and so each service's models).
LOADER = ModelLoader()
