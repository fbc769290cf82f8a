"""A toolkit for local fakes of provider REST APIs, shared by the tests and `annexa demo`."""

from agent.fakeapi.server import FakeApi, Logged, Reply, Request

__all__ = ["FakeApi", "Logged", "Reply", "Request"]
