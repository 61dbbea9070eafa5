"""A small evaluator of the GitLab pipeline rules our templates use, to know which jobs a
real GitLab puts in each kind of pipeline (gitlab-ci-local does not model all of it).

What it models, from GitLab's documentation of `workflow:rules`, `rules` and CI/CD
variable expressions: the first matching rule decides (`when: never` excludes, no match
excludes); a job without `rules`/`only`/`except` joins branch and tag pipelines but not
merge request pipelines (the default `only: [branches, tags]`); `$VAR` is true when set
and not empty; `==`/`!=` compare strings (`null` for unset), `=~`/`!~` match `/regex/`;
`&&` binds tighter than `||`; parentheses group. `needs` must name jobs of the same
pipeline unless `optional: true`. Component inputs are interpolated as GitLab does, after
the YAML is parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Variables = Mapping[str, str]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<and>&&) | (?P<or>\|\|) | (?P<op>==|!=|=~|!~) | (?P<open>\() | (?P<close>\)) |
        (?P<null>null\b) |
        (?P<var>\$(?:\{\w+\}|\w+)) |
        "(?P<dq>[^"]*)" | '(?P<sq>[^']*)' |
        (?P<regex>/(?:\\.|[^/\\])*/[a-z]*)
    )""",
    re.VERBOSE,
)


def tokens(expression: str) -> list[tuple[str, str]]:
    found, pos = [], 0
    text = expression.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"cannot read rule expression at {text[pos:]!r}: {expression!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        found.append(("str" if kind in ("dq", "sq") else kind, value))
        pos = match.end()
    return found


class _Parser:
    def __init__(self, expression: str, variables: Variables) -> None:
        self.items = tokens(expression)
        self.pos = 0
        self.vars = variables
        self.expression = expression

    def parse(self) -> bool:
        value = self._or()
        if self.pos != len(self.items):
            raise ValueError(f"trailing tokens in {self.expression!r}")
        return bool(value)

    def _peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None

    def _take(self) -> tuple[str, str]:
        item = self.items[self.pos]
        self.pos += 1
        return item

    def _or(self) -> bool:
        value = self._and()
        while self._peek() == "or":
            self._take()
            right = self._and()
            value = value or right
        return value

    def _and(self) -> bool:
        value = self._comparison()
        while self._peek() == "and":
            self._take()
            right = self._comparison()
            value = value and right
        return value

    def _comparison(self) -> bool:
        if self._peek() == "open":
            self._take()
            value = self._or()
            if self._take()[0] != "close":
                raise ValueError(f"unbalanced parentheses in {self.expression!r}")
            return value
        left = self._operand()
        if self._peek() != "op":
            return left[0] == "value" and bool(left[1])
        op = self._take()[1]
        right = self._operand()
        if op in ("=~", "!~"):
            if right[0] != "regex":
                raise ValueError(f"{op} needs a /pattern/ in {self.expression!r}")
            matched = left[1] is not None and _regex(right[1]).search(str(left[1])) is not None
            return matched if op == "=~" else not matched
        equal = left[1] == right[1]
        return equal if op == "==" else not equal

    def _operand(self) -> tuple[str, Any]:
        kind, raw = self._take()
        if kind == "var":
            return ("value", self.vars.get(raw.strip("${}")))
        if kind == "str":
            return ("value", raw)
        if kind == "null":
            return ("value", None)
        if kind == "regex":
            return ("regex", raw)
        raise ValueError(f"unexpected {raw!r} in {self.expression!r}")


def _regex(literal: str) -> re.Pattern[str]:
    body, _, flags = literal[1:].rpartition("/")
    return re.compile(body, re.IGNORECASE if "i" in flags else 0)


def evaluate(expression: str, variables: Variables) -> bool:
    """`rules:if` semantics: `$VAR` alone is true when set and not empty; `== null` when unset."""
    return _Parser(expression, variables).parse()


# --- pipelines -----------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    name: str
    when: str
    needs: tuple[tuple[str, bool], ...]  # (job, optional)


def load_template(path: Path, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A plain template, or a component (header + body) with its inputs interpolated."""
    documents = list(yaml.safe_load_all(path.read_text()))
    if len(documents) == 1:
        config = documents[0]
        assert isinstance(config, dict)
        return config
    header, body = documents
    specs = header["spec"]["inputs"]
    values = {name: spec.get("default") for name, spec in specs.items()}
    values.update(inputs or {})
    missing = [name for name, value in values.items() if value is None]
    assert not missing, f"inputs without a value: {missing}"

    def interpolate(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in specs, f"unknown input {name}"
        value = values[name]
        if isinstance(value, bool):
            return "true" if value else "false"
        return json.dumps(str(value))[1:-1]

    text = re.sub(r"\$\[\[\s*inputs\.([\w-]+)\s*\]\]", interpolate, json.dumps(body))
    rendered = json.loads(text)
    assert isinstance(rendered, dict)
    return rendered


def merged_job(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A job with its `extends` chain merged the way GitLab does (hashes deep-merged)."""
    body = dict(config[name])
    parents = body.pop("extends", [])
    result: dict[str, Any] = {}
    for parent in [parents] if isinstance(parents, str) else parents:
        result = _deep_merge(result, merged_job(config, parent))
    return _deep_merge(result, body)


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


_GLOBAL_KEYS = {
    "stages",
    "variables",
    "workflow",
    "include",
    "default",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "spec",
}


def job_names(config: Mapping[str, Any]) -> Iterator[str]:
    for name, value in config.items():
        if name not in _GLOBAL_KEYS and not name.startswith(".") and isinstance(value, dict):
            yield name


def _first_rule(rules: list[dict[str, Any]], variables: Variables) -> dict[str, Any] | None:
    for rule in rules:
        if "if" not in rule or evaluate(str(rule["if"]), variables):
            return rule
    return None


def pipeline(config: Mapping[str, Any], predefined: Variables) -> dict[str, Job] | None:
    """The jobs GitLab creates for these predefined variables, or None: no pipeline."""
    variables = {**{k: str(v) for k, v in (config.get("variables") or {}).items()}, **predefined}
    workflow = (config.get("workflow") or {}).get("rules")
    if workflow is not None:
        rule = _first_rule(workflow, variables)
        if rule is None or rule.get("when") == "never":
            return None
    jobs: dict[str, Job] = {}
    for name in job_names(config):
        body = merged_job(config, name)
        when = _job_when(body, {**variables, **_job_variables(body), **predefined})
        if when is not None:
            jobs[name] = Job(name, when, tuple(_needs(body)))
    return jobs


def _job_variables(body: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (body.get("variables") or {}).items()}


def _job_when(body: Mapping[str, Any], variables: Variables) -> str | None:
    if "rules" not in body:
        if "only" in body or "except" in body:
            raise ValueError("only/except are not modelled")
        if variables.get("CI_PIPELINE_SOURCE") == "merge_request_event":
            return None  # the default `only: [branches, tags]`
        return str(body.get("when", "on_success"))
    rule = _first_rule(list(body["rules"]), variables)
    if rule is None:
        return None
    when = str(rule.get("when", body.get("when", "on_success")))
    return None if when == "never" else when


def _needs(body: Mapping[str, Any]) -> Iterator[tuple[str, bool]]:
    for need in body.get("needs") or ():
        if isinstance(need, str):
            yield need, False
        else:
            yield str(need["job"]), bool(need.get("optional", False))


def broken_needs(jobs: Mapping[str, Job]) -> list[str]:
    """`job needs other` for every need GitLab would reject in this pipeline."""
    return [
        f"{job.name} needs {other}"
        for job in jobs.values()
        for other, optional in job.needs
        if other not in jobs and not optional
    ]
