"""Release settings come from the environment, never from params.yaml, and bad values are named."""

from __future__ import annotations

import pytest

from underwrite.params import ParamsError, load_params
from underwrite.release import ReleaseError
from underwrite.release.settings import ReleaseSettings


def test_release_settings_defaults_without_environment() -> None:
    settings = ReleaseSettings.from_env({})
    assert (settings.host, settings.staging_port, settings.prod_port) == ("127.0.0.1", 3100, 3200)


def test_release_settings_read_their_variables() -> None:
    env = {"UNDERWRITE_STAGING_PORT": "4100", "UNDERWRITE_READINESS_TIMEOUT": "2.5"}
    settings = ReleaseSettings.from_env(env)
    assert settings.staging_port == 4100 and settings.readiness_timeout == 2.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"UNDERWRITE_STAGING_PORT": "abc"}, r"UNDERWRITE_STAGING_PORT='abc': must be a number"),
        ({"UNDERWRITE_PROD_PORT": "70000"}, r"UNDERWRITE_PROD_PORT='70000': out of range"),
        ({"UNDERWRITE_SMOKE_TIMEOUT": "0"}, r"UNDERWRITE_SMOKE_TIMEOUT='0': out of range"),
        ({"UNDERWRITE_STAGING_PORT": "3200"}, r"both listen on port 3200"),
    ],
)
def test_release_settings_bad_value_names_the_variable(env: dict, message: str) -> None:
    with pytest.raises(ReleaseError, match=message):
        ReleaseSettings.from_env(env)


def test_params_yaml_has_no_release_section(tmp_path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("release:\n  staging_port: 3100\n")
    with pytest.raises(ParamsError, match="release"):
        load_params(path)
