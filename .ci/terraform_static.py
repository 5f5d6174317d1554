"""Offline checks of k8s/terraform that need no provider plugins.

    python .ci/terraform_static.py k8s/terraform

`terraform validate` and `terraform test` need the providers' plugins, which only the
GitHub workflow can download. Here every .tf and .tftest.hcl file is parsed (python-hcl2)
and what validate would catch first is checked on the parse:

- every variable has a type and a description; every output a description;
- every var.X, local.X, module.X and resource reference resolves in its module;
- every provider in required_providers has a source and a version constraint;
- a module block's arguments are variables of the module it calls, and it sets every
  variable that has no default;
- in the tests: the variables they set, the outputs they read, the resources they assert
  on and the checkable objects in expect_failures exist in the module.

Prints each problem and exits 1 if there is one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import hcl2

META_ARGUMENTS = {"source", "version", "providers", "count", "for_each", "depends_on"}
REF = re.compile(r"(?<![\w.\"-])(var|local|module|output)\.([A-Za-z_][\w-]*)")
RESOURCE_REF = re.compile(r"(?<![\w.\"-])((?:helm|kubernetes)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")


def unquote(name: str) -> str:
    return name.strip('"')


def expressions(value: Any) -> list[str]:
    """Every ${...} expression string inside a parsed value."""
    found: list[str] = []
    if isinstance(value, str):
        if "${" in value:
            found.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != "__comments__":
                found.extend(expressions(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(expressions(item))
    return found


class Module:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = {path: hcl2.load(path.open()) for path in sorted(directory.glob("*.tf"))}
        self.variables: dict[str, dict[str, Any]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.locals: set[str] = set()
        self.resources: set[tuple[str, str]] = set()
        self.modules: dict[str, dict[str, Any]] = {}
        self.providers: dict[str, Any] = {}
        for parsed in self.files.values():
            self.collect(parsed)

    def collect(self, parsed: dict[str, Any]) -> None:
        for block in parsed.get("variable", []):
            self.variables.update({unquote(name): body for name, body in block.items()})
        for block in parsed.get("output", []):
            self.outputs.update({unquote(name): body for name, body in block.items()})
        for block in parsed.get("locals", []):
            self.locals.update(key for key in block if not key.startswith("__"))
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                self.resources.update((unquote(rtype), unquote(name)) for name in named)
        for block in parsed.get("module", []):
            self.modules.update({unquote(name): body for name, body in block.items()})
        for block in parsed.get("terraform", []):
            for required in block.get("required_providers", []):
                self.providers.update({k: v for k, v in required.items() if not k.startswith("__")})

    def check(self, problems: list[str]) -> None:
        where = self.directory
        if not self.files:
            problems.append(f"{where}: no .tf file")
        for name, body in self.variables.items():
            problems.extend(
                f"{where}: variable {name!r} has no {attribute}"
                for attribute in ("type", "description")
                if attribute not in body
            )
        problems.extend(
            f"{where}: output {name!r} has no description"
            for name, body in self.outputs.items()
            if "description" not in body
        )
        problems.extend(
            f"{where}: required provider {name!r} needs a source and a version"
            for name, spec in self.providers.items()
            if not isinstance(spec, dict) or "source" not in spec or "version" not in spec
        )
        for path, parsed in self.files.items():
            for expression in expressions(parsed):
                self.check_references(f"{path}", expression, problems)
        for name, body in self.modules.items():
            self.check_module_call(name, body, problems)

    def check_module_call(self, name: str, body: dict[str, Any], problems: list[str]) -> None:
        """A local module's arguments against the variables it declares."""
        source = unquote(str(body.get("source", "")))
        if not source.startswith("."):
            return
        where = self.directory
        called = Module((self.directory / source).resolve())
        arguments = {key for key in body if not key.startswith("__")} - META_ARGUMENTS
        problems.extend(
            f"{where}: module {name!r} sets {argument!r}, which {source} does not declare"
            for argument in sorted(arguments - set(called.variables))
        )
        problems.extend(
            f"{where}: module {name!r} does not set the required variable {variable!r}"
            for variable, declared in called.variables.items()
            if "default" not in declared and variable not in arguments
        )

    def check_references(self, label: str, expression: str, problems: list[str]) -> None:
        known = {"var": set(self.variables), "local": self.locals, "module": set(self.modules)}
        for kind, name in REF.findall(expression):
            if kind in known and name not in known[kind]:
                problems.append(f"{label}: {kind}.{name} is not declared")
        for rtype, name in RESOURCE_REF.findall(expression):
            if (rtype, name) not in self.resources:
                problems.append(f"{label}: {rtype}.{name} is not declared")


def check_run(module: Module, label: str, body: dict[str, Any], problems: list[str]) -> None:
    """One run block: what it reads must exist in the module."""
    for expression in expressions(body):
        for kind, ref in REF.findall(expression):
            if kind == "output" and ref not in module.outputs:
                problems.append(f"{label}: output.{ref} is not an output of the module")
            if kind == "var" and ref not in module.variables:
                problems.append(f"{label}: var.{ref} is not a variable of the module")
        problems.extend(
            f"{label}: {rtype}.{ref} is not a resource of the module"
            for rtype, ref in RESOURCE_REF.findall(expression)
            if (rtype, ref) not in module.resources
        )
    if "assert" not in body and "expect_failures" not in body:
        problems.append(f"{label}: neither assert nor expect_failures")


def check_tests(module: Module, problems: list[str]) -> None:
    tests = sorted((module.directory / "tests").glob("*.tftest.hcl"))
    if not tests:
        problems.append(f"{module.directory}: no tests/*.tftest.hcl")
    for path in tests:
        parsed = hcl2.load(path.open())
        set_variables: set[str] = set()
        for block in parsed.get("variables", []):
            set_variables.update(key for key in block if not key.startswith("__"))
        runs = [(unquote(name), body) for block in parsed.get("run", []) for name, body in block.items()]
        if not runs:
            problems.append(f"{path}: no run block")
        for name, body in runs:
            for block in body.get("variables", []):
                set_variables.update(key for key in block if not key.startswith("__"))
            check_run(module, f"{path}, run {name!r}", body, problems)
        problems.extend(
            f"{path}: sets {variable!r}, which the module does not declare"
            for variable in sorted(set_variables - set(module.variables))
        )


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[1]).resolve()
    problems: list[str] = []
    module = Module(root)
    module.check(problems)
    check_tests(module, problems)
    examples = sorted(p for p in (root / "examples").iterdir() if p.is_dir())
    if not examples:
        problems.append(f"{root}: no example under examples/")
    for example in examples:
        Module(example).check(problems)
    for problem in problems:
        print(f"PROBLEM {problem}", file=sys.stderr)
    count = len(list(root.rglob("*.tf"))) + len(list(root.rglob("*.tftest.hcl")))
    print(
        f"parsed {count} files: {len(module.variables)} variables, {len(module.outputs)} outputs, "
        f"{len(module.resources)} resources, {len(examples)} example(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
