"""The alerting process (`python -m app.alerts`): rules from TOML, changes read with SUBSCRIBE,
each alert delivered once to a Slack incoming webhook, every delivery recorded.

Modules: `config` (the TOML rules), `follow` (SUBSCRIBE readers), `health` (pipeline-health
thresholds), `store` (durable delivered-keys state and delivery log, SQLite), `slack` (Block
Kit and delivery with retries), `publish` (the delivery log into the engine for the
dashboard), `runner` (wires them together), `__main__` (CLI).
"""
