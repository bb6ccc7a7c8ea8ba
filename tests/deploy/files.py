"""Reading the deployment files as data: the Dockerfile's instructions and terraform/'s HCL."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
TERRAFORM = ROOT / "terraform"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, ENV, …
    args: str  # the rest of the instruction, continuation lines joined

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form instruction (CMD ["a", "b"])."""
        value = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} is not in exec form: {self.args}"
        return value


@cache
def dockerfile() -> tuple[Instruction, ...]:
    out: list[Instruction] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments may also sit between continuation lines
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return tuple(out)


def instructions(keyword: str) -> list[Instruction]:
    return [i for i in dockerfile() if i.keyword == keyword]


def the(keyword: str) -> Instruction:
    """The last instruction of this kind: the one that is in force in the final image."""
    found = instructions(keyword)
    assert found, f"the Dockerfile has no {keyword}"
    return found[-1]


def runtime_env() -> dict[str, str]:
    """ENV of the final stage (without expanding $VARIABLES)."""
    stages = [n for n, i in enumerate(dockerfile()) if i.keyword == "FROM"]
    env: dict[str, str] = {}
    for instruction in dockerfile()[stages[-1] :]:
        if instruction.keyword == "ENV":
            for pair in shlex.split(instruction.args):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def healthcheck() -> tuple[dict[str, str], list[str]]:
    """The HEALTHCHECK's options ({"interval": "30s", …}) and its exec-form command."""
    options, sep, command = the("HEALTHCHECK").args.partition("CMD ")
    assert sep, "HEALTHCHECK has no CMD"
    flags = dict(re.findall(r"--([a-z-]+)=(\S+)", options))
    return flags, json.loads(command)


# ---- terraform ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Terraform:
    locals: dict[str, Any]
    resources: dict[str, dict[str, dict[str, Any]]]  # type -> name -> body
    data: dict[str, dict[str, dict[str, Any]]]
    variables: dict[str, dict[str, Any]]
    settings: list[dict[str, Any]]  # terraform { } blocks

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources[kind][name]

    def resolve(self, value: Any) -> Any:
        """Substitute ${local.NAME} and ${local.NAME.KEY} (a whole-value reference keeps the
        local's type)."""
        if not isinstance(value, str):
            return value
        whole = re.fullmatch(r"\$\{local\.([\w.]+)\}", value)
        if whole:
            return self.resolve(self._local(whole.group(1)))
        return re.sub(
            r"\$\{local\.([\w.]+)\}", lambda m: str(self.resolve(self._local(m.group(1)))), value
        )

    def _local(self, path: str) -> Any:
        node: Any = self.locals
        for part in path.split("."):
            node = node[part]
        return node


@cache
def terraform() -> Terraform:
    import hcl2
    from hcl2.utils import SerializationOptions

    options = SerializationOptions(
        with_comments=False, explicit_blocks=False, strip_string_quotes=True
    )
    merged = Terraform({}, {}, {}, {}, [])
    for path in sorted(TERRAFORM.glob("*.tf")):
        with path.open() as fh:
            doc = hcl2.load(fh, serialization_options=options)
        for block in doc.get("locals", []):
            merged.locals.update(block)
        for block in doc.get("variable", []):
            merged.variables.update(block)
        for key, target in (("resource", merged.resources), ("data", merged.data)):
            for block in doc.get(key, []):
                for kind, named in block.items():
                    target.setdefault(kind, {}).update(named)
        merged.settings.extend(doc.get("terraform", []))
    return merged
