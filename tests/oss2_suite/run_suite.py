"""Run oss2's own integration suite against this server, for OSS signature V1 and V4.

    .venv/bin/python -m tests.oss2_suite.run_suite [--auth v1|v4|both] [-k EXPR]
        [--file test_x.py] [--json FILE] [--jobs N] [--timeout SECONDS]

The suite is the `tests/` folder of the pinned oss2 source distribution, downloaded
once into .cache/oss2-suite/ (never copied into this repository). One gunicorn
server on a temporary DATA_DIR serves every file; each file runs in its own pytest
process (the suite reads its settings from the environment when imported), and the
tests in real_oss_only.txt are deselected. Each file's pytest output and JUnit report
stay in .cache/oss2-suite/runs/<run>/. Exits non-zero when any other test fails.
"""

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import oss2

from tests.origin_server import unused_port
from tests.server_process import ROOT, GunicornServer
from tests.signing import REGION, KeyPair

OSS2_VERSION = "2.19.1"
CACHE = ROOT / ".cache" / "oss2-suite"
RUNS = CACHE / "runs"
RUNS_KEPT_SECONDS = 24 * 3600
HERE = Path(__file__).resolve().parent
OUTCOMES = ("passed", "failed", "error", "skipped", "excluded")


class Result(NamedTuple):
    outcome: str
    message: str = ""  # the first line of the failure
    where: str = ""  # what failed: the test, its setUp or its tearDown


def suite_root():
    """The unpacked sdist holding tests/, downloaded and unpacked on first use."""
    root = CACHE / f"oss2-{OSS2_VERSION}"
    if (root / "tests" / "common.py").exists():
        return root
    pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    pip += ["--no-binary", ":all:", f"oss2=={OSS2_VERSION}", "--dest", CACHE]
    subprocess.run(pip, check=True)
    with tarfile.open(CACHE / f"oss2-{OSS2_VERSION}.tar.gz") as sdist:
        members = [m for m in sdist if m.name.startswith(f"oss2-{OSS2_VERSION}/tests/")]
        if not members:
            sys.exit(
                f"oss2 {OSS2_VERSION}'s source distribution holds no tests/ folder"
            )
        sdist.extractall(CACHE, members=members, filter="data")
    # An ini file of its own stops pytest climbing up to this project's
    # pyproject.toml (pytest-django, --strict-markers, testpaths).
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def server_test_files(root, only=None):
    """The suite's files that test a server: all but its offline tests of the SDK
    (test_mock_*.py, test_crypto.py), which import a `unittests` package that the
    sdist does not ship."""
    files = [
        p
        for p in sorted((root / "tests").glob("test_*.py"))
        if "import unittests" not in p.read_text()
    ]
    return [p for p in files if p.name == only] if only else files


def excluded_tests(auth):
    """Test id -> reason, from real_oss_only.txt (`file.py::Class::test  # reason`),
    for signature version `auth` ("v1" or "v4").

    An id may be a whole file (`file.py  # reason`) when the file cannot even be
    imported here; it is not run. A line starting `[v4] ` excludes the test under
    that version only.
    """
    excluded = {}
    for line in (HERE / "real_oss_only.txt").read_text().splitlines():
        test_id, _, reason = line.partition("#")
        only, _, rest = test_id.strip().partition("] ")
        if only.startswith("["):
            if only[1:] != auth:
                continue
            test_id = rest
        if test_id.strip():
            excluded[test_id.strip()] = reason.strip()
    return excluded


def count_tests(path):
    """How many tests a file holds, not running it: its test methods."""
    tree = ast.parse(path.read_text())
    return sum(
        isinstance(node, ast.FunctionDef) and node.name.startswith("test")
        for node in ast.walk(tree)
    )


def short_message(message):
    """oss2's errors print a dict with request ids that change on every run: keep its
    status, code and message, so that two runs can be compared."""
    message = re.sub(
        r'^failed on (setup|teardown) with "(.*)"$', r"\2", message.strip(), flags=re.S
    )
    name, _, error = message.partition(": ")
    try:
        error = ast.literal_eval(error)
        details = error["details"]
    except (ValueError, SyntaxError, TypeError, KeyError):
        return message.partition("\n")[0][:300]
    if isinstance(details, dict):
        details = f"{details.get('Code')}: {details.get('Message')}"
    return f"{name}: {error.get('status')} {str(details)[:300]}"


def start_server(data_dir, log):
    """A gunicorn server with the suite's account and a second one (the request-payment
    tests' payer); returns the server and the suite's settings for both accounts."""
    # The RTMP ingest runs beside it, as `make run` starts it: live channels then
    # answer publish URLs that something serves.
    server = GunicornServer(
        data_dir, log, OSS_REGION=REGION, LIVE_RTMP_PORT=str(unused_port())
    )
    server.manage("migrate", "--noinput")
    settings = {"OSS_TEST_ENDPOINT": server.url, "OSS_TEST_REGION": REGION}
    for user, prefix in [
        ("oss2-suite", "OSS_TEST_"),
        ("oss2-suite-payer", "OSS_TEST_PAYER_"),
    ]:
        # The account id the suite writes into policies is the Owner ID the server lists.
        script = f"from django.contrib.auth import get_user_model\nprint(get_user_model().objects.create_user({user!r}).pk)"
        # The last line: Django's shell may print one of its own first.
        output = server.manage("shell", "-c", script).strip()
        settings[f"{prefix}UID"] = output.splitlines()[-1].strip()
        key = KeyPair.from_command_output(server.manage("create_access_key", user))
        settings |= {
            f"{prefix}ACCESS_KEY_ID": key.key_id,
            f"{prefix}ACCESS_KEY_SECRET": key.secret,
        }
    # Inventory destinations (buckets/inventory.py): there is no RAM here, so the
    # AccountId is the owner's own and the RoleArn a role of that account.
    uid = settings["OSS_TEST_UID"]
    settings["OSS_TEST_RAM_UID"] = uid
    settings["OSS_TEST_RAM_ROLE_ARN"] = f"acs:ram::{uid}:role/AliyunOSSRole"
    return server.start(), settings


def new_run_dir(suite_tests):
    """A folder of this run's own (runs may overlap), for each file's pytest output and
    report and the server's log; runs older than a day are removed."""
    RUNS.mkdir(parents=True, exist_ok=True)
    for old in RUNS.iterdir():
        if old.stat().st_mtime < time.time() - RUNS_KEPT_SECONDS:
            shutil.rmtree(old, ignore_errors=True)
    run_dir = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=RUNS))
    # The suite opens its data files as tests/..., from where it stands.
    (run_dir / "tests").symlink_to(suite_tests)
    return run_dir


def run_file(path, env, args):
    """Run one suite file under pytest; returns {test id: Result}."""
    name = f"{env['OSS_TEST_AUTH_VERSION']}-{path.stem}"
    xml = args.run_dir / f"{name}.xml"
    command = [sys.executable, "-m", "pytest", path, f"--junitxml={xml}"]
    command += [f"--timeout={args.timeout}", "-p", "suite_plugin"]
    command += ["-p", "no:django", "-p", "no:cacheprovider"]
    auth = env["OSS_TEST_AUTH_VERSION"]
    excluded = [t for t in args.excluded[auth] if t.startswith(f"{path.name}::")]
    command += ["-k", args.k] if args.k else []
    env = {**env, "OSS2_SUITE_EXCLUDED": "\n".join(excluded)}  # for suite_plugin
    with (args.run_dir / f"{name}.log").open("w") as log:
        # The suite writes temporary files where it stands: stand in the run's folder.
        subprocess.run(
            command, cwd=args.run_dir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    if not xml.exists():
        return {path.name: Result("error", "pytest wrote no report")}
    return parse_junit(xml) | {
        test_id: Result("excluded", args.excluded[auth][test_id])
        for test_id in excluded
    }


def parse_junit(xml):
    """Test id (`test_x.py::Class::test`) -> Result, from pytest's JUnit report.

    A test whose body fails and whose tearDown fails too has two entries: one
    outcome per test, the worst, where a failure of the body counts first.
    """
    results = {}
    for case in ET.parse(xml).iter("testcase"):
        module, _, cls = case.get("classname", "").removeprefix("tests.").partition(".")
        # A file that fails to import is one case named after its module.
        name = case.get("name")
        test_id = (
            f"{module}.py::{cls}::{name}"
            if module
            else name.removeprefix("tests.") + ".py"
        )
        result = max(
            [results.get(test_id, Result("passed")), *map(case_result, case)],
            key=severity,
        )
        results[test_id] = result
    return results


def case_result(element):
    """The Result that a <failure>, <error> or <skipped> of a <testcase> says."""
    message, text = element.get("message") or "", element.text or ""
    if element.tag == "skipped":
        return Result("skipped", short_message(message))
    # The traceback opens in the function that failed: its `def` line, or `file:line: in name`.
    opening = re.search(r"^\s*def (\w+)\(|^\S+:\d+: in (\w+)$", text, re.M)
    where = next(filter(None, opening.groups()), "") if opening else ""
    where = where if where in ("setUp", "tearDown") else "test"
    outcome = "failed" if element.tag == "failure" and where == "test" else "error"
    return Result(outcome, short_message(message), where)


def severity(result):
    return ["passed", "skipped", "error", "failed"].index(result.outcome)


def run_suite(files, auth, settings, args):
    env = {
        **os.environ,
        **settings,
        "OSS_TEST_AUTH_VERSION": auth,
        "PYTHONPATH": str(HERE),  # for -p suite_plugin
    }
    # Largest files first, so the last ones to finish are short.
    ordered = sorted(
        (p for p in files if p.name not in args.excluded[auth]),
        key=lambda p: -p.stat().st_size,
    )
    results = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        outcomes = pool.map(lambda p: run_file(p, env, args), ordered)
        for path, file_results in zip(ordered, outcomes, strict=True):
            counts = Counter(r.outcome for r in file_results.values())
            print(f"  {auth} {path.name}: {dict(counts)}", flush=True)
            results.update(file_results)
    return results


def print_table(files, results_by_auth, excluded):
    """Per file and auth version: passed / failed / error / skipped / excluded."""
    counts = {}
    for auth, results in results_by_auth.items():
        for path in files:
            # A whole file excluded never ran: count its tests here.
            counts[auth, path.name] = Counter(
                excluded=count_tests(path) if path.name in excluded[auth] else 0
            )
        for test_id, result in results.items():
            counts[auth, test_id.partition("::")[0]][result.outcome] += 1
        counts[auth, "total"] = sum((counts[auth, p.name] for p in files), Counter())
    labels = "".join(
        f"{label:>6}" for label in ("pass", "fail", "error", "skip", "excl")
    )
    print(f"\n{'':<42}" + "".join(f"  {auth.upper():<30}" for auth in results_by_auth))
    print(f"{'file':<42}" + f"  {labels}" * len(results_by_auth))
    for name in [p.name for p in files] + ["total"]:
        cells = (
            "".join(f"{counts[auth, name][o]:>6}" for o in OUTCOMES)
            for auth in results_by_auth
        )
        print(f"{name:<42}" + "".join(f"  {cell}" for cell in cells))
    print(
        "fail: the test failed; error: its setUp or tearDown failed, or its file did not import"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--auth", choices=["v1", "v4", "both"], default="both")
    parser.add_argument("-k", help="a pytest -k expression")
    parser.add_argument("--file", help="one suite file, e.g. test_object.py")
    parser.add_argument(
        "--json", help="write {auth: {test id: {outcome, message, where}}} here"
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="files run at once (default 2)"
    )
    parser.add_argument(
        "--timeout", type=int, default=180, help="seconds a test may take (default 180)"
    )
    args = parser.parse_args()
    args.excluded = {auth: excluded_tests(auth) for auth in ("v1", "v4")}

    files = server_test_files(suite_root(), args.file)
    if not files:
        sys.exit(f"no server test file named {args.file}")
    if oss2.__version__ != OSS2_VERSION:
        print(
            f"warning: the suite of oss2 {OSS2_VERSION} runs with oss2 {oss2.__version__}"
        )
    args.run_dir = new_run_dir(files[0].parent)
    print(f"logs and reports: {args.run_dir}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="oss2-suite-data-") as data_dir:
        server, settings = start_server(data_dir, args.run_dir / "gunicorn.log")
        try:
            for auth in ["v1", "v4"] if args.auth == "both" else [args.auth]:
                results[auth] = run_suite(files, auth, settings, args)
        finally:
            server.stop()
    print_table(files, results, args.excluded)
    if args.json:
        outcomes = {
            auth: {t: r._asdict() for t, r in sorted(rs.items())}
            for auth, rs in results.items()
        }
        Path(args.json).write_text(json.dumps(outcomes, indent=1, ensure_ascii=False))
    return any(
        r.outcome in ("failed", "error") for rs in results.values() for r in rs.values()
    )


if __name__ == "__main__":
    sys.exit(main())
