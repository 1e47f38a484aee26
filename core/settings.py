"""The one settings class of smsto-console.

Settings are read from the environment, then `.env`, then `.streamlit/secrets.toml`, in that order
of priority. No other module reads `os.environ` or `st.secrets`; tests build `Settings(...)`
explicitly.
"""

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_DATABASE_URL = "sqlite:///data/smsto-console.db"
SECRETS_TOML = Path(".streamlit/secrets.toml")

# Values that look like a key but are only a template's placeholder.
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "your-api-key", "xxx", "secret"}


class Settings(BaseSettings):
    """Configuration of every part; each field is documented in the README's settings table."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    database_url: str = DEFAULT_DATABASE_URL
    smsto_api_key: SecretStr | None = None
    smsto_api_url: str = "https://api.sms.to"
    smsto_auth_url: str = "https://auth.sms.to"
    smsto_callback_base_url: str = "http://127.0.0.1:8000"
    webhook_secret: SecretStr | None = None
    default_country: str = "CY"
    smsto_sender_id: str | None = None

    # Dispatch tuning.
    chunk_size: int = 1000
    rate_limit_per_second: int = 150
    dispatcher_enabled: bool = True

    @field_validator("default_country")
    @classmethod
    def _upper_region(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("smsto_api_key", "webhook_secret")
    @classmethod
    def _reject_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("is a template placeholder; set the real value or remove the line")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_settings = _LowerCaseToml(settings_cls, toml_file=SECRETS_TOML)
        return (init_settings, env_settings, dotenv_settings, toml_settings)

    @property
    def api_key(self) -> str | None:
        return self.smsto_api_key.get_secret_value() if self.smsto_api_key else None



class _LowerCaseToml(TomlConfigSettingsSource):
    """Read secrets.toml keys case-insensitively, as Streamlit users write them in upper case."""

    def __call__(self) -> dict:
        data = super().__call__()
        return {key.lower(): value for key, value in data.items()}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings of this process, read once."""
    return Settings()
