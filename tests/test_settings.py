import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_settings_each_documented_in_readme(name):
    table_names = re.findall(r"^\| `([A-Z_]+)` \|", README.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert name.upper() in table_names


def test_settings_reject_placeholder_key():
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(smsto_api_key="changeme")


def test_settings_key_is_hidden_in_repr():
    settings = Settings(smsto_api_key="live-key-123")
    assert "live-key-123" not in repr(settings)


def test_settings_read_secrets_toml(tmp_path, monkeypatch):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('DEFAULT_COUNTRY = "gr"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEFAULT_COUNTRY", raising=False)

    assert Settings().default_country == "GR"


def test_settings_environment_beats_secrets_toml(tmp_path, monkeypatch):
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "secrets.toml").write_text('DEFAULT_COUNTRY = "gr"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEFAULT_COUNTRY", "de")

    assert Settings().default_country == "DE"
