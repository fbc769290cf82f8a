"""GitHub GraphQL, for reading only.

GraphQL travels as a POST, so the HTTP client's read-only guard alone cannot tell a query from a
mutation. Every document is parsed (graphql-core) before anything is sent; a document with any
operation other than `query` — a `mutation` or a `subscription` — is refused with `GraphQLRefused`.
The HTTP client additionally allows POST to the GraphQL URL only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collectors.github.api import GitHubApi


class GraphQLRefused(ValueError):
    """A GraphQL document that is not a pure query (or cannot be parsed)."""


class GraphQLFailed(RuntimeError):
    """GitHub answered with `errors` (and possibly partial data)."""

    def __init__(self, errors: list[dict[str, Any]], data: Any = None):
        self.errors = errors
        self.data = data
        super().__init__("; ".join(str(e.get("message", e)) for e in errors) or "GraphQL error")

    @property
    def kinds(self) -> set[str]:
        return {str(e.get("type", "")) for e in self.errors if isinstance(e, dict)}


def check_query_only(document: str) -> None:
    """Raise `GraphQLRefused` unless every operation in `document` is a query."""
    # graphql-core is imported here: listing resource types (every run) imports this module
    from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

    try:
        parsed = parse(document)
    except GraphQLError as exc:
        raise GraphQLRefused(f"refused GraphQL document: it does not parse ({exc.message})") from None
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    if not operations:
        raise GraphQLRefused("refused GraphQL document: it has no operation")
    for op in operations:
        if op.operation is not OperationType.QUERY:
            raise GraphQLRefused(f"refused GraphQL {op.operation.value}: Annexa only reads (queries)")


class GraphQL:
    def __init__(self, api: GitHubApi, url: str):
        self.api = api
        self.url = url

    def query(self, document: str, variables: Mapping[str, Any] | None = None) -> Any:
        """`data` of a query; raises `GraphQLRefused` before sending anything that is not a query."""
        check_query_only(document)
        body = self.api.post_graphql(self.url, {"query": document, "variables": dict(variables or {})})
        if not isinstance(body, dict):
            raise GraphQLFailed([{"message": f"unexpected GraphQL answer: {type(body).__name__}"}])
        if body.get("errors"):
            raise GraphQLFailed(list(body["errors"]), body.get("data"))
        return body.get("data")

    def nodes(self, document: str, variables: Mapping[str, Any], path: tuple[str, ...],
              max_pages: int = 1000) -> Iterator[Any]:
        """Walk a connection at `path` (ending at the connection) using `$after` and `pageInfo`."""
        after: str | None = None
        for _ in range(max_pages):
            data = self.query(document, {**variables, "after": after})
            connection = data
            for key in path:
                connection = connection.get(key) if isinstance(connection, dict) else None
            if not isinstance(connection, dict):
                return
            yield from connection.get("nodes") or connection.get("edges") or []
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor") or info.get("endCursor") == after:
                return
            after = info["endCursor"]
