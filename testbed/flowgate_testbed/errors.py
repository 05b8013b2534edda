"""The one error the testbed raises: a sentence telling the user what to do."""


class TestbedError(Exception):
    """A testbed could not be started or used; str() is a sentence a person can act on."""

    __test__ = False  # not a pytest test class despite the name
