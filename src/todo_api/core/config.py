"""Settings, read once from the environment (and a `.env` file)."""

import json
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from limits import parse_many
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET_KEY = "insecure-development-key-change-me-0123456789"  # noqa: S105
MIN_SECRET_KEY_LENGTH = 32
# Every key that is or ever was written in this repository (its files, docs and history) is public:
# anyone can sign tokens with it, so production refuses it. tests/test_hardening.py scans the
# repository's files and fails if a key in them is missing here.
PUBLIC_SECRET_KEYS = frozenset(
    {
        DEV_SECRET_KEY,
        "dev-only-insecure-compose-secret-key-change-me",  # compose.yaml's fallback until 2026-12
        "ci-only-secret-key-0123456789abcdefghijklmnop",
        "test-secret-key-0123456789abcdef0123456789",
        "live-server-secret-key-0123456789abcdef",
        "another-secret-key-0123456789abcdef",
    }
)
DEFAULT_CORS_ORIGINS = [
    "http://localhost:3000",
    "http://127.0.0.1:3000",
    "http://localhost:5173",
    "http://127.0.0.1:5173",
    "http://localhost:8000",
    "http://127.0.0.1:8000",
    "http://localhost:8080",
    "http://127.0.0.1:8080",
]


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./dev.db"
    secret_key: str = DEV_SECRET_KEY
    access_token_expire_minutes: int = Field(default=30, ge=1, le=24 * 60)
    environment: Environment = Environment.development
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_CORS_ORIGINS))
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["console", "json"] | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # On SIGTERM, requests in flight get this long to finish before the server stops anyway.
    graceful_shutdown_seconds: int = Field(default=30, ge=0)
    auto_migrate: bool = True
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    refresh_token_expire_days: int = Field(default=14, ge=1, le=365)
    trash_retention_days: int = Field(default=30, ge=1, le=3650)
    sync_retention_days: int = Field(default=30, ge=1, le=3650)
    login_rate_limit: str = "5/minute"
    register_rate_limit: str = "20/hour"
    redis_url: str | None = None
    rate_limit_key_prefix: str = "todo-api"

    # Webhooks: whether this process sends them (every replica may), how long a receiver has to
    # answer, the delays before each retry, and whether loopback and private networks are targets.
    webhook_delivery: bool = True
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_schedule: Annotated[tuple[float, ...], NoDecode] = (30, 120, 600, 1800, 7200, 21600, 43200)
    webhook_allow_private_targets: bool = False
    webhook_retention_days: int = Field(default=30, ge=1, le=3650)
    # How often an idle deliverer looks for due deliveries (a commit in this process wakes it at once).
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)

    # argon2id cost; the defaults are OWASP's minimum for argon2id (19 MiB, t=2, p=1).
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    # How many hashes may run at once; each holds a thread and argon2_memory_kib of memory.
    password_hash_concurrency: int = Field(default=2, ge=1, le=64)

    # Unset: 10 + 10 on PostgreSQL; 2 + 0 on SQLite, where one writer works at a time anyway and
    # every connection is a thread of aiosqlite's competing for the GIL (more made it slower).
    db_pool_size: int | None = Field(default=None, ge=1)
    db_max_overflow: int | None = Field(default=None, ge=0)
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)
    health_timeout_seconds: float = Field(default=2.0, gt=0)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("webhook_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                delays = tuple(float(part) for part in value.split(",") if part.strip())
            except ValueError:
                raise ValueError(f"{value!r} is not a list of seconds like '30,120,600'") from None
            if any(delay < 0 for delay in delays):
                raise ValueError("retry delays cannot be negative")
            return delays
        return value

    @field_validator("login_rate_limit", "register_rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value != "0":
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(f"{value!r} is not a rate limit like '5/minute', or 0 for none") from None
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_production(self) -> Self:
        if self.environment is not Environment.production:
            return self
        if len(self.secret_key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"SECRET_KEY must be set to at least {MIN_SECRET_KEY_LENGTH} characters "
                "when ENVIRONMENT=production"
            )
        if self.secret_key in PUBLIC_SECRET_KEYS:
            raise ValueError(
                "SECRET_KEY is a key published in todo-api's own repository or docs; "
                "generate one: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return self

    @property
    def effective_log_format(self) -> Literal["console", "json"]:
        if self.log_format is not None:
            return self.log_format
        return "json" if self.environment is Environment.production else "console"

    @property
    def uses_dev_secret(self) -> bool:
        return self.secret_key == DEV_SECRET_KEY

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def pool_size(self) -> int:
        if self.db_pool_size is not None:
            return self.db_pool_size
        return 2 if self.is_sqlite else 10

    @property
    def pool_max_overflow(self) -> int:
        if self.db_max_overflow is not None:
            return self.db_max_overflow
        return 0 if self.is_sqlite else 10


class ConfigurationError(Exception):
    """The environment holds a value the service cannot start with."""


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each offending environment variable."""
    parts = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper() or "configuration"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{name}: {message}")
    return "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigurationError(f"invalid configuration: {describe_validation_error(error)}") from None
