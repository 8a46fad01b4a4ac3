"""C2SP signed notes, checkpoints and cosignatures: published examples, round trips and strict refusals."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from energychain_shared.tlog.note import (
    COSIGNATURE_V1,
    ED25519,
    MAX_SIGNATURES,
    Checkpoint,
    NoteError,
    NoteSignature,
    checkpoint_body,
    cosign,
    cosignature_message,
    key_hash,
    parse_checkpoint,
    parse_note,
    parse_verifier_key,
    sign_note,
    signature_line,
    verifier_key,
    verify_cosignature,
    verify_signature,
    with_signatures,
)

pytestmark = pytest.mark.unit

# golang.org/x/mod, sumdb/note/note.go (package documentation) and sumdb/note/note_test.go
# (TestNewVerifier, TestNewSigner, TestSign, TestOpen), repository golang/mod.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
PETER_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
PETER_NOTE = PETER_TEXT + "\n" + PETER_SIG

# C2SP/C2SP signed-note.md, "Verifier keys / Example".
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# C2SP/C2SP tlog-cosignature.md: the example cosigned checkpoint and its example signed message.
SOFA_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SOFA_NOTE = (
    SOFA_BODY
    + "\n"
    + "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    + "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
SOFA_MESSAGE = "cosignature/v1\ntime 1679315147\n" + SOFA_BODY
# transparency-dev/formats note/note_cosigv1_test.go (TestCosignatureTimestamp): a cosignature
# (key hash, timestamp, signature) whose timestamp is 1727964367.
FORMATS_COSIGNATURE = "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="

# Fixed keys, so that every run checks the same bytes.
LOG_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"energychain test ledger key").digest())
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"energychain test witness key").digest())
ORIGIN = "energychain.local/ledger"
WITNESS = "witness-parlier"
ROOT = hashlib.sha256(b"root").digest()
BODY = checkpoint_body(Checkpoint(origin=ORIGIN, size=120, root=ROOT))


def _go_signer_key(skey):
    """The Ed25519 key of a Go note signer key: PRIVATE+KEY+<name>+<hash>+base64(0x01 || seed)."""
    private, key, name, hash_hex, material = skey.split("+", 4)
    assert (private, key) == ("PRIVATE", "KEY")
    raw = base64.b64decode(material)
    assert raw[0] == ED25519 and len(raw) == 33
    return name, bytes.fromhex(hash_hex), Ed25519PrivateKey.from_private_bytes(raw[1:])


# --- published vectors ----------------------------------------------------------------------


def test_published_note_verifies_with_the_published_key():
    name, digest, public_key = parse_verifier_key(PETER_VKEY)
    assert (name, digest.hex()) == ("PeterNeumann", "c74f20a3")
    note = parse_note(PETER_NOTE)
    assert note.body == PETER_TEXT
    assert note.signatures[0].name == "PeterNeumann" and note.signatures[0].key_hash == digest
    assert verify_signature(note, name=name, public_key=public_key)


def test_signing_with_the_published_private_key_gives_the_published_note():
    name, digest, private_key = _go_signer_key(PETER_SKEY)
    assert key_hash(name, ED25519, private_key.public_key()) == digest
    assert verifier_key(name, private_key.public_key()) == PETER_VKEY
    assert sign_note(PETER_TEXT, name=name, private_key=private_key) == PETER_NOTE


def test_doubly_signed_published_note():
    note = parse_note(PETER_TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    peter, enoch = parse_verifier_key(PETER_VKEY), parse_verifier_key(ENOCH_VKEY)
    assert [s.name for s in note.signatures] == ["PeterNeumann", "EnochRoot"]
    assert verify_signature(note, name=peter[0], public_key=peter[2])
    assert verify_signature(note, name=enoch[0], public_key=enoch[2])
    # A key that signed nothing here finds nothing, whatever else the note carries.
    assert not verify_signature(note, name="CarmenSandiego", public_key=peter[2])


def test_c2sp_signed_note_example_verifies():
    name, _, public_key = parse_verifier_key(FOO_VKEY)
    assert verify_signature(parse_note(FOO_NOTE), name=name, public_key=public_key)


def test_c2sp_cosignature_example_parses_as_specified():
    note = parse_note(SOFA_NOTE)
    assert note.body == SOFA_BODY
    assert parse_checkpoint(note.body) == Checkpoint(
        origin="example.com/behind-the-sofa",
        size=20852163,
        root=base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    log_line, witness_line = note.signatures
    assert len(log_line.signature) == 64
    # The cosignature carries key hash, big-endian timestamp and Ed25519 signature; its time is
    # the one in the spec's example signed message.
    assert witness_line.name == "witness.example.com/w1"
    assert len(witness_line.signature) == 8 + 64
    timestamp = int.from_bytes(witness_line.signature[:8], "big")
    assert timestamp == 1679315147
    assert cosignature_message(note.body, timestamp) == SOFA_MESSAGE.encode()


def test_published_cosignature_timestamp():
    raw = base64.b64decode(FORMATS_COSIGNATURE)
    line = signature_line("witness.example", raw[:4], raw[4:])
    (parsed,) = parse_note(BODY + "\n" + line).signatures
    assert int.from_bytes(parsed.signature[:8], "big") == 1727964367


def test_published_verifier_key_manglings_are_refused():
    # sumdb/note/note_test.go TestNewVerifier: every substring and every one-byte change.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    parse_verifier_key(PETER_VKEY[i:j])
    for i in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:i] + chr(ord(PETER_VKEY[i]) + 1) + PETER_VKEY[i + 1 :]
        with pytest.raises(NoteError):
            parse_verifier_key(mangled)
    # A wrong-length key and an unknown algorithm, each with a matching key hash.
    with pytest.raises(NoteError):
        parse_verifier_key("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
    with pytest.raises(NoteError):
        parse_verifier_key("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_published_malformed_notes_are_refused():
    # sumdb/note/note_test.go TestOpen, "Invalid encoded message syntax".
    for text in (
        PETER_TEXT,
        PETER_TEXT + "\n",
        PETER_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + PETER_TEXT + "\n" + PETER_SIG,
        PETER_TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        PETER_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        PETER_TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1),
    ):
        with pytest.raises(NoteError):
            parse_note(text)


def test_published_invalid_signature_fails():
    # sumdb/note/note_test.go TestOpen, "Invalid signature".
    _, _, public_key = parse_verifier_key(PETER_VKEY)
    note = parse_note(PETER_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:])
    assert not verify_signature(note, name="PeterNeumann", public_key=public_key)


# --- keys -----------------------------------------------------------------------------------


def test_key_hash_is_sha256_of_name_newline_type_and_key():
    public_key = LOG_KEY.public_key()
    raw = parse_verifier_key(verifier_key(ORIGIN, public_key))[2].public_bytes_raw()
    assert raw == public_key.public_bytes_raw()
    assert key_hash(ORIGIN, ED25519, public_key) == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert key_hash(ORIGIN, COSIGNATURE_V1, public_key) == hashlib.sha256(ORIGIN.encode() + b"\n\x04" + raw).digest()[:4]
    assert key_hash(ORIGIN, ED25519, public_key) != key_hash(ORIGIN, COSIGNATURE_V1, public_key)


def test_verifier_key_round_trip():
    public_key = WITNESS_KEY.public_key()
    for key_type in (ED25519, COSIGNATURE_V1):
        vkey = verifier_key(WITNESS, public_key, key_type=key_type)
        name, digest, parsed = parse_verifier_key(vkey)
        assert name == WITNESS
        assert digest == key_hash(WITNESS, key_type, public_key)
        assert vkey.split("+")[1] == digest.hex()
        assert parsed.public_bytes_raw() == public_key.public_bytes_raw()


def test_bad_verifier_keys_are_refused():
    vkey = verifier_key(ORIGIN, LOG_KEY.public_key())
    name, hash_hex, material = vkey.split("+", 2)
    assert hash_hex != hash_hex.upper()
    for bad in (
        f"{name}+{hash_hex.upper()}+{material}",
        f"{name}+00000000+{material}",
        f"other+{hash_hex}+{material}",
        f"{name}+{hash_hex}+{material}+extra",
        f"{name}+{hash_hex}",
        f"+{hash_hex}+{material}",
        f"a b+{hash_hex}+{material}",
        f"{name}+{hash_hex}+{material[:-1]}",
        f"{name}+{hash_hex}+{material}=",
    ):
        with pytest.raises(NoteError):
            parse_verifier_key(bad)
    with pytest.raises(NoteError):
        verifier_key("has space", LOG_KEY.public_key())
    with pytest.raises(NoteError):
        verifier_key(ORIGIN, LOG_KEY.public_key(), key_type=0x02)


# --- checkpoints ----------------------------------------------------------------------------


def test_checkpoint_round_trip():
    for checkpoint in (
        Checkpoint(origin=ORIGIN, size=120, root=ROOT),
        Checkpoint(origin=ORIGIN, size=0, root=hashlib.sha256(b"").digest()),
        Checkpoint(origin="example.com/log", size=2**63 - 1, root=ROOT, extensions=("ext one", "ext two")),
    ):
        body = checkpoint_body(checkpoint)
        assert parse_checkpoint(body) == checkpoint
        assert checkpoint_body(parse_checkpoint(body)) == body
    assert BODY == f"{ORIGIN}\n120\n{base64.b64encode(ROOT).decode()}\n"


URLSAFE_ROOT = base64.urlsafe_b64encode(bytes([0xFF]) * 32).decode()
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_CANONICAL = base64.b64encode(ROOT).decode()
# The same 32 bytes with a padding bit set in the last character: decodable, but not canonical.
NONCANONICAL_ROOT = _CANONICAL[:-2] + _B64[_B64.index(_CANONICAL[-2]) + 1] + "="


def test_strict_checkpoint_refusals():
    root = base64.b64encode(ROOT).decode()
    for body in (
        f"{ORIGIN}\n120\n{root}",
        f"{ORIGIN}\n0120\n{root}\n",
        f"{ORIGIN}\n00\n{root}\n",
        f"{ORIGIN}\n-1\n{root}\n",
        f"{ORIGIN}\n+1\n{root}\n",
        f"{ORIGIN}\n 1\n{root}\n",
        f"{ORIGIN}\n1.0\n{root}\n",
        f"{ORIGIN}\n١٢\n{root}\n",
        f"{ORIGIN}\n{2**63}\n{root}\n",
        f"{ORIGIN}\n\n{root}\n",
        f"\n120\n{root}\n",
        f"{ORIGIN}\n120\n",
        f"{ORIGIN}\n120\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"{ORIGIN}\n120\n{base64.b64encode(ROOT + b'x').decode()}\n",
        f"{ORIGIN}\n120\n{root.rstrip('=')}\n",
        f"{ORIGIN}\n120\n{NONCANONICAL_ROOT}\n",
        f"{ORIGIN}\n120\n{URLSAFE_ROOT}\n",
        f"{ORIGIN}\n120\n{root}\n\n",
        f"{ORIGIN}\n120\n{root}\next\n\n",
        f"{ORIGIN}\n120\n{root}\t\n",
    ):
        with pytest.raises(NoteError):
            parse_checkpoint(body)
    for checkpoint in (
        Checkpoint(origin="", size=1, root=ROOT),
        Checkpoint(origin="a\nb", size=1, root=ROOT),
        Checkpoint(origin=ORIGIN, size=-1, root=ROOT),
        Checkpoint(origin=ORIGIN, size=1, root=ROOT[:16]),
        Checkpoint(origin=ORIGIN, size=1, root=ROOT, extensions=("",)),
        Checkpoint(origin=ORIGIN, size=1, root=ROOT, extensions=("a\nb",)),
    ):
        with pytest.raises(NoteError):
            checkpoint_body(checkpoint)


# --- signed notes ---------------------------------------------------------------------------


def test_signed_checkpoint_round_trip():
    text = sign_note(BODY, name=ORIGIN, private_key=LOG_KEY)
    raw = base64.b64decode(text.rsplit(" ", 1)[1])
    assert text.startswith(BODY + "\n— " + ORIGIN + " ")
    assert raw[:4] == key_hash(ORIGIN, ED25519, LOG_KEY.public_key()) and len(raw) == 68
    note = parse_note(text)
    assert note.body == BODY
    assert note.signatures == (NoteSignature(name=ORIGIN, key_hash=raw[:4], signature=raw[4:]),)
    assert verify_signature(note, name=ORIGIN, public_key=LOG_KEY.public_key())
    assert parse_checkpoint(note.body).size == 120


def test_tampered_notes_fail():
    text = sign_note(BODY, name=ORIGIN, private_key=LOG_KEY)
    public_key = LOG_KEY.public_key()
    tampered = [
        text.replace("\n120\n", "\n121\n"),
        text.replace(ORIGIN + "\n", "energychain.local/other\n", 1),
        text.replace(BODY, BODY + "extension\n"),
    ]
    line = text[len(BODY) + 1 :]
    raw = bytearray(base64.b64decode(line.rsplit(" ", 1)[1]))
    raw[-1] ^= 1
    tampered.append(BODY + "\n" + signature_line(ORIGIN, bytes(raw[:4]), bytes(raw[4:])))
    for forged in tampered:
        assert not verify_signature(parse_note(forged), name=ORIGIN, public_key=public_key)
    # Another key, the same key under another name, or a signature line cut short: none verifies.
    other = Ed25519PrivateKey.generate()
    assert not verify_signature(parse_note(text), name=ORIGIN, public_key=other.public_key())
    assert not verify_signature(parse_note(sign_note(BODY, name="other", private_key=LOG_KEY)), name=ORIGIN, public_key=public_key)
    short = BODY + "\n" + signature_line(ORIGIN, key_hash(ORIGIN, ED25519, public_key), b"\x00" * 10)
    assert not verify_signature(parse_note(short), name=ORIGIN, public_key=public_key)


def test_a_bad_line_by_the_known_key_spoils_the_note():
    text = sign_note(BODY, name=ORIGIN, private_key=LOG_KEY)
    digest = key_hash(ORIGIN, ED25519, LOG_KEY.public_key())
    bad = signature_line(ORIGIN, digest, b"\x00" * 64)
    assert not verify_signature(parse_note(with_signatures(text, [bad])), name=ORIGIN, public_key=LOG_KEY.public_key())


def test_note_text_rules():
    assert parse_note("a\n\nb\n\n— k AAAAAAA=\n").body == "a\n\nb\n"
    with pytest.raises(NoteError):
        sign_note("no final newline", name=ORIGIN, private_key=LOG_KEY)
    with pytest.raises(NoteError):
        sign_note("tab\there\n", name=ORIGIN, private_key=LOG_KEY)
    with pytest.raises(NoteError):
        sign_note(BODY, name="with+plus", private_key=LOG_KEY)
    for text in (
        BODY + "\n" + "— k AAAA\n",
        BODY + "\n" + "— k AAAAAAA\n",
        BODY + "\n" + "— k\n",
        BODY + "\n" + "— k  AAAAAAA=\n",
        BODY + "\n" + "- k AAAAAAA=\n",
        BODY + "\n" + "— k\u00a0x AAAAAAA=\n",
        BODY + "\n" + "— k AAAAAAA=\r\n",
        BODY + "\n" + "— k AAAAAAA=\n\n",
        BODY + "\n" + "— k AAAAAAA= \n",
        BODY.replace("\n", "\r\n", 1) + "\n" + "— k AAAAAAA=\n",
        "\ud800\n\n— k AAAAAAA=\n",
    ):
        with pytest.raises(NoteError):
            parse_note(text)
    many = BODY + "\n" + "".join(f"— k{i} AAAAAAA=\n" for i in range(MAX_SIGNATURES))
    assert len(parse_note(many).signatures) == MAX_SIGNATURES


# --- cosignatures ---------------------------------------------------------------------------


def test_cosignature_message_is_the_spec_format():
    assert cosignature_message(SOFA_BODY, 1679315147) == SOFA_MESSAGE.encode()
    assert cosignature_message(BODY, 0) == b"cosignature/v1\ntime 0\n" + BODY.encode()
    for timestamp in (-1, 2**63):
        with pytest.raises(NoteError):
            cosignature_message(BODY, timestamp)


def test_cosignature_round_trip():
    signed = sign_note(BODY, name=ORIGIN, private_key=LOG_KEY)
    line = cosign(BODY, name=WITNESS, private_key=WITNESS_KEY, timestamp=1_750_000_000)
    assert line.startswith(f"— {WITNESS} ") and line.endswith("\n")
    raw = base64.b64decode(line.rsplit(" ", 1)[1])
    assert len(raw) == 4 + 8 + 64
    assert raw[:4] == key_hash(WITNESS, COSIGNATURE_V1, WITNESS_KEY.public_key())
    assert int.from_bytes(raw[4:12], "big") == 1_750_000_000
    WITNESS_KEY.public_key().verify(raw[12:], cosignature_message(BODY, 1_750_000_000))
    cosigned = parse_note(with_signatures(signed, [line]))
    assert verify_cosignature(cosigned, name=WITNESS, public_key=WITNESS_KEY.public_key()) == 1_750_000_000
    # The ledger's signature is untouched by the witness's line, and neither passes for the other.
    assert verify_signature(cosigned, name=ORIGIN, public_key=LOG_KEY.public_key())
    assert not verify_signature(cosigned, name=WITNESS, public_key=WITNESS_KEY.public_key())
    assert verify_cosignature(cosigned, name=ORIGIN, public_key=LOG_KEY.public_key()) is None


def test_cosignature_for_another_body_timestamp_or_key_fails():
    line = cosign(BODY, name=WITNESS, private_key=WITNESS_KEY, timestamp=1_750_000_000)
    raw = base64.b64decode(line.rsplit(" ", 1)[1])
    other_body = checkpoint_body(Checkpoint(origin=ORIGIN, size=121, root=ROOT))
    assert verify_cosignature(parse_note(other_body + "\n" + line), name=WITNESS, public_key=WITNESS_KEY.public_key()) is None
    moved = signature_line(WITNESS, raw[:4], (1_750_000_001).to_bytes(8, "big") + raw[12:])
    assert verify_cosignature(parse_note(BODY + "\n" + moved), name=WITNESS, public_key=WITNESS_KEY.public_key()) is None
    other_key = Ed25519PrivateKey.generate()
    assert verify_cosignature(parse_note(BODY + "\n" + line), name=WITNESS, public_key=other_key.public_key()) is None
    renamed = cosign(BODY, name="witness-other", private_key=WITNESS_KEY, timestamp=1_750_000_000)
    assert verify_cosignature(parse_note(BODY + "\n" + renamed), name=WITNESS, public_key=WITNESS_KEY.public_key()) is None
    # A plain note signature by the witness key is not a cosignature, nor the reverse.
    plain = sign_note(BODY, name=WITNESS, private_key=WITNESS_KEY)
    assert verify_cosignature(parse_note(plain), name=WITNESS, public_key=WITNESS_KEY.public_key()) is None
    assert not verify_signature(parse_note(BODY + "\n" + line), name=WITNESS, public_key=WITNESS_KEY.public_key())
    # Malformed cosignature lines under the right key hash: too short, or a timestamp past 2^63 - 1.
    short = signature_line(WITNESS, raw[:4], raw[4:-1])
    huge = signature_line(WITNESS, raw[:4], (2**63).to_bytes(8, "big") + raw[12:])
    for bad in (short, huge):
        assert verify_cosignature(parse_note(BODY + "\n" + bad), name=WITNESS, public_key=WITNESS_KEY.public_key()) is None


def test_cosignatures_at_several_times_give_the_latest():
    lines = [cosign(BODY, name=WITNESS, private_key=WITNESS_KEY, timestamp=t) for t in (5, 9, 7)]
    note = parse_note(with_signatures(sign_note(BODY, name=ORIGIN, private_key=LOG_KEY), lines))
    assert verify_cosignature(note, name=WITNESS, public_key=WITNESS_KEY.public_key()) == 9


def test_with_signatures_appends_once():
    signed = sign_note(BODY, name=ORIGIN, private_key=LOG_KEY)
    line = cosign(BODY, name=WITNESS, private_key=WITNESS_KEY, timestamp=42)
    other = cosign(BODY, name="witness-auditor", private_key=Ed25519PrivateKey.generate(), timestamp=43)
    once = with_signatures(signed, [line])
    assert once == signed + line
    assert with_signatures(once, [line, line.rstrip("\n"), signed[len(BODY) + 1 :]]) == once
    assert with_signatures(once, [other.rstrip("\n")]) == once + other
    assert with_signatures(signed, []) == signed
    for bad in ("not a signature", line + line, "— bad name AAAAAAA="):
        with pytest.raises(NoteError):
            with_signatures(signed, [bad])
    with pytest.raises(NoteError):
        with_signatures(BODY, [line])
