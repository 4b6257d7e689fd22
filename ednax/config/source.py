"""The user's config file before composition: checked to exist and parse, and mapped to lines.

Hydra composes the file; this module reads it first only to give good errors (missing
file, empty file, YAML syntax error at file:line) and to know the line of every key, so
that a validation error can point at `iris.yaml:12 model.n_estimators`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ednax.errors import ConfigError, Problem, did_you_mean


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading numbers as Hydra and OmegaConf do: YAML 1.1 wants a
    dot and a signed exponent in a float (`1.0e-3`); researchers write `1e-3` and `3e3`."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+
            |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?)$""",
        re.X,
    ),
    list("-+0123456789."),
)
# ...and dates stay strings, as OmegaConf leaves them.
ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if not tag.endswith(":timestamp")]
    for first, resolvers in ConfigLoader.yaml_implicit_resolvers.items()
}


@dataclass
class SourceFile:
    path: Path
    lines: dict[str, int] = field(default_factory=dict)
    default_groups: set[str] = field(default_factory=set)
    top_keys: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    uses_hydra_resolver: bool = False
    composes_configs: bool = False
    content: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return str(self.path)

    def line_of(self, key_path: str) -> int | None:
        """Line of `key_path`, or of its nearest enclosing key that is in the file."""
        probe = key_path
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = _parent(probe)
        return None


def _parent(path: str) -> str:
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path.rpartition(".")[0]


def read_source(path: str | Path) -> SourceFile:
    file = Path(path).expanduser()
    if not file.exists():
        raise ConfigError(
            Problem(
                f"config file not found: {file}",
                hint=_sibling_hint(file),
            )
        )
    if file.is_dir():
        raise ConfigError(Problem(f"{file} is a directory, not a config file"))
    if file.suffix != ".yaml":
        raise ConfigError(
            Problem(
                f"{file}: config files must end in .yaml (Hydra reads only .yaml)",
                hint=f"rename it to {file.with_suffix('.yaml').name}",
            )
        )
    text = file.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=ConfigLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(file, exc)) from None
    if root is None or (isinstance(root, yaml.MappingNode) and not root.value):
        raise ConfigError(
            Problem(
                "the config is empty",
                file=str(file),
                hint="a config names at least a data section and a model section; "
                "see sample-configs/ for complete examples",
            )
        )
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(
            Problem(
                "the config must be a mapping of sections (data:, model:, ...)",
                file=str(file),
                line=root.start_mark.line + 1,
            )
        )
    source = SourceFile(path=file.resolve())
    _index(root, "", source.lines, str(file))
    source.content = _construct(root)
    source.top_keys = [k.value for k, _ in root.value]
    source.default_groups = _default_groups(root)
    source.composes_configs = _composes_configs(root)
    source.imports = _imports(root)
    source.uses_hydra_resolver = "${hydra:" in text
    return source


def _imports(root: yaml.MappingNode) -> list[str]:
    """The modules of the file's `imports:` list, needed before composition."""
    for key, value in root.value:
        if key.value == "imports" and isinstance(value, yaml.SequenceNode):
            return [str(item.value) for item in value.value if isinstance(item, yaml.ScalarNode)]
    return []


def _yaml_problem(file: Path, exc: yaml.YAMLError) -> Problem:
    # The context mark is where the broken construct starts (the key missing its colon,
    # the opening quote); the problem mark is where the parser gave up, often lines later.
    mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"YAML syntax error: {what}" + (f" ({context})" if context else "")
    return Problem(
        message,
        file=str(file),
        line=mark.line + 1 if mark else None,
        hint="check indentation and that every 'key: value' has a space after the colon",
    )


def _construct(root: yaml.Node) -> dict:
    """The file's content, from the node tree already parsed (the file is read once)."""
    loader = ConfigLoader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _index(node: yaml.Node, prefix: str, lines: dict[str, int], file: str) -> None:
    """Record the line of every key path; a key given twice in one mapping is an error
    (PyYAML would keep the last silently; Hydra refuses it)."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            path = f"{prefix}.{key.value}" if prefix else str(key.value)
            line = key.start_mark.line + 1
            if key.value in seen:
                raise ConfigError(
                    Problem(
                        f"'{key.value}' is given twice (first on line {seen[key.value]})",
                        path=path,
                        file=file,
                        line=line,
                        hint="keep one of them",
                    )
                )
            seen[key.value] = line
            lines[path] = line
            _index(value, path, lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            lines[path] = item.start_mark.line + 1
            _index(item, path, lines, file)


def _default_groups(root: yaml.MappingNode) -> set[str]:
    """Config groups the file's `defaults:` list selects (`- model: rf` -> 'model')."""
    groups: set[str] = set()
    for key, value in root.value:
        if key.value != "defaults" or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            if isinstance(item, yaml.MappingNode):
                for k, _ in item.value:
                    name = str(k.value).lstrip("+~").split("@")[0]
                    if not name.startswith("override "):
                        groups.add(name)
                    else:
                        groups.add(name.removeprefix("override ").strip())
    return groups


def _composes_configs(root: yaml.MappingNode) -> bool:
    """Whether the defaults list brings in any config: anything but `_self_` and choices
    of Hydra's own groups (`override hydra/sweeper: ...`), which shape sweeps, not the
    experiment's content."""
    for key, value in root.value:
        if key.value != "defaults" or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            if isinstance(item, yaml.ScalarNode):
                if item.value != "_self_":
                    return True
            elif isinstance(item, yaml.MappingNode):
                for k, _ in item.value:
                    name = str(k.value).removeprefix("override ").strip().lstrip("+~")
                    if not name.startswith("hydra/"):
                        return True
            else:
                return True
    return False


def _sibling_hint(file: Path) -> str | None:
    folder = file.parent if file.parent.exists() else None
    if folder is None:
        return f"the folder {file.parent} does not exist either"
    names = [p.name for p in folder.glob("*.yaml")]
    return did_you_mean(file.name, names, "config file") or None
