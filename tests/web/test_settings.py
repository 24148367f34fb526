"""Settings come from one declaration: flags, environment variables and the README table agree."""

import re
from pathlib import Path

import pytest

from web.settings import SETTINGS, Settings, build_settings, settings_markdown

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_is_generated_from_settings():
    text = README.read_text()
    table = re.search(r"<!-- settings-table.*?-->\n(.*?)\n<!-- /settings-table -->", text, re.S)
    assert table, "README.md lost its settings-table markers"
    assert table.group(1).strip() == settings_markdown(), "README is stale: paste the output of `spyglass settings`"


def test_defaults_reach_an_unconfigured_exporter():
    defaults = build_settings({}, environ={})
    assert (defaults.host, defaults.port, defaults.grpc_port) == ("127.0.0.1", 4318, 4317)
    assert defaults.db == "./spyglass-data/spyglass.duckdb"
    assert defaults.token is None


def test_flags_win_over_environment_which_wins_over_defaults():
    env = {"SPYGLASS_PORT": "9000", "SPYGLASS_GRPC_PORT": "0", "SPYGLASS_TOKEN": "t"}
    assert build_settings({}, environ=env) == Settings(port=9000, grpc_port=0, token="t")
    assert build_settings({"port": 9100}, environ=env).port == 9100


def test_a_bad_environment_value_says_which_variable():
    with pytest.raises(SystemExit, match="SPYGLASS_PORT='http' is not a valid int"):
        build_settings({}, environ={"SPYGLASS_PORT": "http"})


def test_every_setting_has_flag_env_and_help():
    for setting in SETTINGS:
        assert setting.flag.startswith("--") and setting.env.startswith("SPYGLASS_") and setting.help
