"""Settings and ServerSettings: an argument wins over its variable, which wins over the default; bad values are
refused with the variable's name."""

import pytest

from facelens.settings import DEFAULT_MAX_BODY, ServerSettings, Settings


def test_argument_over_variable_over_default(tmp_path):
    env = {"FACELENS_HOME": str(tmp_path / "env-home"), "FACELENS_REGION": "eu-west-1", "FACELENS_THREADS": "3"}
    from_env = Settings.from_env(environ=env)
    assert (from_env.home, from_env.region, from_env.threads) == (tmp_path / "env-home", "eu-west-1", 3)
    assert from_env.database_url == f"sqlite:///{tmp_path / 'env-home' / 'facelens.sqlite3'}"
    given = Settings.from_env(home=tmp_path / "arg-home", region_name="ap-south-1", threads=1, environ=env)
    assert (given.home, given.region, given.threads) == (tmp_path / "arg-home", "ap-south-1", 1)
    assert Settings.from_env(home=tmp_path, environ={}).region == "us-east-1"


@pytest.mark.parametrize(("value", "on"), [(None, True), ("1", True), ("0", False), ("false", False), ("off", False)])
def test_first_look_is_on_unless_turned_off(tmp_path, value, on):
    env = {} if value is None else {"FACELENS_DETECTOR_FIRST_LOOK": value}
    assert Settings.from_env(home=tmp_path, environ=env).detector_first_look is on
    assert Settings.from_env(home=tmp_path, detector_first_look=True, environ=env).detector_first_look is True


def test_server_settings_from_variables():
    env = {"FACELENS_ACCESS_KEY_ID": "AKID", "FACELENS_SECRET_ACCESS_KEY": "s3cret", "FACELENS_MAX_BODY": "1000",
           "FACELENS_HEADER_TIMEOUT": "2.5", "FACELENS_MAX_REQUESTS": "7", "FACELENS_MAX_CONNECTIONS": "99"}
    server = ServerSettings.from_env(environ=env)
    assert server.keys == {"AKID": "s3cret"}
    assert (server.max_body, server.header_timeout, server.max_requests, server.max_connections) == (1000, 2.5, 7, 99)
    assert ServerSettings.from_env(max_body=5, environ=env).max_body == 5
    plain = ServerSettings.from_env(environ={})
    assert plain.keys == {} and plain.max_body == DEFAULT_MAX_BODY


@pytest.mark.parametrize(("env", "message"), [
    ({"FACELENS_MAX_BODY": "lots"}, "FACELENS_MAX_BODY must be a number"),
    ({"FACELENS_MAX_REQUESTS": "0"}, "must be > 0"),
    ({"FACELENS_ACCESS_KEY_ID": "AKID"}, "or neither"),
])
def test_server_settings_refuse_bad_values(env, message):
    with pytest.raises(ValueError, match=message):
        ServerSettings.from_env(environ=env)
