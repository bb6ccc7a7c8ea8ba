"""The image and the AWS configuration agree with the engine, and pass their linters.

hadolint comes with the dev extras; checkov lives in .venv/tools, which `make test` builds
(see the Makefile). Both run offline.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from engine.config import ServiceSettings, Settings, load
from engine.sections import Secret, Section
from tests.deploy import files
from tests.deploy.files import DOCKERFILE, ROOT, TERRAFORM

TOOLS_BIN = ROOT / ".venv" / "tools" / "bin"
# Not engine settings: the environment variables litellm reads for the research Lab's models.
LITELLM_KEYS = {"OPENAI_API_KEY", "ANTHROPIC_API_KEY"}


def engine_port() -> int:
    return int(ServiceSettings().listen.rpartition(":")[2])


def tool(name: str, *where: Path) -> str:
    for folder in where:
        if (folder / name).is_file():
            return str(folder / name)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; `make test` installs it (see the Makefile)")
    return found


# ---- linters -----------------------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile(tmp_path: Path) -> None:
    hadolint = tool("hadolint", Path(sys.executable).parent)
    config = tmp_path / "hadolint.yaml"  # ours, so no user or repository config relaxes it
    config.write_text("failure-threshold: style\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    run = subprocess.run(
        [hadolint, "--config", str(config), "--format", "json", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    findings = [f"{f['line']}: {f['code']} {f['message']}" for f in json.loads(run.stdout or "[]")]
    assert findings == [], "\n".join(findings)
    assert run.returncode == 0, run.stderr
    for line in DOCKERFILE.read_text().splitlines():
        if "hadolint ignore=" in line:
            reason = line.split("hadolint ignore=", 1)[1].partition(" ")[2].strip()
            assert reason, f"an ignore without its reason: {line.strip()}"


def test_checkov_passes_on_terraform(tmp_path: Path) -> None:
    checkov = tool("checkov", TOOLS_BIN)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BC_", "CKV_", "CHECKOV_", "PRISMA_"))
    }
    # Offline: no mapping, guide or module downloads, and no config from the home directory.
    env.update(BC_SKIP_MAPPING="TRUE", HOME=str(tmp_path), LOG_LEVEL="WARNING")
    run = subprocess.run(
        [
            checkov,
            "--directory",
            str(TERRAFORM),
            "--framework",
            "terraform",
            "--output",
            "json",
            "--compact",
            "--skip-download",
            "--download-external-modules",
            "false",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert run.returncode in (0, 1), run.stderr[-2000:]
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    (tf,) = [r for r in reports if r.get("check_type") == "terraform"]
    summary, results = tf["summary"], tf["results"]
    assert summary["parsing_errors"] == 0 and summary["resource_count"] > 0, summary
    failed = sorted(
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): "
        f"{c['check_name']}"
        for c in results["failed_checks"]
    )
    assert failed == [], "\n".join(failed)
    unexplained = [
        f"{c['check_id']} {c['resource']}"
        for c in results["skipped_checks"]
        if len(c.get("check_result", {}).get("suppress_comment", "").strip()) < 20
    ]
    assert unexplained == [], f"skips without a reason: {unexplained}"


def test_every_checkov_skip_in_the_files_carries_its_reason() -> None:
    for path in TERRAFORM.glob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_[A-Z0-9]+_\d+:\S.{19,}", line), (
                    f"{path.name}: {line.strip()}"
                )


# ---- the port and the probes ------------------------------------------------------------------


def test_the_image_runs_omc_engine_listening_on_the_engines_port() -> None:
    from engine.headless import parser

    port = engine_port()
    assert files.the("ENTRYPOINT").exec_form() == ["omc-engine"]
    cmd = files.the("CMD").exec_form()
    args = parser().parse_args(cmd)  # the engine accepts the image's arguments as they are
    assert args.listen == f"0.0.0.0:{port}"
    assert ServiceSettings(listen=args.listen).listen == args.listen
    assert [i.args for i in files.instructions("EXPOSE")] == [str(port)]


def test_task_definition_and_load_balancer_use_the_engines_port_and_health_path() -> None:
    tf = files.terraform()
    port = engine_port()
    assert tf.resolve("${local.engine_port}") == port
    assert tf.resolve("${local.health_path}") == "/healthz"

    container = tf.locals["engine_container"]
    assert [tf.resolve(p["containerPort"]) for p in container["portMappings"]] == [port]
    group = tf.resource("aws_lb_target_group", "engine")
    assert tf.resolve(group["port"]) == port
    (check,) = group["health_check"]
    assert tf.resolve(check["path"]) == "/healthz"
    assert check["port"] == "traffic-port" and check["matcher"] == "200"
    (attached,) = tf.resource("aws_ecs_service", "engine")["load_balancer"]
    assert tf.resolve(attached["container_port"]) == port
    assert tf.resolve(attached["container_name"]) == container["name"]
    for rule in ("alb_to_tasks", "task_from_alb"):
        body = tf.resources.get("aws_vpc_security_group_egress_rule", {}).get(rule) or (
            tf.resource("aws_vpc_security_group_ingress_rule", rule)
        )
        assert tf.resolve(body["from_port"]) == tf.resolve(body["to_port"]) == port


def test_container_health_checks_probe_the_engines_healthz() -> None:
    tf = files.terraform()
    options, probe = files.healthcheck()
    ecs = tf.locals["engine_container"]["healthCheck"]
    # ECS ignores the image's HEALTHCHECK; the task definition repeats it, word for word.
    assert [tf.resolve(word) for word in ecs["command"]] == ["CMD", *probe]
    assert {k: ecs[k] for k in ("interval", "timeout", "retries", "startPeriod")} == {
        "interval": int(options["interval"].removesuffix("s")),
        "timeout": int(options["timeout"].removesuffix("s")),
        "retries": int(options["retries"]),
        "startPeriod": int(options["start-period"].removesuffix("s")),
    }
    (url,) = re.findall(r"https?://[^'\"]+", probe[-1])
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1" and parts.port == engine_port()
    assert parts.path == "/healthz"
    assert probe[0] == "python" and probe[1] == "-c"  # the standard library only: no curl


class _Probe(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def probe_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Probe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_probe_command_passes_only_on_a_200(probe_server: ThreadingHTTPServer) -> None:
    _, probe = files.healthcheck()
    code = probe[-1].replace(f":{engine_port()}/", f":{probe_server.server_address[1]}/")

    def status_after(answer: int) -> int:
        _Probe.status = answer
        return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode

    assert status_after(200) == 0
    assert status_after(503) != 0  # /healthz failing is a failed probe, not a crash of it
    probe_server.shutdown()
    probe_server.server_close()
    assert status_after(200) != 0  # nothing listening


# ---- the image's user and writable places -------------------------------------------------------


def test_the_data_directory_is_a_writable_volume_of_a_non_root_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from engine.paths import data_dir

    env = files.runtime_env()
    for name in ("HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        if name in env:
            monkeypatch.setenv(name, env[name])
        else:
            monkeypatch.delenv(name, raising=False)
    volumes = files.the("VOLUME").exec_form()
    assert any(data_dir().is_relative_to(v) for v in volumes), (data_dir(), volumes)

    uid = files.the("USER").args.partition(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert any(f"--uid {uid}" in r.args for r in files.instructions("RUN"))

    container = files.terraform().locals["engine_container"]
    assert container["readonlyRootFilesystem"] is True
    mounted = {m["containerPath"] for m in container["mountPoints"] if m["readOnly"] is False}
    assert mounted == set(volumes)


def test_both_stages_build_on_the_same_pinned_python() -> None:
    images = [i.args.split()[0] for i in files.instructions("FROM")]
    assert len(images) == 2 and images[0] == images[1], images
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", images[0]), images[0]


# ---- secrets ----------------------------------------------------------------------------------


def _leaves(model: Section, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for name in type(model).fields():
        value = getattr(model, name)
        if isinstance(value, Section):
            out.update(_leaves(value, (*prefix, name)))
        else:
            out[(*prefix, name)] = value
    return out


def _reveal(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, Secret) else value


def _database_url_as_terraform_writes_it() -> tuple[str, str]:
    tf = files.terraform()
    template = tf.resource("aws_secretsmanager_secret_version", "database_url")["secret_string_wo"]
    db = tf.resource("aws_db_instance", "main")
    password = "Abc123" * 6 + "xyzw"  # 40 letters and digits, like exclude_punctuation gives
    url = (
        template.replace("${aws_db_instance.main.username}", db["username"])
        .replace("${ephemeral.aws_secretsmanager_random_password.db.random_password}", password)
        .replace("${aws_db_instance.main.address}", "omc-engine.abc123.rds.amazonaws.com")
        .replace("${aws_db_instance.main.port}", "5432")
        .replace("${aws_db_instance.main.db_name}", db["db_name"])
    )
    assert "${" not in url, url
    return url, password


def _from_environment() -> Settings:
    """The settings a task's environment gives, with no config file (none is in the image)."""
    return load(Path(os.devnull).with_name("omc-no-such-config.toml"))


def test_every_secret_of_the_task_is_an_engine_setting_or_a_model_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = set(files.terraform().locals["secret_settings"])
    baseline = _leaves(_from_environment())
    for name in sorted(names - LITELLM_KEYS):
        assert name.startswith("OMC_"), f"{name} is neither an OMC_ setting nor a model key"
        if name == "OMC_DATABASE__URL":
            dummy, password = _database_url_as_terraform_writes_it()
        else:
            dummy = password = f"dummy-{name.lower()}"
        monkeypatch.setenv(name, dummy)
        changed = {k: v for k, v in _leaves(_from_environment()).items() if v != baseline[k]}
        monkeypatch.delenv(name)
        expected = tuple(name.removeprefix("OMC_").lower().split("__"))
        assert list(changed) == [expected], f"{name} set {list(changed)}"
        value = _reveal(changed[expected])
        assert password in value, f"{name} did not arrive whole: {value!r}"
        # Secrets land where they are masked: a Secret, or the URL `omc config show` masks.
        assert isinstance(changed[expected], Secret) or expected == ("database", "url")

    for name in LITELLM_KEYS:  # the engine's settings leave them alone (prefix OMC_ only)
        monkeypatch.setenv(name, "dummy")
    assert _leaves(_from_environment()) == baseline


def test_every_secret_setting_of_the_engine_has_a_secret() -> None:
    secret_settings = {
        f"OMC_{section.upper()}__{key.upper()}"
        for section, field in Settings.fields().items()
        for key, sub in field.annotation.fields().items()
        if sub.annotation is Secret
    }
    assert secret_settings, "found no Secret setting: has the config module changed shape?"
    missing = secret_settings - set(files.terraform().locals["secret_settings"])
    assert not missing, f"secret settings with no Secrets Manager secret in terraform/: {missing}"


def test_the_task_receives_the_chosen_secrets_from_secrets_manager() -> None:
    tf = files.terraform()
    every = set(tf.locals["secret_settings"])
    assert set(tf.locals["required_secrets"]) == {"OMC_DATABASE__URL", "OMC_SERVICE__TOKEN"}
    assert set(tf.variables["optional_secrets"]["default"]) <= every
    assert {
        "OMC_TRADING__API_KEY",
        "OMC_TRADING__API_SECRET",
        "OMC_ALERTS__WEBHOOK_URL",
    } | LITELLM_KEYS <= set(tf.variables["optional_secrets"]["default"])
    # The chain from the map to the container: map -> chosen -> one secret each -> `secrets`.
    chosen = tf.locals["task_secrets"]
    for part in ("local.secret_settings", "local.required_secrets", "var.optional_secrets"):
        assert part in chosen
    secret = tf.resource("aws_secretsmanager_secret", "engine")
    assert secret["for_each"] == "${local.task_secrets}"
    assert secret["kms_key_id"] == "${aws_kms_key.main.arn}"
    injected = tf.locals["engine_container"]["secrets"]
    assert (
        "in aws_secretsmanager_secret.engine" in injected and "valueFrom = secret.arn" in injected
    )


def test_no_secret_value_is_kept_in_the_repository_or_the_state() -> None:
    tf = files.terraform()
    db = tf.resource("aws_db_instance", "main")
    assert "password" not in db and "password_wo" in db  # write-only: never in the state
    version = tf.resource("aws_secretsmanager_secret_version", "database_url")
    assert not {"secret_string", "secret_binary"} & set(version)
    assert "secret_string_wo" in version
    for instruction in files.dockerfile():
        if instruction.keyword in ("ENV", "ARG"):
            assert not re.search(r"TOKEN|SECRET|PASSWORD|API_KEY", instruction.args), instruction
    assert tf.settings[0]["backend"] == [{"s3": {}}]  # partial: set with -backend-config


# ---- the no-leader alarm reads the engine's real log lines ------------------------------------


def _matches(pattern: str, line: dict[str, Any]) -> bool:
    """Evaluate a CloudWatch JSON filter pattern of = / != comparisons, && , || and ()."""
    tokens = re.findall(r'\(|\)|&&|\|\||\$\.[\w.]+\s*!?=\s*"[^"]*"', pattern.strip()[1:-1])

    def value(path: str) -> Any:
        node: Any = line
        for part in path.split(".")[1:]:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def expr(i: int) -> tuple[bool, int]:
        result, i = term(i)
        while i < len(tokens) and tokens[i] in ("&&", "||"):
            op = tokens[i]
            right, i = term(i + 1)
            result = (result and right) if op == "&&" else (result or right)
        return result, i

    def term(i: int) -> tuple[bool, int]:
        if tokens[i] == "(":
            result, i = expr(i + 1)
            assert tokens[i] == ")"
            return result, i + 1
        path, op, expected = re.fullmatch(r'(\S+)\s*(!?=)\s*"(.*)"', tokens[i]).groups()  # type: ignore[union-attr]
        return (str(value(path)) == expected) == (op == "="), i + 1

    result, end = expr(0)
    assert end == len(tokens), f"cannot read the pattern past {tokens[end:]}"
    return result


def test_the_no_leader_metric_counts_only_the_leaders_finished_job_runs() -> None:
    from engine.events import FeedEvent, JobEvent, LeaderEvent
    from engine.logs import JsonFormatter, log_event

    pattern = files.terraform().resource("aws_cloudwatch_log_metric_filter", "leader_job_runs")[
        "pattern"
    ]
    lines: list[dict[str, Any]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    handler = Capture()
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("omc.engine.deploy-test")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    try:
        for status in ("running", "ok", "error", "skipped", "paused"):
            log_event(log, JobEvent("store.flush", status, at))
        log_event(log, LeaderEvent(at, True, "1@task", None))
        log_event(log, FeedEvent("market", "ok", at))  # a status too, but not a job's
        log.info("standby", extra={"event": {"address": "ws://127.0.0.1:8765"}})
    finally:
        log.removeHandler(handler)
    counted = [
        (line["event"].get("status") or line["msg"]) for line in lines if _matches(pattern, line)
    ]
    assert counted == ["ok", "error", "skipped"]
