"""A registered class's schema: its constructor's parameters, types, defaults and docs.

The schema is read from the source with `ast` when it can be, so that listing the registry
and validating a config import no step module (and so never torch or scikit-learn). When
the source is not plain enough to read (an inherited `__init__`, a default that is not a
literal, a type that names something imported), the class is imported and inspected.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import pathlib
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Param:
    name: str
    annotation: Any = Any
    type_text: str = "Any"
    default: Any = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class Signature:
    params: dict[str, Param] = field(default_factory=dict)
    doc: str = ""

    def without(self, names: typing.Iterable[str]) -> Signature:
        drop = set(names)
        kept = {k: v for k, v in self.params.items() if k not in drop}
        return Signature(kept, self.doc)


class UnreadableSignature(Exception):
    """The source cannot be read statically; fall back to importing the class."""


def _type_namespace() -> dict[str, Any]:
    ns: dict[str, Any] = {name: getattr(typing, name) for name in typing.__all__}
    ns.update({"Path": pathlib.Path, "typing": typing})
    # Value bounds a class may put in its annotations: Annotated[float, Gt(0)].
    import annotated_types

    ns.update({n: getattr(annotated_types, n) for n in ("Gt", "Ge", "Lt", "Le", "Interval")})
    ns.update(
        {
            b: __builtins__[b] if isinstance(__builtins__, dict) else getattr(__builtins__, b)
            for b in (
                "int",
                "float",
                "str",
                "bool",
                "list",
                "dict",
                "tuple",
                "set",
                "bytes",
                "type",
                "object",
            )
        }
    )
    ns["None"] = None
    return ns


_TYPE_NS = _type_namespace()


def read_signature(target: str) -> Signature:
    """Schema of `module:attr`, statically if possible, else by importing it."""
    try:
        return read_signature_statically(target)
    except UnreadableSignature:
        return signature_of(load_target(target))


def load_target(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def read_signature_statically(target: str) -> Signature:
    module_name, _, attr = target.partition(":")
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError) as exc:
        raise UnreadableSignature(str(exc)) from exc
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise UnreadableSignature(f"no python source for {module_name}")
    tree = ast.parse(pathlib.Path(spec.origin).read_text(encoding="utf-8"))
    namespace = dict(_TYPE_NS)
    aliases = _module_aliases(tree, namespace)
    namespace.update(aliases)
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == attr), None)
    if cls is None:
        raise UnreadableSignature(f"{attr} is not a top-level class of {module_name}")
    init = next(
        (n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None
    )
    doc = ast.get_docstring(cls) or ""
    if init is None:
        if any(ast.unparse(b) != "object" for b in cls.bases):
            raise UnreadableSignature(f"{attr} inherits its constructor")
        return Signature({}, _first_line(doc))
    params = _params_of(init, namespace, _param_docs(doc), set(aliases))
    return Signature(params, _first_line(doc))


def _module_aliases(tree: ast.Module, namespace: dict[str, Any]) -> dict[str, Any]:
    """Module-level `Name = Literal[...]`-style aliases, so annotations may use them."""
    aliases: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if not isinstance(target, ast.Name):
            continue
        try:
            aliases[target.id] = eval(  # typing expressions only, no builtins
                compile(ast.Expression(value), "<alias>", "eval"),
                {"__builtins__": {}},
                {**namespace, **aliases},
            )
        except Exception:
            continue
    return aliases


def _params_of(
    init: ast.FunctionDef, namespace: dict[str, Any], docs: dict[str, str], aliases: set[str]
) -> dict[str, Param]:
    args = init.args
    if args.vararg or args.kwarg:
        raise UnreadableSignature("*args/**kwargs in __init__")
    positional = [*args.posonlyargs, *args.args][1:]
    pos_defaults = [REQUIRED] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, pos_defaults, strict=True))
    pairs += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    params: dict[str, Param] = {}
    for arg, default_node in pairs:
        annotation = _eval_annotation(arg.annotation, namespace)
        text = ast.unparse(arg.annotation) if arg.annotation else "Any"
        if _names_in(arg.annotation) & (aliases | {"Annotated"}):
            text = type_text(annotation)  # what an alias stands for; bounds as > 0
        params[arg.arg] = Param(
            name=arg.arg,
            annotation=annotation,
            type_text=text,
            default=_literal_default(default_node),
            doc=docs.get(arg.arg, ""),
        )
    return params


def _names_in(node: ast.expr | None) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} if node else set()


def _eval_annotation(node: ast.expr | None, namespace: dict[str, Any]) -> Any:
    if node is None:
        return Any
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        node = ast.parse(node.value, mode="eval").body
    try:
        return eval(  # typing expressions only, no builtins
            compile(ast.Expression(node), "<annotation>", "eval"),
            {"__builtins__": {}},
            namespace,
        )
    except Exception as exc:
        raise UnreadableSignature(f"annotation {ast.unparse(node)}: {exc}") from exc


def _literal_default(node: ast.expr | None) -> Any:
    if node is None or node is REQUIRED:
        return REQUIRED
    try:
        value = ast.literal_eval(node)
    except ValueError as exc:
        raise UnreadableSignature(f"default {ast.unparse(node)} is not a literal") from exc
    return list(value) if isinstance(value, tuple) else value


def signature_of(obj: Any) -> Signature:
    """Schema of an imported class (or function), by inspection."""
    init = obj.__init__ if inspect.isclass(obj) else obj
    try:
        hints = typing.get_type_hints(init, include_extras=True)
    except Exception:
        hints = {}
    doc = inspect.getdoc(obj) or ""
    docs = _param_docs(doc)
    params: dict[str, Param] = {}
    for p in list(inspect.signature(obj).parameters.values()):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        annotation = hints.get(p.name, Any)
        default = REQUIRED if p.default is inspect.Parameter.empty else p.default
        if isinstance(default, tuple):
            default = list(default)
        params[p.name] = Param(
            name=p.name,
            annotation=annotation,
            type_text=type_text(annotation),
            default=default,
            doc=docs.get(p.name, ""),
        )
    return Signature(params, _first_line(doc))


def type_text(annotation: Any) -> str:
    if annotation is Any:
        return "Any"
    if annotation is type(None):
        return "None"
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is typing.Annotated:
        base, *bounds = typing.get_args(annotation)
        limits = [_bound_text(b) for b in bounds]
        return f"{type_text(base)} ({', '.join(t for t in limits if t)})"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    return re.sub(r"\btyping\.", "", repr(annotation))


_BOUND_SIGNS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _bound_text(bound: Any) -> str:
    """`Gt(gt=0)` as `> 0`; `Interval(ge=0, lt=1)` as `>= 0, < 1`."""
    parts = [
        f"{sign} {getattr(bound, name)}"
        for name, sign in _BOUND_SIGNS.items()
        if getattr(bound, name, None) is not None
    ]
    return ", ".join(parts)


def _first_line(doc: str) -> str:
    return doc.strip().splitlines()[0].strip() if doc.strip() else ""


_PARAM_LINE = re.compile(r"^(\w+)\s*(?::.*)?$")


def _param_docs(doc: str) -> dict[str, str]:
    """The description of each parameter in a numpydoc `Parameters` section, its lines
    joined."""
    lines = doc.splitlines()
    try:
        start = next(
            i
            for i, line in enumerate(lines[:-1])
            if line.strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"}
        )
    except StopIteration:
        return {}
    docs: dict[str, str] = {}
    current = None
    for line in lines[start + 2 :]:
        if not line.strip():
            continue
        if not line.startswith((" ", "\t")):
            match = _PARAM_LINE.match(line.strip())
            if not match:
                break
            current = match.group(1)
            docs[current] = ""
        elif current:
            docs[current] = f"{docs[current]} {line.strip()}".lstrip()
    return docs
