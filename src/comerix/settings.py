"""The service's configuration: one typed `Settings` object, read once from the environment.

Every variable is prefixed `COMERIX_`. A bad value stops start-up with a message that names the
variable, instead of failing later in some request.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_BACKENDS = ("sqlite", "postgresql")


class SettingsError(Exception):
    """The environment does not describe a runnable service; the message says which variable."""


class Settings(BaseSettings):
    """What the service needs to know about its surroundings."""

    model_config = SettingsConfigDict(env_prefix="COMERIX_", frozen=True, extra="ignore")

    data_dir: Path = Field(
        default=Path("var"),
        description="Where the embedded SQLite database lives.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; default: a SQLite file in data_dir. postgresql:// URLs use psycopg 3.",
    )

    secure_cookies: bool = Field(
        default=True,
        description="Mark the admin session cookie Secure (sent over HTTPS only; browsers make an "
        "exception for 127.0.0.1 and localhost). Turn off only to serve plain HTTP on a trusted network.",
    )

    headers_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's headers (from the connection, or the "
        "request's first byte) before the connection is answered 408 and closed.",
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a client has to send a request's whole body once its headers are in, "
        "before the request is answered 408 and the connection closed.",
    )
    ecb_rates_url: str = Field(
        default="https://www.ecb.europa.eu/stats/eurofxref/eurofxref.zip",
        description="Where `comerix rates update` fetches the ECB's reference rates: the daily file "
        "(default), or the whole history (eurofxref-hist.zip) after a gap of more than a few days. "
        "http(s):// or file://, for a mirror inside a network without internet.",
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="Addresses or networks (comma-separated, e.g. 127.0.0.1,10.0.0.0/8) of the reverse "
        "proxies whose X-Forwarded-For and X-Forwarded-Proto headers are believed. Default: none, so the "
        "client address is the connection's own.",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            try:
                ipaddress.ip_network(address, strict=False)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address or network") from None
        return value

    @field_validator("ecb_rates_url")
    @classmethod
    def _fetchable(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https", "file"):
            raise ValueError("must be an http://, https:// or file:// URL")
        return value

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

    @property
    def database(self) -> URL:
        """The database URL with its driver made explicit (plain postgresql:// means psycopg 3)."""
        if not self.database_url:
            return make_url(f"sqlite:///{self.data_dir / 'comerix.db'}")
        url = make_url(self.database_url)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        return url


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
