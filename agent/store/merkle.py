"""A streaming Merkle tree (RFC 6962 shape): O(log n) memory, leaves fed in a fixed order."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

EMPTY_ROOT = "sha256:" + hashlib.sha256(b"").hexdigest()


class MerkleBuilder:
    """Feed leaves in order with `add`; `root()` gives `sha256:<hex>` of the tree."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self.count = 0

    def add(self, leaf: bytes) -> None:
        node = hashlib.sha256(b"\x00" + leaf).digest()
        height = 0
        while self._stack and self._stack[-1][0] == height:
            _, left = self._stack.pop()
            node = hashlib.sha256(b"\x01" + left + node).digest()
            height += 1
        self._stack.append((height, node))
        self.count += 1

    def root(self) -> str:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = hashlib.sha256(b"\x01" + left + node).digest()
        return "sha256:" + node.hex()


def merkle_root(leaves: Iterable[bytes]) -> str:
    builder = MerkleBuilder()
    for leaf in leaves:
        builder.add(leaf)
    return builder.root()
