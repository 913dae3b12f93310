"""The docs and the data lists kept in step with what they describe: the README's
settings table with the settings read, the V1 sub-resource list with the SDKs'."""

import ast
import re
from pathlib import Path

import oss2
from alibabacloud_oss_v2.signer.v1 import SignerV1

from buckets.sub_resources import V1_SUB_RESOURCES

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_MODULES = [
    ROOT / "config" / "settings.py",
    ROOT / "config" / "gunicorn.conf.py",
]
ENVIRONMENT_READERS = {
    "env_str",
    "env_int",
    "env_bool",
    "env_list",
}  # config/settings.py


def environment_names_read(path):
    """Every variable `path` reads by a literal name: env_str("X") and its siblings,
    os.environ.get("X"), os.getenv("X"), os.environ["X"]."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and node.args:
            name = node.args[0]
            reader = ast.unparse(node.func)
            if isinstance(name, ast.Constant) and (
                reader in ENVIRONMENT_READERS
                or reader in ("os.environ.get", "os.getenv")
            ):
                names.add(name.value)
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return names


def settings_read():
    return set().union(*map(environment_names_read, SETTINGS_MODULES))


def readme_settings_table():
    """The variables named in the first column of README's settings table."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Settings (environment)\n", 1)[1].split("\n## ", 1)[0]
    first_cells = [
        line.split("|")[1] for line in section.splitlines() if line.startswith("| `")
    ]
    return {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}


def test_the_parser_sees_the_settings_of_both_modules():
    # Guards the two tests below against a parser that finds nothing.
    assert {"DATA_DIR", "DEBUG", "LOG_LEVEL"} <= settings_read()  # config/settings.py
    assert {"WEB_TIMEOUT", "ACCESS_LOG"} <= settings_read()  # config/gunicorn.conf.py


def test_the_readme_settings_table_lists_every_setting_read_from_the_environment():
    assert settings_read() - readme_settings_table() == set()


def test_the_readme_settings_table_lists_only_settings_that_are_read():
    # FORWARDED_ALLOW_IPS is not in the table: gunicorn reads it itself (the
    # `forwarded_allow_ips` default); README's Deploying section explains it.
    assert readme_settings_table() - settings_read() == set()


# -- the V1 sub-resource list ------------------------------------------------------------

# Names the server signs that oss2 does not: `img` is in the V1 reference's list of
# sub-resources (image processing), `cloudboxes` in the V2 SDK's SignerV1 list.
# A client that signs them must find them signed here too, or its signature fails.
SIGNED_BEYOND_OSS2 = {"img", "cloudboxes"}


def test_the_server_signs_every_sub_resource_oss2_signs_and_the_known_extras():
    assert oss2.Auth._subresource_key_set <= V1_SUB_RESOURCES
    assert V1_SUB_RESOURCES - oss2.Auth._subresource_key_set == SIGNED_BEYOND_OSS2


def test_the_server_signs_every_sub_resource_the_v2_sdk_signs():
    assert SignerV1._subresource_key_set <= V1_SUB_RESOURCES
