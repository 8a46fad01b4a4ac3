"""Transparency-log primitives: RFC 9162 Merkle trees and C2SP signed notes, checkpoints and cosignatures."""
