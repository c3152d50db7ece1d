"""Exit codes of the ``saxs`` command, and error messages as a command-line user reads them
(the API's advice in command-line words)."""

from __future__ import annotations

#: Exit codes: ok, an error (nothing or not everything done; also ``saxs compare``'s "the
#: curves differ"), a usage error (argparse), finished with failed items, interrupted.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FAILED_ITEMS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

#: API advice in error messages and what a command-line user does instead.
CLI_WORDING = (("pass overwrite=True (or --overwrite)", "pass --overwrite"),
               ("pass overwrite=True", "pass --overwrite"),
               ("correct the file or pass drop_invalid=True to drop those points",
                "correct the file (or drop those points)"))


def cli_wording(message: object) -> str:
    """``message`` with the API's advice replaced by the command-line equivalent."""
    text = str(message)
    for api, cli in CLI_WORDING:
        text = text.replace(api, cli)
    return text
