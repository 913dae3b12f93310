"""Imports run one way: origin/ builds on buckets/, never the reverse. The project
package (config/) composes the two, e.g. the OSS route tables in config/oss_urls.py."""

import ast
from pathlib import Path

BUCKETS = Path(__file__).resolve().parent.parent / "buckets"


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_no_module_under_buckets_imports_origin():
    offenders = [
        f"{path.relative_to(BUCKETS.parent)}: {module}"
        for path in sorted(BUCKETS.rglob("*.py"))
        for module in imported_modules(path)
        if module == "origin" or module.startswith("origin.")
    ]

    assert offenders == []


def test_the_check_sees_an_import_of_origin(tmp_path):
    module = tmp_path / "example.py"
    module.write_text(
        "import origin.models\ndef later():\n    from origin import website_api\n"
    )

    assert list(imported_modules(module)) == ["origin.models", "origin"]
