"""Entry point for `pulumi up`: everything lives in the stack package."""

from stack.program import run

run()
