//! The canonical binary form of a [`VersionSet`], drawn on the type.
//!
//! Canonical means one set, one byte string: the clock is written in node-id order, siblings in
//! their display order, integers as shortest varints. [`VersionSet::decode`] accepts exactly the
//! byte strings [`VersionSet::encode`] can produce (so `encode(decode(b)) == b` whenever decode
//! succeeds) and re-checks every invariant of `set.rs`, since bytes come from disk or the network.

use std::collections::HashSet;

use crate::clock::{Clock, ClockEntry};
use crate::codec::{Reader, invalid, put_bytes, put_varint};
use crate::{DecodeError, Dot, Value, Version, VersionSet};

/// Format byte of the version-set encoding: a set without history or receipts.
const SET_FORMAT: u8 = 1;
/// Format byte of a set with history or receipts: format 1's bytes, then both sections (a set
/// without either still encodes as format 1, byte for byte as before they existed).
const SET_FORMAT_PAST: u8 = 2;
const FLAG_TOMBSTONE: u8 = 0b01;
const FLAG_EXPIRES: u8 = 0b10;
/// Smallest encoded node entry: empty id (1), counter (1), timestamp (1).
const MIN_NODE_LEN: usize = 3;
/// Smallest encoded version: node index, counter, written_at, flags.
const MIN_VERSION_LEN: usize = 4;

impl VersionSet {
    /// Compact canonical binary form: equal sets encode to equal bytes (Merkle trees hash it).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        let past = !self.history.is_empty() || !self.receipts.is_empty();
        out.push(if past { SET_FORMAT_PAST } else { SET_FORMAT });
        put_varint(&mut out, self.clock.len() as u64);
        let mut nodes: Vec<&str> = Vec::with_capacity(self.clock.len());
        for (node, entry) in self.clock.iter() {
            put_bytes(&mut out, node.as_bytes());
            put_varint(&mut out, entry.counter);
            put_varint(&mut out, entry.updated_at_ms);
            nodes.push(node);
        }
        put_varint(&mut out, self.versions.len() as u64);
        for v in &self.versions {
            // Invariant 1: every dot's node is in the clock, which is sorted like `nodes`.
            let idx = nodes
                .binary_search(&v.dot.node.as_str())
                .expect("version set invariant: every dot is covered by the clock");
            put_varint(&mut out, idx as u64);
            put_varint(&mut out, v.dot.counter);
            put_body(&mut out, v);
        }
        if past {
            self.encode_past(&mut out);
        }
        out
    }

    /// The sections of format 2 (after format 1's versions):
    ///
    /// ```text
    /// +-----------+--------------------------+------------+--------------------------+
    /// | n_history | n_history x past value   | n_receipts | n_receipts x receipt     |
    /// +-----------+--------------------------+------------+--------------------------+
    ///
    /// past value, strictly ascending by (written_at_ms, node id, counter), never a dot of a
    /// sibling; its node is named in full (the clock may have pruned its entry):
    /// +--------+----+---------+---------------+----------+-----------------+-----------------+
    /// | id_len | id | counter | written_at_ms | flags:u8 | [expires_at_ms] | data_len | data |
    /// +--------+----+---------+---------------+----------+-----------------+-----------------+
    ///   flags and data as a sibling's (a tombstone is the marker of a superseded deletion)
    ///
    /// receipt, strictly ascending by token bytes:
    /// +-----------+-------+-------------+----------------+-------------+---------+
    /// | token_len | token | fingerprint | recorded_at_ms | outcome_len | outcome |
    /// +-----------+-------+-------------+----------------+-------------+---------+
    /// ```
    fn encode_past(&self, out: &mut Vec<u8>) {
        put_varint(out, self.history.len() as u64);
        for v in &self.history {
            put_bytes(out, v.dot.node.as_bytes());
            put_varint(out, v.dot.counter);
            put_body(out, v);
        }
        put_varint(out, self.receipts.len() as u64);
        for r in &self.receipts {
            put_bytes(out, r.token.as_bytes());
            put_varint(out, r.fingerprint);
            put_varint(out, r.recorded_at_ms);
            put_bytes(out, &r.outcome);
        }
    }

    /// Decodes untrusted bytes; every malformed or non-canonical input is an error.
    pub fn decode(bytes: &[u8]) -> Result<VersionSet, DecodeError> {
        let mut r = Reader::new(bytes);
        let past = match r.u8()? {
            SET_FORMAT => false,
            SET_FORMAT_PAST => true,
            f => return Err(invalid(format!("unknown version-set format {f}"))),
        };
        let (clock, nodes) = decode_clock(&mut r)?;
        let n = r.count(MIN_VERSION_LEN)?;
        let mut versions: Vec<Version> = Vec::with_capacity(n);
        let mut dots: HashSet<(usize, u64)> = HashSet::with_capacity(n);
        let mut previous: Option<(u64, usize, u64)> = None;
        for _ in 0..n {
            let (idx, version) = decode_version(&mut r, &nodes)?;
            let key = (version.written_at_ms, idx, version.dot.counter);
            if previous.is_some_and(|p| p >= key) {
                return Err(invalid("versions not strictly ascending"));
            }
            if !dots.insert((idx, version.dot.counter)) {
                return Err(invalid("duplicate dot"));
            }
            previous = Some(key);
            versions.push(version);
        }
        let (history, receipts) = if past {
            let history = decode_history(&mut r, &versions)?;
            let receipts = decode_receipts(&mut r)?;
            if history.is_empty() && receipts.is_empty() {
                return Err(invalid("format 2 without history or receipts"));
            }
            (history, receipts)
        } else {
            (Vec::new(), Vec::new())
        };
        r.finish()?;
        Ok(VersionSet {
            clock,
            versions,
            history,
            receipts,
        })
    }

    fn encoded_len_hint(&self) -> usize {
        let data: usize = self
            .versions
            .iter()
            .map(|v| match &v.value {
                Value::Data(d) => d.len() + 30,
                Value::Tombstone => 25,
            })
            .sum();
        let nodes: usize = self.clock.iter().map(|(n, _)| n.len() + 20).sum();
        let past: usize = self
            .history
            .iter()
            .map(|v| match &v.value {
                Value::Data(d) => v.dot.node.len() + d.len() + 30,
                Value::Tombstone => v.dot.node.len() + 25,
            })
            .chain(
                self.receipts
                    .iter()
                    .map(|r| r.token.len() + r.outcome.len() + 25),
            )
            .sum();
        5 + data + nodes + past
    }
}

/// Smallest encoded past value: empty id, counter, written_at, flags.
const MIN_PAST_LEN: usize = 4;
/// Smallest encoded receipt: empty token, fingerprint, recorded_at, outcome length.
const MIN_RECEIPT_LEN: usize = 4;

/// Reads the history section (see [`VersionSet::encode_past`]).
fn decode_history(r: &mut Reader<'_>, versions: &[Version]) -> Result<Vec<Version>, DecodeError> {
    let n = r.count(MIN_PAST_LEN)?;
    let mut history: Vec<Version> = Vec::with_capacity(n);
    for _ in 0..n {
        let node = r.string()?;
        let counter = r.varint()?;
        if counter == 0 {
            return Err(invalid("zero counter in a past value"));
        }
        let (written_at_ms, expires_at_ms, value) = decode_body(r, "past-value")?;
        let v = Version {
            dot: Dot { node, counter },
            value,
            written_at_ms,
            expires_at_ms,
        };
        if history
            .last()
            .is_some_and(|p| Version::display_order(p, &v).is_ge())
        {
            return Err(invalid("past values not strictly ascending"));
        }
        if versions.iter().any(|s| s.dot == v.dot) {
            return Err(invalid("a past value shares a sibling's dot"));
        }
        history.push(v);
    }
    Ok(history)
}

/// Reads the receipts section (see [`VersionSet::encode_past`]).
fn decode_receipts(r: &mut Reader<'_>) -> Result<Vec<crate::Receipt>, DecodeError> {
    let n = r.count(MIN_RECEIPT_LEN)?;
    let mut receipts: Vec<crate::Receipt> = Vec::with_capacity(n);
    for _ in 0..n {
        let token = std::str::from_utf8(r.len_prefixed()?)
            .map_err(|_| invalid("receipt token is not UTF-8"))?
            .to_owned();
        if receipts
            .last()
            .is_some_and(|p| p.token.as_bytes() >= token.as_bytes())
        {
            return Err(invalid("receipts not strictly ascending"));
        }
        let fingerprint = r.varint()?;
        let recorded_at_ms = r.varint()?;
        let outcome = r.len_prefixed()?.to_vec();
        receipts.push(crate::Receipt {
            token,
            fingerprint,
            recorded_at_ms,
            outcome,
        });
    }
    Ok(receipts)
}

/// Reads the node table: the clock, plus `(id, counter)` by index for the versions to refer to.
fn decode_clock(r: &mut Reader<'_>) -> Result<(Clock, Vec<(String, u64)>), DecodeError> {
    let n = r.count(MIN_NODE_LEN)?;
    let mut clock = Clock::default();
    let mut nodes: Vec<(String, u64)> = Vec::with_capacity(n);
    for _ in 0..n {
        let node = r.string()?;
        if nodes
            .last()
            .is_some_and(|(p, _)| p.as_bytes() >= node.as_bytes())
        {
            return Err(invalid("clock entries not strictly ascending"));
        }
        let counter = r.varint()?;
        if counter == 0 {
            return Err(invalid("zero counter in clock"));
        }
        let updated_at_ms = r.varint()?;
        clock.insert_decoded(
            node.clone(),
            ClockEntry {
                counter,
                updated_at_ms,
            },
        );
        nodes.push((node, counter));
    }
    Ok((clock, nodes))
}

/// Writes what follows a dot (read back by [`decode_body`]).
fn put_body(out: &mut Vec<u8>, v: &Version) {
    put_varint(out, v.written_at_ms);
    let mut flags = 0;
    if v.value == Value::Tombstone {
        flags |= FLAG_TOMBSTONE;
    }
    if v.expires_at_ms.is_some() {
        flags |= FLAG_EXPIRES;
    }
    out.push(flags);
    if let Some(t) = v.expires_at_ms {
        put_varint(out, t);
    }
    if let Value::Data(d) = &v.value {
        put_bytes(out, d);
    }
}

/// Reads what follows a dot, in a sibling and in a past value alike: the write time, the
/// flags, the expiry if flagged, the data unless a tombstone (`what` names it in errors).
fn decode_body(r: &mut Reader<'_>, what: &str) -> Result<(u64, Option<u64>, Value), DecodeError> {
    let written_at_ms = r.varint()?;
    let flags = r.u8()?;
    if flags & !(FLAG_TOMBSTONE | FLAG_EXPIRES) != 0 {
        return Err(invalid(format!("unknown {what} flags {flags:#04x}")));
    }
    let expires_at_ms = if flags & FLAG_EXPIRES != 0 {
        Some(r.varint()?)
    } else {
        None
    };
    let value = if flags & FLAG_TOMBSTONE != 0 {
        Value::Tombstone
    } else {
        Value::Data(r.len_prefixed()?.to_vec())
    };
    Ok((written_at_ms, expires_at_ms, value))
}

/// Reads one version, checking that its dot names a clock entry that covers it.
fn decode_version(
    r: &mut Reader<'_>,
    nodes: &[(String, u64)],
) -> Result<(usize, Version), DecodeError> {
    let idx = usize::try_from(r.varint()?).unwrap_or(usize::MAX);
    let (node, covered) = nodes
        .get(idx)
        .ok_or_else(|| invalid("dot names no clock entry"))?;
    let counter = r.varint()?;
    if counter == 0 || counter > *covered {
        return Err(invalid("dot not covered by the clock"));
    }
    let (written_at_ms, expires_at_ms, value) = decode_body(r, "version")?;
    let dot = Dot {
        node: node.clone(),
        counter,
    };
    Ok((
        idx,
        Version {
            dot,
            value,
            written_at_ms,
            expires_at_ms,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;

    fn sample() -> VersionSet {
        let mut s = VersionSet::new();
        s.update(
            &Context::default(),
            Value::Data(b"hello".to_vec()),
            Some(9_000),
            "b",
            300,
        );
        s.update(&Context::default(), Value::Tombstone, None, "a", 200);
        s.update(&Context::default(), Value::Data(vec![]), None, "b", 200);
        s
    }

    #[test]
    fn roundtrips_and_is_canonical() {
        let s = sample();
        let bytes = s.encode();
        let back = VersionSet::decode(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.encode(), bytes);
        let empty = VersionSet::new().encode();
        assert_eq!(empty, [SET_FORMAT, 0, 0]);
        assert_eq!(VersionSet::decode(&empty).unwrap(), VersionSet::new());
    }

    /// Pins the overhead: a 100-byte value under a 3-node clock with realistic timestamps.
    #[test]
    fn overhead_is_a_few_dozen_bytes() {
        let now = 1_763_000_000_000; // Nov 2025 in ms: a 6-byte varint.
        let mut s = VersionSet::new();
        for node in ["node-1", "node-2", "node-3"] {
            let ctx = s.context();
            s.update(&ctx, Value::Data(vec![7; 100]), None, node, now);
        }
        s.prune(&crate::Limits::caps(10, 10)); // no history: format 1
        // 1 format + 1 count + 3 x (1 + 6 id + 1 counter + 6 time) + 1 count
        // + (1 idx + 1 counter + 6 time + 1 flags + 1 len + 100 data).
        assert_eq!(s.encode().len(), 1 + 1 + 3 * 14 + 1 + 110);
        // 1 format + 1 count + 3 x (1 + 6 id + 1 counter) = 26 bytes, 35 base64url characters.
        assert_eq!(s.context().to_bytes().len(), 26);
        assert_eq!(s.context().to_header().len(), 35);
    }

    fn with_past() -> VersionSet {
        let mut s = sample();
        let ctx = s.context();
        s.update(&ctx, Value::Data(b"now".to_vec()), Some(9_500), "c", 400);
        s.record(crate::Receipt {
            token: "tok".into(),
            fingerprint: u64::MAX,
            recorded_at_ms: 400,
            outcome: b"{}".to_vec(),
        });
        s
    }

    #[test]
    fn history_and_receipts_roundtrip_and_sets_without_them_keep_format_1() {
        let s = with_past();
        assert_eq!(
            s.history().len(),
            3,
            "hello, the empty value and the tombstone's marker"
        );
        let bytes = s.encode();
        assert_eq!(bytes[0], SET_FORMAT_PAST);
        let back = VersionSet::decode(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.encode(), bytes);
        for len in 0..bytes.len() {
            assert!(VersionSet::decode(&bytes[..len]).is_err(), "prefix {len}");
        }
        assert_eq!(sample().encode()[0], SET_FORMAT);
        // Format 2 with both sections empty is not canonical.
        let mut empty = VersionSet::new().encode();
        empty[0] = SET_FORMAT_PAST;
        empty.extend_from_slice(&[0, 0]);
        assert!(VersionSet::decode(&empty).is_err());
    }

    /// Pins the cost of one kept past value: its data plus the dot's node id, a 7-byte counter
    /// (a counter from ringkv's dot floor), a 6-byte time and 3 bytes of flags and lengths.
    #[test]
    fn a_past_value_costs_its_data_plus_its_node_id_plus_16_bytes() {
        let now = 1_763_000_000_000;
        let floor = 30_000_000_000_000; // (now - 2025) << 10: a 7-byte varint
        let mut s = VersionSet::new();
        let value = |i: u8| Value::Data(vec![i; 100]);
        s.update_at_least(&Context::default(), value(0), None, "node-1", now, floor);
        let one = s.encode().len();
        let ctx = s.context();
        s.update(&ctx, value(1), None, "node-1", now + 1);
        let two = s.encode().len();
        // Format 2 adds two section counts; the past value: 1 + 6 id + 7 + 6 + 1 + 1 + 100.
        assert_eq!(two - one, 2 + 1 + 6 + 7 + 6 + 1 + 1 + 100);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(
                VersionSet::decode(&bytes[..len]).is_err(),
                "prefix {len} accepted"
            );
        }
    }

    #[test]
    fn rejects_broken_invariants() {
        // Format 1, one node "a" at counter 1 (t=0), one version.
        let header = [SET_FORMAT, 1, 1, b'a', 1, 0, 1];
        let version = |idx: u8, counter: u8, flags: u8| {
            let mut b = header.to_vec();
            b.extend_from_slice(&[idx, counter, 0, flags]);
            b
        };
        assert!(VersionSet::decode(&version(0, 1, FLAG_TOMBSTONE)).is_ok());
        let bad = [
            version(1, 1, FLAG_TOMBSTONE),              // unknown node
            version(0, 2, FLAG_TOMBSTONE),              // dot beyond the clock
            version(0, 0, FLAG_TOMBSTONE),              // zero counter
            version(0, 1, 0b100),                       // unknown flag
            [SET_FORMAT, 1, 1, b'a', 0, 0, 0].to_vec(), // zero clock entry
            [3, 0, 0].to_vec(),                         // unknown format
            [SET_FORMAT, 0, 0, 0].to_vec(),             // trailing byte
        ];
        for b in bad {
            assert!(
                matches!(VersionSet::decode(&b), Err(DecodeError::Invalid(_))),
                "{b:?}"
            );
        }
        let mut duplicate = [SET_FORMAT, 1, 1, b'a', 1, 0, 2].to_vec();
        duplicate.extend_from_slice(&[0, 1, 0, FLAG_TOMBSTONE, 0, 1, 5, FLAG_TOMBSTONE]);
        assert_eq!(
            VersionSet::decode(&duplicate),
            Err(invalid("duplicate dot"))
        );
        let mut unsorted = [SET_FORMAT, 2, 1, b'b', 1, 0, 1, b'a', 1, 0].to_vec();
        unsorted.push(0);
        assert!(VersionSet::decode(&unsorted).is_err());
    }
}
