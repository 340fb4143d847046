"""A pool inside a blob: finding it, decoding it, and the blob with new ranges."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from pmpoolctl.buffers import Buffer
from pmpoolctl.check.findings import Finding
from pmpoolctl.check.rules import finding
from pmpoolctl.dtb.format import shown
from pmpoolctl.dtb.model import Blob, Node
from pmpoolctl.dtb.writer import Pieces, append_child, replace_node, replace_value
from pmpoolctl.errors import InputError
from pmpoolctl.pool.binding import (
    COMPATIBLE,
    DEFAULT_POOL,
    PROP_COMPATIBLE,
    PROP_PAGE_RANGES,
    Pool,
    claims_pool_compatible,
    decode_pool,
    encoded_pool_properties,
    pool_properties,
)
from pmpoolctl.ranges.rangearray import range_array_of
from pmpoolctl.ranges.rangeset import Range


def pool_node(blob: Blob, name: str) -> Node | None:
    """The root's child called exactly `name` (`name@unit` only when `name` says so), or None.

    Exact, not as libfdt finds `/name` (which takes a `name@unit` before `name`): the pool
    checked is the node named, and `libfdt_twin` says when a libfdt reader gets another.
    """
    nodes = blob.nodes
    for index in blob.root.children:
        if nodes[index].name == name:
            return nodes[index]
    return None


def libfdt_twin(blob: Blob, name: str) -> Node | None:
    """The `name@unit` that a reader looking up `/name` with libfdt (fdt_path_offset: fdtget, the
    kernel's early FDT code) gets instead of the node called `name`: the first in node order, when
    it comes before `name` or there is no `name`. None when such a reader gets `name` itself."""
    found = blob.child(blob.root, name)
    return None if found is None or found.name == name else found


def _twin_finding(blob: Blob, name: str) -> Finding | None:
    twin = libfdt_twin(blob, name)
    if twin is None:
        return None
    return finding(
        "binding-invalid",
        f"{blob.path(twin)} comes before /{name}: a reader that looks up /{name} with libfdt "
        "(fdtget, the kernel's early FDT code) reads that node, not this pool",
    )


def nested_pools(blob: Blob) -> list[Node]:
    """The nodes below the root's children whose compatible list names "pmpool-v1", in node order.

    A reader that finds pools by compatible looks through the whole tree (libfdt's
    fdt_node_offset_by_compatible, the kernel's of_find_compatible_node), and takes each of them
    for a pool, maybe before the pool checked; nothing checks them, as a pool is a child of the root.
    Found as `_compatible_children` finds pools: each place that holds the string lies in the
    tokens of the last node that begins before it (properties come before subnodes).
    """
    nodes = blob.nodes
    places = _places_of_compatible(blob, len(nodes))
    if places is None:  # more places than nodes: node by node is never slower
        return [node for node in nodes if node.depth > 1 and _is_compatible(blob, node)]
    found: dict[int, Node] = {}
    for place in places:
        at = bisect_right(nodes, place, key=lambda node: node.begin) - 1
        if at not in found and nodes[at].depth > 1 and _is_compatible(blob, nodes[at]):
            found[at] = nodes[at]
    return [found[at] for at in sorted(found)]


NESTED_SHOWN = 3  # nested pools a finding names; the rest are counted


def _nested_finding(blob: Blob) -> Finding | None:
    nested = nested_pools(blob)
    if not nested:
        return None
    listed = ", ".join(shown(blob.path(node)) for node in nested[:NESTED_SHOWN])
    if len(nested) > NESTED_SHOWN:
        listed += f" and {len(nested) - NESTED_SHOWN} more"
    them = "it" if len(nested) == 1 else "them"
    return finding(
        "binding-invalid",
        f'{listed}, below a child of the root, {"claims" if len(nested) == 1 else "claim"} compatible "{COMPATIBLE}": '
        "a reader that finds pools by compatible (fdt_node_offset_by_compatible, of_find_compatible_node) "
        f"takes {them} for a pool, and a pool node is a child of the root, so nothing checks {them}",
    )


def pool_names(blob: Blob) -> list[str]:
    """Every pool of the blob, in node order: the root's children whose compatible list names
    "pmpool-v1" (one that names more strings breaks the binding, but a reader that matches by
    compatible takes it for a pool).

    `/default_pmpool` (as libfdt finds it) is one whatever its compatible says (a broken pool is
    still the pool, for its binding-invalid to be reported).
    """
    found = {node.begin: node.name for node in _compatible_children(blob)}
    default = pool_node(blob, DEFAULT_POOL)
    if default is not None:
        found[default.begin] = default.name
    return [found[begin] for begin in sorted(found)]


def pool_names_by_walk(blob: Blob) -> list[str]:
    """`pool_names` as its definition says, node by node: the reference the tests hold it to."""
    default = pool_node(blob, DEFAULT_POOL)
    return [node.name for node in blob.children(blob.root) if node is default or _is_compatible(blob, node)]


def _compatible_children(blob: Blob) -> list[Node]:
    """The root's children whose compatible names the binding's (`claims_pool_compatible`).

    Such a child holds the string's bytes inside its subtree, so they are found with bytes.find
    (a wide tree of 100,000 children is 0.1 s node by node) and each place is traced back to
    the root child it lies in, whose compatible then decides. A blob that holds the bytes more
    often than the root has children is checked node by node: never slower than the definition.
    """
    nodes, children = blob.nodes, blob.root.children
    places = _places_of_compatible(blob, len(children))
    if places is None:
        return [node for node in blob.children(blob.root) if _is_compatible(blob, node)]
    found: dict[int, Node] = {}
    for place in places:
        # The last child that begins before `place` is the only one that can hold it.
        at = bisect_right(children, place, key=lambda index: nodes[index].begin) - 1
        if at >= 0 and children[at] not in found and _is_compatible(blob, nodes[children[at]]):
            found[children[at]] = nodes[children[at]]
    return list(found.values())


def _places_of_compatible(blob: Blob, most: int) -> list[int] | None:
    """Where the binding's compatible string's bytes lie in the structure block; None past `most`
    of them, where reading node by node is never slower than tracing each place to its node."""
    data, end = blob.data, blob.struct_end
    wanted = COMPATIBLE.encode("ascii")
    places: list[int] = []
    place = data.find(wanted, blob.header.off_dt_struct, end)
    while place >= 0:
        if len(places) >= most:
            return None
        places.append(place)
        place = data.find(wanted, place + 1, end)
    return places


def _is_compatible(blob: Blob, node: Node) -> bool:
    compatible = node.property(PROP_COMPATIBLE)
    return compatible is not None and claims_pool_compatible(blob.value(compatible))


def missing_pool_message(blob: Blob, name: str) -> str:
    """`no pool node /NAME`, and the pools the blob has instead, for --pool to name."""
    message = f"{blob.source}: no pool node /{name}"
    twin = libfdt_twin(blob, name)
    if twin is not None:  # not the pool (it breaks the binding), but a libfdt reader takes it for it
        message += (
            f"; it has {blob.path(twin)}, which a reader that looks up /{name} with libfdt takes for it, "
            f"and a pool node must not have a unit address (--pool {blob.path(twin)} checks it)"
        )
        return message
    others = [n for n in pool_names(blob) if n != name]
    if not others:
        return message
    listed = ", ".join(f"/{n}" for n in others)
    return f"{message}; it has {listed} (--pool /{others[0]})"


def has_pool(blob: Blob, name: str) -> bool:
    """Whether the blob has the pool node `/name`, without decoding it (`dump --dts` needs no more)."""
    return pool_node(blob, name) is not None


def read_pool(blob: Blob, name: str, like: Pool | None = None) -> Pool | None:
    """The pool `/name` decoded, or None; `like` (another version of it) only speeds the check up."""
    node = pool_node(blob, name)
    if node is None:
        return None
    # page-ranges is read in place (it can be 16 MB); the other properties are copied, small.
    properties: list[tuple[str, Buffer]] = [
        (prop.name, blob.view(prop) if prop.name == PROP_PAGE_RANGES else blob.value(prop)) for prop in node.properties
    ]
    pool = decode_pool(name, properties, like)
    found = [f for f in (_twin_finding(blob, name), _nested_finding(blob)) if f is not None]
    pool.problems[:0] = found
    return pool


def require_pool(blob: Blob, name: str) -> Pool:
    pool = read_pool(blob, name)
    if pool is None:
        raise InputError(missing_pool_message(blob, name))
    return pool


def with_ranges(blob: Blob, pool: Pool, ranges: Sequence[Range]) -> bytes:
    """The blob's bytes with the existing pool's ranges replaced by `ranges`."""
    return with_encoded_ranges(blob, pool, range_array_of(ranges).be_parts())


def with_encoded_ranges(blob: Blob, pool: Pool, pairs: Sequence[Buffer]) -> bytes:
    """`with_ranges` for ranges given as their big-endian pairs in pieces (`RangeArray.be_parts`):
    an edit can let the ranges' arrays go before the new blob is built.

    Only page-ranges' value is rewritten: every other byte of the node stays, a `name` property
    too (old trees have one; the tree as read leaves it out, as dtc does)."""
    node = pool_node(blob, pool.name)
    assert node is not None, "pool decoded from this blob"
    stored = node.property(PROP_PAGE_RANGES)
    if stored is None:  # an edit refuses such a pool (binding-invalid); the node is written whole
        return replace_node(blob, node, encoded_pool_properties(pool, pairs, pool.page_size))
    return replace_value(blob, stored, pairs[0] if len(pairs) == 1 else Pieces(pairs))


def with_new_pool(blob: Blob, name: str, ranges: Sequence[Range], page_size: int) -> bytes:
    """The blob's bytes with a new pool node as the root's last child."""
    existing = pool_node(blob, name) or blob.child(blob.root, name)
    if existing is not None:
        where = f"{blob.source}: already has"
        if existing.name != name:  # a libfdt reader of /name would read it, never the new pool after it
            raise InputError(
                f"{where} {blob.path(existing)}, which a reader that looks up /{name} with libfdt "
                f"takes for /{name}: a new /{name} after it would not be read"
            )
        if existing.name == DEFAULT_POOL or _is_compatible(blob, existing):
            raise InputError(f"{where} a pool node /{name}")
        raise InputError(f'{where} a node /{name} (not a pool: its compatible is not "{COMPATIBLE}")')
    return append_child(blob, blob.root, name, pool_properties(None, ranges, page_size))
