"""Benchmark: ``lumidb backup`` and ``lumidb restore-latest`` against the bare pipelines.

Usage::

    uv run python bench/backup_restore.py --size-mb 300 --runs 3

What it does, all in one run:

1. Starts a throwaway PostgreSQL 18 (lumidb's own ``EmbeddedServer``, in a fresh folder
   directly under ``/tmp``), migrates it with ``lumidb migrate deploy`` and fills the
   LumiAI tables (users, products, orders, order_items, skin_analyses) with generated
   rows (``INSERT ... SELECT generate_series``) until ``pg_database_size`` reaches about
   ``--size-mb``.
2. Times each operation ``--runs`` times, alternating which side goes first, and prints
   the medians and the ratio lumidb / bare:

   * ``lumidb backup`` (plain + zstd) vs ``pg_dump ... | zstd -3 > file``;
   * ``lumidb backup --format custom`` vs ``pg_dump -Fc ...``;
   * ``lumidb restore-latest --yes --no-safety-backup`` vs
     ``zstd -dc file | psql -1 -v ON_ERROR_STOP=1`` (which first drops and recreates the
     public schema in the same transaction, so it too replaces a populated database),
     with the default ``lumidb restore-latest --yes`` (safety backup first) beside it;
   * ``lumidb restore-latest --yes --jobs 2 --file <custom>`` (its safety backup is
     mandatory) vs ``pg_restore -j2 --clean --if-exists --no-owner --no-privileges``.

3. Stops the server and removes everything it created, also on Ctrl-C or SIGTERM.

The bare commands use the PostgreSQL 18 client programs bundled with lumidb and the same
``pg_dump`` arguments lumidb uses. lumidb runs as its installed console script, with
``DATABASE_URL`` pointing at the throwaway server and ``LUMIDB_BACKUP_DIR`` in the
temporary folder. Autovacuum is off on the throwaway server; instead every operation
that rewrote the tables is followed (untimed) by a row-count check, ``VACUUM ANALYZE``
and a ``CHECKPOINT``, and every timed operation starts right after a ``CHECKPOINT``,
so no background work from one measurement lands in another.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

from lumidb.server import EmbeddedServer, bundled_bin_dir

MB = 1024 * 1024
TABLES = ("users", "products", "orders", "order_items", "skin_analyses")
# The pg_dump arguments lumidb uses (lumidb/backup.py, _pg_dump_args), besides --dbname.
DUMP_ARGS = ("--no-owner", "--no-privileges", "--exclude-schema=lumidb", "--schema=public")
ZSTD_LEVEL = "-3"
PRODUCTS = 5000
FIRST_BATCH_USERS = 2_000
MAX_BATCH_USERS = 250_000
GOAL_RATIO = 1.05

# Children started by this script that may still run: killed on the way out.
_CHILDREN: list[subprocess.Popen[bytes]] = []


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


# --- the generated data -----------------------------------------------------------------

_PICK = "(ARRAY[{}])[1 + floor(random() * {})::int]"


def _pick(*words: str) -> str:
    """SQL for a random element of ``words`` (evaluated per row)."""
    quoted = ", ".join("'" + w.replace("'", "''") + "'" for w in words)
    return _PICK.format(quoted, len(words))


FIRST_NAMES = _pick(
    "Aarav", "Vivaan", "Aditya", "Vihaan", "Arjun", "Sai", "Reyansh", "Ayaan", "Krishna",
    "Ishaan", "Ananya", "Diya", "Aadhya", "Saanvi", "Myra", "Anika", "Pari", "Navya", "Kiara",
    "Riya", "Meera", "Priya", "Kavya", "Isha", "Tara", "Nisha", "Pooja", "Sneha", "Zara", "Rhea",
)  # fmt: skip
LAST_NAMES = _pick(
    "Sharma", "Verma", "Gupta", "Iyer", "Reddy", "Nair", "Menon", "Patel", "Shah", "Mehta",
    "Kapoor", "Khanna", "Malhotra", "Chopra", "Bose", "Banerjee", "Mukherjee", "Das", "Rao",
    "Pillai", "Joshi", "Kulkarni", "Desai", "Singh", "Kaur", "Ahmed", "Khan", "Fernandes",
)  # fmt: skip
DOMAINS = _pick(
    "gmail.com", "yahoo.co.in", "outlook.com", "hotmail.com", "rediffmail.com", "icloud.com",
    "proton.me", "lumiai.in",
)  # fmt: skip
STREETS = _pick(
    "MG Road", "Brigade Road", "Linking Road", "Park Street", "Anna Salai", "FC Road",
    "Banjara Hills Road 12", "Hill Road", "Residency Road", "Church Street", "Carter Road",
    "Lokhandwala Complex", "Koramangala 5th Block", "Indiranagar 100 Feet Road",
)  # fmt: skip
CITIES = _pick(
    "Mumbai, Maharashtra", "Bengaluru, Karnataka", "Delhi, Delhi", "Chennai, Tamil Nadu",
    "Hyderabad, Telangana", "Pune, Maharashtra", "Kolkata, West Bengal", "Jaipur, Rajasthan",
    "Kochi, Kerala", "Ahmedabad, Gujarat", "Chandigarh, Punjab", "Lucknow, Uttar Pradesh",
)  # fmt: skip
BRANDS = _pick("Lumi", "Lumi Pro", "Glow Lab", "Veda Skin", "Aura", "Kesar & Co", "Nuvo")
ADJECTIVES = _pick(
    "Radiant", "Matte", "Dewy", "Hydrating", "Velvet", "Luminous", "Soothing", "Brightening",
    "Silk", "Weightless", "Nourishing", "Airbrush", "Botanical", "Overnight", "Daily",
)  # fmt: skip
MAKEUP_TYPES = _pick(
    "Foundation", "Lipstick", "Concealer", "Blush", "Mascara", "Eyeliner", "Highlighter",
    "Primer", "Kajal", "Compact",
)  # fmt: skip
SKINCARE_TYPES = _pick(
    "Serum", "Moisturizer", "Cleanser", "Sunscreen SPF 50", "Toner", "Face Mask", "Eye Cream",
    "Face Oil", "Exfoliator",
)  # fmt: skip
BENEFITS = _pick(
    "evens out skin tone", "locks in moisture for 24 hours", "blurs pores and fine lines",
    "calms redness and irritation", "gives a natural, long-lasting glow",
    "controls shine without drying", "protects against UVA and UVB", "fades dark spots",
    "stays put through heat and humidity", "strengthens the skin barrier",
)  # fmt: skip
CLAIMS = _pick(
    "Dermatologically tested", "Suitable for Indian skin tones", "Cruelty free and vegan",
    "Free from parabens and sulphates", "Non-comedogenic", "Fragrance free",
    "Clinically shown to improve hydration in 2 weeks", "Made with Ayurvedic botanicals",
)  # fmt: skip
INGREDIENTS = _pick(
    "niacinamide", "hyaluronic acid", "vitamin C", "saffron extract", "turmeric", "ceramides",
    "squalane", "salicylic acid", "kojic acid", "aloe vera", "green tea", "zinc oxide",
    "rosehip oil", "licorice root", "bakuchiol", "peptides", "shea butter", "glycerin",
)  # fmt: skip
HOW_TO = _pick(
    "Apply a small amount to clean skin and blend outwards.",
    "Dot over the face and blend with a damp sponge or brush.",
    "Use morning and night after cleansing; follow with sunscreen by day.",
    "Warm between fingertips and press gently into the skin.",
    "Swipe across the lips, starting from the centre.",
)  # fmt: skip
NOTES = _pick(
    "Please deliver after 6 pm", "Gift wrap please", "Call before delivery",
    "Leave with the security guard", "Birthday gift, no invoice in the box",
)  # fmt: skip
ANALYSIS_TEXTS = _pick(
    "Warm undertones with a golden cast; shades with yellow or peach bases will suit you.",
    "Cool undertones with a pink cast; look for rosy and blue-based shades.",
    "Neutral undertones: both warm and cool shades work, prefer beige bases.",
    "Some oiliness in the T-zone with dry cheeks: a gel moisturiser and a matte primer help.",
    "Even texture with mild dehydration: add a hyaluronic acid serum to your routine.",
    "Visible redness around the nose: choose fragrance-free, soothing formulas.",
)  # fmt: skip


def _cuid(prefix: str, expr: str) -> str:
    """A deterministic 25-character id in the style of Prisma's cuid()."""
    return f"'c' || substr(md5('{prefix}' || ({expr})::text), 1, 24)"


PRODUCTS_SQL = f"""
INSERT INTO products (id, sku, name, category, type, description, detail, price, currency,
    shade, "skinType", badge, stock, "imageUrl", images, "ratingAvg", "ratingCount",
    "isActive", "isFeatured", "createdAt", "updatedAt")
SELECT id, 'LUMI-' || lpad(g::text, 6, '0'), brand || ' ' || adjective || ' ' || kind,
       category::"Category", kind,
       'A ' || lower(adjective) || ' ' || lower(kind) || ' that ' || benefit || '. ' || claim || '.',
       'Key ingredients: ' || {INGREDIENTS} || ', ' || {INGREDIENTS} || ' and ' || {INGREDIENTS}
         || '. How to use: ' || {HOW_TO} || ' ' || {CLAIMS} || '. Net quantity: '
         || (10 + floor(random() * 190))::int || ' ml. Shelf life: 24 months from manufacture.',
       round((149 + random() * 4850)::numeric, 2), 'INR',
       CASE WHEN category = 'MAKEUP' THEN {_pick("WARM", "COOL", "NEUTRAL")}::"Tone" END,
       CASE WHEN random() < 0.8 THEN
         {_pick("DRY", "OILY", "COMBINATION", "NORMAL", "SENSITIVE")}::"SkinType" END,
       CASE WHEN random() < 0.3 THEN {_pick("Bestseller", "New", "Limited Edition", "Sale")} END,
       floor(random() * 500)::int,
       'https://cdn.lumiai.in/products/' || id || '/main.webp',
       ARRAY['https://cdn.lumiai.in/products/' || id || '/1.webp',
             'https://cdn.lumiai.in/products/' || id || '/2.webp',
             'https://cdn.lumiai.in/products/' || id || '/swatch.webp'],
       round((3 + random() * 2)::numeric, 2)::float8, floor(random() * 4000)::int,
       random() < 0.95, random() < 0.05, ts, ts + random() * interval '200 days'
FROM (
    SELECT g, {_cuid("product", "g")} AS id, {BRANDS} AS brand, {ADJECTIVES} AS adjective,
           CASE WHEN mod(g, 2) = 0 THEN 'MAKEUP' ELSE 'SKINCARE' END AS category,
           CASE WHEN mod(g, 2) = 0 THEN {MAKEUP_TYPES} ELSE {SKINCARE_TYPES} END AS kind,
           {BENEFITS} AS benefit, {CLAIMS} AS claim,
           timestamp '2024-01-01' + random() * interval '300 days' AS ts
    FROM generate_series(1, {PRODUCTS}) g
) s
"""

USERS_SQL = f"""
INSERT INTO users (id, email, password, name, role, "isActive", "createdAt", "updatedAt")
SELECT {_cuid("user", "g")}, lower(first) || '.' || lower(last) || g || '@' || domain,
       '$2b$10$' || substr(translate(encode(sha256(('pw' || g)::bytea)
         || sha256(('salt' || g)::bytea), 'base64'), E'+=\\n', '.'), 1, 53),
       first || ' ' || last,
       (CASE WHEN mod(g, 997) = 0 THEN 'ADMIN' ELSE 'USER' END)::"Role",
       mod(g, 23) <> 0, ts, ts + random() * interval '90 days'
FROM (
    SELECT g, {FIRST_NAMES} AS first, {LAST_NAMES} AS last, {DOMAINS} AS domain,
           timestamp '2024-01-01' + random() * interval '700 days' AS ts
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
) s
"""

ORDERS_SQL = f"""
INSERT INTO orders (id, "orderNumber", "userId", subtotal, tax, shipping, total, currency,
    status, "shippingAddress", "billingAddress", "paymentMethod", "paymentIntentId", notes,
    "createdAt", "updatedAt")
SELECT {_cuid("order", "g")}, 'LUMI-' || to_char(ts, 'YYYYMMDD') || '-' || lpad(g::text, 9, '0'),
       {_cuid("user", "u")}, subtotal, round(subtotal * 0.18, 2),
       CASE WHEN subtotal >= 999 THEN 0 ELSE 99 END,
       subtotal + round(subtotal * 0.18, 2) + CASE WHEN subtotal >= 999 THEN 0 ELSE 99 END,
       'INR',
       {
    _pick(
        "PENDING",
        "CONFIRMED",
        "PROCESSING",
        "SHIPPED",
        "DELIVERED",
        "DELIVERED",
        "DELIVERED",
        "CANCELLED",
        "REFUNDED",
    )
}::"OrderStatus",
       address, CASE WHEN random() < 0.8 THEN address END, method,
       CASE WHEN method <> 'COD' THEN 'pi_' || substr(md5('pi' || g::text), 1, 24) END,
       CASE WHEN random() < 0.1 THEN {NOTES} END,
       ts, ts + random() * interval '10 days'
FROM (
    SELECT g, %(user_lo)s::bigint + mod(g - %(lo)s::bigint, %(users)s::bigint) AS u,
           round((199 + random() * random() * 9000)::numeric, 2) AS subtotal,
           {FIRST_NAMES} || ' ' || {LAST_NAMES} || ', ' || (1 + floor(random() * 400))::int
             || ', ' || {STREETS} || ', ' || {CITIES} || ' '
             || (110001 + floor(random() * 750000))::int || ', India' AS address,
           {_pick("UPI", "UPI", "CARD", "CARD", "COD", "NETBANKING", "WALLET")} AS method,
           timestamp '2024-03-01' + random() * interval '600 days' AS ts
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
) s
"""

ORDER_ITEMS_SQL = f"""
INSERT INTO order_items (id, "orderId", "productId", name, sku, price, quantity, subtotal,
    "createdAt")
SELECT {_cuid("item", "s.g")}, {_cuid("order", "s.o")}, p.id, p.name, p.sku, p.price, s.q,
       p.price * s.q, s.ts
FROM (
    SELECT g, %(order_lo)s::bigint + (g - %(lo)s::bigint) * 2 / 5 AS o,
           1 + floor(random() * {PRODUCTS})::int AS pn,
           1 + floor(random() * random() * 4)::int AS q,
           timestamp '2024-03-01' + random() * interval '600 days' AS ts
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
) s
JOIN products p ON p.sku = 'LUMI-' || lpad(s.pn::text, 6, '0')
"""

SKIN_ANALYSES_SQL = f"""
INSERT INTO skin_analyses (id, "userId", "imageUrl", tone, "skinType", confidence, "rgbR",
    "rgbG", "rgbB", variance, brightness, description, "createdAt")
SELECT id, CASE WHEN random() < 0.85 THEN {_cuid("user", "u")} END,
       'https://uploads.lumiai.in/analyses/' || id || '.jpg',
       {_pick("WARM", "COOL", "NEUTRAL")}::"Tone",
       {_pick("DRY", "OILY", "COMBINATION", "NORMAL", "SENSITIVE")}::"SkinType",
       0.55 + random() * 0.44, 120 + floor(random() * 120)::int, 80 + floor(random() * 110)::int,
       60 + floor(random() * 100)::int, random() * 900, 0.2 + random() * 0.7,
       {ANALYSIS_TEXTS} || ' ' || {ANALYSIS_TEXTS},
       timestamp '2024-01-01' + random() * interval '700 days'
FROM (
    SELECT g, {_cuid("analysis", "g")} AS id,
           %(user_lo)s::bigint + mod(g - %(lo)s::bigint, %(users)s::bigint) AS u
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
) s
"""


@dataclass
class FillState:
    """The next free number of each generated series (ids derive from them)."""

    users: int = 1
    orders: int = 1
    items: int = 1
    analyses: int = 1


def _database_size(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


def _add_users(conn: psycopg.Connection[Any], state: FillState, users: int) -> None:
    """Add ``users`` users with 3 orders each, 2.5 items per order, 1.5 skin analyses each."""
    orders = users * 3
    items = orders * 5 // 2
    analyses = users * 3 // 2
    user_lo = state.users
    order_lo = state.orders
    conn.execute(USERS_SQL, {"lo": user_lo, "hi": user_lo + users - 1})
    conn.execute(
        ORDERS_SQL,
        {"lo": order_lo, "hi": order_lo + orders - 1, "user_lo": user_lo, "users": users},
    )
    conn.execute(
        ORDER_ITEMS_SQL,
        {"lo": state.items, "hi": state.items + items - 1, "order_lo": order_lo},
    )
    conn.execute(
        SKIN_ANALYSES_SQL,
        {
            "lo": state.analyses,
            "hi": state.analyses + analyses - 1,
            "user_lo": user_lo,
            "users": users,
        },
    )
    state.users += users
    state.orders += orders
    state.items += items
    state.analyses += analyses


def fill(conninfo: str, size_mb: int, say: Callable[[str], None]) -> None:
    """Insert generated rows until the database is about ``size_mb`` MiB."""
    target = size_mb * MB
    state = FillState()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT setseed(0.42)")
        conn.execute(PRODUCTS_SQL)
        before = _database_size(conn)
        batch = FIRST_BATCH_USERS
        while True:
            started = time.monotonic()
            _add_users(conn, state, batch)
            size = _database_size(conn)
            say(
                f"  {state.users - 1:>9,} users, {state.orders - 1:>10,} orders: "
                f"{size / MB:7.1f} MiB ({time.monotonic() - started:.1f} s)"
            )
            if size >= target * 0.98:
                break
            per_user = max((size - before) / (state.users - 1), 1.0)
            batch = int(min(MAX_BATCH_USERS, max(1000, (target - size) / per_user)))
        say("  VACUUM (FREEZE, ANALYZE) and CHECKPOINT")
        conn.execute("VACUUM (FREEZE, ANALYZE)")
        conn.execute("CHECKPOINT")


def row_counts(conninfo: str) -> dict[str, int]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        counts = {}
        for table in TABLES:
            row = conn.execute(f'SELECT count(*) FROM public."{table}"').fetchone()
            counts[table] = int(row[0]) if row else 0
        return counts


# --- running things ---------------------------------------------------------------------


def _kill_children() -> None:
    for proc in _CHILDREN:
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
    _CHILDREN.clear()


def _popen(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(list(args), **kwargs)
    _CHILDREN.append(proc)
    return proc


def _wait_all(procs: Sequence[subprocess.Popen[bytes]], what: str, errors: Path) -> None:
    """Wait for a pipeline; raise with the stderr tail when any part failed."""
    try:
        codes = [proc.wait() for proc in procs]
    finally:
        _kill_children()
    if any(codes):
        tail = errors.read_text(errors="replace").strip().splitlines()[-5:]
        raise BenchError(f"{what} failed (exit codes {codes}): " + " | ".join(tail))


@dataclass
class Bench:
    """Everything one benchmark run needs: the folders, the server, the programs."""

    root: Path
    server: EmbeddedServer
    lumidb: Path
    zstd: str
    bin_dir: Path
    conninfo: str = ""
    lumidb_url: str = ""
    expected_counts: dict[str, int] = field(default_factory=dict)
    plain_source: Path | None = None  # the plain zstd backup restores read
    custom_source: Path | None = None  # the custom backup restores read
    dump_has_public_schema: bool = False

    # folders
    @property
    def timing_dir(self) -> Path:
        """LUMIDB_BACKUP_DIR while timing backups: emptied after each one."""
        return self.root / "timing"

    @property
    def source_dir(self) -> Path:
        """LUMIDB_BACKUP_DIR while timing restores: holds exactly one plain backup."""
        return self.root / "source"

    @property
    def custom_dir(self) -> Path:
        return self.root / "custom-source"

    @property
    def bare_dir(self) -> Path:
        return self.root / "bare"

    @property
    def errors_file(self) -> Path:
        return self.root / "stderr.txt"

    def program(self, name: str) -> str:
        return str(self.bin_dir / name)

    # environments
    def lumidb_env(self, backup_dir: Path) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PG", "LUMIDB_"))
            and k not in {"DATABASE_URL", "DIRECT_URL", "NODE_ENV"}
        }
        env.update(
            DATABASE_URL=self.lumidb_url,
            LUMIDB_BACKUP_DIR=str(backup_dir),
            LUMIDB_STATE_DIR=str(self.root / "unused-state"),
            LUMIDB_ENV="development",
            NO_COLOR="1",
        )
        return env

    def bare_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGAPPNAME"] = "bench bare"
        return env

    # commands
    def run_lumidb(self, args: Sequence[str], backup_dir: Path) -> None:
        command = [str(self.lumidb), *args]
        try:
            result = subprocess.run(
                command,
                env=self.lumidb_env(backup_dir),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
        except BaseException:
            _kill_children()
            raise
        if result.returncode != 0:
            tail = result.stderr.decode(errors="replace").strip().splitlines()[-5:]
            raise BenchError(
                f"lumidb {' '.join(args)} exited {result.returncode}: " + " | ".join(tail)
            )

    def checkpoint(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    def settle(self) -> None:
        """After an operation that rewrote the tables: check them, vacuum, checkpoint."""
        counts = row_counts(self.conninfo)
        if counts != self.expected_counts:
            raise BenchError(f"row counts after a restore {counts} != {self.expected_counts}")
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
            conn.execute("CHECKPOINT")

    # the operations (each returns nothing; timing happens around them)
    def lumidb_backup_plain(self) -> None:
        self.run_lumidb(["backup", "--quiet"], self.timing_dir)

    def lumidb_backup_custom(self) -> None:
        self.run_lumidb(["backup", "--format", "custom", "--quiet"], self.timing_dir)

    def bare_backup_plain(self) -> None:
        out = self.bare_dir / "bare.sql.zst"
        with out.open("wb") as sink, self.errors_file.open("wb") as errors:
            dump = _popen(
                [self.program("pg_dump"), f"--dbname={self.conninfo}", *DUMP_ARGS],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=self.bare_env(),
            )
            assert dump.stdout is not None
            zstd = _popen(
                [self.zstd, ZSTD_LEVEL, "-q", "-c"], stdin=dump.stdout, stdout=sink, stderr=errors
            )
            dump.stdout.close()
            _wait_all([dump, zstd], "pg_dump | zstd -3", self.errors_file)

    def bare_backup_custom(self) -> None:
        out = self.bare_dir / "bare.dump"
        with self.errors_file.open("wb") as errors:
            dump = _popen(
                [
                    self.program("pg_dump"),
                    f"--dbname={self.conninfo}",
                    *DUMP_ARGS,
                    "--format=custom",
                    f"--file={out}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=self.bare_env(),
            )
            _wait_all([dump], "pg_dump -Fc", self.errors_file)

    def lumidb_restore_plain(self) -> None:
        self.run_lumidb(
            ["restore-latest", "--yes", "--no-safety-backup", "--quiet"], self.source_dir
        )

    def lumidb_restore_plain_default(self) -> None:
        self.run_lumidb(["restore-latest", "--yes", "--quiet"], self.source_dir)

    def bare_restore_plain(self) -> None:
        assert self.plain_source is not None
        # The plain dump of --schema=public may itself create the schema; then the
        # preamble only drops it (with everything in it).
        preamble = "DROP SCHEMA public CASCADE;"
        if not self.dump_has_public_schema:
            preamble += " CREATE SCHEMA public;"
        with self.errors_file.open("wb") as errors:
            unzstd = _popen(
                [self.zstd, "-dc", "-q", str(self.plain_source)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
            )
            assert unzstd.stdout is not None
            psql = _popen(
                [
                    self.program("psql"),
                    "-X",
                    "-q",
                    "-1",
                    "-v",
                    "ON_ERROR_STOP=1",
                    f"--dbname={self.conninfo}",
                    "-c",
                    preamble,
                    "-f",
                    "-",
                ],
                stdin=unzstd.stdout,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=self.bare_env(),
            )
            unzstd.stdout.close()
            _wait_all([unzstd, psql], "zstd -dc | psql -1", self.errors_file)

    def lumidb_restore_custom_jobs(self, jobs: int) -> None:
        assert self.custom_source is not None
        self.run_lumidb(
            [
                "restore-latest",
                "--yes",
                "--jobs",
                str(jobs),
                "--file",
                str(self.custom_source),
                "--quiet",
            ],
            self.source_dir,
        )

    def bare_restore_custom_jobs(self, jobs: int) -> None:
        assert self.custom_source is not None
        with self.errors_file.open("wb") as errors:
            proc = _popen(
                [
                    self.program("pg_restore"),
                    f"-j{jobs}",
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "--no-privileges",
                    f"--dbname={self.conninfo}",
                    str(self.custom_source),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=self.bare_env(),
            )
            _wait_all([proc], f"pg_restore -j{jobs}", self.errors_file)

    def clear_outputs(self) -> None:
        """Remove what a timed operation left: timing backups, bare files, safety backups."""
        for folder in (self.timing_dir, self.bare_dir, self.source_dir / "safety"):
            shutil.rmtree(folder, ignore_errors=True)
        self.bare_dir.mkdir(exist_ok=True)


# --- measuring --------------------------------------------------------------------------


@dataclass
class Measured:
    """One line of the result table."""

    operation: str
    bare_label: str
    goal: float | None
    lumidb: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    lumidb_cpu: list[float] = field(default_factory=list)  # user+sys of our children
    bare_cpu: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def lumidb_median(self) -> float:
        return statistics.median(self.lumidb)

    @property
    def bare_median(self) -> float | None:
        return statistics.median(self.bare) if self.bare else None

    @property
    def ratio(self) -> float | None:
        bare = self.bare_median
        return self.lumidb_median / bare if bare else None


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(bench: Bench, operation: Callable[[], None], *, rewrites: bool) -> tuple[float, float]:
    """Wall-clock seconds of ``operation``, and the CPU seconds its client processes used.

    The CPU time counts the processes this script starts and everything they wait for
    (lumidb and its pg_dump/psql/pg_restore; or the bare pipeline), not the server's
    backends, which are not our children.
    """
    bench.checkpoint()
    cpu = _children_cpu()
    started = time.perf_counter()
    operation()
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if rewrites:
        bench.settle()
    bench.clear_outputs()
    return elapsed, cpu


def _rotated(items: list[Any], shift: int) -> list[Any]:
    shift %= len(items)
    return items[shift:] + items[:shift]


def _fmt(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f}"


def measure(bench: Bench, runs: int, jobs: int, say: Callable[[str], None]) -> list[Measured]:
    backup_plain = Measured(
        "`lumidb backup` (plain, zstd)", "`pg_dump … \\| zstd -3 > file`", GOAL_RATIO
    )
    backup_custom = Measured("`lumidb backup --format custom`", "`pg_dump -Fc …`", None)
    restore_plain = Measured(
        "`lumidb restore-latest --yes --no-safety-backup` (plain zstd)",
        "`zstd -dc file \\| psql -1 -v ON_ERROR_STOP=1`",
        GOAL_RATIO,
    )
    restore_default = Measured(
        "`lumidb restore-latest --yes` (default: safety backup first)",
        "`zstd -dc file \\| psql -1 -v ON_ERROR_STOP=1`",
        None,
        note="includes a full safety backup",
    )
    restore_custom = Measured(
        f"`lumidb restore-latest --yes --jobs {jobs} --file <custom>`",
        f"`pg_restore -j{jobs} --clean --if-exists --no-owner --no-privileges`",
        None,
        note="lumidb includes its mandatory safety backup",
    )

    def record(
        row: Measured, side: str, label: str, operation: Callable[[], None], rewrites: bool
    ) -> Callable[[], None]:
        def go() -> None:
            seconds, cpu = _timed(bench, operation, rewrites=rewrites)
            (row.lumidb if side == "lumidb" else row.bare).append(seconds)
            (row.lumidb_cpu if side == "lumidb" else row.bare_cpu).append(cpu)
            say(f"    {label:<44} {seconds:7.2f} s  (client CPU {cpu:6.2f} s)")

        return go

    for run in range(runs):
        say(f"  run {run + 1}/{runs}: backups")
        steps = [
            record(backup_plain, "lumidb", "lumidb backup", bench.lumidb_backup_plain, False),
            record(backup_plain, "bare", "pg_dump | zstd -3", bench.bare_backup_plain, False),
        ]
        for step in _rotated(steps, run):
            step()
        steps = [
            record(
                backup_custom,
                "lumidb",
                "lumidb backup --format custom",
                bench.lumidb_backup_custom,
                False,
            ),
            record(backup_custom, "bare", "pg_dump -Fc", bench.bare_backup_custom, False),
        ]
        for step in _rotated(steps, run):
            step()
    for run in range(runs):
        say(f"  run {run + 1}/{runs}: restores")
        steps = [
            record(
                restore_plain,
                "lumidb",
                "lumidb restore-latest --no-safety-backup",
                bench.lumidb_restore_plain,
                True,
            ),
            record(restore_plain, "bare", "zstd -dc | psql -1", bench.bare_restore_plain, True),
            record(
                restore_default,
                "lumidb",
                "lumidb restore-latest (default)",
                bench.lumidb_restore_plain_default,
                True,
            ),
        ]
        for step in _rotated(steps, run):
            step()
        steps = [
            record(
                restore_custom,
                "lumidb",
                f"lumidb restore-latest --jobs {jobs}",
                lambda: bench.lumidb_restore_custom_jobs(jobs),
                True,
            ),
            record(
                restore_custom,
                "bare",
                f"pg_restore -j{jobs} --clean --if-exists",
                lambda: bench.bare_restore_custom_jobs(jobs),
                True,
            ),
        ]
        for step in _rotated(steps, run):
            step()
    restore_default.bare = list(restore_plain.bare)
    restore_default.bare_cpu = list(restore_plain.bare_cpu)
    return [backup_plain, backup_custom, restore_plain, restore_default, restore_custom]


def result_table(rows: list[Measured]) -> str:
    lines = [
        "| operation | lumidb median s | bare pipeline | bare median s | ratio | goal |",
        "| --- | ---: | --- | ---: | ---: | --- |",
    ]
    for row in rows:
        ratio = row.ratio
        if row.goal is None:
            goal = "reported beside" + (f" ({row.note})" if row.note else "")
        elif ratio is None:
            goal = f"≤ {row.goal:.2f}"
        else:
            goal = f"≤ {row.goal:.2f}: " + ("met" if ratio <= row.goal else "**missed**")
        lines.append(
            f"| {row.operation} | {_fmt(row.lumidb_median)} | {row.bare_label} | "
            f"{_fmt(row.bare_median)} | {'—' if ratio is None else f'{ratio:.3f}'} | {goal} |"
        )
    return "\n".join(lines)


def cpu_table(rows: list[Measured]) -> str:
    lines = [
        "| operation | lumidb client CPU s | bare client CPU s | difference s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        lumidb = statistics.median(row.lumidb_cpu)
        bare = statistics.median(row.bare_cpu) if row.bare_cpu else None
        difference = "—" if bare is None else f"{lumidb - bare:+.2f}"
        lines.append(f"| {row.operation} | {lumidb:.2f} | {_fmt(bare)} | {difference} |")
    return "\n".join(lines)


def raw_times(rows: list[Measured]) -> str:
    lines = []
    for row in rows:
        lumidb = ", ".join(f"{s:.2f}" for s in row.lumidb)
        bare = ", ".join(f"{s:.2f}" for s in row.bare)
        lines.append(f"- {row.operation}: lumidb [{lumidb}]; bare [{bare}]")
    return "\n".join(lines)


# --- the machine ------------------------------------------------------------------------


def _first_line(command: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(command), capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else "unknown"


def machine_info(bench: Bench) -> list[str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return [
        f"nproc: {len(os.sched_getaffinity(0))} ({cpu})",
        f"memory: {memory}",
        f"kernel: {platform.system()} {platform.release()}",
        f"python: {platform.python_version()}",
        f"client programs: {_first_line([bench.program('pg_dump'), '--version'])} "
        f"(bundled, {bench.bin_dir})",
        f"zstd: {_first_line([bench.zstd, '--version'])}",
    ]


# --- setup and teardown -----------------------------------------------------------------


def _sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def throwaway_server(root: Path, say: Callable[[str], None]) -> Iterator[EmbeddedServer]:
    """A fresh embedded PostgreSQL in ``root/state``; stopped when the block ends."""
    server = EmbeddedServer(root / "state")
    try:
        result = server.ensure_running()
        say(f"started a throwaway PostgreSQL at {result.url}")
        yield server
    finally:
        try:
            server.stop()
        except Exception as exc:
            say(f"could not stop the server cleanly ({exc}); killing it")
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int((server.pgdata / "postmaster.pid").read_text().split()[0])
                os.kill(pid, signal.SIGQUIT)
                time.sleep(2)


def _dump_creates_public(path: Path, zstd: str) -> bool:
    """Whether the plain dump has its own ``CREATE SCHEMA public;``."""
    proc = subprocess.run([zstd, "-dc", "-q", str(path)], capture_output=True, check=False)
    return any(line.strip() == b"CREATE SCHEMA public;" for line in proc.stdout.splitlines())


def _only_backup(folder: Path, suffix: str) -> Path:
    found = [p for p in folder.iterdir() if p.name.endswith(suffix)]
    if len(found) != 1:
        raise BenchError(f"expected one {suffix} backup in {folder}, found {found}")
    return found[0]


def run(args: argparse.Namespace) -> int:
    def say(message: str) -> None:
        print(message, flush=True)

    zstd = shutil.which("zstd")
    if zstd is None:
        print(
            "error: the zstd command-line program is missing; the bare pipeline needs it.\n"
            "install it (Debian/Ubuntu: apt-get install -y zstd) and run again.",
            file=sys.stderr,
        )
        return 2
    lumidb = Path(sys.executable).parent / "lumidb"
    if not lumidb.is_file():
        print(f"error: no lumidb console script at {lumidb}; run with `uv run`", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, _sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignoring it
    root = Path(tempfile.mkdtemp(prefix="lumidb-bench-", dir="/tmp"))
    say(f"working folder: {root} (removed at the end)")
    started = time.monotonic()
    try:
        with throwaway_server(root, say) as server:
            target = server.target()
            bench = Bench(
                root=root,
                server=server,
                lumidb=lumidb,
                zstd=zstd,
                bin_dir=bundled_bin_dir(),
                conninfo=f"postgresql://{target.user}@{target.host}:{target.port}/{target.dbname}",
                lumidb_url=server.url(),
            )
            bench.bare_dir.mkdir()
            with psycopg.connect(bench.conninfo, autocommit=True) as conn:
                conn.execute("ALTER SYSTEM SET autovacuum = off")
                conn.execute("SELECT pg_reload_conf()")
                row = conn.execute("SHOW server_version").fetchone()
                server_version = str(row[0]) if row else "unknown"
            say("lumidb migrate deploy")
            bench.run_lumidb(["migrate", "deploy", "--quiet"], bench.timing_dir)
            say(f"filling to about {args.size_mb} MiB")
            fill_started = time.monotonic()
            fill(bench.conninfo, args.size_mb, say)
            fill_seconds = time.monotonic() - fill_started
            bench.expected_counts = row_counts(bench.conninfo)
            with psycopg.connect(bench.conninfo, autocommit=True) as conn:
                size = _database_size(conn)
            say("source backups for the restores (untimed; they also warm the caches)")
            bench.run_lumidb(["backup", "--quiet"], bench.source_dir)
            bench.plain_source = _only_backup(bench.source_dir, ".sql.zst")
            bench.run_lumidb(["backup", "--format", "custom", "--quiet"], bench.custom_dir)
            bench.custom_source = _only_backup(bench.custom_dir, ".dump")
            bench.dump_has_public_schema = _dump_creates_public(bench.plain_source, zstd)
            bench.timing_dir.mkdir(exist_ok=True)
            say(f"timing, {args.runs} run(s) each, alternating the order")
            load_before = os.getloadavg()[0]
            rows = measure(bench, args.runs, args.jobs, say)
            load_after = os.getloadavg()[0]
            with psycopg.connect(bench.conninfo, autocommit=True) as conn:
                size_after = _database_size(conn)
            cli_start = statistics.median(
                _time_command([str(lumidb), "--version"], bench.lumidb_env(bench.timing_dir))
                for _ in range(5)
            )

            say("")
            say("## Result")
            say("")
            say(result_table(rows))
            say("")
            say(
                "CPU time (user + sys, median) of the client processes: lumidb with its "
                "pg_dump/psql/pg_restore children, or the bare pipeline; the server's own "
                "work is not included:"
            )
            say("")
            say(cpu_table(rows))
            say("")
            say("Individual runs (wall clock, seconds):")
            say(raw_times(rows))
            say("")
            counts = ", ".join(f"{t} {n:,}" for t, n in bench.expected_counts.items())
            say(
                f"- database: {size / MB:.0f} MiB (pg_database_size after filling; "
                f"{size_after / MB:.0f} MiB after the restores rebuilt tables and indexes), "
                f"PostgreSQL {server_version}; rows: {counts}"
            )
            say(
                f"- backups: plain zstd {bench.plain_source.stat().st_size / MB:.1f} MiB, "
                f"custom {bench.custom_source.stat().st_size / MB:.1f} MiB"
            )
            say(f"- lumidb CLI start-up (`lumidb --version`, median of 5): {cli_start:.2f} s")
            for line in machine_info(bench):
                say(f"- {line}")
            say(
                f"- load average (1 min) before timing {load_before:.2f}, after {load_after:.2f} "
                "(the benchmark itself keeps about 1-2 cores busy)"
            )
            say(
                f"- fill took {fill_seconds:.0f} s; the whole run "
                f"{time.monotonic() - started:.0f} s"
            )
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        _kill_children()
        shutil.rmtree(root, ignore_errors=True)
        if root.exists():
            print(f"warning: could not remove all of {root}", file=sys.stderr)
    return 0


def _time_command(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=False)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time lumidb backup/restore-latest against bare pg_dump/psql/pg_restore."
    )
    parser.add_argument(
        "--size-mb", type=int, default=1024, help="database size to build (default 1024)"
    )
    parser.add_argument("--runs", type=int, default=3, help="repetitions (median; default 3)")
    parser.add_argument(
        "--jobs", type=int, default=2, help="parallel jobs of the custom restore (default 2)"
    )
    args = parser.parse_args(argv)
    if args.size_mb < 10 or args.runs < 1 or args.jobs < 1:
        parser.error("--size-mb must be at least 10, --runs and --jobs at least 1")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
