"""`schemathesis`, as `run_schemathesis.py` starts it: the command line itself, once Hypothesis holds
the parsed source of Schemathesis' strategy module.

Hypothesis describes a strategy's lambdas by parsing the file that defines them, on first need. When
that first need comes deep in drawing from the goals' nested schemas, Python 3.11.7's parser fails with
"AST constructor recursion depth mismatch" (a CPython bug), and the operation ends in a runtime error
of the tool, not of the service. Parsed here, at the top of the stack, it is not parsed again: in a
cache shared by Schemathesis' worker threads (Hypothesis keeps one per thread).
"""

from __future__ import annotations

import ast
import inspect
import sys

from hypothesis.internal import lambda_sources
from schemathesis.cli import schemathesis
from schemathesis.generation.jsonschema import strategy

if __name__ == "__main__":
    lines = tuple(inspect.findsource(strategy)[0])
    lambda_sources.AST_LAMBDAS_CACHE = {  # type: ignore[assignment]
        lines: lambda_sources.extract_all_lambdas(ast.parse("".join(lines)))
    }
    sys.argv[0] = "schemathesis"
    sys.exit(schemathesis())
