"""The command line's commands, one module per group (`bot/__main__.py` holds the parser and
`main`):

- `logs`: the operators' log and the redaction of the token; `common`: exit codes, `UsageError`,
  loading the config, `--now`, running a task with the bot's services;
- `serve`: `run` and `sandbox`; `data`: `db`, `import`, `export`, `backup`;
- `preflight`: `check` and `setup`.

Whatever goes wrong ends in one line on stderr that says what to do and a non-zero exit, never a
traceback (that is logged at DEBUG: `--debug` or `[logging] level = "DEBUG"` shows it).
"""
