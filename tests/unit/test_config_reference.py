"""docs/configuration.md is the settings classes' rendering: every field is described, the
committed page is current, and a secret's default never reaches it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import SecretStr

from tagpulse.settings import Settings
from tagpulse_collector.settings import CollectorSettings
from tagpulse_query.settings import QuerySettings

ROOT = Path(__file__).resolve().parents[2]
CLASSES = (Settings, QuerySettings, CollectorSettings)


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_reference", ROOT / "tools" / "gen_config_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("settings_class", CLASSES, ids=lambda cls: cls.__name__)
def test_every_field_has_a_description(settings_class: type[Settings]) -> None:
    undescribed = [
        name for name, info in settings_class.model_fields.items() if not (info.description or "").strip()
    ]
    assert not undescribed, f"{settings_class.__name__}: add description= to {undescribed}"


def test_a_field_is_described_the_same_way_in_every_class() -> None:
    for name in Settings.model_fields:
        descriptions = {cls.model_fields[name].description for cls in CLASSES}
        assert len(descriptions) == 1, f"{name}: {descriptions}"


def test_the_committed_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == _generator().render(), "docs/configuration.md is stale: run `make docs`"


def test_every_variable_is_in_the_reference() -> None:
    text = _generator().render()
    for cls in CLASSES:
        for name in cls.model_fields:
            assert f"`TAGPULSE_{name.upper()}`" in text


def test_the_check_fails_and_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generator = _generator()
    stale = tmp_path / "configuration.md"
    stale.write_text("# Configuration\n", encoding="utf-8")
    generator.REFERENCE = stale
    generator.ROOT = tmp_path
    assert generator.main(["--check"]) == 1
    assert "make docs" in capsys.readouterr().err


def test_a_secret_default_is_not_printed() -> None:
    generator = _generator()
    text = generator.render()
    secrets = [
        (cls, name, info)
        for cls in CLASSES
        for name, info in cls.model_fields.items()
        if generator.is_secret(info)
    ]
    assert {name for _, name, _ in secrets} >= {"database_url", "api_token", "x_bearer_token", "redis_url"}
    for _, name, info in secrets:
        default = info.get_default(call_default_factory=True)
        if isinstance(default, SecretStr):
            assert default.get_secret_value() not in text, f"{name}: its default is printed"
        row = next(line for line in text.splitlines() if line.startswith(f"| `TAGPULSE_{name.upper()}`"))
        assert "**Secret.**" in row, f"{name}: not marked secret"


def test_a_secret_default_is_hidden_whatever_it_is() -> None:
    generator = _generator()

    class WithSecret(Settings):
        signing_key: SecretStr = SecretStr("hunter2-do-not-print")

    info = WithSecret.model_fields["signing_key"]
    assert generator.default_text(info) == generator.SECRET_DEFAULT
    assert "hunter2" not in generator.default_text(info)
