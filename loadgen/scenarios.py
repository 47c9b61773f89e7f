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
    windows: tuple[tuple[float, float, Phase], ...] = ()  # (start, end, phase): start <= p < end

    def at(self, phase: float) -> Phase:
        for start, end, special in self.windows:
            if start <= phase < end:
                return special
        return STEADY


FLASH_SALE = Phase(arrivals=3.0, add_to_cart=2.0, checkout=1.5, sale=True)
FRAUD_WAVE = Phase(ato=50.0)
OUTAGE = Phase(outage=OUTAGE_SERVICE)

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("steady", "ordinary traffic, a few account takeovers, rare errors"),
        Scenario(
            "flash-sale",
            "from 30% to 60% of the run: 3x visitors, a discounted sale range, more carts and orders",
            ((0.3, 0.6, FLASH_SALE),),
        ),
        Scenario(
            "fraud-wave",
            "from 20% to 80% of the run: 50x account takeovers (new-device logins or device "
            "changes, then payments >= 100.00 within minutes)",
            ((0.2, 0.8, FRAUD_WAVE),),
        ),
        Scenario(
            "outage",
            f"from 40% to 60% of the run: service '{OUTAGE_SERVICE}' fails: a burst of ERROR "
            "logs and failed checkouts",
            ((0.4, 0.6, OUTAGE),),
        ),
        Scenario(
            "mixed",
            "all of them in turn (for demos): flash sale at 10-30%, fraud wave at 40-60%, "
            "outage at 70-80% of the run (unbounded runs: of every 10 simulated minutes)",
            ((0.1, 0.3, FLASH_SALE), (0.4, 0.6, FRAUD_WAVE), (0.7, 0.8, OUTAGE)),
        ),
    )
}
