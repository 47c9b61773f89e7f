"""A shop's population of users, simulated in discrete simulated time.

Each actor (a visitor's session, the arrival process, background payments, an attacker...) is a
Python generator that yields the simulated time (ms since the start) of its next step; a heap
runs them in time order. Steps emit events as ``(t_ms, topic, key, json_text)``; the JSON is
formatted directly (all generated strings are plain ASCII without quotes or backslashes).

Everything random comes from one `random.Random(seed)`, so the same options give the same
events. Simulated time starts `warmup_s` before 0 with nothing emitted, so a run starts with
sessions already in progress; event times are `start_ms + t`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from loadgen.scenarios import SCENARIOS, STEADY, Phase

Event = tuple[int, str, str, str]  # (t_ms, topic, key, value)


class FraudKey(str):
    """The message key of a transaction that belongs to an account takeover.

    An ordinary `str` to Kafka (the event carries no trace of it); `--out` writes the ground
    truth `"fraud": true` from it (`loadgen.runner.out_line`).
    """

    __slots__ = ()
    fraud = True

SERVICES = ("web", "search", "cart", "checkout", "payments", "auth")
COUNTRIES = (("US", "USD", 30), ("DE", "EUR", 12), ("GB", "GBP", 10), ("FR", "EUR", 9),
             ("NL", "EUR", 5), ("ES", "EUR", 6), ("IT", "EUR", 6), ("CA", "CAD", 7),
             ("AU", "AUD", 5), ("JP", "JPY", 5), ("BR", "BRL", 5))
ATTACKER_COUNTRIES = ("RU", "NG", "VN", "RO", "UA", "ID", "CN", "BR")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
)
REFERRERS = ("null", '"https://www.google.com/"', '"https://www.bing.com/"', '"https://t.co/"',
             '"https://www.facebook.com/"', '"https://newsletter.shop.example/"')
CATEGORIES = ("shoes", "jackets", "shirts", "bags", "watches", "electronics", "home", "toys")
SITE = "https://shop.example"
_VARIANT = "89ab"
_MS = [f".{i:03d}Z" for i in range(1000)]


@dataclass
class Funnel:
    """Per-step probabilities of a visitor's session (configurable with --funnel)."""

    login: float = 0.3           # logs in at the start of a session
    login_fail: float = 0.06     # a login attempt fails first (typo)
    new_device: float = 0.03     # a login is from a device the user never used before
    product_view: float = 0.55   # the next page is a product (else a listing page)
    add_to_cart: float = 0.22    # on a product page: adds it to the cart
    remove_from_cart: float = 0.04
    checkout: float = 0.3        # with a cart: goes to checkout and buys
    exit: float = 0.12           # leaves after a step
    revisit: float = 0.3         # comes back after 31-240 minutes
    think_median_s: float = 8.0  # median think time between steps

    def update(self, overrides: dict[str, float]) -> Funnel:
        for name, value in overrides.items():
            if name not in self.__dataclass_fields__:
                raise ValueError(f"unknown funnel parameter {name!r}")
            setattr(self, name, float(value))
        return self


@dataclass
class SimConfig:
    seed: int = 1
    users: int = 20_000
    rate: float = 1000.0           # simulated events per simulated second (about)
    scenario: str = "steady"
    start_ms: int = 0              # epoch ms of simulated time 0
    planned_events: int | None = None  # a bounded run: scenario phases follow its progress
    span_s: float = 600.0          # unbounded: the phases repeat every span of simulated time
    shard: tuple[int, int] = (0, 1)  # (i, n): simulate the i-th of n disjoint user groups
    warmup_s: float = 120.0
    funnel: Funnel = field(default_factory=Funnel)


@dataclass(slots=True)
class User:
    idx: int                       # position in this simulator's population
    uid: str
    country: str
    currency: str
    ip: str
    agent: str
    devices: list[str]
    spend: float                   # typical payment amount
    merchants: tuple[str, ...]
    click_tail: str = ""           # the end of this user's clicks' JSON

    def __post_init__(self) -> None:
        self.click_tail = f'"user_agent":"{self.agent}","country":"{self.country}"}}'


class Simulator:
    """Generates the event stream; iterate `batches()` for lists of events in time order."""

    EVENTS_PER_SESSION = 10.0      # measured mean, incl. app logs; sets the arrival rate

    def __init__(self, config: SimConfig) -> None:
        self.cfg = config
        self.f = config.funnel
        shard, shards = config.shard
        self.rnd = rnd = random.Random(
            config.seed if shards == 1 else f"{config.seed}:{shard}/{shards}")
        self.scenario = SCENARIOS[config.scenario]
        self._span_ms = max(1000, int(config.span_s * 1000))
        self._planned = config.planned_events
        self._flushed = 0  # events handed out by batches()
        self._buf: list[Event] = []
        self._heap: list = []
        self._seq = itertools.count()
        self._ts_sec = -1
        self._start_ms = config.start_ms
        self._ts_prefix = ""
        h = f"{rnd.getrandbits(80):020x}"
        self._id_prefix = f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{_VARIANT[int(h[15], 16) & 3]}{h[16:19]}-"
        self._ids = itertools.count(shard << 44)  # event ids stay unique across shards
        self._phase_sec: int | None = None
        self._phase = STEADY
        weights = [w for _, _, w in COUNTRIES]
        first = config.users * shard // shards
        count = config.users * (shard + 1) // shards - first
        self.users = [self._make_user(i, first + i, rnd, weights) for i in range(count)]
        self._free = list(range(count))
        self._pos = list(range(count))
        self.products = [(f"p{i:05d}", round(rnd.lognormvariate(2.9, 0.7) + 1, 2),
                          f"/product/p{i:05d}") for i in range(2000)]
        self._popular = [int(2000 * rnd.random() ** 2.5) for _ in range(20000)]
        self._sale = list(range(20))
        self.merchants = [f"m{i:04d}" for i in range(500)]
        mu = math.log(self.f.think_median_s * 1000)
        self._thinks = [500 + int(rnd.lognormvariate(mu, 0.8)) for _ in range(4096)]
        r = config.rate
        self.session_rate = r * 0.8 / self.EVENTS_PER_SESSION / 1000  # sessions per ms
        t0 = -int(config.warmup_s * 1000)
        self._returning: list[tuple[int, int]] = []
        self._spawn(self._arrivals(t0), t0)
        self._spawn(self._revisits(t0), t0)
        self._spawn(self._poisson(t0, r * 0.05, self._payment), t0)
        self._spawn(self._poisson(t0, r * 0.001, self._device_change), t0)
        self._spawn(self._poisson(t0, r * 0.0002, self._attack, "ato"), t0)
        self._spawn(self._poisson(t0, r * 0.02, self._outage_errors, "outage"), t0)
        self._spawn(self._poisson(t0, r * 0.005, self._heartbeat), t0)

    # -- setup ------------------------------------------------------------------------------

    def _make_user(self, i: int, number: int, rnd: random.Random, weights: list[int]) -> User:
        country, currency, _ = rnd.choices(COUNTRIES, weights)[0]
        return User(
            idx=i, uid=f"u{number:07d}", country=country, currency=currency,
            ip=f"{rnd.randint(11, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}",
            agent=rnd.choice(USER_AGENTS),
            devices=[f"d{rnd.getrandbits(48):012x}" for _ in range(rnd.choice((1, 1, 2, 2, 3)))],
            spend=round(rnd.lognormvariate(3.0, 0.6), 2),
            merchants=tuple(f"m{rnd.randrange(500):04d}" for _ in range(4)),
        )

    # -- plumbing ---------------------------------------------------------------------------

    def _spawn(self, actor: Iterator[int], t: int) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), actor))

    def batches(self, size: int = 512) -> Iterator[list[Event]]:
        """Endless stream of event lists (each about `size` long) in simulated-time order."""
        heap, seq, buf = self._heap, self._seq, self._buf
        pop, replace = heapq.heappop, heapq.heapreplace
        while True:
            actor = heap[0][2]
            try:
                replace(heap, (next(actor), next(seq), actor))
            except StopIteration:
                pop(heap)
            if len(buf) >= size:
                out = buf.copy()
                buf.clear()
                self._flushed += len(out)
                yield out

    def phase(self, t: int) -> Phase:
        sec = t // 1000
        if sec != self._phase_sec:
            self._phase_sec = sec
            if t < 0:
                self._phase = STEADY
            elif self._planned:
                self._phase = self.scenario.at((self._flushed + len(self._buf)) / self._planned)
            else:
                self._phase = self.scenario.at((t % self._span_ms) / self._span_ms)
        return self._phase

    def _head(self, t: int) -> str:
        """The start of an event's JSON: `{"event_id":...,"event_time":...` (no comma).

        The event_id is a UUID (version 4 layout) made of a random per-run prefix and a counter.
        """
        ms = self._start_ms + t
        sec = ms // 1000
        if sec != self._ts_sec:
            self._ts_sec = sec
            self._ts_prefix = (f'","event_time":"'
                               f'{time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))}')
        return (f'{{"event_id":"{self._id_prefix}{next(self._ids):012x}'
                f'{self._ts_prefix}{_MS[ms - sec * 1000]}"')

    def _hex(self, bits: int = 64) -> str:
        return f"{self.rnd.getrandbits(bits):0{bits // 4}x}"

    def _think(self) -> int:
        return self._thinks[int(self.rnd.random() * 4096)]

    def _take_user(self, u: int | None = None) -> User | None:
        free, pos = self._free, self._pos
        if u is None:
            if not free:
                return None
            u = int(free[int(self.rnd.random() * len(free))])
        i = pos[u]
        if i < 0:
            return None  # already in a session
        last = free.pop()
        if last != u:
            free[i] = last
            pos[last] = i
        pos[u] = -1
        return self.users[u]

    def _release(self, u: User) -> None:
        idx = u.idx
        self._pos[idx] = len(self._free)
        self._free.append(idx)

    # -- events -----------------------------------------------------------------------------

    def click(self, t: int, u: User, url: str, product: str | None, referrer: str) -> None:
        if t < 0:
            return
        if product:
            kind = f'"product_view","page_url":"{url}","product_id":"{product}"'
        else:
            kind = f'"page_view","page_url":"{url}","product_id":null'
        self._buf.append((t, "clicks", u.uid, (
            f'{self._head(t)},"user_id":"{u.uid}","event_type":{kind},'
            f'"referrer":{referrer},{u.click_tail}')))

    def cart(self, t: int, u: User, kind: str, product: str, qty: int, price: float) -> None:
        if t < 0:
            return
        self._buf.append((t, "cart_events", u.uid, (
            f'{self._head(t)},"user_id":"{u.uid}",'
            f'"event_type":"{kind}","product_id":"{product}","quantity":{qty},'
            f'"unit_price":{price:.2f}}}')))

    def purchase(self, t: int, u: User, amount: float, items: int) -> None:
        if t < 0:
            return
        self._buf.append((t, "purchases", u.uid, (
            f'{self._head(t)},"user_id":"{u.uid}",'
            f'"order_id":"o-{self._hex()}","amount":{amount:.2f},"currency":"{u.currency}",'
            f'"item_count":{items}}}')))

    def login(self, t: int, u: User, device: str, ip: str, country: str, ok: bool) -> None:
        if t < 0:
            return
        self._buf.append((t, "logins", u.uid, (
            f'{self._head(t)},"user_id":"{u.uid}",'
            f'"device_id":"{device}","ip":"{ip}","country":"{country}",'
            f'"success":{"true" if ok else "false"}}}')))
        if ok:
            if self.rnd.random() < 0.35:
                self.log(t + 3, "auth", "INFO", f"login ok user={u.uid} device={device}")
        else:
            if self.rnd.random() < 0.35:
                self.log(t + 3, "auth", "WARN", f"login failed user={u.uid} ip={ip}")

    def device_change(self, t: int, u: User, kind: str, device: str | None) -> None:
        if t < 0:
            return
        dev = f'"{device}"' if device else "null"
        self._buf.append((t, "device_changes", u.uid, (
            f'{self._head(t)},"user_id":"{u.uid}",'
            f'"change_type":"{kind}","device_id":{dev}}}')))

    def transaction(self, t: int, u: User, amount: float, merchant: str, country: str,
                    device: str, currency: str | None = None, fraud: bool = False) -> None:
        if t < 0:
            return
        self._buf.append((t, "transactions", FraudKey(u.uid) if fraud else u.uid, (
            f'{self._head(t)},'
            f'"transaction_id":"tx-{self._hex()}","user_id":"{u.uid}","amount":{amount:.2f},'
            f'"currency":"{currency or u.currency}","merchant_id":"{merchant}",'
            f'"country":"{country}","device_id":"{device}"}}')))
        if self.rnd.random() < 0.35:
            self.log(t + 7, "payments", "INFO", f"charge authorized merchant={merchant}")

    def log(self, t: int, service: str, level: str, message: str) -> None:
        """An app log line (a failing service logs errors instead)."""
        if t < 0:
            return
        rnd = self.rnd
        x = rnd.random()
        if self.phase(t).outage == service:
            level, message = "ERROR", (
                f"java.net.SocketTimeoutException: {service}-db read timed out ({message})")
        elif x < 0.01:
            level = "WARN" if rnd.random() < 0.98 else "ERROR"
            message = f"slow upstream call took {rnd.randint(900, 5000)}ms ({message})"
        trace = f'"{rnd.getrandbits(64):016x}"' if x < 0.8 else "null"
        self._buf.append((t, "app_logs", service, (
            f'{self._head(t)},"service":"{service}",'
            f'"level":"{level}","message":"{message}","trace_id":{trace}}}')))

    # -- actors -----------------------------------------------------------------------------

    def _poisson(self, t: int, per_second: float, action, kind: str = "") -> Iterator[int]:
        """Calls `action(t)` at a Poisson rate, scaled by the scenario for `kind`."""
        rnd = self.rnd
        base = per_second / 1000
        while True:
            ph = self.phase(t)
            mult = ph.ato if kind == "ato" else (1.0 if ph.outage else 0.0) if kind else 1.0
            if mult <= 0:
                t += 1000
            else:
                t += 1 + int(rnd.expovariate(base * mult))
            yield t
            if kind != "outage" or self.phase(t).outage:
                action(t)

    def _arrivals(self, t: int) -> Iterator[int]:
        rnd = self.rnd
        while True:
            t += 1 + int(rnd.expovariate(self.session_rate * self.phase(t).arrivals))
            yield t
            user = self._take_user()
            if user is not None:
                self._spawn(self._session(user, t), t)

    def _revisits(self, t: int) -> Iterator[int]:
        """Starts the sessions of users coming back (kept apart: they wait for hours)."""
        due = self._returning
        while True:
            t += 1000
            yield t
            while due and due[0][0] <= t:
                back, idx = heapq.heappop(due)
                user = self._take_user(idx)
                if user is not None:
                    self._spawn(self._session(user, back), back)

    def _login(self, u: User, t: int, device: str):
        """Logs in (after a failed attempt, sometimes); returns the time it succeeded."""
        if self.rnd.random() < self.f.login_fail:
            self.login(t, u, device, u.ip, u.country, False)
            t += 2000 + self.rnd.randrange(12000)
            yield t
        self.login(t, u, device, u.ip, u.country, True)
        return t

    def _session(self, u: User, t: int) -> Iterator[int]:
        """One visit: landing page, browsing, carts, maybe checkout; then maybe a revisit."""
        rnd, f = self.rnd, self.f
        random, thinks, click, log = rnd.random, self._thinks, self.click, self.log
        device = u.devices[0] if random() < 0.7 else rnd.choice(u.devices)
        logged_in = False
        if random() < f.login:
            if random() < f.new_device:
                device = f"d{self._hex(48)}"
                u.devices.append(device)
            t = yield from self._login(u, t, device)
            logged_in = True
            t += thinks[int(random() * 4096)]
            yield t
        referrer = REFERRERS[int(random() * len(REFERRERS))]
        product = None
        if random() < 0.3:
            product = self._pick_product(t)
            url = product[2]
            click(t, u, url, product[0], referrer)
        else:
            url = "/" if random() < 0.6 else f"/category/{CATEGORIES[int(random() * 8)]}"
            click(t, u, url, None, referrer)
        if random() < 0.35:
            log(t + 2, "web", "INFO", f"GET {url} 200")
        cart: dict[str, list] = {}
        while True:
            t += thinks[int(random() * 4096)]
            yield t
            ph = self.phase(t)
            if cart and random() < f.checkout * ph.checkout:
                if not logged_in:
                    t = yield from self._login(u, t, device)
                    logged_in = True
                    t += thinks[int(random() * 4096)]
                    yield t
                    ph = self.phase(t)
                click(t, u, "/checkout", None, f'"{SITE}/cart"')
                if ph.outage == "checkout":
                    for i in range(rnd.randint(2, 5)):
                        log(t + 5 + i * 40, "checkout", "ERROR", "POST /checkout 500")
                    if random() < 0.5:
                        break  # gives up; the cart is abandoned
                    continue
                amount = round(sum(q * p for q, p in cart.values()), 2)
                items = sum(q for q, _ in cart.values())
                self.purchase(t + 150, u, amount, items)
                if random() < 0.9:
                    log(t + 160, "checkout", "INFO", f"order placed items={items}")
                self.transaction(t + 400, u, amount, "m-shop", u.country, device)
                cart.clear()
                if random() < 0.7:
                    break
                continue
            if product is not None and random() < f.add_to_cart * ph.add_to_cart:
                qty = 1 if random() < 0.8 else rnd.randint(2, 4)
                price = product[1]
                if t >= 0:  # (in the warm-up, nothing is emitted: no purchase without a cart)
                    line = cart.setdefault(product[0], [0, price])
                    line[0] += qty
                self.cart(t, u, "add_to_cart", product[0], qty, price)
                if random() < 0.35:
                    log(t + 4, "cart", "INFO", f"cart add {product[0]} qty={qty}")
                product = None
                continue
            if cart and random() < f.remove_from_cart:
                pid = next(iter(cart))
                qty, price = cart.pop(pid)
                self.cart(t, u, "remove_from_cart", pid, qty, price)
                continue
            if random() < f.exit:
                break
            referrer = f'"{SITE}{url}"'
            if random() < f.product_view:
                product = self._pick_product(t)
                url = product[2]
                click(t, u, url, product[0], referrer)
                if random() < 0.1:
                    log(t + 2, "search", "DEBUG", f"recommendations for {product[0]}")
            else:
                product = None
                url = (f"/category/{CATEGORIES[int(random() * 8)]}" if random() < 0.7
                       else f"/search?q={CATEGORIES[int(random() * 8)]}")
                click(t, u, url, None, referrer)
            if random() < 0.35:
                log(t + 2, "web", "INFO", f"GET {url} 200")
        self._release(u)
        if random() < f.revisit:
            back = t + 60_000 * rnd.randint(31, 240)
            heapq.heappush(self._returning, (back, u.idx))

    def _pick_product(self, t: int) -> tuple[str, float, str]:
        rnd = self.rnd
        if self.phase(t).sale and rnd.random() < 0.6:
            pid, price, url = self.products[self._sale[int(rnd.random() * len(self._sale))]]
            return pid, round(price * 0.7, 2), url
        return self.products[self._popular[int(rnd.random() * len(self._popular))]]

    def _random_user(self) -> User:
        return self.users[int(self.rnd.random() * len(self.users))]

    def _payment(self, t: int) -> None:
        """A card payment elsewhere, following the user's habit."""
        rnd, u = self.rnd, self._random_user()
        amount = max(1.0, round(u.spend * rnd.lognormvariate(0, 0.35), 2))
        merchant = (u.merchants[int(rnd.random() * 4)] if rnd.random() < 0.8
                    else self.merchants[int(rnd.random() * 500)])
        self.transaction(t, u, amount, merchant, u.country, u.devices[0])

    def _device_change(self, t: int) -> None:
        """A legitimate account change: a new phone, a forgotten password."""
        rnd, u = self.rnd, self._random_user()
        if rnd.random() < 0.6:
            device = f"d{self._hex(48)}"
            u.devices.append(device)
            self.device_change(t, u, "device_added", device)
        else:
            self.device_change(t, u, "password_reset", None)

    def _attack(self, t: int) -> None:
        self._spawn(self._takeover(self._random_user(), t), t)

    def _takeover(self, u: User, t: int) -> Iterator[int]:
        """Account takeover: new-device login or device change, then payments >= 100.00."""
        rnd = self.rnd
        if t < 0:
            return
        device = f"d{self._hex(48)}"
        country = rnd.choice(ATTACKER_COUNTRIES)
        ip = f"{rnd.randint(11, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        if rnd.random() < 0.6:
            for _ in range(rnd.randint(0, 3)):
                self.login(t, u, device, ip, country, False)
                t += 1000 + rnd.randrange(20_000)
                yield t
            self.login(t, u, device, ip, country, True)
        else:
            kind = rnd.choice(("device_added", "password_reset", "mfa_disabled"))
            self.device_change(t, u, kind, device if kind != "password_reset" else None)
            if self.rnd.random() < 0.8:
                self.log(t + 5, "auth", "WARN", f"account change {kind} user={u.uid}")
        end = t + 9 * 60_000
        t += 10_000 + rnd.randrange(80_000)
        for _ in range(rnd.randint(2, 5)):
            if t > end:
                break
            yield t
            amount = round(max(100.0, u.spend * rnd.uniform(3, 12)) + rnd.randrange(100) / 100, 2)
            merchant = self.merchants[int(rnd.random() * 500)]
            self.transaction(t, u, amount, merchant, country, device, fraud=True)
            t += 10_000 + rnd.randrange(110_000)

    def _outage_errors(self, t: int) -> None:
        service = self.phase(t).outage
        if service:
            self.log(t, service, "ERROR", f"POST /{service} 500 upstream unavailable")

    def _heartbeat(self, t: int) -> None:
        service = SERVICES[int(self.rnd.random() * len(SERVICES))]
        self.log(t, service, "DEBUG", "health check ok")
