//! The membership view the data path reads: who the members are, each one's ring phase and
//! liveness, the rings built from them, and the hot settings.
//!
//! `membership.rs` drives the gossip protocol and installs a new [`View`] here whenever a
//! member's address, status or phase changes; the coordinator and the workers only read views.
//!
//! **Phases and rings.** Every member declares its own ring phase (gossiped as its application
//! state). A membership change walks a member through phases, and three rings follow from them:
//!
//! | phase       | read ring | target ring | previous ring | meaning                                  |
//! |-------------|-----------|-------------|---------------|------------------------------------------|
//! | `joining`   |           | yes         |               | streaming the ranges it will own         |
//! | `joined`    | yes       | yes         |               | serving reads; old owners still written  |
//! | `normal`    | yes       | yes         | yes           | a full member                            |
//! | `leaving`   | yes       |             | yes           | handing its ranges to their new owners   |
//! | `departing` |           |             | yes           | handed off; still written, not read      |
//! | `left`      |           |             |               | gone for good (never again under its id) |
//!
//! Reads ask the key's preference list in the read ring. A write goes to the union of the
//! key's lists in the three rings and needs W acknowledgements *in each distinct list*, so an
//! acknowledged write is readable whichever of two adjacent phases a reader's view is in: a
//! member moves to its next phase only after every live member has seen the current one and
//! finished the operations it started under older views (`rebalance.rs`). Without a change in
//! progress the three rings are one and a write is one list, W acks.
//!
//! Invariants:
//! - Readers take a consistent snapshot ([`View`]) with one atomic load (`ArcSwap`); a change
//!   builds new rings off to the side and swaps them in.
//! - A departed member (phase or gossip status `left`) is never a member again; departures are
//!   persisted and unioned, so a stale view cannot bring one back.
//! - Members with a dead liveness stay in the rings (placement is explicit, never time-based);
//!   the coordinator counts them as failed at once and writes hand off around them.
//! - Settings with the highest `(version, origin)` win everywhere; they are persisted in the
//!   data dir (`settings.json`) and survive a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use ringkv_ring::Ring;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::settings::{Settings, VersionedSettings};

/// A member as the data path addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub url: String,
}

/// A member's own ring phase (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Joining,
    Joined,
    #[default]
    Normal,
    Leaving,
    Departing,
    Left,
}

impl Phase {
    pub fn in_read(self) -> bool {
        matches!(self, Phase::Joined | Phase::Normal | Phase::Leaving)
    }
    pub fn in_target(self) -> bool {
        matches!(self, Phase::Joining | Phase::Joined | Phase::Normal)
    }
    pub fn in_previous(self) -> bool {
        matches!(self, Phase::Normal | Phase::Leaving | Phase::Departing)
    }
}

/// What the failure detector believes about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Liveness {
    Alive,
    Suspect,
    Dead,
}

/// A member's status as `GET /peers` shows it: its liveness, or its phase while it moves data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Joining,
    Alive,
    Suspect,
    Dead,
    Leaving,
    Left,
}

impl Status {
    pub fn of(phase: Phase, liveness: Liveness) -> Status {
        match (phase, liveness) {
            (Phase::Left, _) => Status::Left,
            (_, Liveness::Dead) => Status::Dead,
            (_, Liveness::Suspect) => Status::Suspect,
            (Phase::Joining | Phase::Joined, _) => Status::Joining,
            (Phase::Leaving | Phase::Departing, _) => Status::Leaving,
            (Phase::Normal, _) => Status::Alive,
        }
    }
}

/// Data movement of a joining or leaving member (or a repair after a forced removal), as it
/// reports it to everyone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Movement {
    /// `join`, `leave` or `repair`.
    pub kind: String,
    /// Keys received (join, repair) or sent (leave) so far.
    pub keys_moved: u64,
    /// Keys to go through, when known (a leave counts its local keys first).
    pub keys_total: Option<u64>,
    pub bytes_moved: u64,
    /// Token ranges whose ownership changes for this member (the ring diff's prediction).
    pub ranges: u64,
    /// Share of the key space that moves (the ring diff's prediction), 0..=1.
    pub predicted_share: f64,
}

/// One member in a view.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewMember {
    pub url: String,
    pub phase: Phase,
    pub liveness: Liveness,
}

/// Where a key lives in a view.
#[derive(Debug, Clone)]
pub struct Placement {
    /// The key's preference list in the read ring.
    pub read: Vec<Member>,
    /// Each distinct preference list a write must reach W in (one without a change).
    pub write_sets: Vec<Vec<Member>>,
    /// Every member of `write_sets`, once, read list first.
    pub writes: Vec<Member>,
}

/// Counts operations started under one view, so a member can tell when none is left.
#[derive(Debug, Default)]
pub struct OpCounter(AtomicUsize);

impl OpCounter {
    pub fn in_flight(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// Held by an operation for as long as it uses a view's placement.
pub struct OpGuard(Arc<OpCounter>);

impl Drop for OpGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An immutable snapshot of the membership and its rings.
pub struct View {
    /// Members that have not departed, by id.
    pub members: BTreeMap<String, ViewMember>,
    /// Ids that left the cluster: never members again.
    pub departed: BTreeSet<String>,
    pub read: Arc<Ring>,
    pub target: Arc<Ring>,
    pub previous: Arc<Ring>,
    /// Digest of every member's phase: equal on two nodes when they agree on the rings.
    pub phase_hash: u64,
    /// Each read-ring member's share of the hash space as primary.
    pub shares: BTreeMap<String, f64>,
    ops: Arc<OpCounter>,
}

fn ring_of(
    members: &BTreeMap<String, ViewMember>,
    tokens: usize,
    keep: impl Fn(Phase) -> bool,
) -> Ring {
    Ring::new(
        members
            .iter()
            .filter(|(_, m)| keep(m.phase))
            .map(|(id, _)| id.clone()),
        tokens,
    )
}

impl View {
    pub fn build(
        members: BTreeMap<String, ViewMember>,
        departed: BTreeSet<String>,
        tokens: usize,
    ) -> View {
        let read = Arc::new(ring_of(&members, tokens, Phase::in_read));
        let same = |ring: Ring| {
            if ring.members() == read.members() {
                read.clone()
            } else {
                Arc::new(ring)
            }
        };
        let target = same(ring_of(&members, tokens, Phase::in_target));
        let previous = same(ring_of(&members, tokens, Phase::in_previous));
        let phase_hash = phase_hash(&members);
        let shares = read.primary_shares().into_iter().collect();
        View {
            members,
            departed,
            read,
            target,
            previous,
            phase_hash,
            shares,
            ops: Arc::new(OpCounter::default()),
        }
    }

    fn member(&self, id: String) -> Option<Member> {
        self.members.get(&id).map(|m| Member {
            url: m.url.clone(),
            id,
        })
    }

    fn list(&self, ring: &Ring, key: &str, n: usize) -> Vec<Member> {
        ring.preference_list(key.as_bytes(), n)
            .into_iter()
            .filter_map(|id| self.member(id))
            .collect()
    }

    /// The key's preference list in the read ring.
    pub fn preference_list(&self, key: &str, n: usize) -> Vec<Member> {
        self.list(&self.read, key, n)
    }

    /// The key's placement: the read list, and every list a write must reach.
    pub fn placement(&self, key: &str, n: usize) -> Placement {
        let read = self.list(&self.read, key, n);
        let mut write_sets = vec![read.clone()];
        for ring in [&self.target, &self.previous] {
            if Arc::ptr_eq(ring, &self.read) {
                continue;
            }
            let list = self.list(ring, key, n);
            if !list.is_empty() && !write_sets.iter().any(|s| same_members(s, &list)) {
                write_sets.push(list);
            }
        }
        let mut writes: Vec<Member> = Vec::with_capacity(n + 1);
        for m in write_sets.iter().flatten() {
            if !writes.iter().any(|w| w.id == m.id) {
                writes.push(m.clone());
            }
        }
        Placement {
            read,
            write_sets,
            writes,
        }
    }

    /// True while some member is between phases (the rings differ).
    pub fn in_transition(&self) -> bool {
        !Arc::ptr_eq(&self.target, &self.read) || !Arc::ptr_eq(&self.previous, &self.read)
    }

    pub fn is_dead(&self, id: &str) -> bool {
        self.members
            .get(id)
            .is_some_and(|m| m.liveness == Liveness::Dead)
    }

    pub fn phase_of(&self, id: &str) -> Option<Phase> {
        self.members.get(id).map(|m| m.phase)
    }

    /// Every member that has not left, as `(id, url)`.
    pub fn all(&self) -> Vec<Member> {
        self.members
            .iter()
            .filter(|(_, m)| m.phase != Phase::Left)
            .map(|(id, m)| Member {
                id: id.clone(),
                url: m.url.clone(),
            })
            .collect()
    }

    /// Marks one operation as using this view until the guard drops.
    pub fn op(&self) -> OpGuard {
        self.ops.0.fetch_add(1, Ordering::AcqRel);
        OpGuard(self.ops.clone())
    }

    /// The in-flight counter of this view (kept by membership to know when it is drained).
    pub fn ops(&self) -> Arc<OpCounter> {
        self.ops.clone()
    }
}

fn same_members(a: &[Member], b: &[Member]) -> bool {
    a.len() == b.len() && a.iter().all(|m| b.iter().any(|o| o.id == m.id))
}

fn phase_hash(members: &BTreeMap<String, ViewMember>) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (id, m) in members {
        h.write(id.as_bytes());
        h.write_u8(0);
        h.write_u8(m.phase as u8);
    }
    h.finish()
}

/// The cluster state shared by every part of the node.
pub struct Cluster {
    pub self_id: String,
    pub self_url: String,
    pub tokens_per_member: usize,
    dir: PathBuf,
    view: ArcSwap<View>,
    settings: ArcSwap<VersionedSettings>,
    changes: Mutex<()>,
}

impl Cluster {
    /// Opens the settings persisted in `dir` (the config file's when none newer), with a view
    /// holding only this node until membership installs one.
    pub fn open(
        self_id: &str,
        self_url: &str,
        file_settings: Settings,
        tokens_per_member: usize,
        phase: Phase,
        dir: PathBuf,
    ) -> anyhow::Result<Cluster> {
        let from_file = VersionedSettings {
            version: 0,
            origin: String::new(),
            settings: file_settings,
        };
        let settings =
            match crate::persist::read_json::<VersionedSettings>(&dir.join("settings.json"))? {
                Some(saved) if saved.supersedes(&from_file) => saved,
                _ => from_file,
            };
        let own = ViewMember {
            url: self_url.to_string(),
            phase,
            liveness: Liveness::Alive,
        };
        let members = BTreeMap::from([(self_id.to_string(), own)]);
        Ok(Cluster {
            self_id: self_id.to_string(),
            self_url: self_url.to_string(),
            tokens_per_member,
            dir,
            view: ArcSwap::from_pointee(View::build(members, BTreeSet::new(), tokens_per_member)),
            settings: ArcSwap::from_pointee(settings),
            changes: Mutex::new(()),
        })
    }

    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    /// The settings in force, for a short read (a guard, not a new reference: requests read
    /// them several times each, and cloning the shared `Arc` from every worker thread makes
    /// its counter a contended cache line). Hold it across no await; `.settings_arc()` keeps.
    pub fn settings(&self) -> arc_swap::Guard<Arc<VersionedSettings>> {
        self.settings.load()
    }

    /// The settings in force, as a reference that may be kept.
    pub fn settings_arc(&self) -> Arc<VersionedSettings> {
        self.settings.load_full()
    }

    /// Other members that have not left, as `(id, url)`.
    pub fn peers(&self) -> Vec<Member> {
        self.view()
            .all()
            .into_iter()
            .filter(|m| m.id != self.self_id)
            .collect()
    }

    /// Installs a new view; returns the one it replaced.
    pub fn install(&self, view: View) -> Arc<View> {
        self.view.swap(Arc::new(view))
    }

    /// Adopts `offered` if it supersedes the current settings and is valid; persists it
    /// before it takes effect. Blocking (fsync).
    pub fn adopt_settings(&self, offered: &VersionedSettings) -> anyhow::Result<bool> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        if !offered.supersedes(&self.settings()) || offered.settings.validate().is_err() {
            return Ok(false);
        }
        crate::persist::write_json(&self.dir.join("settings.json"), offered)?;
        self.settings.store(Arc::new(offered.clone()));
        Ok(true)
    }

    /// Adopts `offered` at once if it supersedes the current settings and is valid; the caller
    /// persists it afterwards with [`Cluster::persist_settings`] (settings that arrive by
    /// gossip are also held by the members that sent them).
    pub fn adopt_settings_in_memory(&self, offered: &VersionedSettings) -> bool {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        if !offered.supersedes(&self.settings()) || offered.settings.validate().is_err() {
            return false;
        }
        self.settings.store(Arc::new(offered.clone()));
        true
    }

    /// Writes the current settings to the data dir. Blocking (fsync).
    pub fn persist_settings(&self) -> anyhow::Result<()> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        crate::persist::write_json(&self.dir.join("settings.json"), &*self.settings())
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

/// Normalises `host:port` or `http://host:port[/]` to `http://host:port`.
pub fn normalize_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("empty URL".into());
    }
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!("`{raw}`: only http:// URLs are supported"));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(format!("`{raw}` has no host"))?;
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(format!("`{raw}` must be just http://host:port"));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(format!("http://{host}:{port}"))
}

/// `host:port` of a normalised URL.
pub fn url_authority(url: &str) -> String {
    url.strip_prefix("http://")
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(url: &str, phase: Phase) -> ViewMember {
        ViewMember {
            url: url.into(),
            phase,
            liveness: Liveness::Alive,
        }
    }

    fn view(phases: &[(&str, Phase)]) -> View {
        let members = phases
            .iter()
            .map(|(id, p)| (id.to_string(), member(&format!("http://{id}:1"), *p)))
            .collect();
        View::build(members, BTreeSet::new(), 64)
    }

    #[test]
    fn without_a_change_a_write_is_one_list() {
        let v = view(&[
            ("a", Phase::Normal),
            ("b", Phase::Normal),
            ("c", Phase::Normal),
        ]);
        assert!(!v.in_transition());
        let p = v.placement("k", 3);
        assert_eq!(p.write_sets.len(), 1);
        assert_eq!(p.read.len(), 3);
        assert_eq!(p.writes.len(), 3);
    }

    #[test]
    fn a_joining_member_is_written_not_read() {
        let v = view(&[
            ("a", Phase::Normal),
            ("b", Phase::Normal),
            ("c", Phase::Normal),
            ("x", Phase::Joining),
        ]);
        assert!(v.in_transition());
        let mut joiner_keys = 0;
        for i in 0..200 {
            let key = format!("key{i}");
            let p = v.placement(&key, 3);
            assert!(
                p.read.iter().all(|m| m.id != "x"),
                "never read while joining"
            );
            if p.writes.iter().any(|m| m.id == "x") {
                joiner_keys += 1;
                assert_eq!(p.write_sets.len(), 2, "{key}: old list and new list");
                assert_eq!(p.writes.len(), 4);
            }
        }
        assert!(joiner_keys > 50, "x gets its share of keys: {joiner_keys}");
    }

    #[test]
    fn phases_map_to_rings_and_statuses() {
        let v = view(&[
            ("a", Phase::Normal),
            ("j", Phase::Joined),
            ("l", Phase::Leaving),
            ("d", Phase::Departing),
        ]);
        assert_eq!(v.read.members(), ["a", "j", "l"]);
        assert_eq!(v.target.members(), ["a", "j"]);
        assert_eq!(v.previous.members(), ["a", "d", "l"]);
        assert_eq!(Status::of(Phase::Joined, Liveness::Alive), Status::Joining);
        assert_eq!(
            Status::of(Phase::Departing, Liveness::Alive),
            Status::Leaving
        );
        assert_eq!(Status::of(Phase::Normal, Liveness::Dead), Status::Dead);
        assert_eq!(Status::of(Phase::Left, Liveness::Dead), Status::Left);
    }

    #[test]
    fn phase_hash_changes_with_any_phase_and_ops_are_counted() {
        let a = view(&[("a", Phase::Normal), ("b", Phase::Joining)]);
        let b = view(&[("a", Phase::Normal), ("b", Phase::Joined)]);
        assert_ne!(a.phase_hash, b.phase_hash);
        let ops = a.ops();
        let guard = a.op();
        assert_eq!(ops.in_flight(), 1);
        drop(guard);
        assert_eq!(ops.in_flight(), 0);
    }

    #[test]
    fn urls_are_normalised() {
        assert_eq!(
            normalize_url("127.0.0.1:7777").unwrap(),
            "http://127.0.0.1:7777"
        );
        assert_eq!(
            normalize_url("http://localhost:80/").unwrap(),
            "http://localhost:80"
        );
        assert_eq!(normalize_url("http://h").unwrap(), "http://h:80");
        assert_eq!(normalize_url("http://[::1]:9").unwrap(), "http://[::1]:9");
        for bad in [
            "",
            "ftp://x:1",
            "http://x:1/path",
            "http://:1",
            "not a url",
            "http://x:99999",
        ] {
            assert!(normalize_url(bad).is_err(), "{bad}");
        }
        assert_eq!(url_authority("http://127.0.0.1:7777"), "127.0.0.1:7777");
    }
}
