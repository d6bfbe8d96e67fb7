"""The error a wire operation raises for the client to print; below graphql.py and inputs.py, which both
use it."""


class WireError(Exception):
    """A failure the client should print. GraphQL errors travel in a 200 answer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
