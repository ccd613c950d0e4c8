"""Click commands that live in their own modules; see ``cli.LAZY_COMMANDS``.

Each module defines one click command (or group) using the helpers of
:mod:`flashcheck.cli` (``emit_json``, ``verdict_label``) and calls a workflow
in :mod:`flashcheck.workflows`; it holds no logic of its own."""
