"""The console-script entry point, with a quick path for the plain offline
check.

``flashcheck check CODE... --board NAME`` is what people run most, often
once per BOM line from a script.  Importing click (and the inspect, typing
and datetime modules it brings) costs more than the check itself, so this
module runs exactly that form of the command without click:

- the first argument is ``check``;
- then order codes, and ``--board NAME``, ``--board=NAME``, ``-b NAME`` or
  ``-bNAME`` once, in any order.

Anything else (help, ``--json``, ``--explain``, global options such as
``--parts``, ``--``, a repeated or missing ``--board``, an unknown option)
goes to the click command line in :mod:`flashcheck.cli`, which remains the
one definition of the interface: the quick path prints the same lines
(:mod:`flashcheck.output.checklines`) with the same exit codes, and
``tests/test_quick.py`` holds it to that.
"""

from __future__ import annotations

import sys

_BOARD_LONG = "--board"
_BOARD_SHORT = "-b"


def parse(argv: list[str]) -> tuple[list[str], str] | None:
    """(codes, board) when ``argv`` is a plain check the quick path runs,
    else None."""
    if not argv or argv[0] != "check":
        return None
    codes: list[str] = []
    board: str | None = None
    i = 1
    while i < len(argv):
        tok = argv[i]
        value: str | None = None
        if tok in (_BOARD_LONG, _BOARD_SHORT):
            if i + 1 >= len(argv):
                return None
            value = argv[i + 1]
            i += 2
        elif tok.startswith(_BOARD_LONG + "="):
            value = tok[len(_BOARD_LONG) + 1:]
            i += 1
        elif tok.startswith(_BOARD_SHORT) and not tok.startswith("--"):
            value = tok[len(_BOARD_SHORT):]
            i += 1
        elif tok.startswith("-"):
            return None  # another option, '--', or '-': click's to read
        else:
            codes.append(tok)
            i += 1
            continue
        if board is not None or not value or value.startswith("-"):
            return None
        board = value
    if not codes or board is None:
        return None
    return codes, board


def try_check(argv: list[str], out=None, err=None, color: bool | None = None) -> int | None:
    """Run ``argv`` as a plain check and return its exit code, or None (and
    print nothing) when it is not one the quick path takes."""
    parsed = parse(argv)
    if parsed is None:
        return None
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    if "utf" not in (getattr(out, "encoding", None) or "utf-8").lower():
        return None  # click's own stream handling for other encodings
    codes, board_name = parsed
    from flashcheck.app import App
    from flashcheck.errors import FlashcheckError
    from flashcheck.output.checklines import ansi_style, plain_style, query_width, result_line
    from flashcheck.output.text import error_line

    if color is None:
        isatty = getattr(out, "isatty", None)
        color = bool(isatty and isatty())
    style = ansi_style if color else plain_style
    try:
        app = App()
        board = app.board(board_name)
        results = [app.check(q, board) for q in codes]
    except FlashcheckError as exc:
        err.write(error_line(exc) + "\n")
        err.flush()
        return exc.exit_code
    except KeyboardInterrupt:
        err.write("flashcheck: interrupted\n")
        return 130
    from flashcheck.rules import exit_code

    width = query_width(codes)
    out.write("".join(result_line(r, width, style) + "\n" for r in results))
    out.flush()
    return exit_code([r.verdict for r in results])


def run() -> None:
    """The ``flashcheck`` command."""
    code = try_check(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from flashcheck.cli import run as click_run

    click_run()
