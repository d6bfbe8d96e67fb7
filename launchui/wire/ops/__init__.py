"""Importing the operation modules registers their resolvers with the dispatcher."""

from launchui.wire.ops import agents, artifacts, items, queues, runs, viewer  # noqa: F401
