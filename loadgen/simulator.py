"""A shop's users, simulated in discrete simulated time.

Each actor (a visitor's session, the arrival process, background payments, an attacker...) is a
Python generator that yields the simulated time (ms since the start) of its next step; they run
in time order (at the same time, in the order they were scheduled). Steps emit events as
``(t_ms, topic, key, json_text)``; the JSON is formatted directly (all generated strings are
plain ASCII without quotes or backslashes). Event times are `start_ms + t`.

Everything random comes from one `random.Random(seed)`, so the same options give the same
events.

Rate: visits start at the rate that makes `rate` events per simulated second, from the events
of an average visit with the funnel (`visit_profile`, measured once by simulating visits);
revisits take the place of new visitors, so the rate holds over hours too. Gaps between
arrivals are exact (not rounded to ms). The default population is sized from the users in a
session at once (`default_users`, `loadgen.population`).

Start: simulated time starts `warmup_s` before 0 (nothing is sent before 0), with as many
visits in progress as on average, so the first seconds sent are like any other. Items put in a
cart in the warm-up (not sent) are sent as add_to_cart at checkout: every purchase follows the
cart events of its items.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from loadgen.population import Population, User
from loadgen.scenarios import FRAUD_WAVE, SCENARIOS, STEADY, Phase

Event = tuple[int, str, str, str]  # (t_ms, topic, key, value)


class FraudKey(str):
    """The message key of a transaction that belongs to an account takeover.

    An ordinary `str` to Kafka (the event carries no trace of it); `--out` writes the ground
    truth `"fraud": true` from it (`loadgen.runner.out_line`).
    """

    __slots__ = ()
    fraud = True

SERVICES = ("web", "search", "cart", "checkout", "payments", "auth")
ATTACKER_COUNTRIES = ("RU", "NG", "VN", "RO", "UA", "ID", "CN", "BR")
REFERRERS = ("null", '"https://www.google.com/"', '"https://www.bing.com/"', '"https://t.co/"',
             '"https://www.facebook.com/"', '"https://newsletter.shop.example/"')
CATEGORIES = ("shoes", "jackets", "shirts", "bags", "watches", "electronics", "home", "toys")
SITE = "https://shop.example"
_VARIANT = "89ab"
_MS = [f".{i:03d}Z" for i in range(1000)]
#: The share of the events that do not come from visits: payments at 5% of the rate (with an
#: app log 35% of the time), heartbeats 0.5%, device changes 0.1%, takeovers 0.02% (~7 events).
BACKGROUND_SHARE = 0.05 * 1.35 + 0.005 + 0.001 + 0.0002 * 7
MIN_USERS = 20_000     # the default population, at least
PROFILE_VISITS = 4000  # visits simulated to measure `visit_profile` (+-1% on its events)


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
    users: int | None = None       # None: default_users(rate x shards, funnel, scenario)
    rate: float = 1000.0           # simulated events per simulated second (about)
    scenario: str = "steady"
    start_ms: int = 0              # epoch ms of simulated time 0
    planned_events: int | None = None  # a bounded run: scenario phases follow its progress
    span_s: float = 600.0          # unbounded: the phases repeat every span of simulated time
    shard: tuple[int, int] = (0, 1)  # (i, n): simulate the i-th of n disjoint user groups
    warmup_s: float | None = None  # simulated before 0 (None: 4 median think times, 32 s)
    funnel: Funnel = field(default_factory=Funnel)


@functools.cache
def _visit_profile(funnel: tuple) -> tuple[float, float]:
    sim = Simulator(SimConfig(seed=0, users=1, funnel=Funnel(*funnel)), actors=False)
    busy = 0
    for _ in range(PROFILE_VISITS):  # one at a time, from time 0 to its last step
        sim._spawn(sim._session(sim.users.take_any(), 0), 0)
        busy += sim._run()
    return len(sim._buf) / PROFILE_VISITS, busy / PROFILE_VISITS / 1000


def visit_profile(funnel: Funnel) -> tuple[float, float]:
    """(events, seconds in the session) of an average visit with `funnel`, in steady traffic
    (measured on simulated visits, once per funnel)."""
    return _visit_profile(dataclasses.astuple(funnel))


def visits_per_second(rate: float, funnel: Funnel) -> float:
    """The visits to start per simulated second for `rate` events per simulated second."""
    return rate * (1 - BACKGROUND_SHARE) / visit_profile(funnel)[0]


def visitors_at_once(rate: float, funnel: Funnel, scenario: str = "steady") -> float:
    """Users in a session at once at `rate` (in the scenario's busiest phase), on average."""
    peak = max([1.0] + [p.arrivals for _, _, p in SCENARIOS[scenario].windows])
    return visits_per_second(rate, funnel) * peak * visit_profile(funnel)[1]


def default_users(rate: float, funnel: Funnel, scenario: str = "steady") -> int:
    """The default population: twice the users in a session at once in steady traffic and 1.25
    times in the busiest phase (a flash sale), at least 20,000."""
    return max(MIN_USERS, math.ceil(2 * visitors_at_once(rate, funnel)),
               math.ceil(1.25 * visitors_at_once(rate, funnel, scenario)))


class Simulator:
    """Generates the event stream; iterate `batches()` for lists of events in time order.

    `actors=False` only sets up the population (for `visit_profile`).
    """

    def __init__(self, config: SimConfig, actors: bool = True) -> None:
        self.cfg = config
        self.f = config.funnel
        shard, shards = config.shard
        self.rnd = rnd = random.Random(
            config.seed if shards == 1 else f"{config.seed}:{shard}/{shards}")
        self.scenario = SCENARIOS[config.scenario]
        self._span_ms = max(1000, int(config.span_s * 1000))
        self._planned = config.planned_events
        self._flushed = 0  # events handed out by batches()
        self._started = False
        self._buf: list[Event] = []
        self._due: dict[int, list[Iterator[int]]] = {}  # time -> the actors due then, in order
        self._times: list[int] = []                     # (heap) the times in _due
        self._ts_sec = -1
        self._start_ms = config.start_ms
        self._ts_prefix = ""
        h = f"{rnd.getrandbits(80):020x}"
        self._id_prefix = f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{_VARIANT[int(h[15], 16) & 3]}{h[16:19]}-"
        self._ids = itertools.count(shard << 44)  # event ids stay unique across shards
        self._phase_sec: int | None = None
        self._phase = STEADY
        self.products = [(f"p{i:05d}", round(rnd.lognormvariate(2.9, 0.7) + 1, 2),
                          f"/product/p{i:05d}") for i in range(2000)]
        self._popular = [int(2000 * rnd.random() ** 2.5) for _ in range(20000)]
        self._sale = list(range(20))
        self.merchants = [f"m{i:04d}" for i in range(500)]
        mu = math.log(self.f.think_median_s * 1000)
        self._thinks = [500 + int(rnd.lognormvariate(mu, 0.8)) for _ in range(4096)]
        self._hot = (rnd.random, self._thinks, self.click, self.log)  # shared by the visits
        users = config.users
        if users is None:
            users = default_users(config.rate * shards, self.f, config.scenario)
        first = users * shard // shards
        warmup_s = 4 * self.f.think_median_s if config.warmup_s is None else config.warmup_s
        self._t0 = t0 = -int(warmup_s * 1000)
        self.users = Population(rnd, first, users * (shard + 1) // shards - first,
                                self.merchants, t0)
        if not actors:
            return
        r = config.rate
        self.session_rate = visits_per_second(r, self.f) / 1000  # sessions per ms
        self._spawn(self._arrivals(t0), t0)
        self._spawn(self._poisson(0, r * 0.05, self._payment), 0)
        self._spawn(self._poisson(0, r * 0.001, self._device_change), 0)
        self._spawn(self._poisson(0, r * 0.0002, self._attack, "ato"), 0)
        self._spawn(self._poisson(0, r * 0.02, self._outage_errors, "outage"), 0)
        self._spawn(self._poisson(0, r * 0.005, self._heartbeat), 0)

    # -- plumbing ---------------------------------------------------------------------------

    def _spawn(self, actor: Iterator[int], t: int) -> None:
        """Runs the next step of `actor` at time `t` (after those already due then)."""
        due = self._due.get(t)
        if due is None:
            self._due[t] = [actor]
            heapq.heappush(self._times, t)
        else:
            due.append(actor)

    def _run(self, until: float = math.inf, size: float = math.inf) -> int:
        """Runs the actors in time order until the next step is at `until` or later, none is
        left, or `size` events are waiting; returns the time of the last step run."""
        times, due, buf, spawn, pop, t = (self._times, self._due, self._buf, self._spawn,
                                          heapq.heappop, 0)
        while times and times[0] < until and len(buf) < size:
            t = pop(times)
            for actor in due.pop(t):
                step = next(actor, None)
                if step is not None:  # (None: the actor is done)
                    spawn(actor, step)
        return t

    def _warm_up(self) -> None:
        """Starts with as many visits in progress as on average (browsing, with empty carts)
        and simulates up to time 0."""
        t0, draw = self._t0, self.rnd.random
        for _ in range(round(self.session_rate * 1000 * visit_profile(self.f)[1])):
            u = self.users.take_any()
            t = t0 - int(draw() * self._thinks[int(draw() * 4096)])
            self._continue(self._browse(u, t, u.devices[0], draw() < self.f.login, None, "/"))
        self._run(0)

    def batches(self, size: int = 512) -> Iterator[list[Event]]:
        """Endless stream of event lists (each about `size` long) in simulated-time order,
        after the warm-up (one stream per simulator)."""
        if self._started:
            raise RuntimeError("the simulator's stream was already started")
        self._started = True
        self._warm_up()
        buf = self._buf
        while True:
            self._run(size=size)
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
        x = float(t)  # exact time; events get whole milliseconds
        if kind == "ato":
            # thinned from the highest rate any phase has, so that a fraud wave starts at its
            # start (a gap drawn at the base rate before it could jump over the whole wave)
            top = max(FRAUD_WAVE.ato, 1.0)
            while True:
                x += rnd.expovariate(base * top)
                t = int(x)
                yield t
                if rnd.random() * top < self.phase(t).ato:
                    action(t)
        while True:
            ph = self.phase(t)
            mult = (1.0 if ph.outage else 0.0) if kind else 1.0
            x += rnd.expovariate(base * mult) if mult > 0 else 1000
            t = int(x)
            yield t
            if kind != "outage" or self.phase(t).outage:
                action(t)

    def _arrivals(self, t: int) -> Iterator[int]:
        """Starts visits at the session rate: a user whose revisit is due, else a new one."""
        rnd = self.rnd
        x = float(t)
        while True:
            x += rnd.expovariate(self.session_rate * self.phase(t).arrivals)
            t = int(x)
            yield t
            users = self.users
            self._spawn(self._session(users.take_returning(t) or users.take_any(), t), t)

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
        random, thinks, click, log = self._hot
        device = u.devices[0] if random() < 0.7 else rnd.choice(u.devices)
        logged_in = False
        if random() < f.login:
            if random() < f.new_device:
                device = f"d{self._hex(48)}"
                u.devices += (device,)
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
        self._continue(self._browse(u, t, device, logged_in, product, url))

    def _continue(self, actor: Iterator[int]) -> None:
        """Runs `actor` from its first step (a generator of its own: one frame per visit)."""
        self._spawn(actor, next(actor))

    def _browse(self, u: User, t: int, device: str, logged_in: bool,
                product: tuple[str, float, str] | None, url: str) -> Iterator[int]:
        """The rest of a visit after its landing page (see `_session`); first, a think time."""
        rnd, f = self.rnd, self.f
        random, thinks, click, log = self._hot
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
                for pid, line in cart.items() if t >= 0 else ():
                    if line[2]:  # added in the warm-up (not sent): sent now
                        self.cart(t, u, "add_to_cart", pid, line[2], line[1])
                        line[2] = 0
                click(t, u, "/checkout", None, f'"{SITE}/cart"')
                if ph.outage == "checkout":
                    for i in range(rnd.randint(2, 5)):
                        log(t + 5 + i * 40, "checkout", "ERROR", "POST /checkout 500")
                    if random() < 0.5:
                        break  # gives up; the cart is abandoned
                    continue
                amount = round(sum(q * p for q, p, _ in cart.values()), 2)
                items = sum(q for q, _, _ in cart.values())
                if t >= 0:  # (a checkout in the warm-up sends nothing, even 150 ms later)
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
                line = cart.setdefault(product[0], [0, price, 0])  # quantity, price, unsent
                line[0] += qty
                if t < 0:
                    line[2] += qty
                self.cart(t, u, "add_to_cart", product[0], qty, price)
                if random() < 0.35:
                    log(t + 4, "cart", "INFO", f"cart add {product[0]} qty={qty}")
                product = None
                continue
            if cart and random() < f.remove_from_cart:
                pid = next(iter(cart))
                qty, price, unsent = cart.pop(pid)
                if qty > unsent:
                    self.cart(t, u, "remove_from_cart", pid, qty - unsent, price)
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
        self.users.release(u)
        if random() < f.revisit:
            self.users.come_back(u, t + 60_000 * rnd.randint(31, 240))

    def _pick_product(self, t: int) -> tuple[str, float, str]:
        rnd = self.rnd
        if self.phase(t).sale and rnd.random() < 0.6:
            pid, price, url = self.products[self._sale[int(rnd.random() * len(self._sale))]]
            return pid, round(price * 0.7, 2), url
        return self.products[self._popular[int(rnd.random() * len(self._popular))]]

    def _payment(self, t: int) -> None:
        """A card payment elsewhere, following the user's habit."""
        rnd, u = self.rnd, self.users.random()
        amount = max(1.0, round(u.spend * rnd.lognormvariate(0, 0.35), 2))
        merchant = (u.merchants[int(rnd.random() * 4)] if rnd.random() < 0.8
                    else self.merchants[int(rnd.random() * 500)])
        self.transaction(t, u, amount, merchant, u.country, u.devices[0])

    def _device_change(self, t: int) -> None:
        """A legitimate account change: a new phone, a forgotten password."""
        rnd, u = self.rnd, self.users.random()
        if rnd.random() < 0.6:
            device = f"d{self._hex(48)}"
            u.devices += (device,)
            self.device_change(t, u, "device_added", device)
        else:
            self.device_change(t, u, "password_reset", None)

    def _attack(self, t: int) -> None:
        self._spawn(self._takeover(self.users.random(), t), t)

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
