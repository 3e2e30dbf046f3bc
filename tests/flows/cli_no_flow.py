"""A module with no flow in it."""


def helper() -> int:
    return 1
