"""One module per command of `python -m pipeline`, each with `main(*, settings, ...) -> int`.

A command returns 0 (done) or 1 (a negative verdict: `check` NOT READY, `rerun` NOT REPRODUCED)
and raises for anything else; pipeline/__main__.py parses the arguments and maps what is raised to
the other exit codes (docs/instructors/exit-codes.md).
"""

EXIT_OK = 0
EXIT_VERDICT = 1  # the command ran and its answer is no
