"""The user's config file before composition: checked to exist and parse, and mapped to lines.

Hydra composes the file; this module reads it first to give good errors (missing file,
empty file, YAML syntax error at file:line), to know the line of every key, so that a
validation error can point at `iris.yaml:12 model.n_estimators`, and to refuse what no
config may do before Hydra ever sees the file:

- YAML aliases are bounded. `*name` repeats everything under `&name`, so aliases of aliases
  multiply: a few hundred bytes ("billion laughs") would expand to billions of values in
  OmegaConf. Composing counts what every alias copies (`MAX_ALIAS_VALUES` in all) and how
  deep the nesting goes (`MAX_DEPTH`); a file beyond either is an error at the alias's line.
  The same bound applies to the config-group files ednax reads (`read_yaml`).
- The `hydra:` section may not name code for Hydra to call (`config/trust.py`).
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ednax.config.trust import file_problems
from ednax.errors import ConfigError, Problem, did_you_mean

# What the aliases of one file may copy in all (values: scalars, lists and mappings), and
# how deep its lists and mappings may nest. A config with a few anchors copies tens.
MAX_ALIAS_VALUES = 1_000
MAX_DEPTH = 100
ALIAS_HINT = (
    "an alias (*name) repeats everything under its anchor (&name), so aliases of aliases "
    "multiply; write the values out, or alias smaller parts"
)


class _Unbounded(Exception):
    """A file beyond the bounds, at `mark`: turned into a located Problem by the caller."""

    def __init__(self, message: str, mark: yaml.Mark, hint: str):
        super().__init__(message)
        self.message, self.mark, self.hint = message, mark, hint


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, reading numbers as Hydra and OmegaConf do: YAML 1.1 wants a
    dot and a signed exponent in a float (`1.0e-3`); researchers write `1e-3` and `3e3`.

    Composing bounds aliases and nesting (see the module's docstring): every node's size
    with its aliases expanded is known when it is complete, and each alias adds its
    anchor's size to what the file's aliases copy."""

    def __init__(self, stream):
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> values under it, aliases expanded
        self._copied = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            anchored = self.anchors.get(event.anchor)
            if anchored is not None and id(anchored) not in self._sizes:
                raise _Unbounded(
                    f"the alias *{event.anchor} is inside its own anchor &{event.anchor} "
                    "(a structure that contains itself)",
                    event.start_mark,
                    "an alias may only repeat an anchor that is complete before it",
                )
            node = super().compose_node(parent, index)
            self._copied += self._sizes[id(node)]
            if self._copied > MAX_ALIAS_VALUES:
                raise _Unbounded(
                    f"the YAML aliases expand to more than {MAX_ALIAS_VALUES:,} values "
                    f"(by the alias *{event.anchor} here)",
                    event.start_mark,
                    ALIAS_HINT,
                )
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Unbounded(
                f"lists and mappings nest more than {MAX_DEPTH} levels deep",
                self.peek_event().start_mark,
                "a config nests a few levels (section, parameter, value)",
            )
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._sizes[id(node)] = 1 + sum(self._sizes[id(child)] for child in _children(node))
        return node


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


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
    chosen_configs: list[str] = field(default_factory=list)
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

    def problem(self, message: str, path: str, hint: str | None = None) -> Problem:
        """A Problem at `path` of this file, with its line."""
        return Problem(message, path=path, file=self.name, line=self.line_of(path), hint=hint)


def command_line_problem(message: str, path: str, text: str, hint: str | None = None) -> Problem:
    """A Problem at `path`, set by the command-line override `text`."""
    origin = f"(set on the command line by '{text}')"
    return Problem(message, path=path, hint=f"{origin}; {hint}" if hint else origin)


def _parent(path: str) -> str:
    if path.endswith("]"):
        return path[: path.rindex("[")]
    return path.rpartition(".")[0]


def _config_file(file: Path) -> Path:
    """`file`, if it can be a config: it exists, is a file, and ends in .yaml."""
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
    return file


def read_source(path: str | Path) -> SourceFile:
    """The config file read and checked. A sweep composes one file for every trial: the
    file is parsed once per content (`_parsed`), and each caller gets its own copy."""
    file = _config_file(Path(path).expanduser())
    return copy.deepcopy(_parsed(file, file.read_text(encoding="utf-8")))


@functools.lru_cache(maxsize=8)
def _parsed(file: Path, text: str) -> SourceFile:
    root = _compose_bounded(text, file)
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
    source.chosen_configs = defaults_choices(root)
    source.imports = _imports(root)
    source.uses_hydra_resolver = "${hydra:" in text
    problems = [
        source.problem(message, path, hint)
        for path, message, hint in file_problems(source.content.get("hydra"))
    ]
    if problems:
        raise ConfigError(problems)
    return source


def read_yaml(path: Path) -> yaml.Node | None:
    """A YAML file ednax reads besides the config (a config-group option), checked to parse
    within the bounds of the config itself; its node tree."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(Problem(f"cannot read {path}: {exc}", file=str(path))) from None
    return _compose_bounded(text, Path(path))


def _compose_bounded(text: str, file: Path) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=ConfigLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(_yaml_problem(file, exc)) from None
    except _Unbounded as exc:
        raise ConfigError(
            Problem(exc.message, file=str(file), line=exc.mark.line + 1, hint=exc.hint)
        ) from None


def _imports(root: yaml.MappingNode) -> list[str]:
    """The modules of the file's `imports:` list, needed before composition."""
    for key, value in root.value:
        if key.value == "imports" and isinstance(value, yaml.SequenceNode):
            return [str(item.value) for item in value.value if isinstance(item, yaml.ScalarNode)]
    return []


def _yaml_problem(file: Path, exc: yaml.YAMLError) -> Problem:
    # The context mark is where the broken construct starts (the key missing its colon,
    # the opening quote); the problem mark is where the parser gave up, often lines later.
    # A block (indentation) error is the exception: its context is the whole mapping or
    # list the line breaks, often the file's first line, and the problem mark is the
    # offending line itself.
    context_mark = getattr(exc, "context_mark", None)
    problem_mark = getattr(exc, "problem_mark", None)
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    if context and context.startswith("while parsing a block") and problem_mark:
        return Problem(
            f"YAML indentation error: this line is not aligned with the keys (or list items) "
            f"above it ({what})",
            file=str(file),
            line=problem_mark.line + 1,
            hint="indent it by as many spaces as the other entries of its section "
            "(spaces, not tabs)",
        )
    mark = context_mark or problem_mark
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


def defaults_choices(root: yaml.Node | None, group: str = "") -> list[str]:
    """The configs a file's defaults list selects, as paths from the config folder without
    `.yaml` (`model/forest_small`); `group` is the file's own group (its folder), against
    which Hydra reads relative entries. `_self_`, unset and interpolated choices are left out."""
    if not isinstance(root, yaml.MappingNode):
        return []
    chosen: list[str] = []
    for key, value in root.value:
        if key.value != "defaults" or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            if isinstance(item, yaml.ScalarNode):
                chosen += _choice(group, "", item)
            elif isinstance(item, yaml.MappingNode):
                for k, v in item.value:
                    name = str(k.value).removeprefix("override ").removeprefix("optional ")
                    name = name.strip().lstrip("+~").split("@")[0]
                    options = v.value if isinstance(v, yaml.SequenceNode) else [v]
                    for option in options:
                        chosen += _choice(group, name, option)
    return chosen


def _choice(group: str, name: str, option: yaml.Node) -> list[str]:
    if not isinstance(option, yaml.ScalarNode) or option.tag.endswith(":null"):
        return []
    value = str(option.value)
    if value in ("", "_self_", "???") or "${" in value:
        return []
    if not name:  # `- other` (beside this file) or `- /other`: a config, not a choice
        return [value[1:]] if value.startswith("/") else [_joined(group, value)]
    base = name[1:] if name.startswith("/") else _joined(group, name)
    return [_joined(base, value)]


def _joined(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p)


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
