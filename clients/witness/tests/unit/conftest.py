"""A ledger peer for the witness's unit tests: channel trees, a log of heads and signed checkpoints built with the
real Merkle and signed-note functions, served over an httpx mock transport on the routes of docs/LEDGER.md.

Each test can make it misbehave (serve another checkpoint, other heads, other entries or postings) the way a
dishonest or broken ledger would, and the witness must notice.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.rules import canonical_json
from energychain_shared.tlog import merkle, note
from energychain_shared.tlog.heads import blinded_channel_id, head_leaf_data

from energychain_witness.client import LedgerClient
from energychain_witness.rounds import Witness
from energychain_witness.store import Store

ORIGIN = "test.local/ledger"
WITNESS = "witness-test"
T0 = "2026-01-01T00:00:00+00:00"  # the event time of the entries, unless a test gives another


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Killed(BaseException):
    """The process dies here (nothing in the witness may catch it)."""


@dataclass
class FakeChannel:
    name: str
    salt: bytes
    entries: list[bytes] = field(default_factory=list)

    @property
    def blinded_id(self) -> str:
        return blinded_channel_id(self.name, self.salt).hex()

    def leaves(self, size: int | None = None) -> list[bytes]:
        return [merkle.leaf_hash(e) for e in self.entries[:size]]

    def root(self) -> bytes:
        return merkle.root_of(self.leaves())


class FakeLedger:
    """The ledger as a witness sees it over HTTP."""

    def __init__(self, *, role: str = "municipality") -> None:
        self.key = Ed25519PrivateKey.generate()
        self.vkey = note.verifier_key(ORIGIN, self.key.public_key())
        self.role = role
        self.channels: dict[str, FakeChannel] = {}
        self.members: set[str] = set()  # channels the witness's login may read
        self.heads: list[bytes] = []  # leaf data of the log of heads
        self.notes: dict[int, str] = {}  # size -> checkpoint note (ledger signature only)
        self.cosignatures: dict[int, list[str]] = {}
        self.witnesses: dict[str, object] = {}
        self.postings: dict[str, list[dict]] = {}
        self.hidden_accounts: set[str] = set()
        # Membership by date: channel -> the login's spans ({"municipality_id", "member_from", "member_until"}),
        # served on /channels; its entries, proofs and the house's postings are filtered by them.
        self.memberships: dict[str, list[dict]] = {}
        self.newest: int = 0
        self.count = 0
        self.submitted: list[tuple[int, str]] = []
        self.requests: list[str] = []
        self.valid_tokens: set[str] = set()
        # Misbehaviour hooks: functions over what would be served.
        self.serve_checkpoint: Callable[[dict], dict] | None = None
        self.serve_heads: Callable[[list[dict]], list[dict]] | None = None
        self.serve_entries: Callable[[str, list[dict]], list[dict]] | None = None
        self.serve_postings: Callable[[str, list[dict]], list[dict]] | None = None
        self.fail_routes: dict[str, int] = {}
        self.kill_on_submit = False
        self.add_checkpoint()

    # ------------------------------------------------------------ building the log

    def channel(self, name: str, *, member: bool = True) -> FakeChannel:
        if name not in self.channels:
            self.channels[name] = FakeChannel(name, secrets.token_bytes(32))
            if member:
                self.members.add(name)
        return self.channels[name]

    def entry(self, channels: list[str], transfers: list[dict] = (), at: str = T0) -> bytes:
        self.count += 1
        return canonical_json({
            "body": {"n": self.count, "note": "é"}, "channels": channels, "entry_id": f"e-{self.count:05d}",
            "kind": "invoice" if transfers else "meter_reading", "occurred_at": at,
            "producer": "billing" if transfers else "meter-ingest", "transfers": list(transfers),
        })

    def append(self, *batch: tuple[list[str], list[dict]] | list[str], at: str = T0) -> int:
        """Commit one batch of entries (channels[, transfers]) of event time ``at``; returns the new checkpoint
        size."""
        changed = []
        for item in batch:
            channels, transfers = (item, []) if isinstance(item, list) else item
            data = self.entry(channels, transfers, at)
            entry_id = json.loads(data)["entry_id"]
            for name in channels:
                self.channel(name).entries.append(data)
                if name not in changed:
                    changed.append(name)
            for index, t in enumerate(transfers):
                for account, amount in ((t["debit_account"], t["amount_cents"]),
                                        (t["credit_account"], -t["amount_cents"])):
                    self.postings.setdefault(account, []).append({
                        "entry_id": entry_id, "transfer_index": index, "amount_cents": amount,
                        "event_time": at, "memo": ""})
        for name in sorted(changed):
            self.append_head(name)
        return self.add_checkpoint()

    def append_head(self, name: str, *, size: int | None = None) -> None:
        channel = self.channels[name]
        size = len(channel.entries) if size is None else size
        self.heads.append(head_leaf_data(bytes.fromhex(channel.blinded_id), size,
                                         merkle.root_of(channel.leaves(size))))

    def heads_root(self, size: int | None = None) -> bytes:
        return merkle.root_of([merkle.leaf_hash(h) for h in self.heads[:size]])

    def sign(self, size: int, root: bytes, *, key: Ed25519PrivateKey | None = None) -> str:
        body = note.checkpoint_body(note.Checkpoint(ORIGIN, size, root))
        return note.sign_note(body, name=ORIGIN, private_key=key or self.key)

    def add_checkpoint(self) -> int:
        size = len(self.heads)
        self.notes[size] = self.sign(size, self.heads_root())
        self.newest = size
        return size

    def register(self, name: str, public_key) -> None:
        self.witnesses[name] = public_key

    def visible(self, channel: str, occurred_at: str) -> bool:
        """Whether the login reads an entry (or a posting) of this channel and event time (its spans)."""
        spans = self.memberships.get(channel)
        if spans is None:
            return True
        at = datetime.fromisoformat(occurred_at)
        return any((s["member_from"] is None or at >= datetime.fromisoformat(s["member_from"]))
                   and (s["member_until"] is None or at < datetime.fromisoformat(s["member_until"])) for s in spans)

    def head_at(self, name: str, log_size: int) -> tuple[int, int, bytes] | None:
        """(index, size, root) of a channel's last head in the log of heads of ``log_size``."""
        blinded = bytes.fromhex(self.channels[name].blinded_id)
        for index in range(min(log_size, len(self.heads)) - 1, -1, -1):
            data = self.heads[index]
            if data[1:33] == blinded:
                return index, int.from_bytes(data[33:41], "big"), data[41:]
        return None

    # ------------------------------------------------------------ serving

    def checkpoint_json(self, size: int) -> dict:
        text = self.notes[size]
        cosigs = self.cosignatures.get(size, [])
        full = note.with_signatures(text, cosigs) if cosigs else text
        parsed = note.parse_checkpoint(note.parse_note(text).body)
        return {"size": size, "root": b64(parsed.root), "note": full,
                "cosigned_by": sorted({line.split(" ")[1] for line in cosigs}),
                "created_at": "2026-01-01T00:00:00+00:00"}

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path)
        q = request.url.params
        self.requests.append(f"{request.method} {path}")
        for prefix, status in self.fail_routes.items():
            if path.startswith(prefix):
                return httpx.Response(status, json={"detail": "cannot serve that now"})
        if path == "/auth/token":
            form = dict(x.split("=", 1) for x in request.content.decode().split("&"))
            if form.get("password") != "secret":
                return httpx.Response(401, json={"detail": "incorrect username or password"})
            claims = base64.urlsafe_b64encode(json.dumps({"role": self.role, "sub": form["username"]}).encode())
            token = f"h.{claims.decode().rstrip('=')}.{secrets.token_hex(4)}"
            self.valid_tokens.add(token)
            return httpx.Response(200, json={"access_token": token, "token_type": "bearer", "role": self.role})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.valid_tokens:
            return httpx.Response(401, json={"detail": "token expired"})
        if path == "/log/key":
            return httpx.Response(200, json={"origin": ORIGIN, "vkey": self.vkey, "witnesses": [
                {"name": n, "vkey": witness_vkey_of(n, k)} for n, k in self.witnesses.items()]})
        if path == "/log/checkpoint":
            answer = self.checkpoint_json(self.newest)
            if self.serve_checkpoint is not None:
                answer = self.serve_checkpoint(answer)
            return httpx.Response(200, json=answer)
        if path.startswith("/log/checkpoints/"):
            size = int(path.rsplit("/", 1)[1])
            if size not in self.notes:
                return httpx.Response(404, json={"detail": f"no checkpoint of size {size}"})
            return httpx.Response(200, json=self.checkpoint_json(size))
        if path == "/log/heads":
            start, end = int(q["start"]), int(q["end"])
            assert end - start <= 10_000
            heads = []
            for index in range(start, min(end, len(self.heads))):
                data = self.heads[index]
                heads.append({"index": index, "blinded_id": data[1:33].hex(),
                              "size": int.from_bytes(data[33:41], "big"), "root": b64(data[41:])})
            if self.serve_heads is not None:
                heads = self.serve_heads(heads)
            return httpx.Response(200, json={"heads": heads})
        if path == "/log/proof/consistency":
            old, new = int(q["from"]), int(q["to"])
            proof = merkle.consistency_proof(old, new, [merkle.leaf_hash(h) for h in self.heads])
            return httpx.Response(200, json={"from": old, "to": new, "proof": [b64(p) for p in proof]})
        if path.startswith("/log/channels/") and path.endswith("/consistency"):
            blinded = path.split("/")[3]
            channel = next(c for c in self.channels.values() if c.blinded_id == blinded)
            old, new = int(q["from"]), int(q["to"])
            proof = merkle.consistency_proof(old, new, channel.leaves())
            return httpx.Response(200, json={"from": old, "to": new, "proof": [b64(p) for p in proof]})
        if path == "/log/cosignatures" and request.method == "POST":
            if self.kill_on_submit:
                raise Killed()
            body = json.loads(request.content)
            size, line = int(body["size"]), body["signature"]
            self.submitted.append((size, line))
            name = line.split(" ")[1]
            key = self.witnesses.get(name)
            if size not in self.notes or key is None:
                return httpx.Response(422, json={"detail": "unknown checkpoint or witness"})
            cosigned = note.parse_note(note.with_signatures(self.notes[size], [line]))
            if note.verify_cosignature(cosigned, name=name, public_key=key) is None:
                return httpx.Response(422, json={"detail": "not a valid cosignature"})
            lines = self.cosignatures.setdefault(size, [])
            if line not in lines:
                lines.append(line)
            return httpx.Response(201, json={"size": size})
        if path == "/channels":
            if self.role == "auditor":
                return httpx.Response(403, json={"detail": "auditors read no channels"})
            after, limit = q.get("after", ""), int(q.get("limit", 100))
            names = sorted(n for n in self.members if n > after)[:limit]
            return httpx.Response(200, json=[{
                "channel": n, "kind": n.split(":")[0], "municipality_id": "parlier",
                "blinded_id": self.channels[n].blinded_id, "salt": self.channels[n].salt.hex(),
                "size": len(self.channels[n].entries), "root": b64(self.channels[n].root()),
                **({"memberships": self.memberships[n]} if n in self.memberships else {})} for n in names])
        if path.startswith("/channels/") and path.endswith("/proofs"):
            name = path[len("/channels/"):-len("/proofs")]
            if name not in self.members:
                return httpx.Response(403, json={"detail": f"not a member of channel {name!r}"})
            channel, seqs = self.channels[name], [int(x) for x in q["seqs"].split(",")]
            hidden = [s for s in seqs if s <= len(channel.entries)
                      and not self.visible(name, json.loads(channel.entries[s - 1])["occurred_at"])]
            if hidden:
                return httpx.Response(403, json={"detail": f"entries {hidden} are outside your membership"})
            index, size, root = self.head_at(name, int(q["checkpoint"]))
            rows = [{"seq": s, "entry": channel.entries[s - 1].decode(),
                     "proof": [b64(p) for p in merkle.inclusion_proof(s - 1, size, channel.leaves(size))]}
                    for s in seqs if s <= size]
            if self.serve_entries is not None:  # the same stored bytes as /entries serves
                rows = self.serve_entries(name, rows)
            return httpx.Response(200, json={
                "channel": name, "blinded_id": channel.blinded_id, "head": {"index": index, "size": size,
                                                                            "root": b64(root)},
                "entries": rows, "pending": [s for s in seqs if s > size]})
        if path.startswith("/channels/") and path.endswith("/entries"):
            name = path[len("/channels/"):-len("/entries")]
            if name not in self.members:
                return httpx.Response(403, json={"detail": f"not a member of channel {name!r}"})
            cursor, limit = int(q.get("cursor", 0)), int(q.get("limit", 100))
            assert limit <= 1000
            rows = [{"seq": seq, "entry_id": json.loads(e)["entry_id"], "entry": e.decode()}
                    for seq, e in enumerate(self.channels[name].entries, start=1)
                    if seq > cursor and self.visible(name, json.loads(e)["occurred_at"])][:limit]
            if self.serve_entries is not None:
                rows = self.serve_entries(name, rows)
            next_cursor = rows[-1]["seq"] if len(rows) == limit else None
            return httpx.Response(200, json={"channel": name, "entries": rows, "next_cursor": next_cursor})
        if path == "/accounts/balances":
            return httpx.Response(200, json=[
                {"account": a, "balance_cents": sum(p["amount_cents"] for p in ps)}
                for a, ps in sorted(self.postings.items()) if a not in self.hidden_accounts])
        if path.startswith("/accounts/") and path.endswith("/postings"):
            account = path[len("/accounts/"):-len("/postings")]
            if account in self.hidden_accounts:
                return httpx.Response(403, json={"detail": "not visible"})
            house = ":".join(account.split(":")[:2])
            rows = [dict(p) for p in self.postings.get(account, []) if self.visible(house, p["event_time"])]
            if self.serve_postings is not None:
                rows = self.serve_postings(account, rows)
            return httpx.Response(200, json=rows)
        return httpx.Response(404, json={"detail": f"no route {request.method} {path}"})


def witness_vkey_of(name: str, public_key) -> str:
    return note.verifier_key(name, public_key, key_type=note.COSIGNATURE_V1)


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def witness_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def open_witness(tmp_path, ledger, witness_key):
    """A factory of witnesses over the same store path (a new one = the process restarted)."""
    made: list[Witness] = []

    def make(*, audit_entries: int = 5000, audit_accounts: int = 20, password: str = "secret") -> Witness:
        for old in made:
            old.store.close()
        ledger.register(WITNESS, witness_key.public_key())
        client = LedgerClient("http://ledger.test", username="witness", password=password,
                              transport=httpx.MockTransport(ledger.handler))
        witness = Witness(name=WITNESS, private_key=witness_key, ledger_vkey=ledger.vkey,
                          store=Store.open(tmp_path / "witness" / "state.sqlite"), client=client,
                          audit_entries=audit_entries, audit_accounts=audit_accounts)
        made.append(witness)
        return witness

    yield make
    for witness in made:
        witness.store.close()


def transfer(debit: str, credit: str, cents: int) -> dict:
    return {"debit_account": debit, "credit_account": credit, "amount_cents": cents, "memo": ""}


# What the tests reach through the `ledger` fixture (conftest modules are not importable by name).
FakeLedger.Killed = Killed
FakeLedger.transfer = staticmethod(transfer)
FakeLedger.witness_name = WITNESS
FakeLedger.origin = ORIGIN
