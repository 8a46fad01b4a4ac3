// Verifying the ledger's proofs in the browser (docs/LEDGER.md): RFC 9162 Merkle trees,
// C2SP signed notes, checkpoints and tlog-cosignature/v1, the blinded channel id and the
// head leaf of the log of heads, and one function that checks a bundle of
// `GET /channels/{c}/proofs` end to end. Nothing here trusts the server: every hash is
// recomputed, every signature checked with the verifier keys the caller passes.

import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes, hexToBytes, utf8ToBytes } from "@noble/hashes/utils.js";

// ---------------------------------------------------------------------------------------
// Bytes

const HASH_SIZE = 32;

export function toHex(bytes: Uint8Array): string {
  return bytesToHex(bytes);
}

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new Error("not hex");
  return hexToBytes(hex.toLowerCase());
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard padded base64 (RFC 4648 section 4), canonical only: anything else throws. */
export function fromBase64(text: string): Uint8Array {
  if (!BASE64.test(text)) throw new Error("not canonical base64");
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  if (toBase64(bytes) !== text) throw new Error("not canonical base64");
  return bytes;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function uint64(value: number | bigint): Uint8Array {
  const n = BigInt(value);
  if (n < 0n || n >= 1n << 64n) throw new Error("not a uint64");
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, n, false);
  return out;
}

// ---------------------------------------------------------------------------------------
// RFC 9162 section 2.1: Merkle tree hashing and inclusion proofs

/** The hash of a leaf: SHA-256(0x00 || data). */
export function hashLeaf(data: Uint8Array): Uint8Array {
  return sha256(concatBytes(Uint8Array.of(0x00), data));
}

/** The hash of an interior node: SHA-256(0x01 || left || right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concatBytes(Uint8Array.of(0x01), left, right));
}

/** The largest power of two smaller than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The Merkle tree hash (RFC 9162 2.1.1) of the leaves with these leaf hashes; SHA-256("") when empty. */
export function treeRoot(leafHashes: Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return sha256(new Uint8Array(0));
  if (leafHashes.length === 1) return leafHashes[0];
  const k = splitPoint(leafHashes.length);
  return hashChildren(treeRoot(leafHashes.slice(0, k)), treeRoot(leafHashes.slice(k)));
}

/** The inclusion path (RFC 9162 2.1.3.1) of leaf `index` in the tree of these leaf hashes. */
export function inclusionProof(leafHashes: Uint8Array[], index: number): Uint8Array[] {
  if (!Number.isInteger(index) || index < 0 || index >= leafHashes.length) throw new Error("index out of range");
  if (leafHashes.length === 1) return [];
  const k = splitPoint(leafHashes.length);
  return index < k
    ? [...inclusionProof(leafHashes.slice(0, k), index), treeRoot(leafHashes.slice(k))]
    : [...inclusionProof(leafHashes.slice(k), index - k), treeRoot(leafHashes.slice(0, k))];
}

function asIndex(value: number | bigint, what: string): bigint {
  if (typeof value === "number" && !Number.isSafeInteger(value)) throw new Error(`${what} is not an integer`);
  const n = BigInt(value);
  if (n < 0n || n >= 1n << 64n) throw new Error(`${what} is out of range`);
  return n;
}

/**
 * The root that an inclusion proof of `leafHash` at `index` in a tree of `size` leads to,
 * by RFC 9162 section 2.1.3.2. Throws when the proof is malformed: index not below size,
 * a hash not 32 bytes, or a path too long or too short for the tree.
 */
export function rootFromInclusion(index: number | bigint, size: number | bigint, leafHash: Uint8Array, proof: Uint8Array[]): Uint8Array {
  const leafIndex = asIndex(index, "index");
  const treeSize = asIndex(size, "size");
  if (leafIndex >= treeSize) throw new Error(`index ${leafIndex} is not below the tree size ${treeSize}`);
  if (leafHash.length !== HASH_SIZE) throw new Error("leaf hash is not 32 bytes");
  let fn = leafIndex;
  let sn = treeSize - 1n;
  let r = leafHash;
  for (const p of proof) {
    if (p.length !== HASH_SIZE) throw new Error("proof hash is not 32 bytes");
    if (sn === 0n) throw new Error("inclusion proof is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = hashChildren(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("inclusion proof is too short");
  return r;
}

/** Whether the proof shows `leafHash` at `index` in the tree of `size` with `root` (false when malformed). */
export function verifyInclusion(index: number | bigint, size: number | bigint, leafHash: Uint8Array, proof: Uint8Array[], root: Uint8Array): boolean {
  try {
    return bytesEqual(rootFromInclusion(index, size, leafHash, proof), root);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// C2SP signed-note: notes, verifier keys, Ed25519 signatures

export const SIG_TYPE_ED25519 = 0x01;
export const SIG_TYPE_COSIGNATURE_V1 = 0x04;
const MAX_SIGNATURES = 100;

export interface NoteSignature {
  name: string;
  /** The 32-bit key ID, big-endian, as 8 hex digits. */
  keyId: string;
  /** The signature bytes after the key ID. */
  signature: Uint8Array;
}

export interface Note {
  /** The signed text, with its final newline, without the blank line. */
  text: string;
  signatures: NoteSignature[];
}

function checkKeyName(name: string): void {
  if (!name || /[\s+]/u.test(name)) throw new Error(`bad key name ${JSON.stringify(name)}`);
}

/** Parse a C2SP signed note (text, blank line, signature lines). Throws when malformed. */
export function parseNote(note: string): Note {
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) throw new Error("note has a control character");
  if (!note.endsWith("\n")) throw new Error("note does not end with a newline");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new Error("note has no signature block");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new Error("note has too many signatures");
  const signatures = lines.map((line) => {
    if (!line.startsWith("\u2014 ")) throw new Error("malformed signature line");
    const rest = line.slice(2);
    const space = rest.lastIndexOf(" ");
    if (space < 0) throw new Error("malformed signature line");
    const name = rest.slice(0, space);
    checkKeyName(name);
    const blob = fromBase64(rest.slice(space + 1));
    if (blob.length < 5) throw new Error("signature is too short");
    return { name, keyId: toHex(blob.subarray(0, 4)), signature: blob.slice(4) };
  });
  if (signatures.length === 0) throw new Error("note has no signatures");
  return { text, signatures };
}

/** The key ID: SHA-256(name || 0x0A || type || public key)[:4], as 8 hex digits. */
export function keyId(name: string, type: number, publicKey: Uint8Array): string {
  return toHex(sha256(concatBytes(utf8ToBytes(name), Uint8Array.of(0x0a, type), publicKey)).subarray(0, 4));
}

export interface VerifierKey {
  name: string;
  /** The key ID written in the key (checked against its derivation). */
  keyId: string;
  type: number;
  publicKey: Uint8Array;
}

/** Parse a verifier key `<name>+<hex key ID>+<base64(type || public key)>` (Ed25519, types 0x01 and 0x04). */
export function parseVerifierKey(vkey: string): VerifierKey {
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) throw new Error("verifier key is not name+id+key");
  const name = vkey.slice(0, first);
  checkKeyName(name);
  const id = vkey.slice(first + 1, second);
  if (!/^[0-9a-f]{8}$/.test(id)) throw new Error("verifier key ID is not 8 hex digits");
  const material = fromBase64(vkey.slice(second + 1));
  const type = material[0];
  const publicKey = material.slice(1);
  if ((type !== SIG_TYPE_ED25519 && type !== SIG_TYPE_COSIGNATURE_V1) || publicKey.length !== 32) {
    throw new Error("verifier key is not an Ed25519 key");
  }
  if (keyId(name, type, publicKey) !== id) throw new Error("verifier key ID does not match its key");
  return { name, keyId: id, type, publicKey };
}

/** Encode a verifier key (for tests and tools): name+id+base64(type || key). */
export function formatVerifierKey(name: string, type: number, publicKey: Uint8Array): string {
  return `${name}+${keyId(name, type, publicKey)}+${toBase64(concatBytes(Uint8Array.of(type), publicKey))}`;
}

function ed25519Verify(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  try {
    // RFC 8032 strict (not ZIP-215), as the ledger's and the witnesses' verifiers are.
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

export type SignatureCheck =
  | { status: "verified" }
  | { status: "missing" }
  | { status: "invalid" };

/** Check a note's Ed25519 (type 0x01) signature by the key of `vkey`: lines of other keys are ignored. */
export function verifyNoteSignature(note: Note, vkey: VerifierKey): SignatureCheck {
  if (vkey.type !== SIG_TYPE_ED25519) throw new Error("not an Ed25519 signed-note key");
  const mine = note.signatures.filter((s) => s.name === vkey.name && s.keyId === vkey.keyId);
  if (mine.length === 0) return { status: "missing" };
  const message = utf8ToBytes(note.text);
  return mine.every((s) => ed25519Verify(s.signature, message, vkey.publicKey)) ? { status: "verified" } : { status: "invalid" };
}

// ---------------------------------------------------------------------------------------
// C2SP tlog-cosignature: cosignature/v1 (Ed25519)

const MAX_TIMESTAMP = (1n << 63n) - 1n;

/** The message a cosigner signs: "cosignature/v1\ntime <t>\n" followed by the checkpoint body. */
export function cosignatureMessage(timestamp: number | bigint, checkpointBody: string): Uint8Array {
  return utf8ToBytes(`cosignature/v1\ntime ${BigInt(timestamp).toString()}\n${checkpointBody}`);
}

/** The key ID of a cosigner: SHA-256(name || 0x0A || 0x04 || public key)[:4]. */
export function cosignerKeyId(vkey: VerifierKey): string {
  return keyId(vkey.name, SIG_TYPE_COSIGNATURE_V1, vkey.publicKey);
}

/** The timestamp of a cosignature (the first 8 bytes, big-endian, of timestamp || signature). */
export function cosignatureTimestamp(signature: Uint8Array): bigint {
  if (signature.length !== 72) throw new Error("cosignature is not 8 + 64 bytes");
  const t = new DataView(signature.buffer, signature.byteOffset, 8).getBigUint64(0, false);
  if (t > MAX_TIMESTAMP) throw new Error("cosignature timestamp is too large");
  return t;
}

export type CosignatureCheck =
  | { status: "verified"; timestamp: number }
  | { status: "missing" }
  | { status: "invalid" };

/**
 * Check the cosignature/v1 of the witness key `vkey` on a checkpoint note. The key may be
 * given as a cosignature key (type 0x04) or as the witness's plain Ed25519 key (type 0x01):
 * either way the line is found by the name and the 0x04 key ID.
 */
export function verifyCosignature(note: Note, vkey: VerifierKey): CosignatureCheck {
  const id = cosignerKeyId(vkey);
  const mine = note.signatures.filter((s) => s.name === vkey.name && s.keyId === id);
  if (mine.length === 0) return { status: "missing" };
  let timestamp = -1;
  for (const s of mine) {
    let t: bigint;
    try {
      t = cosignatureTimestamp(s.signature);
    } catch {
      return { status: "invalid" };
    }
    if (!ed25519Verify(s.signature.subarray(8), cosignatureMessage(t, note.text), vkey.publicKey)) return { status: "invalid" };
    timestamp = Math.max(timestamp, Number(t));
  }
  return { status: "verified", timestamp };
}

// ---------------------------------------------------------------------------------------
// C2SP tlog-checkpoint

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  extensions: string[];
}

/** Parse a checkpoint body: origin, decimal size, base64 root hash, optional extension lines. */
export function parseCheckpoint(body: string): Checkpoint {
  if (!body.endsWith("\n")) throw new Error("checkpoint does not end with a newline");
  const lines = body.slice(0, -1).split("\n");
  if (lines.length < 3) throw new Error("checkpoint has fewer than three lines");
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (!origin) throw new Error("checkpoint has no origin");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) throw new Error("checkpoint size is not a decimal number");
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw new Error("checkpoint size is too large");
  const root = fromBase64(rootText);
  if (root.length !== HASH_SIZE) throw new Error("checkpoint root is not 32 bytes");
  if (extensions.some((line) => line === "")) throw new Error("checkpoint has an empty extension line");
  return { origin, size, root, extensions };
}

// ---------------------------------------------------------------------------------------
// EnergyChain: blinded channel ids and the log of heads

const CHANNEL_DOMAIN = utf8ToBytes("energychain/channel/v1");

/** SHA-256("energychain/channel/v1" || 0x00 || salt || channel), as hex. */
export function blindedChannelId(salt: Uint8Array, channel: string): string {
  return toHex(sha256(concatBytes(CHANNEL_DOMAIN, Uint8Array.of(0x00), salt, utf8ToBytes(channel))));
}

/** The 73 bytes of a head leaf: 0x01 || blinded id (32) || size (uint64 BE) || root (32). */
export function headLeafData(blindedId: Uint8Array, size: number | bigint, root: Uint8Array): Uint8Array {
  if (blindedId.length !== HASH_SIZE || root.length !== HASH_SIZE) throw new Error("head leaf needs 32-byte id and root");
  return concatBytes(Uint8Array.of(0x01), blindedId, uint64(size), root);
}

/** The leaf hash of an entry: SHA-256(0x00 || UTF-8 entry bytes). */
export function entryLeafHash(entry: string): Uint8Array {
  return hashLeaf(utf8ToBytes(entry));
}

// ---------------------------------------------------------------------------------------
// One bundle of GET /channels/{c}/proofs

export interface ProofBundle {
  channel: string;
  blinded_id: string;
  checkpoint: { size: number; root: string; note: string; cosigned_by?: string[] };
  /** null while the channel has no head in this checkpoint (every asked entry is pending). */
  head: { index: number; size: number; root: string } | null;
  head_proof: string[];
  entries: { seq: number; entry: string; proof: string[] }[];
  pending?: number[];
}

export interface VerifyOptions {
  /** The channel the caller asked for (never taken from the bundle). */
  channel: string;
  /** The channel's salt as hex (`GET /channels`). */
  saltHex: string;
  /** The ledger's verifier key (`GET /log/key`); its name must be the checkpoint's origin. */
  ledgerVkey: string;
  /** The witnesses' verifier keys (`GET /log/key`). */
  witnessVkeys: string[];
  /** Cosignatures by distinct known witnesses needed to call an entry verified (default 1). */
  minWitnesses?: number;
}

export type EntryState = "verified" | "pending" | "failed";

export interface EntryVerification {
  seq: number;
  state: EntryState;
  /** Why it is pending or failed. */
  reason?: string;
}

export interface Cosigner {
  name: string;
  keyId: string;
  timestamp: number;
}

export interface BundleVerification {
  /** The checkpoint, its ledger signature and the channel head all check out. */
  ok: boolean;
  /** Why not, when not. */
  reason?: string;
  origin: string | null;
  checkpointSize: number | null;
  ledgerKeyId: string | null;
  /** The known witnesses whose cosignature of this checkpoint verified. */
  witnesses: Cosigner[];
  /** Witness keys that could not be used (malformed). */
  unusableWitnessKeys: string[];
  /** One result per entry of the bundle and per pending seq, by seq. */
  entries: EntryVerification[];
}

export const REASONS = {
  ledgerKey: "the ledger's verifier key is malformed",
  note: "the checkpoint note is malformed",
  origin: "the checkpoint is not from the ledger's origin",
  unsigned: "the checkpoint is not signed by the ledger's key",
  signature: "the checkpoint signature is invalid",
  cosignature: (name: string) => `the cosignature of ${name} is invalid`,
  mismatch: "the checkpoint differs from its signed note",
  channel: "the proof is for another channel",
  salt: "the channel salt is malformed",
  blinded: "the blinded channel id differs from the one computed from the salt",
  head: "the channel head is not in the log of heads",
  leaf: "the entry is not included in the channel head",
  seq: "the entry is beyond the channel head",
  pendingCheckpoint: "not yet in a checkpoint",
  pendingWitness: "pending witness",
} as const;

function decodeProof(proof: unknown): Uint8Array[] {
  if (!Array.isArray(proof)) throw new Error("proof is not a list");
  return proof.map((p) => {
    if (typeof p !== "string") throw new Error("proof hash is not a string");
    return fromBase64(p);
  });
}

/**
 * Verify every entry of a `GET /channels/{c}/proofs` answer: each entry's leaf is included
 * at `seq - 1` in the channel head; the head leaf, rebuilt from the blinded id computed here
 * from the salt, is included at `head.index` in the log of heads of the checkpoint; the
 * checkpoint is signed by the ledger's key; and which known witnesses cosigned it. An entry
 * is verified when all of that holds and at least `minWitnesses` witnesses cosigned;
 * "pending" when only the cosignature is missing, or when it is not in the checkpoint yet.
 */
export function verifyEntries(bundle: ProofBundle, options: VerifyOptions): BundleVerification {
  const result: BundleVerification = {
    ok: false, origin: null, checkpointSize: null, ledgerKeyId: null,
    witnesses: [], unusableWitnessKeys: [], entries: [],
  };
  const pendingSeqs = Array.isArray(bundle.pending) ? bundle.pending : [];
  const entries = Array.isArray(bundle.entries) ? bundle.entries : [];
  const pending = (): EntryVerification[] => pendingSeqs.map((seq) => ({ seq, state: "pending", reason: REASONS.pendingCheckpoint }));
  const fail = (reason: string): BundleVerification => {
    result.reason = reason;
    result.entries = [...entries.map((e) => ({ seq: e.seq, state: "failed" as const, reason })), ...pending()];
    return result;
  };

  // The checkpoint: a signed note from the ledger's key, whose body is the checkpoint served.
  let ledgerKey: VerifierKey;
  try {
    ledgerKey = parseVerifierKey(options.ledgerVkey);
    if (ledgerKey.type !== SIG_TYPE_ED25519) throw new Error("not a signed-note key");
  } catch {
    return fail(REASONS.ledgerKey);
  }
  result.ledgerKeyId = ledgerKey.keyId;
  let note: Note;
  let checkpoint: Checkpoint;
  try {
    note = parseNote(bundle.checkpoint.note);
    checkpoint = parseCheckpoint(note.text);
  } catch {
    return fail(REASONS.note);
  }
  result.origin = checkpoint.origin;
  result.checkpointSize = checkpoint.size;
  if (checkpoint.origin !== ledgerKey.name) return fail(REASONS.origin);
  const signed = verifyNoteSignature(note, ledgerKey);
  if (signed.status === "missing") return fail(REASONS.unsigned);
  if (signed.status === "invalid") return fail(REASONS.signature);
  if (bundle.checkpoint.size !== checkpoint.size || bundle.checkpoint.root !== toBase64(checkpoint.root)) {
    return fail(REASONS.mismatch);
  }

  // Cosignatures: a known witness's line must verify (C2SP signed-note: reject the note otherwise).
  const seen = new Set<string>();
  for (const vkeyText of options.witnessVkeys) {
    let vkey: VerifierKey;
    try {
      vkey = parseVerifierKey(vkeyText);
    } catch {
      result.unusableWitnessKeys.push(vkeyText);
      continue;
    }
    const check = verifyCosignature(note, vkey);
    if (check.status === "invalid") return fail(REASONS.cosignature(vkey.name));
    if (check.status === "verified" && !seen.has(vkey.name)) {
      seen.add(vkey.name);
      result.witnesses.push({ name: vkey.name, keyId: cosignerKeyId(vkey), timestamp: check.timestamp });
    }
  }

  // The channel head: its leaf, built from our own blinded id, is in the log of heads.
  if (bundle.channel !== options.channel) return fail(REASONS.channel);
  let salt: Uint8Array;
  try {
    salt = fromHex(options.saltHex);
  } catch {
    return fail(REASONS.salt);
  }
  const blinded = blindedChannelId(salt, options.channel);
  if (String(bundle.blinded_id).toLowerCase() !== blinded) return fail(REASONS.blinded);
  if (entries.length === 0) {
    // Nothing in this checkpoint to prove (the channel may have no head in it yet): only pending seqs.
    result.ok = true;
    result.entries = pending();
    return result;
  }
  if (bundle.head === null || bundle.head === undefined) return fail(REASONS.head);
  const head = bundle.head;
  let headRoot: Uint8Array;
  try {
    headRoot = fromBase64(head.root);
    if (headRoot.length !== HASH_SIZE) throw new Error("head root is not 32 bytes");
    const leaf = hashLeaf(headLeafData(fromHex(blinded), head.size, headRoot));
    if (!bytesEqual(rootFromInclusion(head.index, checkpoint.size, leaf, decodeProof(bundle.head_proof)), checkpoint.root)) {
      return fail(REASONS.head);
    }
  } catch {
    return fail(REASONS.head);
  }
  result.ok = true;

  // Each entry: its leaf is in the channel head.
  const cosigned = result.witnesses.length >= (options.minWitnesses ?? 1);
  result.entries = entries.map((e): EntryVerification => {
    const seq = e.seq;
    if (!Number.isSafeInteger(seq) || seq < 1) return { seq, state: "failed", reason: REASONS.leaf };
    if (seq > head.size) return { seq, state: "failed", reason: REASONS.seq };
    if (typeof e.entry !== "string") return { seq, state: "failed", reason: REASONS.leaf };
    let included: boolean;
    try {
      included = bytesEqual(rootFromInclusion(seq - 1, head.size, entryLeafHash(e.entry), decodeProof(e.proof)), headRoot);
    } catch {
      included = false;
    }
    if (!included) return { seq, state: "failed", reason: REASONS.leaf };
    return cosigned ? { seq, state: "verified" } : { seq, state: "pending", reason: REASONS.pendingWitness };
  });
  result.entries.push(...pending());
  return result;
}
