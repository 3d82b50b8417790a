"""SQLAlchemy models of the LumiAI database, exactly as the application reads it (SCHEMA.md).

Database names are Prisma's (camelCase columns, quoted in SQL); Python attribute names
are snake_case. Unique columns get a unique *index* named ``<table>_<column>_key``, as
Prisma creates them, not a unique constraint. Ids are UUID v4 strings made by the
client, and ``updatedAt`` is set by the client on every insert and update.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    ARRAY,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, TIMESTAMP
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "pk": "%(table_name)s_pkey",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "uq": "%(table_name)s_%(column_0_name)s_key",
}


def new_id() -> str:
    """A UUID v4 string, as Prisma's ``@default(uuid())`` makes on the client."""
    return str(uuid.uuid4())


def utc_now() -> datetime:
    """The current UTC time without a zone, as Prisma stores ``TIMESTAMP(3)``."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Role(enum.StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"


class Category(enum.StrEnum):
    MAKEUP = "MAKEUP"
    SKINCARE = "SKINCARE"


class Tone(enum.StrEnum):
    WARM = "WARM"
    COOL = "COOL"
    NEUTRAL = "NEUTRAL"


class SkinType(enum.StrEnum):
    DRY = "DRY"
    OILY = "OILY"
    COMBINATION = "COMBINATION"
    NORMAL = "NORMAL"
    SENSITIVE = "SENSITIVE"


class OrderStatus(enum.StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    PROCESSING = "PROCESSING"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


def _pg_enum(python_enum: type[enum.Enum]) -> Enum:
    # The PostgreSQL type is named like the Prisma enum ("Role"), values in declaration order.
    return Enum(python_enum, name=python_enum.__name__, metadata=Base.metadata)


ROLE = _pg_enum(Role)
CATEGORY = _pg_enum(Category)
TONE = _pg_enum(Tone)
SKIN_TYPE = _pg_enum(SkinType)
ORDER_STATUS = _pg_enum(OrderStatus)

TIMESTAMP3 = TIMESTAMP(precision=3)
MONEY = Numeric(10, 2)
NOW = text("CURRENT_TIMESTAMP")


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        Index("users_email_key", "email", unique=True),
        Index(None, "email"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(Text)
    password: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    role: Mapped[Role] = mapped_column(ROLE, server_default=text("'USER'"))
    is_active: Mapped[bool] = mapped_column("isActive", Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column("createdAt", TIMESTAMP3, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", TIMESTAMP3, default=utc_now, onupdate=utc_now
    )

    orders: Mapped[list[Order]] = relationship(back_populates="user")
    skin_analyses: Mapped[list[SkinAnalysis]] = relationship(back_populates="user")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        Index("products_sku_key", "sku", unique=True),
        Index(None, "category", "type"),
        Index(None, "shade", "skinType"),
        Index(None, "sku"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    sku: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[Category] = mapped_column(CATEGORY)
    type: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(Text, server_default=text("'INR'"))
    shade: Mapped[Tone | None] = mapped_column(TONE)
    skin_type: Mapped[SkinType | None] = mapped_column("skinType", SKIN_TYPE)
    badge: Mapped[str | None] = mapped_column(Text)
    stock: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    image_url: Mapped[str | None] = mapped_column("imageUrl", Text)
    images: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    rating_avg: Mapped[float] = mapped_column(
        "ratingAvg", DOUBLE_PRECISION, server_default=text("0")
    )
    rating_count: Mapped[int] = mapped_column("ratingCount", Integer, server_default=text("0"))
    is_active: Mapped[bool] = mapped_column("isActive", Boolean, server_default=text("true"))
    is_featured: Mapped[bool] = mapped_column("isFeatured", Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column("createdAt", TIMESTAMP3, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", TIMESTAMP3, default=utc_now, onupdate=utc_now
    )

    order_items: Mapped[list[OrderItem]] = relationship(back_populates="product")


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("orders_orderNumber_key", "orderNumber", unique=True),
        Index(None, "userId"),
        Index(None, "orderNumber"),
        Index(None, "status"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    order_number: Mapped[str] = mapped_column("orderNumber", Text)
    user_id: Mapped[str] = mapped_column(
        "userId", Text, ForeignKey("users.id", ondelete="RESTRICT", onupdate="CASCADE")
    )
    subtotal: Mapped[Decimal] = mapped_column(MONEY)
    tax: Mapped[Decimal] = mapped_column(MONEY)
    shipping: Mapped[Decimal] = mapped_column(MONEY)
    total: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(Text, server_default=text("'INR'"))
    status: Mapped[OrderStatus] = mapped_column(ORDER_STATUS, server_default=text("'PENDING'"))
    shipping_address: Mapped[str | None] = mapped_column("shippingAddress", Text)
    billing_address: Mapped[str | None] = mapped_column("billingAddress", Text)
    payment_method: Mapped[str | None] = mapped_column("paymentMethod", Text)
    payment_intent_id: Mapped[str | None] = mapped_column("paymentIntentId", Text)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column("createdAt", TIMESTAMP3, server_default=NOW)
    updated_at: Mapped[datetime] = mapped_column(
        "updatedAt", TIMESTAMP3, default=utc_now, onupdate=utc_now
    )

    user: Mapped[User] = relationship(back_populates="orders")
    items: Mapped[list[OrderItem]] = relationship(back_populates="order")


class OrderItem(Base):
    __tablename__ = "order_items"
    __table_args__ = (Index(None, "orderId"),)

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(
        "orderId", Text, ForeignKey("orders.id", ondelete="CASCADE", onupdate="CASCADE")
    )
    product_id: Mapped[str] = mapped_column(
        "productId", Text, ForeignKey("products.id", ondelete="RESTRICT", onupdate="CASCADE")
    )
    name: Mapped[str] = mapped_column(Text)
    sku: Mapped[str] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(MONEY)
    quantity: Mapped[int] = mapped_column(Integer)
    subtotal: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[datetime] = mapped_column("createdAt", TIMESTAMP3, server_default=NOW)

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship(back_populates="order_items")


class SkinAnalysis(Base):
    __tablename__ = "skin_analyses"
    __table_args__ = (
        Index(None, "userId"),
        Index(None, "tone", "skinType"),
    )

    id: Mapped[str] = mapped_column(Text, primary_key=True, default=new_id)
    user_id: Mapped[str | None] = mapped_column(
        "userId", Text, ForeignKey("users.id", ondelete="SET NULL", onupdate="CASCADE")
    )
    image_url: Mapped[str | None] = mapped_column("imageUrl", Text)
    tone: Mapped[Tone] = mapped_column(TONE)
    skin_type: Mapped[SkinType] = mapped_column("skinType", SKIN_TYPE)
    confidence: Mapped[float | None] = mapped_column(DOUBLE_PRECISION)
    rgb_r: Mapped[int] = mapped_column("rgbR", Integer)
    rgb_g: Mapped[int] = mapped_column("rgbG", Integer)
    rgb_b: Mapped[int] = mapped_column("rgbB", Integer)
    variance: Mapped[float | None] = mapped_column(DOUBLE_PRECISION)
    brightness: Mapped[float | None] = mapped_column(DOUBLE_PRECISION)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column("createdAt", TIMESTAMP3, server_default=NOW)

    user: Mapped[User | None] = relationship(back_populates="skin_analyses")


APPLICATION_TABLES = ("users", "products", "orders", "order_items", "skin_analyses")
