"""The simulated shop's users: who they are, and who is in a session (`loadgen.simulator`).

A user is made on first use (a large population costs nothing up front), from the simulator's
`random.Random`, so the same seed gives the same users. A session takes a free user; when none
is free (a population too small for the rate) it takes one already in a session, so the
visits keep their rate and users get overlapping sessions instead.
"""

from __future__ import annotations

import functools
import random
from array import array
from dataclasses import dataclass

COUNTRIES = (("US", "USD", 30), ("DE", "EUR", 12), ("GB", "GBP", 10), ("FR", "EUR", 9),
             ("NL", "EUR", 5), ("ES", "EUR", 6), ("IT", "EUR", 6), ("CA", "CAD", 7),
             ("AU", "AUD", 5), ("JP", "JPY", 5), ("BR", "BRL", 5))
_COUNTRY_BY_PERCENT = [c for c in COUNTRIES for _ in range(c[2])]  # the weights add up to 100
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
)


@dataclass(slots=True)
class User:
    idx: int                       # position in this simulator's population
    uid: str
    country: str
    currency: str
    ip: str
    agent: str
    devices: tuple[str, ...]
    spend: float                   # typical payment amount
    merchants: tuple[str, ...]
    click_tail: str                # the end of this user's clicks' JSON (shared)


@functools.cache
def _click_tail(agent: str, country: str) -> str:
    return f'"user_agent":"{agent}","country":"{country}"}}'


class Population:
    """Users [first, first + size) of the shop's, numbered from 0 here; `merchants` are the
    shop's merchant ids (each user pays at 4 of them)."""

    def __init__(self, rnd: random.Random, first: int, size: int, merchants: list[str],
                 t0: int) -> None:
        self.rnd, self.first, self.size, self.merchants = rnd, first, size, merchants
        self._users: list[User | None] = [None] * size
        self._free = array("l", range(size))
        self._pos = array("l", range(size))  # index in _free, or -1 while in a session
        self._extra: dict[int, int] = {}     # sessions beyond the first, per user
        self.overlapping = 0                 # sessions given to a user already in one
        self._back: dict[int, list[int]] = {}  # users coming back, by the second they are due
        self._back_sec = t0 // 1000  # (t0: the start of the simulation)

    def user(self, i: int) -> User:
        u = self._users[i]
        if u is None:
            u = self._users[i] = self._make(i)
        return u

    def _make(self, i: int) -> User:
        rnd, m = self.rnd, self.merchants
        r = rnd.random
        country, currency, _ = _COUNTRY_BY_PERCENT[int(r() * 100)]
        agent = USER_AGENTS[int(r() * len(USER_AGENTS))]
        return User(
            idx=i, uid=f"u{self.first + i:07d}", country=country, currency=currency,
            ip=f"{11 + int(r() * 213)}.{int(r() * 256)}.{int(r() * 256)}.{1 + int(r() * 254)}",
            agent=agent,
            devices=tuple(f"d{rnd.getrandbits(48):012x}" for _ in range((1, 1, 2, 2, 3)[int(r() * 5)])),
            spend=round(rnd.lognormvariate(3.0, 0.6), 2),
            merchants=(m[int(r() * 500)], m[int(r() * 500)], m[int(r() * 500)], m[int(r() * 500)]),
            click_tail=_click_tail(agent, country),
        )

    def random(self) -> User:
        """Any user, in a session or not."""
        return self.user(int(self.rnd.random() * self.size))

    def take(self, i: int) -> User | None:
        """User `i` for a session, or None if they are in one."""
        free, pos = self._free, self._pos
        at = pos[i]
        if at < 0:
            return None
        last = free.pop()
        if last != i:
            free[at] = last
            pos[last] = at
        pos[i] = -1
        return self.user(i)

    def take_any(self) -> User:
        """A random free user for a session; if none is free, a random user already in one."""
        free = self._free
        if free:
            return self.take(free[int(self.rnd.random() * len(free))])  # type: ignore[return-value]
        i = int(self.rnd.random() * self.size)
        self._extra[i] = self._extra.get(i, 0) + 1
        self.overlapping += 1
        return self.user(i)

    def release(self, u: User) -> None:
        """The end of a session of `u`."""
        i = u.idx
        extra = self._extra.get(i)
        if extra:
            if extra == 1:
                del self._extra[i]
            else:
                self._extra[i] = extra - 1
            return
        self._pos[i] = len(self._free)
        self._free.append(i)

    def come_back(self, u: User, t: int) -> None:
        """`u` comes back at the first `take_returning(t)` from time `t` on."""
        self._back.setdefault(t // 1000, []).append(u.idx)

    def take_returning(self, t: int) -> User | None:
        """A free user who is due back by `t` (a little earlier in the same second), if any;
        a user who is due but in a session by then does not come back."""
        back, sec = self._back, t // 1000
        while self._back_sec <= sec:
            due = back.get(self._back_sec)
            while due:
                user = self.take(due.pop())
                if user is not None:
                    return user
            back.pop(self._back_sec, None)
            self._back_sec += 1
        return None
