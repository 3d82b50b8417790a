"""The sample data of a development database: an admin and the shipped catalogue.

``seed`` only adds: the admin by email and the products by SKU are inserted when
missing, and rows the application changed are left alone, so a second run leaves the
same rows. ``refresh`` puts the sample products back to the shipped values (and the
admin's password to ``LUMIDB_ADMIN_PASSWORD`` when that is set). The catalogue is data
(``seed_data/catalogue.toml``) validated on load; the admin's password is never in the
code: it comes from the setting or is generated, and is stored as bcrypt (cost 10,
``$2b$``, which the NestJS application's bcrypt accepts).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from lumidb import guard
from lumidb.config import Environment
from lumidb.connection import DatabaseTarget, connect
from lumidb.errors import UsageError

if TYPE_CHECKING:
    from pydantic import BaseModel

BCRYPT_COST = 10
CATALOGUE_FILE = "catalogue.toml"
PASSWORD_HINT = "LUMIDB_ADMIN_PASSWORD=... lumidb seed --refresh"  # noqa: S105 (a placeholder, not a password)


class Tone(StrEnum):
    WARM = "WARM"
    COOL = "COOL"
    NEUTRAL = "NEUTRAL"


class SkinType(StrEnum):
    DRY = "DRY"
    OILY = "OILY"
    COMBINATION = "COMBINATION"
    NORMAL = "NORMAL"
    SENSITIVE = "SENSITIVE"


MAKEUP_TYPES = frozenset({"lipstick", "foundation", "blush", "eyeshadow", "mascara", "highlighter"})
SKINCARE_TYPES = frozenset({"moisturizer", "cleanser", "serum", "sunscreen", "mask", "toner"})


def _entry_model() -> type[BaseModel]:
    """The pydantic model of one catalogue entry (built lazily: pydantic is heavy)."""
    from pydantic import BaseModel, ConfigDict, Field, model_validator

    class CatalogueEntry(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)

        sku: str = Field(min_length=3, pattern=r"^[A-Z0-9-]+$")
        name: str = Field(min_length=3)
        category: Literal["MAKEUP", "SKINCARE"]
        type: str
        shade: Tone | None = None
        skinType: SkinType | None = None
        description: str = Field(min_length=10)
        detail: str = Field(min_length=10)
        price: Decimal = Field(gt=0, max_digits=10, decimal_places=2)
        stock: int = Field(ge=0)
        badge: str | None = None
        ratingAvg: float = Field(ge=0, le=5)
        ratingCount: int = Field(ge=0)
        isFeatured: bool = False
        imageUrl: str = Field(pattern=r"^https://")
        images: list[str] = Field(min_length=1)

        @model_validator(mode="after")
        def _fits_its_category(self) -> CatalogueEntry:
            if self.category == "MAKEUP":
                if self.type not in MAKEUP_TYPES:
                    raise ValueError(f"makeup type must be one of {sorted(MAKEUP_TYPES)}")
                if self.shade is None or self.skinType is not None:
                    raise ValueError("makeup names the shade (tone) it suits and no skinType")
            else:
                if self.type not in SKINCARE_TYPES:
                    raise ValueError(f"skincare type must be one of {sorted(SKINCARE_TYPES)}")
                if self.skinType is None or self.shade is not None:
                    raise ValueError("skincare names the skinType it suits and no shade")
            return self

    return CatalogueEntry


@dataclass(frozen=True)
class Product:
    """One product of the shipped catalogue, validated."""

    sku: str
    name: str
    category: str
    type: str
    shade: str | None
    skin_type: str | None
    description: str
    detail: str
    price: Decimal
    stock: int
    badge: str | None
    rating_avg: float
    rating_count: int
    is_featured: bool
    image_url: str
    images: tuple[str, ...]


def load_catalogue(text: str | None = None) -> list[Product]:
    """The shipped catalogue (or ``text``, a TOML document), validated.

    A bad entry is a ``UsageError`` naming it (its index and SKU) and what is wrong.
    """
    import tomllib

    from pydantic import ValidationError

    if text is None:
        text = (resources.files("lumidb") / "seed_data" / CATALOGUE_FILE).read_text("utf-8")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"the seed catalogue is not valid TOML: {exc}") from None
    raw = document.get("products")
    if not isinstance(raw, list) or not raw:
        raise UsageError("the seed catalogue has no [[products]] entries")
    model = _entry_model()
    products: list[Product] = []
    seen: set[str] = set()
    for index, item in enumerate(raw, start=1):
        name = item.get("sku", "?") if isinstance(item, dict) else "?"
        try:
            entry: Any = model.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "entry"
            raise UsageError(
                f"seed catalogue entry {index} ({name}) is invalid: {where}: {first['msg']}",
                hint="fix that entry in the catalogue file",
            ) from None
        if entry.sku in seen:
            raise UsageError(f"seed catalogue entry {index} ({entry.sku}) repeats a SKU")
        seen.add(entry.sku)
        products.append(
            Product(
                sku=entry.sku,
                name=entry.name,
                category=entry.category,
                type=entry.type,
                shade=entry.shade.value if entry.shade else None,
                skin_type=entry.skinType.value if entry.skinType else None,
                description=entry.description,
                detail=entry.detail,
                price=entry.price,
                stock=entry.stock,
                badge=entry.badge,
                rating_avg=entry.ratingAvg,
                rating_count=entry.ratingCount,
                is_featured=entry.isFeatured,
                image_url=entry.imageUrl,
                images=tuple(entry.images),
            )
        )
    return products


# --- results ------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedRow:
    """One line of the seed's table: what, and whether it was created or already there."""

    table: str
    key: str
    status: str  # "created" | "already there" | "refreshed"


@dataclass(frozen=True)
class SeedResult:
    database: str
    admin_email: str
    admin_status: str
    products_created: int
    products_existing: int
    products_refreshed: int
    rows: list[SeedRow]
    # A generated password: shown once (at a terminal or in --json), never stored by lumidb.
    generated_password: str | None = field(default=None, repr=False)
    password_hint: str | None = None


@dataclass(frozen=True)
class SeedCheck:
    """What the command needs before seeding: is the database production?"""

    database: str
    production: bool


def hash_password(password: str) -> str:
    """bcrypt, cost 10, ``$2b$``: what the application's login checks."""
    import bcrypt

    return bcrypt.hashpw(
        password.encode(), bcrypt.gensalt(rounds=BCRYPT_COST, prefix=b"2b")
    ).decode()


def generate_password() -> str:
    """A strong random password (about 144 bits)."""
    return secrets.token_urlsafe(18)


def _naive_utc(now: datetime) -> datetime:
    """``TIMESTAMP(3)`` columns hold UTC without a zone, as Prisma writes them."""
    return now.astimezone(UTC).replace(tzinfo=None)


def require_migrated(conn: Any, target: DatabaseTarget) -> None:
    """``UsageError`` (exit 2) unless every revision is applied to the target."""
    from lumidb.migrations import script_directory

    exists = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (f'"{target.schema}".alembic_version',)
    ).fetchone()
    current: set[str] = set()
    if exists and exists[0]:
        current = {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}
    heads = set(script_directory().get_heads())
    if current != heads:
        raise UsageError(
            f"{target.dbname} is not migrated (revisions are pending), so there is nothing to seed",
            hint="run `lumidb migrate deploy` first",
        )


def check_seed(
    target: DatabaseTarget, *, environment: Environment, allow_production: bool
) -> SeedCheck:
    """Refuse an unmigrated database (exit 2) and production without ``allow_production`` (3)."""
    with connect(target, application_name="lumidb seed") as conn:
        require_migrated(conn, target)
        record = guard.environment_record(conn, environment)
    if record.is_production and not allow_production:
        guard.refuse_on_production(
            record,
            "seed",
            hint="to seed a production database on purpose, pass --allow-production",
        )
    return SeedCheck(database=target.masked_url(), production=record.is_production)


def seed(
    target: DatabaseTarget,
    *,
    now: datetime,
    admin_email: str,
    admin_password: str | None,
    refresh: bool = False,
    lock_timeout: float,
    catalogue: list[Product] | None = None,
) -> SeedResult:
    """Seed the target under lumidb's lock, in one transaction (see ``seed_connection``)."""
    from lumidb.locks import database_lock

    products = catalogue if catalogue is not None else load_catalogue()
    with (
        database_lock(target, "seed", timeout=lock_timeout),
        connect(target, application_name="lumidb seed", autocommit=False) as conn,
    ):
        require_migrated(conn, target)
        result = seed_connection(
            conn,
            database=target.masked_url(),
            now=now,
            admin_email=admin_email,
            admin_password=admin_password,
            refresh=refresh,
            catalogue=products,
        )
        conn.commit()
    return result


_PRODUCT_COLUMNS = (
    '"id", "sku", "name", "category", "type", "description", "detail", "price", "currency", '
    '"shade", "skinType", "badge", "stock", "imageUrl", "images", "ratingAvg", "ratingCount", '
    '"isActive", "isFeatured", "createdAt", "updatedAt"'
)
_PRODUCT_VALUES = (
    '%(id)s, %(sku)s, %(name)s, %(category)s::"Category", %(type)s, %(description)s, '
    '%(detail)s, %(price)s, \'INR\', %(shade)s::"Tone", %(skin_type)s::"SkinType", %(badge)s, '
    "%(stock)s, %(image_url)s, %(images)s, %(rating_avg)s, %(rating_count)s, true, "
    "%(is_featured)s, %(now)s, %(now)s"
)
_PRODUCT_REFRESH = ", ".join(
    f'"{c}" = EXCLUDED."{c}"'
    for c in (
        "name",
        "category",
        "type",
        "description",
        "detail",
        "price",
        "currency",
        "shade",
        "skinType",
        "badge",
        "stock",
        "imageUrl",
        "images",
        "ratingAvg",
        "ratingCount",
        "isActive",
        "isFeatured",
        "updatedAt",
    )
)


def seed_connection(
    conn: Any,
    *,
    database: str,
    now: datetime,
    admin_email: str,
    admin_password: str | None,
    refresh: bool,
    catalogue: list[Product],
) -> SeedResult:
    """Seed through an open psycopg connection, inside the caller's transaction.

    ``reset`` and ``setup`` call this in their own transaction, so a failing seed rolls
    back with everything else they did.
    """
    if "@" not in admin_email:
        raise UsageError(f"LUMIDB_ADMIN_EMAIL={admin_email!r} is not an email address")
    stamp = _naive_utc(now)
    rows: list[SeedRow] = []
    generated: str | None = None
    existing = conn.execute('SELECT "id" FROM users WHERE "email" = %s', (admin_email,)).fetchone()
    if existing is None:
        password = admin_password
        if password is None:
            password = generated = generate_password()
        conn.execute(
            'INSERT INTO users ("id", "email", "password", "name", "role", "isActive", '
            '"createdAt", "updatedAt") VALUES (%s, %s, %s, %s, \'ADMIN\', true, %s, %s)',
            (str(uuid.uuid4()), admin_email, hash_password(password), "LumiAI Admin", stamp, stamp),
        )
        admin_status = "created"
    elif refresh:
        if admin_password is not None:
            conn.execute(
                'UPDATE users SET "password" = %s, "role" = \'ADMIN\', "isActive" = true, '
                '"updatedAt" = %s WHERE "email" = %s',
                (hash_password(admin_password), stamp, admin_email),
            )
        else:
            conn.execute(
                'UPDATE users SET "role" = \'ADMIN\', "isActive" = true, "updatedAt" = %s '
                'WHERE "email" = %s AND ("role" <> \'ADMIN\' OR NOT "isActive")',
                (stamp, admin_email),
            )
        admin_status = "refreshed"
    else:
        admin_status = "already there"
    rows.append(SeedRow("users", admin_email, admin_status))
    conflict = f"DO UPDATE SET {_PRODUCT_REFRESH}" if refresh else "DO NOTHING"
    statement = (
        f"INSERT INTO products ({_PRODUCT_COLUMNS}) VALUES ({_PRODUCT_VALUES}) "
        f'ON CONFLICT ("sku") {conflict} RETURNING (xmax = 0)'
    )
    created = refreshed = there = 0
    for product in catalogue:
        params = {
            "id": str(uuid.uuid4()),
            "sku": product.sku,
            "name": product.name,
            "category": product.category,
            "type": product.type,
            "description": product.description,
            "detail": product.detail,
            "price": product.price,
            "shade": product.shade,
            "skin_type": product.skin_type,
            "badge": product.badge,
            "stock": product.stock,
            "image_url": product.image_url,
            "images": list(product.images),
            "rating_avg": product.rating_avg,
            "rating_count": product.rating_count,
            "is_featured": product.is_featured,
            "now": stamp,
        }
        row = conn.execute(statement, params).fetchone()
        if row is None:
            status = "already there"
            there += 1
        elif row[0]:
            status = "created"
            created += 1
        else:
            status = "refreshed"
            refreshed += 1
        rows.append(SeedRow("products", product.sku, status))
    hint = None
    if admin_status == "created" and generated is not None:
        hint = f"a password was generated for {admin_email}; to choose one: {PASSWORD_HINT}"
    return SeedResult(
        database=database,
        admin_email=admin_email,
        admin_status=admin_status,
        products_created=created,
        products_existing=there,
        products_refreshed=refreshed,
        rows=rows,
        generated_password=generated,
        password_hint=hint,
    )
