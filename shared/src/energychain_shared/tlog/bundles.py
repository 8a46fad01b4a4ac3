"""Checking what the ledger proves, as any member does it: entries -> channel head -> log of heads -> checkpoint.

The shape of ``GET /channels/{c}/proofs`` is in docs/LEDGER.md. The CLI uses this; the resident
portal does the same in TypeScript (web/app/src/lib/tlog.ts).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from energychain_shared.tlog import merkle, note as notes
from energychain_shared.tlog.heads import blinded_channel_id, head_leaf_data


@dataclass(slots=True)
class BundleReport:
    """Which entries verified against which checkpoint, cosigned by whom, and what failed."""

    checkpoint: int | None = None
    cosigned_by: list[str] = field(default_factory=list)
    verified: list[int] = field(default_factory=list)
    pending: list[int] = field(default_factory=list)
    failures: dict[int | str, str] = field(default_factory=dict)  # seq, or "checkpoint" / "head"

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def verify_bundle(
    bundle: Mapping[str, Any], *, channel: str, salt: bytes, ledger_vkey: str, witness_vkeys: Mapping[str, str],
) -> BundleReport:
    """Verify a proofs bundle with keys the verifier holds; the channel and salt are the verifier's own."""
    report = BundleReport(pending=list(bundle.get("pending", [])))
    origin, _, ledger_key = notes.parse_verifier_key(ledger_vkey)
    served = bundle["checkpoint"]
    try:
        parsed = notes.parse_note(served["note"])
        checkpoint = notes.parse_checkpoint(parsed.body)
    except notes.NoteError as error:
        report.failures["checkpoint"] = f"not a checkpoint note: {error}"
        return report
    report.checkpoint = checkpoint.size
    if checkpoint.origin != origin or not notes.verify_signature(parsed, name=origin, public_key=ledger_key):
        report.failures["checkpoint"] = f"checkpoint {checkpoint.size} is not signed by {origin}"
        return report
    for vkey in witness_vkeys.values():
        name, _, key = notes.parse_verifier_key(vkey)
        if notes.verify_cosignature(parsed, name=name, public_key=key) is not None:
            report.cosigned_by.append(name)
    head = bundle.get("head")
    if head is None:
        return report
    blinded = blinded_channel_id(channel, salt)
    if bundle.get("blinded_id") != blinded.hex():
        report.failures["head"] = "the bundle names another channel's blinded id"
        return report
    head_root = _b64(head["root"])
    leaf = merkle.leaf_hash(head_leaf_data(blinded, head["size"], head_root))
    if not merkle.verify_inclusion(index=head["index"], size=checkpoint.size, leaf_hash=leaf,
                                   proof=[_b64(h) for h in bundle["head_proof"]], root=checkpoint.root):
        report.failures["head"] = f"the channel head (size {head['size']}) is not in checkpoint {checkpoint.size}"
        return report
    for item in bundle.get("entries", []):
        seq = item["seq"]
        if merkle.verify_inclusion(index=seq - 1, size=head["size"], leaf_hash=merkle.leaf_hash(item["entry"].encode()),
                                   proof=[_b64(h) for h in item["proof"]], root=head_root):
            report.verified.append(seq)
        else:
            report.failures[seq] = f"entry {seq} is not included in the channel head of size {head['size']}"
    return report
