import { ed25519 } from "@noble/curves/ed25519.js";
import { utf8ToBytes } from "@noble/hashes/utils.js";
import { describe, expect, it } from "vitest";
import {
  REASONS, SIG_TYPE_ED25519, blindedChannelId, bytesEqual, cosignatureTimestamp, entryLeafHash, formatVerifierKey,
  fromBase64, fromHex, hashChildren, hashLeaf, headLeafData, inclusionProof, parseCheckpoint, parseNote, parseVerifierKey,
  rootFromInclusion, toBase64, toHex, treeRoot, verifyCosignature, verifyEntries, verifyInclusion,
  verifyNoteSignature, type ProofBundle, type VerifyOptions,
} from "./tlog";
import {
  CHANNEL, COSIGNED_AT, ORIGIN, SALT_HEX, buildFixture, cosignatureLine, noteSignatureLine, signer,
} from "./tlog.testkit";

const hex = fromHex;

// ---------------------------------------------------------------------------------------
// RFC 6962 / RFC 9162 reference vectors, from transparency-dev/merkle:
//   testonly/constants.go       (LeafInputs, RootHashes, the empty root)
//   testonly/reference_test.go  (TestRefInclusionProof: index, size, proof)
//   proof/verify_test.go        (inclusionProofs: 1-based leaf, size, proof; corruptInclusionProof)
// the same vectors as google/certificate-transparency-go merkletree.

const LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(hex);
const EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const LEAF_HASHES = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
  "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
  "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
  "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
  "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
  "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
  "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
];
// [index (0-based), size, proof]: TestRefInclusionProof; verify_test.go's inclusionProofs are
// the same proofs with 1-based leaf numbers.
const INCLUSION: [number, number, string[]][] = [
  [0, 1, []],
  [0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]],
  [1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]],
  [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
  [1, 5, [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
  ]],
  [0, 8, [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
  ]],
  [5, 8, [
    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  ]],
];
const SOME_HASH = hex("abacaba000000000000000000000000000000000000000000060061e00123456");

describe("RFC 9162 Merkle trees (RFC 6962 reference vectors)", () => {
  it("hashes the reference leaves and the empty tree", () => {
    expect(LEAVES.map((l) => toHex(hashLeaf(l)))).toEqual(LEAF_HASHES);
    expect(toHex(treeRoot([]))).toBe(EMPTY_ROOT);
  });

  it("gives the reference root for every size 1..8", () => {
    const hashes = LEAVES.map(hashLeaf);
    for (let size = 1; size <= 8; size++) expect(toHex(treeRoot(hashes.slice(0, size)))).toBe(ROOTS[size - 1]);
  });

  it("rebuilds the reference root from each reference inclusion proof, and makes the same proofs", () => {
    const hashes = LEAVES.map(hashLeaf);
    for (const [index, size, proof] of INCLUSION) {
      const path = proof.map(hex);
      expect(toHex(rootFromInclusion(index, size, hashes[index], path))).toBe(ROOTS[size - 1]);
      expect(verifyInclusion(index, size, hashes[index], path, hex(ROOTS[size - 1]))).toBe(true);
      expect(inclusionProof(hashes.slice(0, size), index).map(toHex)).toEqual(proof);
    }
  });

  it("verifies every leaf of every tree up to 8 leaves", () => {
    const hashes = LEAVES.map(hashLeaf);
    for (let size = 1; size <= 8; size++) {
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(hashes.slice(0, size), index);
        expect(verifyInclusion(index, size, hashes[index], proof, hex(ROOTS[size - 1]))).toBe(true);
        expect(verifyInclusion(BigInt(index), BigInt(size), hashes[index], proof, hex(ROOTS[size - 1]))).toBe(true);
      }
    }
  });

  it("rejects the corrupted proofs of transparency-dev/merkle corruptInclusionProof", () => {
    const hashes = LEAVES.map(hashLeaf);
    for (const [index, size, proofHex] of INCLUSION.slice(1)) {
      const proof = proofHex.map(hex);
      const root = hex(ROOTS[size - 1]);
      const leaf = hashes[index];
      const probes: [number, number, Uint8Array, Uint8Array[], Uint8Array][] = [
        [index - 1, size, leaf, proof, root],
        [index + 1, size, leaf, proof, root],
        [index ^ 2, size, leaf, proof, root],
        [index, size * 2, leaf, proof, root],
        [index, Math.floor(size / 2), leaf, proof, root],
        [index, size, utf8ToBytes("WrongLeaf"), proof, root],
        [index, size, leaf, proof, hex(EMPTY_ROOT)],
        [index, size, leaf, proof, SOME_HASH],
        [index, size, leaf, [...proof, new Uint8Array(0)], root],
        [index, size, leaf, [...proof, root], root],
        [index, size, leaf, [new Uint8Array(0), ...proof], root],
        [index, size, leaf, [root, ...proof], root],
        [index, size, leaf, proof.slice(0, -1), root],
      ];
      if (proof.length > 1) probes.push([index, size, leaf, [proof[0], SOME_HASH, ...proof.slice(1)], root]);
      proof.forEach((_, i) => {
        const flipped = proof.map((p) => p.slice());
        flipped[i][0] ^= 8;
        probes.push([index, size, leaf, flipped, root]);
      });
      for (const [i, s, l, p, r] of probes) expect(verifyInclusion(i, s, l, p, r)).toBe(false);
    }
  });

  it("throws on a malformed proof rather than returning a root", () => {
    const hashes = LEAVES.map(hashLeaf);
    const proof = INCLUSION[5][2].map(hex);
    expect(() => rootFromInclusion(8, 8, hashes[0], proof)).toThrow(/not below/);
    expect(() => rootFromInclusion(0, 0, hashes[0], [])).toThrow(/not below/);
    expect(() => rootFromInclusion(-1, 8, hashes[0], proof)).toThrow();
    expect(() => rootFromInclusion(0.5, 8, hashes[0], proof)).toThrow();
    expect(() => rootFromInclusion(0, 8, hashes[0], [...proof, SOME_HASH])).toThrow(/too long/);
    expect(() => rootFromInclusion(0, 8, hashes[0], proof.slice(0, 2))).toThrow(/too short/);
    expect(() => rootFromInclusion(0, 8, hashes[0], [proof[0], proof[1], proof[2].slice(1)])).toThrow(/32 bytes/);
    expect(() => rootFromInclusion(0, 8, hashes[0].slice(1), proof)).toThrow(/32 bytes/);
    expect(() => rootFromInclusion(0, 1, hashes[0], [SOME_HASH])).toThrow(/too long/);
  });

  it("handles indexes and sizes beyond 32 bits", () => {
    // The last leaf of a tree of 2^33 + 6 leaves: its path is the leaf beside it, the
    // 4-leaf subtree before those two, and the 2^33-leaf subtree on the left.
    const size = 2 ** 33 + 6;
    const [a, b, c] = [0, 1, 2].map((i) => hashLeaf(Uint8Array.of(i)));
    const want = hashChildren(c, hashChildren(b, hashChildren(a, SOME_HASH)));
    expect(toHex(rootFromInclusion(size - 1, size, SOME_HASH, [a, b, c]))).toBe(toHex(want));
    expect(toHex(rootFromInclusion(BigInt(size - 1), BigInt(size), SOME_HASH, [a, b, c]))).toBe(toHex(want));
    expect(() => rootFromInclusion(size - 1, size, SOME_HASH, [a, b])).toThrow(/too short/);
    expect(() => rootFromInclusion(size - 1, size, SOME_HASH, [a, b, c, a])).toThrow(/too long/);
    // Leaf 2^32 + 1 of the same tree: 34 hashes (33 inside the left 2^33 subtree, then the right part).
    const path = Array.from({ length: 34 }, (_, i) => hashLeaf(Uint8Array.of(i)));
    expect(rootFromInclusion(2 ** 32 + 1, size, SOME_HASH, path).length).toBe(32);
    expect(() => rootFromInclusion(2 ** 32 + 1, size, SOME_HASH, path.slice(1))).toThrow(/too short/);
  });
});

// ---------------------------------------------------------------------------------------
// C2SP signed-note: the golang.org/x/mod/sumdb/note example (repository golang/mod,
// sumdb/note/note.go package documentation and sumdb/note/note_test.go TestOpen).

const PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG = "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG = "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

describe("C2SP signed notes (Go sumdb/note published example)", () => {
  it("parses the verifier key and checks its key ID", () => {
    const key = parseVerifierKey(PETER_VKEY);
    expect(key.name).toBe("PeterNeumann");
    expect(key.keyId).toBe("c74f20a3");
    expect(key.type).toBe(SIG_TYPE_ED25519);
    expect(key.publicKey.length).toBe(32);
    expect(() => parseVerifierKey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")).toThrow(/does not match/);
    expect(() => parseVerifierKey("PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")).toThrow(/does not match/);
    expect(() => parseVerifierKey("bananas.sigstore.dev+12344556")).toThrow();
    expect(() => parseVerifierKey("rekor.sigstore.dev+12345678+AwEB")).toThrow();
  });

  it("verifies the example note signed by PeterNeumann", () => {
    const note = parseNote(GO_TEXT + "\n" + PETER_SIG);
    expect(note.text).toBe(GO_TEXT);
    expect(note.signatures.map((s) => `${s.name}+${s.keyId}`)).toEqual(["PeterNeumann+c74f20a3"]);
    expect(verifyNoteSignature(note, parseVerifierKey(PETER_VKEY)).status).toBe("verified");
  });

  it("verifies each of two signatures with its own key, ignoring the other's line", () => {
    const note = parseNote(GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG);
    expect(verifyNoteSignature(note, parseVerifierKey(PETER_VKEY)).status).toBe("verified");
    expect(verifyNoteSignature(note, parseVerifierKey(ENOCH_VKEY)).status).toBe("verified");
    expect(verifyNoteSignature(parseNote(GO_TEXT + "\n" + PETER_SIG), parseVerifierKey(ENOCH_VKEY)).status).toBe("missing");
  });

  it("derives EnochRoot's published key from the example's all-zero seed and signs as it did", () => {
    const enoch = signer("EnochRoot", 0);
    expect(formatVerifierKey("EnochRoot", SIG_TYPE_ED25519, enoch.publicKey)).toBe(ENOCH_VKEY);
    expect(noteSignatureLine(enoch, GO_TEXT)).toBe(ENOCH_SIG);
  });

  it("rejects an altered text or signature", () => {
    const key = parseVerifierKey(PETER_VKEY);
    const altered = parseNote(GO_TEXT.replace("problem,", "problem;") + "\n" + PETER_SIG);
    expect(verifyNoteSignature(altered, key).status).toBe("invalid");
    const badSig = parseNote(GO_TEXT + "\n" + PETER_SIG.slice(0, 60) + "ABCD" + PETER_SIG.slice(60));
    expect(verifyNoteSignature(badSig, key).status).toBe("invalid");
    const flipped = PETER_SIG.replace("x08go/ZJ", "x08go/ZK");
    expect(verifyNoteSignature(parseNote(GO_TEXT + "\n" + flipped), key).status).toBe("invalid");
  });

  it("refuses the malformed notes of TestOpen", () => {
    const bad = [
      GO_TEXT,
      GO_TEXT + "\n",
      GO_TEXT + "\n" + PETER_SIG.slice(0, -1),
      "\x01" + GO_TEXT + "\n" + PETER_SIG,
      GO_TEXT + "\n" + "\u2014 Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
      GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
      GO_TEXT + "\n" + PETER_SIG.repeat(101),
    ];
    for (const msg of bad) expect(() => parseNote(msg)).toThrow();
  });
});

// ---------------------------------------------------------------------------------------
// C2SP tlog-cosignature (repository C2SP/C2SP, tlog-cosignature.md) and tlog-checkpoint.

describe("C2SP checkpoints and cosignature/v1", () => {
  it("reads the timestamp of the spec's example cosignature and of transparency-dev/formats' vector", () => {
    // tlog-cosignature.md: "— witness.example.com/w1 jWbPPw..." cosigned at "time 1679315147".
    const spec = fromBase64("jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==");
    expect(cosignatureTimestamp(spec.subarray(4))).toBe(1679315147n);
    // transparency-dev/formats note/note_cosigv1_test.go TestCoSigV1Timestamp.
    const formats = fromBase64("ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==");
    expect(cosignatureTimestamp(formats.subarray(4))).toBe(1727964367n);
    // A plain Ed25519 note signature is not a cosignature.
    const plain = fromBase64("eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY=");
    expect(() => cosignatureTimestamp(plain.subarray(4))).toThrow();
  });

  it("parses the spec's example checkpoint", () => {
    const cp = parseCheckpoint("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
    expect(cp.origin).toBe("example.com/behind-the-sofa");
    expect(cp.size).toBe(20852163);
    expect(toBase64(cp.root)).toBe("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
    expect(cp.extensions).toEqual([]);
    for (const bad of [
      "example.com/x\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
      "example.com/x\n020852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
      "example.com/x\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
      "example.com/x\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",
      "example.com/x\n1\nAAAA\n",
      "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    ]) expect(() => parseCheckpoint(bad)).toThrow();
  });

  it("verifies a cosignature over the timestamped message, by a 0x04 or a 0x01 witness key", () => {
    const w = signer("witness.example/w1", 9);
    const body = `${ORIGIN}\n6\n${toBase64(SOME_HASH)}\n`;
    const note = parseNote(body + "\n" + cosignatureLine(w, body, COSIGNED_AT));
    for (const type of [0x04, 0x01]) {
      const check = verifyCosignature(note, parseVerifierKey(formatVerifierKey(w.name, type, w.publicKey)));
      expect(check).toEqual({ status: "verified", timestamp: COSIGNED_AT });
    }
    // The signature covers the time line: another timestamp under the same signature fails.
    const line = cosignatureLine(w, body, COSIGNED_AT);
    const blob = fromBase64(line.split(" ")[2].trim());
    blob[4 + 7] ^= 1;
    const retimed = parseNote(`${body}\n\u2014 ${w.name} ${toBase64(blob)}\n`);
    expect(verifyCosignature(retimed, parseVerifierKey(formatVerifierKey(w.name, 0x04, w.publicKey))).status).toBe("invalid");
    // A witness's plain note signature is not a cosignature (other key ID): not found.
    const plain = parseNote(body + "\n" + noteSignatureLine(w, body));
    expect(verifyCosignature(plain, parseVerifierKey(formatVerifierKey(w.name, 0x04, w.publicKey))).status).toBe("missing");
  });
});

// ---------------------------------------------------------------------------------------
// EnergyChain: blinded ids, head leaves, and whole bundles.

describe("blinded channel ids and head leaves", () => {
  it("computes the blinded id as SHA-256(domain || 0x00 || salt || channel), as an independent SHA-256 does", async () => {
    const salt = hex(SALT_HEX);
    const input = new Uint8Array([...utf8ToBytes("energychain/channel/v1"), 0, ...salt, ...utf8ToBytes(CHANNEL)]);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
    expect(blindedChannelId(salt, CHANNEL)).toBe(toHex(digest));
    expect(blindedChannelId(salt, "resident:house-02")).not.toBe(toHex(digest));
  });

  it("lays out the 73-byte head leaf", () => {
    const data = headLeafData(new Uint8Array(32).fill(0xaa), 0x0102030405, new Uint8Array(32).fill(0xbb));
    expect(data.length).toBe(73);
    expect(data[0]).toBe(1);
    expect(toHex(data.subarray(33, 41))).toBe("0000000102030405");
    expect(data[1]).toBe(0xaa);
    expect(data[72]).toBe(0xbb);
  });
});

function options(f: ReturnType<typeof buildFixture>, overrides: Partial<VerifyOptions> = {}): VerifyOptions {
  return { channel: CHANNEL, saltHex: SALT_HEX, ledgerVkey: f.ledgerVkey, witnessVkeys: f.witnessVkeys, ...overrides };
}

function states(bundle: ProofBundle, opts: VerifyOptions): Record<number, string> {
  return Object.fromEntries(verifyEntries(bundle, opts).entries.map((e) => [e.seq, e.reason ? `${e.state}: ${e.reason}` : e.state]));
}

function clone(bundle: ProofBundle): ProofBundle {
  return JSON.parse(JSON.stringify(bundle)) as ProofBundle;
}

function flipBase64(b64: string): string {
  const bytes = fromBase64(b64);
  bytes[0] ^= 1;
  return toBase64(bytes);
}

describe("verifyEntries on a bundle built by hand", () => {
  it("verifies every entry, lists the pending ones and the witnesses that cosigned", () => {
    const f = buildFixture();
    const result = verifyEntries(f.bundle, options(f));
    expect(result.ok).toBe(true);
    expect(result.origin).toBe(ORIGIN);
    expect(result.checkpointSize).toBe(6);
    expect(result.ledgerKeyId).toBe(parseVerifierKey(f.ledgerVkey).keyId);
    expect(result.witnesses.map((w) => w.name)).toEqual(["witness-parlier", "witness-auditor"]);
    expect(result.witnesses.every((w) => w.timestamp === COSIGNED_AT && /^[0-9a-f]{8}$/.test(w.keyId))).toBe(true);
    expect(states(f.bundle, options(f))).toEqual({
      1: "verified", 2: "verified", 3: "verified", 4: "verified", 5: "verified",
      6: `pending: ${REASONS.pendingCheckpoint}`, 7: `pending: ${REASONS.pendingCheckpoint}`,
    });
  });

  it("fails the one entry whose proof has a changed hash", () => {
    const f = buildFixture();
    const b = clone(f.bundle);
    b.entries[1].proof[0] = flipBase64(b.entries[1].proof[0]);
    const s = states(b, options(f));
    expect(s[2]).toBe(`failed: ${REASONS.leaf}`);
    expect([s[1], s[3], s[4], s[5]]).toEqual(["verified", "verified", "verified", "verified"]);
  });

  it("fails an entry whose text was changed, or whose proof is short, long or for another seq", () => {
    const f = buildFixture();
    const b = clone(f.bundle);
    b.entries[2].entry = b.entries[2].entry.replace("1003", "1");
    b.entries[0].proof = b.entries[0].proof.slice(1);
    b.entries[3].proof = [...b.entries[3].proof, b.entries[3].proof[0]];
    b.entries[4].seq = 4;
    const s = states(b, options(f));
    expect(s[3]).toBe(`failed: ${REASONS.leaf}`);
    expect(s[1]).toBe(`failed: ${REASONS.leaf}`);
    expect(s[4]).toBe(`failed: ${REASONS.leaf}`);
    expect(s[2]).toBe("verified");
    const beyond = clone(f.bundle);
    beyond.entries[0].seq = 9;
    expect(states(beyond, options(f))[9]).toBe(`failed: ${REASONS.seq}`);
  });

  it("fails every entry when the checkpoint root is changed", () => {
    const f = buildFixture();
    const newRoot = flipBase64(f.bundle.checkpoint.root);
    // Changed in the bundle only: it no longer is the signed checkpoint.
    const served = clone(f.bundle);
    served.checkpoint.root = newRoot;
    expect(verifyEntries(served, options(f)).reason).toBe(REASONS.mismatch);
    // Changed in the note too, without the ledger's key: the signature no longer verifies.
    const forged = clone(served);
    forged.checkpoint.note = forged.checkpoint.note.replace(f.bundle.checkpoint.root, newRoot);
    expect(verifyEntries(forged, options(f)).reason).toBe(REASONS.signature);
    // Signed (and cosigned) by the ledger with another root: the head is not in that log.
    const body = f.body.replace(f.bundle.checkpoint.root, newRoot);
    const resigned = clone(served);
    resigned.checkpoint.note = body + "\n" + noteSignatureLine(f.ledger, body)
      + f.witnesses.map((w) => cosignatureLine(w, body, COSIGNED_AT)).join("");
    const result = verifyEntries(resigned, options(f));
    expect(result.ok).toBe(false);
    expect(result.reason).toBe(REASONS.head);
    expect(result.entries.filter((e) => e.state === "failed").map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(result.entries.filter((e) => e.state === "pending").map((e) => e.seq)).toEqual([6, 7]);
  });

  it("fails every entry when a signature is changed or missing", () => {
    const f = buildFixture();
    const lines = f.bundle.checkpoint.note.split("\n");
    const withLine = (i: number, line: string) => {
      const b = clone(f.bundle);
      const copy = [...lines];
      copy[i] = line;
      b.checkpoint.note = copy.join("\n");
      return b;
    };
    const flipLine = (line: string) => {
      const [dash, name, sig] = line.split(" ");
      const bytes = fromBase64(sig);
      bytes[bytes.length - 1] ^= 1;
      return [dash, name, toBase64(bytes)].join(" ");
    };
    // lines: origin, size, root, "", ledger, witness-parlier, witness-auditor, ""
    expect(verifyEntries(withLine(4, flipLine(lines[4])), options(f)).reason).toBe(REASONS.signature);
    expect(verifyEntries(withLine(5, flipLine(lines[5])), options(f)).reason).toBe(REASONS.cosignature("witness-parlier"));
    expect(verifyEntries(withLine(6, flipLine(lines[6])), options(f)).reason).toBe(REASONS.cosignature("witness-auditor"));
    const unsigned = clone(f.bundle);
    unsigned.checkpoint.note = [...lines.slice(0, 4), ...lines.slice(5)].join("\n");
    expect(verifyEntries(unsigned, options(f)).reason).toBe(REASONS.unsigned);
    for (const b of [withLine(4, flipLine(lines[4])), withLine(5, flipLine(lines[5])), unsigned]) {
      expect(verifyEntries(b, options(f)).entries.filter((e) => e.state === "failed")).toHaveLength(5);
    }
  });

  it("fails against another ledger key, and refuses a malformed one", () => {
    const f = buildFixture();
    const other = signer(ORIGIN, 42);
    expect(verifyEntries(f.bundle, options(f, { ledgerVkey: formatVerifierKey(ORIGIN, 1, other.publicKey) })).reason).toBe(REASONS.unsigned);
    expect(verifyEntries(f.bundle, options(f, { ledgerVkey: "nonsense" })).reason).toBe(REASONS.ledgerKey);
    const otherOrigin = signer("another.example/log", 1);
    expect(verifyEntries(f.bundle, options(f, { ledgerVkey: formatVerifierKey(otherOrigin.name, 1, otherOrigin.publicKey) })).reason)
      .toBe(REASONS.origin);
  });

  it("holds entries as pending witness until a known witness has cosigned", () => {
    const f = buildFixture({ cosigners: 0 });
    const result = verifyEntries(f.bundle, options(f));
    expect(result.ok).toBe(true);
    expect(result.witnesses).toEqual([]);
    expect(result.entries.slice(0, 5).every((e) => e.state === "pending" && e.reason === REASONS.pendingWitness)).toBe(true);
    // One cosignature, but two asked for.
    const one = buildFixture({ cosigners: 1 });
    expect(verifyEntries(one.bundle, options(one, { minWitnesses: 2 })).entries[0].reason).toBe(REASONS.pendingWitness);
    expect(verifyEntries(one.bundle, options(one)).entries[0].state).toBe("verified");
    // Cosignatures by keys the caller does not know count for nothing.
    const stranger = formatVerifierKey("witness-parlier", 4, signer("witness-parlier", 77).publicKey);
    expect(verifyEntries(f.bundle, options(f, { witnessVkeys: [stranger] })).witnesses).toEqual([]);
    expect(verifyEntries(buildFixture().bundle, options(f, { witnessVkeys: ["garbage"] })).unusableWitnessKeys).toEqual(["garbage"]);
  });

  it("fails every entry when the head is not this channel's or not in the log", () => {
    const f = buildFixture();
    // The wrong salt: the blinded id the verifier computes is not the served one.
    expect(verifyEntries(f.bundle, options(f, { saltHex: "00".repeat(32) })).reason).toBe(REASONS.blinded);
    // A server that serves the blinded id of the wrong salt too: the head leaf is not in the log.
    const lying = clone(f.bundle);
    lying.blinded_id = blindedChannelId(new Uint8Array(32), CHANNEL);
    expect(verifyEntries(lying, options(f, { saltHex: "00".repeat(32) })).reason).toBe(REASONS.head);
    // Another channel's bundle.
    expect(verifyEntries(f.bundle, options(f, { channel: "resident:house-02" })).reason).toBe(REASONS.channel);
    // A changed head proof hash, head size, head root or head index.
    const proof = clone(f.bundle);
    proof.head_proof[1] = flipBase64(proof.head_proof[1]);
    const size = clone(f.bundle);
    size.head!.size = 4;
    const root = clone(f.bundle);
    root.head!.root = flipBase64(root.head!.root);
    const index = clone(f.bundle);
    index.head!.index = 2;
    const beyond = clone(f.bundle);
    beyond.head!.index = 6;
    for (const b of [proof, size, root, index, beyond]) expect(verifyEntries(b, options(f)).reason).toBe(REASONS.head);
    // No head of the channel in the checkpoint: fine when everything asked is pending, not otherwise.
    const headless = clone(f.bundle);
    headless.head = null;
    headless.head_proof = [];
    expect(verifyEntries(headless, options(f)).reason).toBe(REASONS.head);
    headless.entries = [];
    const onlyPending = verifyEntries(headless, options(f));
    expect(onlyPending.ok).toBe(true);
    expect(onlyPending.entries.map((e) => e.state)).toEqual(["pending", "pending"]);
    // Likewise a head with no proof when no entry is in it yet; but the checkpoint is still checked.
    const nothingYet = clone(f.bundle);
    nothingYet.entries = [];
    nothingYet.head_proof = [];
    expect(verifyEntries(nothingYet, options(f)).ok).toBe(true);
    nothingYet.checkpoint.root = flipBase64(nothingYet.checkpoint.root);
    expect(verifyEntries(nothingYet, options(f)).reason).toBe(REASONS.mismatch);
    // A malformed salt.
    expect(verifyEntries(f.bundle, options(f, { saltHex: "xyz" })).reason).toBe(REASONS.salt);
  });

  it("verifies a larger channel: every entry of 37 against its head", () => {
    const texts = Array.from({ length: 37 }, (_, i) => `{"entry_id":"e-${i + 1}"}`);
    const leaves = texts.map(entryLeafHash);
    const root = treeRoot(leaves);
    for (let i = 0; i < texts.length; i++) {
      expect(bytesEqual(rootFromInclusion(i, 37, leaves[i], inclusionProof(leaves, i)), root)).toBe(true);
    }
  });

  it("signs with the Ed25519 of RFC 8032 (section 7.1, TEST 1), the keys the fixtures are made with", () => {
    const secret = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const pub = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const sig = hex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    expect(bytesEqual(ed25519.getPublicKey(secret), pub)).toBe(true);
    expect(bytesEqual(ed25519.sign(new Uint8Array(0), secret), sig)).toBe(true);
  });
});
