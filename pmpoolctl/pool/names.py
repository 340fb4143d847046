"""Pool node names: which a look-up (`--pool`) accepts, which `create` may write, and why not.

A look-up is exact: `NAME` is the node called `NAME`, `NAME@UNIT` the node called that (a pool
with a unit address breaks the binding, but `--all-pools` lists it and it must be checkable).
A new pool has no unit address, a name of at most 31 characters, and is none of the root
nodes the devicetree specification gives another meaning.
"""

from __future__ import annotations

from pmpoolctl.errors import PoolNameError
from pmpoolctl.files.inputs import display_name

NODE_NAME_MAX = 31  # the devicetree specification's limit on a node name (the part before `@`)
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789,._+-")

# Root nodes the devicetree specification (and Linux) read for something else: a pool by one of
# these names is that node to every reader, and `--pool chosen` asks for a node that is no pool.
SPECIFIED_NODES = {
    "chosen": "the boot arguments",
    "aliases": "aliases",
    "memory": "memory ranges",
    "reserved-memory": "reserved memory regions",
    "cpus": "the CPUs",
    "__symbols__": "overlay symbols",
    "__fixups__": "overlay fixups",
    "__local_fixups__": "overlay fixups",
}


def _shown(name: str) -> str:
    return display_name(name) if name != "-" else name


def name_problem(name: str, *, new: bool) -> str | None:
    """Why `name` cannot name a pool node (`new`: one that `create` writes), or None when it can."""
    shown = _shown(name)
    base, at, unit = name.partition("@")
    if not base:
        return "a pool node's name cannot be empty" if not name else f"'{shown}' has no name before its unit address"
    bad = sorted({c for c in name if c not in _NAME_CHARS and c != "@"}, key=name.index)
    if bad:
        listed = "".join(_shown(c) for c in bad)
        return f"'{shown}' holds '{listed}', which a node name cannot (letters, digits and ,._+- only)"
    if len(base) > NODE_NAME_MAX:
        return (
            f"'{_shown(base)}' is {len(base)} characters long; a node name is at most {NODE_NAME_MAX} "
            "(the devicetree specification's limit, which dtc and dt-schema hold names to)"
        )
    if base in SPECIFIED_NODES:
        return f"/{shown} is the devicetree specification's node for {SPECIFIED_NODES[base]}, not a pool node"
    if at and (new or not unit or "@" in unit):
        if new:
            return f"'{shown}' has a unit address (@{_shown(unit)}): the binding forbids one on a pool node"
        return f"'{shown}' is not a node name (one '@', then a unit address)"
    return None


def checked_name(text: str, *, new: bool = False) -> str:
    """The node name in `text` (`NAME`, or `/NAME` as `dump` prints a pool's path); PoolNameError
    when no pool node can have it."""
    if not isinstance(text, str):
        raise PoolNameError(f"a pool name is text, not {type(text).__name__}")
    name = text[1:] if text.startswith("/") else text
    if "/" in name or not name:
        raise PoolNameError(f"'{_shown(text)}' is not a node name or /NAME (a pool node is a named child of the root)")
    problem = name_problem(name, new=new)
    if problem is not None:
        raise PoolNameError(problem)
    return name
