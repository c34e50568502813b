"""The service's configuration: one typed `Settings` object, read once from the environment.

Every variable is prefixed `COMERIX_`. A bad value stops start-up with a message that names the
variable, instead of failing later in some request.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
SECRET_KEY_MIN_LENGTH = 32


class SettingsError(Exception):
    """The environment does not describe a runnable service; the message says which variable."""


class Settings(BaseSettings):
    """What the service needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix="COMERIX_", frozen=True, extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Where the embedded database and the generated secret key live.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; default: a SQLite file in data_dir. postgresql:// URLs use psycopg 3.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs sessions and CSRF tokens; default: generated once and kept in data_dir.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value:
            return value
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a database URL (sqlite:///path or postgresql://host/db)") from None
        if url.get_backend_name() not in SUPPORTED_BACKENDS:
            raise ValueError(f"unsupported database {url.get_backend_name()!r}; use sqlite or postgresql")
        return value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < SECRET_KEY_MIN_LENGTH:
            raise ValueError(f"must be at least {SECRET_KEY_MIN_LENGTH} characters")
        return value

    @property
    def database(self) -> URL:
        """The database URL with its driver made explicit (plain postgresql:// means psycopg 3)."""
        if not self.database_url:
            return make_url(f"sqlite:///{self.data_dir / 'comerix.db'}")
        url = make_url(self.database_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return url

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated on first use and kept in `data_dir/secret_key`."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


def load_settings(**overrides: object) -> Settings:
    """Read the environment (and any explicit overrides), or raise `SettingsError` naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"COMERIX_{'_'.join(str(part) for part in error['loc']).upper()}: "
            + str(error["msg"]).removeprefix("Value error, ")
            for error in exc.errors()
        )
        raise SettingsError(f"invalid configuration: {problems}") from None
