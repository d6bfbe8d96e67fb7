from launchui.wire.ops import runs  # noqa: F401
