// Test fixtures: a small ledger built by hand (keys, a channel tree, a log of heads, a
// signed and cosigned checkpoint) in the exact shape of `GET /channels/{c}/proofs`.
// Used by the unit tests only.

import { ed25519 } from "@noble/curves/ed25519.js";
import { concatBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import {
  SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519, blindedChannelId, cosignatureMessage, entryLeafHash, formatVerifierKey,
  fromHex, hashLeaf, headLeafData, inclusionProof, keyId, toBase64, treeRoot, type ProofBundle,
} from "./tlog";

export interface Signer {
  name: string;
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export function signer(name: string, seedByte: number): Signer {
  const { secretKey, publicKey } = ed25519.keygen(new Uint8Array(32).fill(seedByte));
  return { name, secretKey, publicKey };
}

/** A signed-note signature line of an Ed25519 (0x01) key. */
export function noteSignatureLine(s: Signer, text: string): string {
  const sig = ed25519.sign(utf8ToBytes(text), s.secretKey);
  return `\u2014 ${s.name} ${toBase64(concatBytes(fromHex(keyId(s.name, SIG_TYPE_ED25519, s.publicKey)), sig))}\n`;
}

/** A cosignature/v1 line: key ID (0x04) || timestamp (uint64 BE) || Ed25519 signature. */
export function cosignatureLine(s: Signer, body: string, timestamp: number): string {
  const sig = ed25519.sign(cosignatureMessage(timestamp, body), s.secretKey);
  const t = new Uint8Array(8);
  new DataView(t.buffer).setBigUint64(0, BigInt(timestamp), false);
  return `\u2014 ${s.name} ${toBase64(concatBytes(fromHex(keyId(s.name, SIG_TYPE_COSIGNATURE_V1, s.publicKey)), t, sig))}\n`;
}

export const CHANNEL = "resident:house-01";
export const SALT_HEX = "5a".repeat(16) + "a5".repeat(16);
export const ORIGIN = "energychain.local/ledger";
export const COSIGNED_AT = 1767225600;

export function entryText(seq: number): string {
  const amount = 1000 + seq;
  return JSON.stringify({
    body: { invoice_id: `inv-${seq}`, period: "2022-01" },
    channels: [CHANNEL, "municipality:parlier"],
    entry_id: `entry-${seq}`,
    kind: "invoice_issued",
    occurred_at: `2022-01-0${seq}T00:00:00Z`,
    producer: "billing",
    transfers: [{ amount_cents: amount, credit_account: "gsa:revenue", debit_account: `${CHANNEL}:receivable`, memo: `invoice ${seq}` }],
  });
}

export interface Fixture {
  bundle: ProofBundle;
  ledger: Signer;
  witnesses: Signer[];
  ledgerVkey: string;
  witnessVkeys: string[];
  body: string;
  /** The checkpoint's log-of-heads leaves, to build other checkpoints from. */
  headLeaves: Uint8Array[];
}

/**
 * Five entries on the resident's channel, its head at index 3 of a log of six heads (the
 * others belong to other channels), the checkpoint signed by the ledger and cosigned by two
 * witnesses, one given by a cosignature (0x04) key and one by a plain Ed25519 key.
 */
export function buildFixture(options: { cosigners?: number; entrySeqs?: number[]; pending?: number[] } = {}): Fixture {
  const ledger = signer(ORIGIN, 1);
  const witnesses = [signer("witness-parlier", 2), signer("witness-auditor", 3)];
  const texts = [1, 2, 3, 4, 5].map(entryText);
  const leaves = texts.map(entryLeafHash);
  const headRoot = treeRoot(leaves);
  const blinded = fromHex(blindedChannelId(fromHex(SALT_HEX), CHANNEL));
  const other = (i: number) => hashLeaf(headLeafData(new Uint8Array(32).fill(0xc0 + i), i + 1, new Uint8Array(32).fill(i)));
  const headLeaves = [other(0), other(1), hashLeaf(headLeafData(blinded, 3, treeRoot(leaves.slice(0, 3)))),
    hashLeaf(headLeafData(blinded, 5, headRoot)), other(4), other(5)];
  const root = treeRoot(headLeaves);
  const body = `${ORIGIN}\n${headLeaves.length}\n${toBase64(root)}\n`;
  const cosigners = witnesses.slice(0, options.cosigners ?? 2);
  const note = body + "\n" + noteSignatureLine(ledger, body) + cosigners.map((w) => cosignatureLine(w, body, COSIGNED_AT)).join("");
  const seqs = options.entrySeqs ?? [1, 2, 3, 4, 5];
  const bundle: ProofBundle = {
    channel: CHANNEL,
    blinded_id: blindedChannelId(fromHex(SALT_HEX), CHANNEL),
    checkpoint: { size: headLeaves.length, root: toBase64(root), note, cosigned_by: cosigners.map((w) => w.name) },
    head: { index: 3, size: 5, root: toBase64(headRoot) },
    head_proof: inclusionProof(headLeaves, 3).map(toBase64),
    entries: seqs.map((seq) => ({ seq, entry: texts[seq - 1], proof: inclusionProof(leaves, seq - 1).map(toBase64) })),
    pending: options.pending ?? [6, 7],
  };
  return {
    bundle, ledger, witnesses, body, headLeaves,
    ledgerVkey: formatVerifierKey(ledger.name, SIG_TYPE_ED25519, ledger.publicKey),
    witnessVkeys: [
      formatVerifierKey(witnesses[0].name, SIG_TYPE_COSIGNATURE_V1, witnesses[0].publicKey),
      formatVerifierKey(witnesses[1].name, SIG_TYPE_ED25519, witnesses[1].publicKey),
    ],
  };
}
