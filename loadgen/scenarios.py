"""Traffic scenarios: how behaviour changes over the simulated run.

A scenario maps the position in the run (`phase`, 0..1 of the planned simulated span, cycling
when the run is unbounded) to a `Phase`: multipliers on visitor arrivals, funnel steps and
account-takeover attacks, whether a flash sale is on, and which service (if any) is down.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    arrivals: float = 1.0       # multiplier on session arrivals
    add_to_cart: float = 1.0    # multiplier on the add-to-cart probability
    checkout: float = 1.0       # multiplier on the checkout probability
    sale: bool = False          # flash sale: sale products draw most product views, discounted
    ato: float = 1.0            # multiplier on account-takeover attacks
    outage: str | None = None   # service failing (error burst), if any


STEADY = Phase()
#: The service that fails in the `outage` scenario.
OUTAGE_SERVICE = "checkout"


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    start: float = 0.0          # the special phase is active for start <= phase < end
    end: float = 0.0
    special: Phase = STEADY

    def at(self, phase: float) -> Phase:
        return self.special if self.start <= phase < self.end else STEADY


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("steady", "ordinary traffic, a few account takeovers, rare errors"),
        Scenario(
            "flash-sale",
            "from 30% to 60% of the run: 3x visitors, a discounted sale range, more carts and orders",
            0.3, 0.6, Phase(arrivals=3.0, add_to_cart=2.0, checkout=1.5, sale=True),
        ),
        Scenario(
            "fraud-wave",
            "from 20% to 80% of the run: 50x account takeovers (new-device logins or device "
            "changes, then payments >= 100.00 within minutes)",
            0.2, 0.8, Phase(ato=50.0),
        ),
        Scenario(
            "outage",
            f"from 40% to 60% of the run: service '{OUTAGE_SERVICE}' fails: a burst of ERROR "
            "logs and failed checkouts",
            0.4, 0.6, Phase(outage=OUTAGE_SERVICE),
        ),
    )
}
