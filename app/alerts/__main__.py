"""`python -m app.alerts`: run the alerting process until SIGTERM / Ctrl-C.

Environment: SLACK_WEBHOOK_URL (the incoming webhook; without it alerts go to this log),
ALERTS_CONFIG (rules file), ALERTS_STATE (SQLite state file; default under STACK_DIR), and the engine's EDDY_HOST,
EDDY_PORT, EDDY_USER, EDDY_PASSWORD, EDDY_DATABASE, EDDY_SSLMODE, EDDY_CLUSTER.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from app.alerts import config as config_mod
from app.alerts.runner import Alerter
from app.alerts.store import Store
from app.settings import settings_from

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    env = dict(os.environ)
    p = argparse.ArgumentParser(prog="python -m app.alerts", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=env.get("ALERTS_CONFIG", str(config_mod.DEFAULT_PATH)),
                   help="rules file (TOML) [env ALERTS_CONFIG; default: %(default)s]")
    stack_dir = Path(env.get("STACK_DIR", ROOT / ".stack"))
    p.add_argument("--state", default=env.get("ALERTS_STATE", str(stack_dir / "alerts.sqlite")),
                   help="durable state: delivered keys, delivery log [env ALERTS_STATE; "
                        "default: alerts.sqlite in the stack's directory, %(default)s]")
    p.add_argument("--log-level", default=env.get("ALERTS_LOG_LEVEL", "INFO"))
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = config_mod.load(args.config, env)
    except config_mod.ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    settings = settings_from(env)
    store = Store(args.state)
    alerter = Alerter(config, settings, store)
    signal.signal(signal.SIGTERM, lambda *_: alerter.stop.set())
    signal.signal(signal.SIGINT, lambda *_: alerter.stop.set())
    target = "Slack webhook" if config.delivery.webhook_url else "the log (no SLACK_WEBHOOK_URL)"
    logging.getLogger("app.alerts").info(
        "alerting: %d rules from %s, engine %s, state %s, delivering to %s",
        len(config.rules), args.config, settings.address, args.state, target)
    try:
        alerter.run()
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
