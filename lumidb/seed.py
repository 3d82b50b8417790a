"""Seeding: the admin and the sample catalogue, added idempotently to a migrated database.

``seed`` only adds what is missing (the admin by email, products by SKU) and leaves
rows the application changed alone; ``refresh`` puts the sample rows back to the
shipped values and the admin's password to ``LUMIDB_ADMIN_PASSWORD`` when that is set.
No password is written in the code: without ``LUMIDB_ADMIN_PASSWORD`` the admin gets a
strong random one, which the command shows once (or says how to set one). Passwords are
stored as bcrypt (cost 10, ``$2b$``), which the LumiAI application's bcrypt accepts.

The catalogue is data (``seed_data/catalogue.toml``), validated on load. Ids are UUID v4
and ``createdAt``/``updatedAt`` carry the command's clock in UTC, as the application
writes them. ``seed_into`` works inside a caller's transaction, so ``reset`` and
``setup`` seed in the same transaction as their other work.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lumidb.config import Environment, Settings
from lumidb.connection import DatabaseTarget, connect
from lumidb.errors import UsageError

if TYPE_CHECKING:
    from pydantic import BaseModel

CATALOGUE = Path(__file__).parent / "seed_data" / "catalogue.toml"
BCRYPT_COST = 10
ADMIN_NAME = "LumiAI Admin"
MAKEUP_TYPES = ("lipstick", "foundation", "blush", "eyeshadow", "mascara", "highlighter")
SKINCARE_TYPES = ("moisturizer", "cleanser", "serum", "sunscreen", "mask", "toner")
TONES = ("WARM", "COOL", "NEUTRAL")
SKIN_TYPES = ("DRY", "OILY", "COMBINATION", "NORMAL", "SENSITIVE")
_OUTCOMES = {True: "created", False: "refreshed"}  # RETURNING (xmax = 0): inserted, not updated


# --- the catalogue ------------------------------------------------------------------


def _entry_model() -> type[BaseModel]:
    """The pydantic model of one catalogue entry (built on first use: pydantic is heavy)."""
    from pydantic import BaseModel, ConfigDict, Field, model_validator

    class CatalogueEntry(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        sku: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{2,63}$")
        name: str = Field(min_length=3, max_length=120)
        category: Literal["MAKEUP", "SKINCARE"]
        type: str
        description: str = Field(min_length=10)
        detail: str = Field(min_length=10)
        price: Decimal = Field(gt=0, lt=Decimal("100000000"), decimal_places=2)
        currency: Literal["INR"] = "INR"
        shade: Literal["WARM", "COOL", "NEUTRAL"] | None = None
        skin_type: Literal["DRY", "OILY", "COMBINATION", "NORMAL", "SENSITIVE"] | None = None
        badge: Literal["bestseller", "new", "limited"] | None = None
        stock: int = Field(ge=0)
        image_url: str = Field(pattern=r"^https://")
        images: list[str] = Field(min_length=1)
        rating_avg: float = Field(ge=0, le=5)
        rating_count: int = Field(ge=0)
        featured: bool = False

        @model_validator(mode="after")
        def _fits_its_category(self) -> CatalogueEntry:
            if self.category == "MAKEUP":
                if self.type not in MAKEUP_TYPES:
                    raise ValueError(f"makeup type must be one of {', '.join(MAKEUP_TYPES)}")
                if self.shade is None or self.skin_type is not None:
                    raise ValueError("makeup names the shade (tone) it suits, and no skin_type")
            else:
                if self.type not in SKINCARE_TYPES:
                    raise ValueError(f"skincare type must be one of {', '.join(SKINCARE_TYPES)}")
                if self.skin_type is None or self.shade is not None:
                    raise ValueError("skincare names the skin_type it suits, and no shade")
            return self

    return CatalogueEntry


@dataclass(frozen=True)
class Product:
    """One product of the sample catalogue, as validated."""

    sku: str
    name: str
    category: str
    type: str
    description: str
    detail: str
    price: Decimal
    currency: str
    shade: str | None
    skin_type: str | None
    badge: str | None
    stock: int
    image_url: str
    images: list[str]
    rating_avg: float
    rating_count: int
    featured: bool


def load_catalogue(path: Path = CATALOGUE) -> list[Product]:
    """Read and validate the catalogue; a bad entry is a ``UsageError`` naming it."""
    import tomllib

    from pydantic import ValidationError

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read the seed catalogue {path}: {exc}") from None
    raw = document.get("product")
    if not isinstance(raw, list) or not raw:
        raise UsageError(f"the seed catalogue {path} has no [[product]] entries")
    model = _entry_model()
    products: list[Product] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        label = f"product #{number}" + (f" ({item.get('sku')})" if isinstance(item, dict) else "")
        try:
            entry = model.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "entry"
            raise UsageError(
                f"the seed catalogue {path.name}: {label}, {where}: {first['msg']}"
            ) from None
        if entry.sku in seen:  # type: ignore[attr-defined]
            raise UsageError(f"the seed catalogue {path.name}: {label}: the SKU appears twice")
        seen.add(entry.sku)  # type: ignore[attr-defined]
        products.append(Product(**entry.model_dump()))
    return products


# --- seeding ------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedOptions:
    """What ``seed`` does; built by the command from settings and flags."""

    admin_email: str = "admin@lumiai.com"
    admin_password: str | None = field(default=None, repr=False)
    refresh: bool = False
    allow_production: bool = False
    environment: Environment = Environment.DEVELOPMENT
    lock_timeout: float = 30.0


def seed_options(settings: Settings, **flags: Any) -> SeedOptions:
    """The seed's options from the settings (admin email and password, environment, lock
    timeout) and a command's flags (``refresh``, ``allow_production``)."""
    password = settings.admin_password
    return SeedOptions(
        admin_email=settings.admin_email,
        admin_password=password.get_secret_value() if password else None,
        environment=settings.environment,
        lock_timeout=settings.lock_timeout,
        **flags,
    )


@dataclass(frozen=True)
class SeedItem:
    """One row seed looked at: the admin (by email) or a product (by SKU)."""

    table: str
    key: str
    outcome: str  # "created" | "already there" | "refreshed"


@dataclass(frozen=True)
class SeedResult:
    """What seed created, found already there, or refreshed."""

    database: str
    admin_email: str
    created: int
    already_there: int
    refreshed: int
    items: list[SeedItem]
    admin_password: str | None = field(default=None, repr=False)  # generated, shown once
    password_hint: str | None = None


@dataclass(frozen=True)
class SeedCheck:
    """What the command needs to know before seeding: is confirmation owed?"""

    database: str
    production: bool


def hash_password(password: str) -> str:
    """bcrypt, cost 10, ``$2b$``: what the application's bcrypt verifies."""
    import bcrypt

    return bcrypt.hashpw(
        password.encode(), bcrypt.gensalt(rounds=BCRYPT_COST, prefix=b"2b")
    ).decode()


def generate_password() -> str:
    """A strong random password (about 130 bits)."""
    return secrets.token_urlsafe(22)


def _validate_email(email: str) -> str:
    cleaned = email.strip()
    if "@" not in cleaned or cleaned.startswith("@") or cleaned.endswith("@") or " " in cleaned:
        raise UsageError(f"LUMIDB_ADMIN_EMAIL={email!r} is not an email address")
    return cleaned


def require_migrated(conn: Any, schema: str) -> None:
    """Refuse (exit 2) a database whose application tables are missing or not at the head."""
    from lumidb.migrations import script_directory

    table = f'"{schema.replace(chr(34), chr(34) * 2)}".alembic_version'
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    current: set[str] = set()
    if exists and exists[0]:
        current = {str(r[0]) for r in conn.execute(f"SELECT version_num FROM {table}").fetchall()}
    heads = set(script_directory().get_heads())
    if current != heads:
        state = f"at {', '.join(sorted(current))}" if current else "not migrated"
        raise UsageError(
            f"the database is {state}, not at the head revision {', '.join(sorted(heads))}",
            hint="run `lumidb migrate deploy` first",
        )


def validate_seed_input(options: SeedOptions) -> None:
    """The admin's email and the catalogue, checked before anything is changed (exit 2)."""
    _validate_email(options.admin_email)
    load_catalogue()


def check_seed(target: DatabaseTarget, options: SeedOptions) -> SeedCheck:
    """Refuse what seed must not do, before anything is asked or changed."""
    validate_seed_input(options)
    with connect(target, application_name="lumidb seed") as conn:
        require_migrated(conn, target.schema)
        return _production_check(conn, target, options)


def _production_check(conn: Any, target: DatabaseTarget, options: SeedOptions) -> SeedCheck:
    from lumidb import guard

    record = guard.environment_record(conn, options.environment)
    if record.is_production and not options.allow_production:
        guard.refuse_on_production(
            record,
            "seed",
            hint="seed adds the sample catalogue and an admin; pass --allow-production "
            "if that is really wanted there",
        )
    return SeedCheck(database=target.dbname, production=record.is_production)


def seed(target: DatabaseTarget, options: SeedOptions, *, now: datetime) -> SeedResult:
    """Add the admin and the catalogue under lumidb's lock, in one transaction."""
    from lumidb.locks import database_lock

    validate_seed_input(options)  # the checks on the database run again under the lock
    with (
        database_lock(target, "seed", timeout=options.lock_timeout),
        connect(target, application_name="lumidb seed", autocommit=False) as conn,
    ):
        require_migrated(conn, target.schema)
        _production_check(conn, target, options)  # the record may have changed meanwhile
        result = seed_into(conn, target, options, now=now)
        conn.commit()
    return result


def seed_into(
    conn: Any, target: DatabaseTarget, options: SeedOptions, *, now: datetime
) -> SeedResult:
    """Add (or refresh) the admin and the catalogue on ``conn``, in the caller's transaction."""
    stamp = now.astimezone(UTC).replace(tzinfo=None)
    email = _validate_email(options.admin_email)
    items: list[SeedItem] = []
    generated: str | None = None
    hint: str | None = None
    users = _qualified(target.schema, "users")
    row = conn.execute(f"SELECT id FROM {users} WHERE email = %s", (email,)).fetchone()
    if row is None:
        password = options.admin_password
        if password is None:
            password = generated = generate_password()
            hint = "set one with: LUMIDB_ADMIN_PASSWORD=… lumidb seed --refresh"
        conn.execute(
            f"""INSERT INTO {users} (id, email, password, name, role, "isActive",
                "createdAt", "updatedAt") VALUES (%s, %s, %s, %s, 'ADMIN', true, %s, %s)""",
            (str(uuid.uuid4()), email, hash_password(password), ADMIN_NAME, stamp, stamp),
        )
        items.append(SeedItem("users", email, "created"))
    elif options.refresh:
        conn.execute(
            f"""UPDATE {users} SET role = 'ADMIN', "isActive" = true, name = %s,
                "updatedAt" = %s WHERE id = %s""",
            (ADMIN_NAME, stamp, row[0]),
        )
        if options.admin_password is not None:
            conn.execute(
                f"UPDATE {users} SET password = %s WHERE id = %s",
                (hash_password(options.admin_password), row[0]),
            )
        items.append(SeedItem("users", email, "refreshed"))
    else:
        items.append(SeedItem("users", email, "already there"))
    products = _qualified(target.schema, "products")
    columns = (
        'id, sku, name, category, type, description, detail, price, currency, shade, "skinType", '
        'badge, stock, "imageUrl", images, "ratingAvg", "ratingCount", "isActive", '
        '"isFeatured", "createdAt", "updatedAt"'
    )
    refreshed = ", ".join(
        f"{c} = EXCLUDED.{c}"
        for c in (
            "name",
            "category",
            "type",
            "description",
            "detail",
            "price",
            "currency",
            "shade",
            '"skinType"',
            "badge",
            "stock",
            '"imageUrl"',
            "images",
            '"ratingAvg"',
            '"ratingCount"',
            '"isActive"',
            '"isFeatured"',
            '"updatedAt"',
        )
    )
    on_conflict = f"DO UPDATE SET {refreshed}" if options.refresh else "DO NOTHING"
    for product in load_catalogue():
        values = (
            str(uuid.uuid4()),
            product.sku,
            product.name,
            product.category,
            product.type,
            product.description,
            product.detail,
            product.price,
            product.currency,
            product.shade,
            product.skin_type,
            product.badge,
            product.stock,
            product.image_url,
            product.images,
            product.rating_avg,
            product.rating_count,
            True,
            product.featured,
            stamp,
            stamp,
        )
        placeholders = ", ".join(["%s"] * len(values))
        inserted = conn.execute(
            f"""INSERT INTO {products} ({columns}) VALUES ({placeholders})
                ON CONFLICT (sku) {on_conflict} RETURNING (xmax = 0)""",
            values,
        ).fetchone()
        outcome = "already there" if inserted is None else _OUTCOMES[bool(inserted[0])]
        items.append(SeedItem("products", product.sku, outcome))
    outcomes = [item.outcome for item in items]
    return SeedResult(
        database=target.dbname,
        admin_email=email,
        created=outcomes.count("created"),
        already_there=outcomes.count("already there"),
        refreshed=outcomes.count("refreshed"),
        items=items,
        admin_password=generated,
        password_hint=hint,
    )


def _qualified(schema: str, table: str) -> str:
    from lumidb.connection import quote_ident

    return f"{quote_ident(schema)}.{quote_ident(table)}"
