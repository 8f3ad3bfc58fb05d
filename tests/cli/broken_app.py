"""An APP whose import fails: the CLI must say so in one line."""

raise RuntimeError("the configuration file is missing")
