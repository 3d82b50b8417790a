"""``lumidb seed --scale N``: synthetic data for load tests, benchmarks and trying purges.

N users (about 3 orders each, 1-4 items per order, a skin analysis for most), extra
products, about 10 % of users and products soft-deleted (some with orders, some
without). Rows stream into PostgreSQL COPY (psycopg's ``cursor.copy()``) a chunk of
users at a time, so memory stays flat whatever N is; only the products (at most
``MAX_PRODUCTS``) are remembered, for the order items. Every user shares one bcrypt hash
computed once per run (nobody can log in as them: its password is random and thrown away).

Deterministic with a random seed: the same seed on the same database state gives the
same rows. It appends: numbered keys (emails, SKUs, order numbers) continue after the
highest that an earlier scale run left, and ids are random UUID v4 drawn from the seeded
generator, so they never collide with existing rows. Development and test databases
only, with no override. All in one transaction: an interrupted run leaves nothing.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lumidb import guard
from lumidb.config import Environment
from lumidb.connection import DatabaseTarget, connect
from lumidb.errors import UsageError

MAX_SCALE = 100_000_000
MAX_PRODUCTS = 100_000
CHUNK_USERS = 5_000
EMAIL_DOMAIN = "scale.lumiai.test"
SOFT_DELETED_SHARE = 0.10

Progress = Callable[[int, int], None]

FIRST_NAMES = [
    "Aarav", "Vivaan", "Aditya", "Vihaan", "Arjun", "Sai", "Reyansh", "Krishna", "Ishaan",
    "Rohan", "Kabir", "Ananya", "Diya", "Aadhya", "Saanvi", "Priya", "Isha", "Kavya", "Meera",
    "Riya", "Nisha", "Pooja", "Sneha", "Lakshmi", "Divya", "Anjali", "Neha", "Tanvi", "Shreya",
    "Aditi", "Ira", "Myra", "Kiara", "Rahul", "Vikram", "Karthik", "Siddharth", "Harsh",
    "Manish", "Deepak", "Suresh", "Ramesh", "Ganesh", "Prakash", "Amit", "Nikhil", "Varun",
    "Farhan", "Imran", "Zoya", "Ayesha", "Sana", "Gurpreet", "Harpreet", "Simran", "Jaspreet",
    "Arnav", "Dev", "Yash", "Pranav", "Lavanya", "Bhavya", "Keerthi", "Swathi", "Revathi",
    "Anusha", "Shalini",
]  # fmt: skip
LAST_NAMES = [
    "Sharma", "Verma", "Gupta", "Iyer", "Nair", "Reddy", "Rao", "Patel", "Shah", "Mehta",
    "Desai", "Joshi", "Kulkarni", "Deshpande", "Singh", "Kaur", "Gill", "Sandhu", "Chatterjee",
    "Banerjee", "Mukherjee", "Das", "Bose", "Ghosh", "Sen", "Pillai", "Menon", "Krishnan",
    "Subramanian", "Naidu", "Chowdhury", "Khan", "Qureshi", "Sheikh", "Ansari", "Fernandes",
    "D'Souza", "Pereira", "Mishra", "Pandey", "Tiwari", "Dubey", "Yadav", "Jain", "Agarwal",
    "Bansal", "Malhotra", "Kapoor", "Khanna", "Bhat", "Hegde",
]  # fmt: skip
CITIES = (
    ("Mumbai", "Maharashtra", "400"),
    ("Pune", "Maharashtra", "411"),
    ("Delhi", "Delhi", "110"),
    ("Bengaluru", "Karnataka", "560"),
    ("Chennai", "Tamil Nadu", "600"),
    ("Hyderabad", "Telangana", "500"),
    ("Kolkata", "West Bengal", "700"),
    ("Ahmedabad", "Gujarat", "380"),
    ("Jaipur", "Rajasthan", "302"),
    ("Lucknow", "Uttar Pradesh", "226"),
    ("Kochi", "Kerala", "682"),
    ("Chandigarh", "Chandigarh", "160"),
    ("Indore", "Madhya Pradesh", "452"),
    ("Bhubaneswar", "Odisha", "751"),
    ("Guwahati", "Assam", "781"),
    ("Coimbatore", "Tamil Nadu", "641"),
)
STREETS = (
    "MG Road", "Linking Road", "Brigade Road", "Anna Salai", "Park Street", "Residency Road",
    "Nehru Nagar", "Gandhi Marg", "Station Road", "Lake View Road", "Temple Street",
    "Sector 17", "Koramangala 5th Block", "Banjara Hills Road No 12", "Salt Lake Sector V",
    "Civil Lines", "Indiranagar 100 Feet Road", "Bandra West Hill Road",
)  # fmt: skip
MAKEUP = ("lipstick", "foundation", "blush", "eyeshadow", "mascara", "highlighter")
SKINCARE = ("moisturizer", "cleanser", "serum", "sunscreen", "mask", "toner")
ADJECTIVES = (
    "Kesar", "Chandan", "Gulab", "Haldi", "Neem", "Tulsi", "Monsoon", "Mehendi", "Jasmine",
    "Saffron", "Lotus", "Amla", "Coconut", "Mango", "Rose Gold", "Velvet", "Dewy", "Matte",
)  # fmt: skip
TONES = ("WARM", "COOL", "NEUTRAL")
SKIN_TYPES = ("DRY", "OILY", "COMBINATION", "NORMAL", "SENSITIVE")
STATUSES = ("PENDING", "CONFIRMED", "PROCESSING", "SHIPPED", "DELIVERED", "DELIVERED",
            "DELIVERED", "CANCELLED", "REFUNDED")  # fmt: skip
PAYMENTS = ("UPI", "CARD", "NETBANKING", "COD", "WALLET")
BADGES = ("bestseller", "new", "limited", "\\N", "\\N", "\\N")

_USER_COLS = '"id", "email", "password", "name", "role", "isActive", "createdAt", "updatedAt"'
_PRODUCT_COLS = (
    '"id", "sku", "name", "category", "type", "description", "detail", "price", "currency", '
    '"shade", "skinType", "badge", "stock", "imageUrl", "images", "ratingAvg", "ratingCount", '
    '"isActive", "isFeatured", "createdAt", "updatedAt"'
)
_ORDER_COLS = (
    '"id", "orderNumber", "userId", "subtotal", "tax", "shipping", "total", "currency", '
    '"status", "shippingAddress", "billingAddress", "paymentMethod", "paymentIntentId", '
    '"notes", "createdAt", "updatedAt"'
)
_ITEM_COLS = (
    '"id", "orderId", "productId", "name", "sku", "price", "quantity", "subtotal", "createdAt"'
)
_ANALYSIS_COLS = (
    '"id", "userId", "imageUrl", "tone", "skinType", "confidence", "rgbR", "rgbG", "rgbB", '
    '"variance", "brightness", "description", "createdAt"'
)


@dataclass(frozen=True)
class ScaleResult:
    database: str
    random_seed: int
    users: int
    products: int
    orders: int
    order_items: int
    skin_analyses: int
    soft_deleted_users: int
    soft_deleted_products: int
    seconds: float

    @property
    def rows(self) -> int:
        return self.users + self.products + self.orders + self.order_items + self.skin_analyses

    @property
    def rows_per_second(self) -> float:
        return round(self.rows / self.seconds, 1) if self.seconds else 0.0


def check_scale(count: int) -> None:
    """``UsageError`` (exit 2) unless 1 ≤ N ≤ 100,000,000."""
    if not 1 <= count <= MAX_SCALE:
        raise UsageError(
            f"--scale {count} is out of range: give a number of users from 1 to {MAX_SCALE:,}"
        )


def products_for(users: int) -> int:
    return min(MAX_PRODUCTS, max(20, users // 10))


def _uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _next_number(conn: Any) -> int:
    """The first free number after an earlier scale run's keys."""
    row = conn.execute(
        "SELECT max(substring(email from '^u([0-9]+)@' || %s || '$')::bigint) FROM users",
        (re.escape(EMAIL_DOMAIN),),
    ).fetchone()
    return int(row[0]) + 1 if row and row[0] is not None else 0


def seed_scale(
    target: DatabaseTarget,
    *,
    count: int,
    random_seed: int,
    now: datetime,
    environment: Environment,
    lock_timeout: float,
    progress: Progress | None = None,
) -> ScaleResult:
    """Append ``count`` synthetic users with their data, in one transaction, under the lock."""
    import bcrypt

    from lumidb.locks import database_lock
    from lumidb.seed import generate_password, require_migrated

    check_scale(count)
    started = time.monotonic()
    with (
        database_lock(target, "seed --scale", timeout=lock_timeout),
        connect(target, application_name="lumidb seed --scale", autocommit=False) as conn,
    ):
        record = guard.environment_record(conn, environment)
        guard.refuse_on_production(
            record, "seed --scale", hint="synthetic data never goes into production"
        )
        require_migrated(conn, target.schema)
        first = _next_number(conn)
        password = bcrypt.hashpw(
            generate_password().encode(), bcrypt.gensalt(rounds=10, prefix=b"2b")
        ).decode()
        generator = _Generator(random_seed, first, now, password)
        products = generator.products(products_for(count))
        with conn.cursor() as cur, cur.copy(f"COPY products ({_PRODUCT_COLS}) FROM STDIN") as copy:
            copy.write(products)
        done = 0
        while done < count:
            size = min(CHUNK_USERS, count - done)
            chunk = generator.users_chunk(size)
            for table, columns, data in (
                ("users", _USER_COLS, chunk.users),
                ("orders", _ORDER_COLS, chunk.orders),
                ("order_items", _ITEM_COLS, chunk.items),
                ("skin_analyses", _ANALYSIS_COLS, chunk.analyses),
            ):
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
                ):
                    copy.write(data)
            done += size
            if progress is not None:
                progress(done, count)
        conn.commit()
    return ScaleResult(
        database=target.masked_url(),
        random_seed=random_seed,
        users=count,
        products=generator.product_count,
        orders=generator.orders,
        order_items=generator.items,
        skin_analyses=generator.analyses,
        soft_deleted_users=generator.deleted_users,
        soft_deleted_products=generator.deleted_products,
        seconds=round(time.monotonic() - started, 3),
    )


@dataclass
class _Chunk:
    users: str
    orders: str
    items: str
    analyses: str


class _Generator:
    """Rows as COPY text, from one seeded generator; only the product list is kept."""

    def __init__(self, seed: int, first: int, now: datetime, password: str) -> None:
        self.rng = random.Random(f"{seed}:{first}")  # noqa: S311 (synthetic data, seeded on purpose)
        self.next_user = first
        self.first = first
        self.password = password
        base = now.astimezone(UTC).replace(tzinfo=None)
        # 2,000 points in the last year: formatting a datetime per row would dominate.
        self.times = sorted(
            (base - timedelta(seconds=self.rng.randrange(365 * 86400))).isoformat(
                sep=" ", timespec="milliseconds"
            )
            for _ in range(2000)
        )
        self.product_rows: list[tuple[str, str, str, int]] = []  # id, name, sku, price (paise)
        self.product_count = 0
        self.orders = self.items = self.analyses = 0
        self.deleted_users = self.deleted_products = 0

    def _time_pair(self) -> tuple[str, str]:
        """(createdAt, updatedAt) with updatedAt not before createdAt."""
        a = self.rng.randrange(len(self.times))
        b = self.rng.randrange(a, len(self.times))
        return self.times[a], self.times[b]

    def products(self, count: int) -> str:
        rng = self.rng
        lines = []
        for j in range(count):
            makeup = rng.random() < 0.5
            kind = rng.choice(MAKEUP if makeup else SKINCARE)
            fit = rng.choice(TONES if makeup else SKIN_TYPES)
            name = f"{rng.choice(ADJECTIVES)} {rng.choice(ADJECTIVES)} {kind.title()}"
            sku = f"SC-{self.first}-{j}"
            price = rng.randrange(199, 3999) * 100 + 0
            active = rng.random() >= SOFT_DELETED_SHARE
            self.deleted_products += not active
            pid = _uuid4(rng)
            created, updated = self._time_pair()
            image = f"https://cdn.lumiai.com/scale/{sku.lower()}.jpg"
            lines.append(
                f"{pid}\t{sku}\t{name}\t{'MAKEUP' if makeup else 'SKINCARE'}\t{kind}\t"
                f"A {kind} from the {name.split()[0]} range, made for {fit.lower()} "
                f"{'undertones' if makeup else 'skin'}.\tDermatologically tested; made in India.\t"
                f"{price // 100}.{price % 100:02d}\tINR\t{fit if makeup else chr(92) + 'N'}\t"
                f"{chr(92) + 'N' if makeup else fit}\t{rng.choice(BADGES)}\t{rng.randrange(0, 500)}\t"
                f"{image}\t{{{image}}}\t{rng.randrange(30, 50) / 10}\t{rng.randrange(0, 3000)}\t"
                f"{'t' if active else 'f'}\t{'t' if rng.random() < 0.05 else 'f'}\t{created}\t{updated}\n"
            )
            self.product_rows.append((pid, name, sku, price))
        self.product_count = count
        return "".join(lines)

    def users_chunk(self, size: int) -> _Chunk:
        rng = self.rng
        users: list[str] = []
        orders: list[str] = []
        items: list[str] = []
        analyses: list[str] = []
        products = self.product_rows
        for _ in range(size):
            number = self.next_user
            self.next_user += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            uid = _uuid4(rng)
            created, updated = self._time_pair()
            active = rng.random() >= SOFT_DELETED_SHARE
            self.deleted_users += not active
            users.append(
                f"{uid}\tu{number}@{EMAIL_DOMAIN}\t{self.password}\t{first} {last}\tUSER\t"
                f"{'t' if active else 'f'}\t{created}\t{updated}\n"
            )
            # Soft-deleted users: half of them never ordered, so a purge has both kinds.
            order_count = 0 if (not active and rng.random() < 0.5) else rng.randrange(1, 6)
            city, state, pin = rng.choice(CITIES)
            address = (
                f"{rng.randrange(1, 999)} {rng.choice(STREETS)}, {city}, {state} "
                f"{pin}{rng.randrange(0, 999):03d}, India"
            )
            for k in range(order_count):
                oid = _uuid4(rng)
                o_created, o_updated = self._time_pair()
                subtotal = 0
                for _item in range(rng.randrange(1, 5)):
                    pid, name, sku, price = products[rng.randrange(len(products))]
                    quantity = rng.randrange(1, 4)
                    line = price * quantity
                    subtotal += line
                    items.append(
                        f"{_uuid4(rng)}\t{oid}\t{pid}\t{name}\t{sku}\t{price // 100}.{price % 100:02d}\t"
                        f"{quantity}\t{line // 100}.{line % 100:02d}\t{o_created}\n"
                    )
                    self.items += 1
                tax = subtotal * 18 // 100
                shipping = 0 if subtotal >= 49900 else 4900
                total = subtotal + tax + shipping
                orders.append(
                    f"{oid}\tLUMI-{number}-{k}\t{uid}\t{subtotal // 100}.{subtotal % 100:02d}\t"
                    f"{tax // 100}.{tax % 100:02d}\t{shipping // 100}.{shipping % 100:02d}\t"
                    f"{total // 100}.{total % 100:02d}\tINR\t{rng.choice(STATUSES)}\t{address}\t"
                    f"{address}\t{rng.choice(PAYMENTS)}\tpi_{rng.getrandbits(64):016x}\t\\N\t"
                    f"{o_created}\t{o_updated}\n"
                )
                self.orders += 1
            if rng.random() < 0.8:
                tone, skin = rng.choice(TONES), rng.choice(SKIN_TYPES)
                r, g, b = rng.randrange(120, 240), rng.randrange(80, 200), rng.randrange(60, 180)
                analyses.append(
                    f"{_uuid4(rng)}\t{uid}\thttps://cdn.lumiai.com/scans/{uid}.jpg\t{tone}\t{skin}\t"
                    f"{rng.randrange(55, 99) / 100}\t{r}\t{g}\t{b}\t{rng.randrange(5, 60) / 10}\t"
                    f"{(r + g + b) / 3:.1f}\t{tone.title()} undertone, {skin.lower()} skin\t{created}\n"
                )
                self.analyses += 1
        return _Chunk("".join(users), "".join(orders), "".join(items), "".join(analyses))
