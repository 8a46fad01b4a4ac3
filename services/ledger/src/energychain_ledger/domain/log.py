"""How one batch lands in the verifiable log: leaves on the channel trees, the channels' new
heads on the log of heads, and the checkpoint that covers them (docs/LEDGER.md). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from energychain_ledger.domain.appends import Append, Posting, postings_for
from energychain_shared.tlog.heads import head_leaf_data
from energychain_shared.tlog.merkle import Frontier, leaf_hash

HEADS_TREE = 0  # tree id of the log of heads; channel trees are numbered from 1
STORED_LEVEL_STEP = 4  # subtrees of height 4, 8, 12, ... are stored


def stored_level(level: int) -> bool:
    """True for the heights whose perfect subtrees the ledger stores."""
    return level % STORED_LEVEL_STEP == 0


@dataclass(slots=True)
class ChannelTree:
    """A channel's tree as far as appending needs it: its ids and its compact range."""

    channel: str
    tree_id: int
    blinded_id: bytes
    frontier: Frontier

    def copy(self) -> ChannelTree:
        """An independent copy (a batch works on copies until it has committed)."""
        return ChannelTree(self.channel, self.tree_id, self.blinded_id, self.frontier.copy())


class EntryRow(NamedTuple):
    """One leaf of one channel tree, its fields in the order the entries table stores them."""

    tree_id: int
    seq: int
    entry_id: str
    kind: str
    event_time: datetime
    record_time: datetime
    entry: bytes
    leaf: bytes
    signature: str


@dataclass(frozen=True, slots=True)
class HeadRow:
    """One leaf of the log of heads: a channel's size and root after a batch."""

    log_index: int
    tree_id: int
    size: int
    root: bytes


@dataclass(slots=True)
class BatchPlan:
    """What one batch writes, the states it leaves, and what it leaves out."""

    log: Frontier
    entries: list[EntryRow] = field(default_factory=list)
    nodes: list[tuple[int, int, int, bytes]] = field(default_factory=list)  # tree id, level, index, hash
    heads: list[HeadRow] = field(default_factory=list)
    postings: list[Posting] = field(default_factory=list)
    trees: dict[str, ChannelTree] = field(default_factory=dict)
    appended: list[Append] = field(default_factory=list)
    duplicates: list[Append] = field(default_factory=list)
    conflicts: list[tuple[Append, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the batch appends anything (and so needs a checkpoint)."""
        return bool(self.appended)


def plan_batch(
    appends: Sequence[Append], *, trees: Mapping[str, ChannelTree], log: Frontier, existing: Mapping[str, bytes],
    record_time: datetime,
) -> BatchPlan:
    """Place new appends as leaves of their channels' trees, then append every changed head to the log.

    ``trees`` holds the current tree of every channel the appends name (left untouched: the
    plan works on copies), ``log`` the log of heads' compact range, ``existing`` the stored
    entry bytes of any of their entry ids. An entry named again with the same bytes changes
    nothing; with other bytes it is a conflict and never overwrites. ``record_time`` is when the
    batch is recorded.
    """
    plan = BatchPlan(log=log.copy())
    seen = dict(existing)
    working: dict[str, ChannelTree] = {}
    entries, nodes, postings, appended = plan.entries, plan.nodes, plan.postings, plan.appended
    for append in appends:
        known = seen.get(append.entry_id)
        if known is not None:
            if known == append.entry:
                plan.duplicates.append(append)
            else:
                plan.conflicts.append((append, f"entry {append.entry_id} already exists with a different body"))
            continue
        seen[append.entry_id] = append.entry
        leaf = leaf_hash(append.entry)
        for channel in append.channels:
            tree = working.get(channel)
            if tree is None:
                tree = working[channel] = trees[channel].copy()
            completed = tree.frontier.append(leaf)
            entries.append(EntryRow(
                tree.tree_id, tree.frontier.size, append.entry_id, append.kind, append.event_time, record_time,
                append.entry, leaf, append.signature,
            ))
            for level, index, digest in completed:
                if level % STORED_LEVEL_STEP == 0:
                    nodes.append((tree.tree_id, level, index, digest))
        if append.transfers:
            postings.extend(postings_for(entry_id=append.entry_id, event_time=append.event_time,
                                         transfers=append.transfers))
        appended.append(append)
    # Heads in tree-id order: the same batch always gives the same log.
    for tree in sorted(working.values(), key=lambda t: t.tree_id):
        root = tree.frontier.root()
        index = plan.log.size
        for level, node_index, digest in plan.log.append(leaf_hash(head_leaf_data(tree.blinded_id,
                                                                                  tree.frontier.size, root))):
            if stored_level(level):
                plan.nodes.append((HEADS_TREE, level, node_index, digest))
        plan.heads.append(HeadRow(index, tree.tree_id, tree.frontier.size, root))
    plan.trees = working
    return plan
