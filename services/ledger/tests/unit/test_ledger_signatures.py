"""The hot-path signature check accepts exactly what the shared contract signs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_ledger.adapters.signatures import SignatureVerifier
from energychain_ledger.adapters.wire import parse_append
from energychain_ledger.domain.appends import AppendRefused
from energychain_shared.events import encode
from energychain_shared.keys import sign
from energychain_shared.ledger_client import signed_append

pytestmark = pytest.mark.unit


def test_signature_made_with_shared_keys_sign_verifies_and_any_change_does_not():
    key = Ed25519PrivateKey.generate()
    verifier = SignatureVerifier(key.public_key())
    signature = sign(key, b"entry")
    assert verifier(b"entry", signature)
    assert not verifier(b"entry!", signature)
    assert not SignatureVerifier(Ed25519PrivateKey.generate().public_key())(b"entry", signature)
    assert not verifier(b"entry", "not base64 at all")
    assert not verifier(b"entry", "c2hvcnQ=")


def test_append_signed_by_another_key_is_refused_as_bad_signature():
    producer, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    request = signed_append(key=forger, producer="billing", entry_id="e1", channels=["gsa"], kind="K",
                            occurred_at=datetime(2024, 1, 1, tzinfo=timezone.utc), body={"a": 1})
    with pytest.raises(AppendRefused) as refused:
        parse_append(encode(request), keys={"billing": [SignatureVerifier(producer.public_key())]})
    assert refused.value.reason == "bad_signature"


def test_append_from_a_producer_without_a_registered_key_is_refused():
    key = Ed25519PrivateKey.generate()
    request = signed_append(key=key, producer="billing", entry_id="e1", channels=["gsa"], kind="K",
                            occurred_at=datetime(2024, 1, 1, tzinfo=timezone.utc), body={})
    with pytest.raises(AppendRefused) as refused:
        parse_append(encode(request), keys={"escrow": [SignatureVerifier(key.public_key())]})
    assert refused.value.reason == "unknown_producer"


def test_undecodable_bytes_are_refused_as_invalid_request():
    with pytest.raises(AppendRefused) as refused:
        parse_append(b"\xff not json", keys={})
    assert refused.value.reason == "invalid_request"
