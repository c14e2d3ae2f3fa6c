"""The two ways the interpreter refuses a config: Promtail 3.6.15 itself would
refuse it (GoSyntaxError), or it uses something this interpreter has not been
taught (NotTaught), so the rendered config cannot drift away from what the
tests run. Both are AssertionErrors: a test that meets one fails.
"""

from __future__ import annotations


class GoSyntaxError(AssertionError):
    """A config value Promtail itself would refuse to load."""


class NotTaught(AssertionError):
    """A stage type, stage option, relabel action, template construct or
    JMESPath construct the interpreter does not implement. The message names
    the module to teach: `module` is the raising module's __name__
    ("promtail_pipeline.gotemplate" -> tests/promtail_pipeline/gotemplate.py)."""

    def __init__(self, what: str, module: str):
        super().__init__(f"{what}: teach tests/{module.replace('.', '/')}.py")
