"""Vocabulary below every domain app: W&B's global ids and artifact URIs. It imports nothing from
launchui, so that domain apps and both doors (web, wire) can share it; its errors are plain ValueErrors
that each door translates (wire: a GraphQL error; web: a 404 or a raw reference)."""
