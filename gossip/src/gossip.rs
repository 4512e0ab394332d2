//! The membership state machine: member table, rounds, failure detection, leave, settings.
//!
//! Sans-IO: the caller passes the time in, feeds received messages to `handle`, calls `tick`
//! whenever `next_tick()` is due, and sends every returned [`Outgoing`] (best effort, no
//! retries needed: the next round repairs any loss). Nothing here sleeps, spawns or opens a
//! socket, so tests drive it with simulated time and a seeded RNG.
//!
//! Invariants:
//! - the table always holds this node's own entry, and only this node raises its own
//!   `(incarnation, heartbeat)`;
//! - another member's entry only moves to a greater [`Version`] (see `member.rs`), except that
//!   a forgotten member leaves the table for a tombstone, and forgetting spreads: a peer still
//!   holding an entry no newer than a tombstone is told to forget it too (`Ack::forgotten`),
//!   so all nodes drop a member within about one `forget_after` of each other;
//! - status timers (suspect, dead, forget) are measured from local observations with the
//!   current config, so hot config changes apply at the next `tick`.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::seq::IndexedRandom;
use rand::{Rng, RngExt};

use crate::detector::{ArrivalWindow, should_suspect};
use crate::event::EventQueue;
use crate::message::{Body, Digest, check_addr, check_id, check_meta};
use crate::settings::{MAX_SETTINGS_BYTES, Settings, SettingsVersion};
use crate::{Config, Error, Event, Member, MemberState, Message, NodeId, Status, Version};

/// A message for the caller to deliver to `to` (a member's address, or a seed's).
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub to: String,
    /// The recipient's id, when known (seeds are contacted by address only).
    pub to_id: Option<NodeId>,
    pub message: Message,
}

/// One row of the member table.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) state: MemberState,
    pub(crate) last_heard: Instant,
    pub(crate) status_since: Instant,
    pub(crate) arrivals: ArrivalWindow,
}

impl Entry {
    pub(crate) fn new(state: MemberState, now: Instant) -> Entry {
        Entry {
            state,
            last_heard: now,
            status_since: now,
            arrivals: ArrivalWindow::default(),
        }
    }
}

/// What is left of a forgotten member: enough to refuse stale gossip about it.
#[derive(Debug, Clone)]
pub(crate) struct Tombstone {
    pub(crate) state: MemberState,
    pub(crate) since: Instant,
}

/// One node's membership protocol instance.
#[derive(Debug)]
pub struct Gossip {
    pub(crate) id: NodeId,
    pub(crate) config: Config,
    /// Keyed by id; a BTreeMap so iteration (and thus peer choice under a seeded RNG) is
    /// deterministic.
    pub(crate) members: BTreeMap<NodeId, Entry>,
    pub(crate) tombstones: BTreeMap<NodeId, Tombstone>,
    pub(crate) settings: Option<Settings>,
    /// Addresses given to `join`, contacted again whenever no live peer is known.
    pub(crate) seeds: Vec<String>,
    pub(crate) next_round: Instant,
    pub(crate) last_round: Option<Instant>,
    pub(crate) events: EventQueue,
}

impl Gossip {
    /// A node that knows only itself, alive at incarnation 0. A node that restarts without
    /// remembering its incarnation may use this too: on hearing its old entry it raises its
    /// incarnation above it (a [`Event::Refuted`]).
    pub fn new(
        id: impl Into<NodeId>,
        addr: impl Into<String>,
        config: Config,
        now: Instant,
    ) -> Result<Gossip, Error> {
        Gossip::with_incarnation(id, addr, config, now, 0)
    }

    /// Like [`Gossip::new`], starting at a given incarnation (e.g. one persisted across
    /// restarts and incremented, or the wall-clock start time).
    pub fn with_incarnation(
        id: impl Into<NodeId>,
        addr: impl Into<String>,
        config: Config,
        now: Instant,
        incarnation: u64,
    ) -> Result<Gossip, Error> {
        let (id, addr) = (id.into(), addr.into());
        let identity = |field, e: Error| match e {
            Error::InvalidField { reason, .. } => Error::InvalidIdentity { field, reason },
            other => other,
        };
        check_id(&id).map_err(|e| identity("id", e))?;
        check_addr(&addr).map_err(|e| identity("addr", e))?;
        config.validate()?;
        let own = MemberState {
            id: id.clone(),
            addr,
            version: Version {
                incarnation,
                heartbeat: 0,
                status: Status::Alive,
            },
            meta: Vec::new(),
        };
        Ok(Gossip {
            members: BTreeMap::from([(id.clone(), Entry::new(own, now))]),
            id,
            config,
            tombstones: BTreeMap::new(),
            settings: None,
            seeds: Vec::new(),
            next_round: now,
            last_round: None,
            events: EventQueue::default(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn addr(&self) -> &str {
        &self.own().state.addr
    }

    /// This node's current incarnation (raised by refutations).
    pub fn incarnation(&self) -> u64 {
        self.own().state.version.incarnation
    }

    /// This node's own status: alive, leaving or left.
    pub fn status(&self) -> Status {
        self.own().state.version.status
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces every timing knob at once; an invalid config is refused whole. A new
    /// `interval` reschedules the next round from the last one.
    pub fn set_config(&mut self, config: Config) -> Result<(), Error> {
        config.validate()?;
        if let Some(last) = self.last_round {
            self.next_round = last + config.interval;
        }
        self.config = config;
        Ok(())
    }

    /// Replaces this node's own application state ([`MemberState::meta`]) and bumps its
    /// heartbeat, so the new state wins everywhere and spreads with the next rounds. With
    /// `urgent`, the new entry is also pushed to every live member at once (returned).
    pub fn set_meta(&mut self, meta: Vec<u8>, urgent: bool) -> Result<Vec<Outgoing>, Error> {
        check_meta(&meta)?;
        let own = self.own_mut();
        if own.state.meta == meta {
            return Ok(Vec::new());
        }
        own.state.meta = meta;
        own.state.version.heartbeat += 1;
        if !urgent {
            return Ok(Vec::new());
        }
        let own = self.own().state.clone();
        Ok(self.broadcast(vec![own], None))
    }

    /// This node's own application state.
    pub fn meta(&self) -> &[u8] {
        &self.own().state.meta
    }

    /// Preloads a member known from an earlier run (persisted by the caller), as if just heard
    /// from at `now`: the failure detector gives it `failure_timeout` to show a newer
    /// heartbeat. Entries about this node, entries no newer than what the table holds, and
    /// invalid entries are ignored.
    pub fn remember(&mut self, state: MemberState, now: Instant) {
        if check_id(&state.id).is_err()
            || check_addr(&state.addr).is_err()
            || check_meta(&state.meta).is_err()
        {
            return;
        }
        if state.id != self.id {
            self.merge_entry(state, now);
        }
    }

    /// Marks this node as having left in an earlier run: it stays `left` (never refutes, never
    /// rejoins under this id). Used at start-up by a node that persisted its departure.
    pub fn restore_left(&mut self) {
        let own = self.own_mut();
        own.state.version.status = Status::Left;
    }

    /// Contacts seed addresses (any member of the cluster to join). Also remembered: seeds are
    /// contacted again in any round where no live peer is known. This node's own address is
    /// skipped, so every node may be given the same seed list.
    pub fn join<I, S>(&mut self, seeds: I) -> Vec<Outgoing>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let own = self.addr().to_owned();
        let mut out = Vec::new();
        for seed in seeds.into_iter().map(Into::into) {
            if seed == own || self.seeds.contains(&seed) {
                continue;
            }
            out.push(self.syn_to(seed.clone(), None));
            self.seeds.push(seed);
        }
        out
    }

    /// When `tick` should next be called (the next gossip round).
    pub fn next_tick(&self) -> Instant {
        self.next_round
    }

    /// Runs failure detection, and a gossip round when one is due: bumps the own heartbeat
    /// and opens a push-pull exchange with `fanout` random live peers, plus now and then a
    /// dead one (so partitions heal), or the seeds when no peer is live.
    pub fn tick<R: Rng + ?Sized>(&mut self, now: Instant, rng: &mut R) -> Vec<Outgoing> {
        self.detect(now);
        if now < self.next_round {
            return Vec::new();
        }
        self.last_round = Some(now);
        self.next_round = now + self.config.interval;
        let own = self.own_mut();
        own.last_heard = now;
        if own.state.version.status != Status::Left {
            own.state.version.heartbeat += 1;
        }
        self.round(rng)
    }

    fn round<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Vec<Outgoing> {
        let (mut live, mut dead) = (Vec::new(), Vec::new());
        for (id, entry) in self.others() {
            let target = (id.clone(), entry.state.addr.clone());
            match entry.state.version.status {
                status if status.is_live() => live.push(target),
                Status::Dead => dead.push(target),
                _ => {}
            }
        }
        let mut targets: Vec<(NodeId, String)> =
            live.sample(rng, self.config.fanout).cloned().collect();
        // As in Cassandra: probe a dead member with probability dead / (live + 1), so two
        // sides of a healed partition find each other again.
        let probe = (dead.len() as f64 / (live.len() + 1) as f64).min(1.0);
        if !dead.is_empty() && rng.random_bool(probe) {
            targets.extend(dead.choose(rng).cloned());
        }
        let mut out: Vec<Outgoing> = targets
            .into_iter()
            .map(|(id, addr)| self.syn_to(addr, Some(id)))
            .collect();
        if live.is_empty() {
            let seeds = self.seeds.clone();
            out.extend(seeds.into_iter().map(|seed| self.syn_to(seed, None)));
        }
        out
    }

    /// Suspects, declares dead and forgets members whose timers ran out.
    pub(crate) fn detect(&mut self, now: Instant) {
        let config = &self.config;
        let mut forgotten = Vec::new();
        for (id, entry) in self.members.iter_mut().filter(|(id, _)| **id != self.id) {
            let version = &mut entry.state.version;
            let in_status = now.saturating_duration_since(entry.status_since);
            let next = match version.status {
                Status::Alive | Status::Leaving => {
                    let silent = now.saturating_duration_since(entry.last_heard);
                    should_suspect(&entry.arrivals, silent, config).then_some(Status::Suspect)
                }
                Status::Suspect => (in_status >= config.suspect_timeout).then_some(Status::Dead),
                Status::Dead | Status::Left => {
                    if in_status >= config.forget_after {
                        forgotten.push(id.clone());
                    }
                    None
                }
            };
            if let Some(status) = next {
                version.status = status;
                entry.status_since = now;
                self.events.push(status_event(id, status));
            }
        }
        for id in forgotten {
            self.forget(&id, now);
        }
        let keep = self.config.forget_after;
        self.tombstones
            .retain(|_, tomb| now.saturating_duration_since(tomb.since) < keep);
    }

    /// Drops a member from the table, leaving a tombstone for `forget_after`.
    pub(crate) fn forget(&mut self, id: &str, now: Instant) {
        if let Some(entry) = self.members.remove(id) {
            let state = entry.state;
            self.tombstones
                .insert(id.to_owned(), Tombstone { state, since: now });
            self.events.push(Event::Forgotten { id: id.to_owned() });
        }
    }

    /// Starts a graceful leave: this node stays in the cluster as `leaving` (serving, and
    /// handing its data off) until [`Gossip::complete_leave`]. The news is pushed to every
    /// live member at once.
    pub fn leave(&mut self, now: Instant) -> Vec<Outgoing> {
        self.set_own_status(Status::Leaving, now)
    }

    /// Ends a graceful leave: this node is `left` and is never failure-detected again. The
    /// news is pushed to every live member; keep calling `tick` for a few intervals before
    /// shutting down so that a lost push is repaired by gossip.
    pub fn complete_leave(&mut self, now: Instant) -> Vec<Outgoing> {
        self.set_own_status(Status::Left, now)
    }

    fn set_own_status(&mut self, status: Status, now: Instant) -> Vec<Outgoing> {
        let own = self.own_mut();
        if own.state.version.status == Status::Left || own.state.version.status == status {
            return Vec::new();
        }
        own.state.version.status = status;
        own.state.version.heartbeat += 1;
        own.status_since = now;
        self.events.push(status_event(&self.id, status));
        let own = self.own().state.clone();
        self.broadcast(vec![own], None)
    }

    /// Marks another member as left on an operator's behalf (`DELETE /peers/{id}` of a node
    /// that is down). A member that is in fact running hears it and refutes it with a higher
    /// incarnation, so this only removes members that are really gone; a running member
    /// should be asked to `leave` instead.
    pub fn remove(&mut self, id: &str, now: Instant) -> Result<Vec<Outgoing>, Error> {
        if id == self.id {
            return Err(Error::RemoveSelf);
        }
        let entry = self
            .members
            .get_mut(id)
            .ok_or_else(|| Error::UnknownMember { id: id.into() })?;
        if entry.state.version.status == Status::Left {
            return Ok(Vec::new());
        }
        entry.state.version.status = Status::Left;
        entry.status_since = now;
        let state = entry.state.clone();
        self.events.push(Event::Left { id: id.into() });
        let mut out = self.broadcast(vec![state.clone()], None);
        // Tell the member too: if it is running after all, it refutes at once.
        let (addr, id) = (state.addr.clone(), state.id.clone());
        let body = Body::Updates {
            updates: vec![state],
            settings: None,
        };
        out.push(self.outgoing(addr, Some(id), body));
        Ok(out)
    }

    /// Publishes a new settings blob at `version = highest known + 1`, with this node as
    /// origin. It spreads with the next rounds.
    pub fn set_settings(&mut self, bytes: Vec<u8>) -> Result<SettingsVersion, Error> {
        if bytes.len() > MAX_SETTINGS_BYTES {
            return Err(Error::SettingsTooLarge {
                len: bytes.len(),
                max: MAX_SETTINGS_BYTES,
            });
        }
        let version = SettingsVersion {
            version: self.settings.as_ref().map_or(0, |s| s.version.version) + 1,
            origin: self.id.clone(),
        };
        self.settings = Some(Settings {
            version: version.clone(),
            bytes,
        });
        self.events.push(Event::SettingsChanged {
            version: version.clone(),
        });
        Ok(version)
    }

    /// Adopts a settings blob persisted by an earlier run (kept only if it wins over what is
    /// known, as if gossiped).
    pub fn restore_settings(&mut self, settings: Settings) {
        if settings.bytes.len() <= MAX_SETTINGS_BYTES && check_id(&settings.version.origin).is_ok()
        {
            self.merge_settings(settings);
        }
    }

    /// Pushes the current settings (and this node's entry) to every live member at once, so a
    /// change made here spreads in one hop instead of a few rounds.
    pub fn push_settings(&self) -> Vec<Outgoing> {
        let own = self.own().state.clone();
        self.broadcast(vec![own], self.settings.clone())
    }

    /// The winning settings blob known here, if any was ever set.
    pub fn settings(&self) -> Option<&Settings> {
        self.settings.as_ref()
    }

    /// Every member in the table, this node included, sorted by id.
    pub fn members(&self) -> Vec<Member> {
        self.members.values().map(to_member).collect()
    }

    /// One member by id.
    pub fn member(&self, id: &str) -> Option<Member> {
        self.members.get(id).map(to_member)
    }

    /// Members with status alive, this node included when it is.
    pub fn alive_members(&self) -> Vec<Member> {
        self.members
            .values()
            .filter(|entry| entry.state.version.status == Status::Alive)
            .map(to_member)
            .collect()
    }

    /// Takes the events observed since the last call (oldest first).
    pub fn drain_events(&mut self) -> Vec<Event> {
        self.events.drain()
    }

    /// Events lost because the queue overflowed before being drained.
    pub fn dropped_events(&self) -> u64 {
        self.events.dropped()
    }

    pub(crate) fn own(&self) -> &Entry {
        &self.members[&self.id]
    }

    pub(crate) fn own_mut(&mut self) -> &mut Entry {
        self.members
            .get_mut(&self.id)
            .expect("the table always holds the own entry")
    }

    fn others(&self) -> impl Iterator<Item = (&NodeId, &Entry)> {
        self.members.iter().filter(|(id, _)| **id != self.id)
    }

    /// Opens a push-pull exchange with one peer.
    fn syn_to(&self, to: String, to_id: Option<NodeId>) -> Outgoing {
        let digest = self
            .others()
            .map(|(id, entry)| Digest {
                id: id.clone(),
                version: entry.state.version,
            })
            .collect();
        let settings = self.settings.as_ref().map(|s| s.version.clone());
        self.outgoing(to, to_id, Body::Syn { digest, settings })
    }

    /// Pushes entries to every live member.
    fn broadcast(&self, updates: Vec<MemberState>, settings: Option<Settings>) -> Vec<Outgoing> {
        self.others()
            .filter(|(_, entry)| entry.state.version.status.is_live())
            .map(|(id, entry)| {
                let body = Body::Updates {
                    updates: updates.clone(),
                    settings: settings.clone(),
                };
                self.outgoing(entry.state.addr.clone(), Some(id.clone()), body)
            })
            .collect()
    }

    pub(crate) fn outgoing(&self, to: String, to_id: Option<NodeId>, body: Body) -> Outgoing {
        Outgoing {
            to,
            to_id,
            message: Message {
                from: self.own().state.clone(),
                body,
            },
        }
    }
}

/// The event announcing that member `id` now has `status`.
pub(crate) fn status_event(id: &str, status: Status) -> Event {
    let id = id.to_owned();
    match status {
        Status::Alive => Event::Alive { id },
        Status::Suspect => Event::Suspect { id },
        Status::Dead => Event::Dead { id },
        Status::Leaving => Event::Leaving { id },
        Status::Left => Event::Left { id },
    }
}

fn to_member(entry: &Entry) -> Member {
    let state = &entry.state;
    Member {
        id: state.id.clone(),
        addr: state.addr.clone(),
        status: state.version.status,
        incarnation: state.version.incarnation,
        heartbeat: state.version.heartbeat,
        last_heard: entry.last_heard,
        status_since: entry.status_since,
        meta: state.meta.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn member_state(id: &str, heartbeat: u64) -> MemberState {
        MemberState {
            id: id.into(),
            addr: format!("http://{id}:7000"),
            version: Version {
                incarnation: 0,
                heartbeat,
                status: Status::Alive,
            },
            meta: Vec::new(),
        }
    }

    #[test]
    fn rounds_follow_the_interval_and_bump_the_heartbeat() {
        let (t0, mut rng) = (Instant::now(), StdRng::seed_from_u64(1));
        let mut g = Gossip::new("a", "http://a:7000", Config::default(), t0).unwrap();
        g.merge_entry(member_state("b", 1), t0);
        assert_eq!(
            g.tick(t0, &mut rng).len(),
            1,
            "a round at once, to the one peer"
        );
        assert_eq!(g.next_tick(), t0 + SEC);
        assert!(g.tick(t0 + SEC / 2, &mut rng).is_empty(), "not due yet");
        assert_eq!(g.tick(t0 + SEC, &mut rng).len(), 1);
        assert_eq!(g.member("a").unwrap().heartbeat, 2);
        let slower = Config {
            interval: 3 * SEC,
            failure_timeout: 10 * SEC,
            ..Config::default()
        };
        g.set_config(slower).unwrap();
        assert_eq!(
            g.next_tick(),
            t0 + 4 * SEC,
            "rescheduled from the last round"
        );
    }

    #[test]
    fn a_silent_member_goes_suspect_then_dead_then_is_forgotten() {
        let (t0, mut rng) = (Instant::now(), StdRng::seed_from_u64(2));
        let config = Config {
            forget_after: 60 * SEC,
            ..Config::default()
        };
        let mut g = Gossip::new("a", "http://a:7000", config, t0).unwrap();
        g.merge_entry(member_state("b", 1), t0);
        g.drain_events();
        let status_at = |g: &mut Gossip, rng: &mut StdRng, secs: u32| {
            g.tick(t0 + secs * SEC, rng);
            g.member("b").map(|m| m.status)
        };
        assert_eq!(
            status_at(&mut g, &mut rng, 5),
            Some(Status::Alive),
            "5 s is allowed"
        );
        assert_eq!(status_at(&mut g, &mut rng, 6), Some(Status::Suspect));
        assert_eq!(status_at(&mut g, &mut rng, 8), Some(Status::Suspect));
        assert_eq!(status_at(&mut g, &mut rng, 9), Some(Status::Dead));
        assert_eq!(status_at(&mut g, &mut rng, 68), Some(Status::Dead));
        assert_eq!(status_at(&mut g, &mut rng, 69), None);
        let id = || "b".to_owned();
        assert_eq!(
            g.drain_events(),
            [
                Event::Suspect { id: id() },
                Event::Dead { id: id() },
                Event::Forgotten { id: id() }
            ]
        );
    }

    #[test]
    fn seeds_are_retried_while_no_peer_is_live_and_the_own_address_is_skipped() {
        let (t0, mut rng) = (Instant::now(), StdRng::seed_from_u64(3));
        let mut g = Gossip::new("a", "http://a:7000", Config::default(), t0).unwrap();
        let out = g.join(["http://a:7000", "http://s:7000", "http://s:7000"]);
        assert_eq!(out.len(), 1, "own address and duplicates skipped");
        let round = g.tick(t0, &mut rng);
        assert_eq!(round.len(), 1);
        assert_eq!(
            (round[0].to.as_str(), round[0].to_id.as_ref()),
            ("http://s:7000", None)
        );
        g.merge_entry(member_state("b", 1), t0);
        let round = g.tick(t0 + SEC, &mut rng);
        assert_eq!(round.len(), 1);
        assert_eq!(
            round[0].to_id.as_deref(),
            Some("b"),
            "a live peer replaces the seeds"
        );
    }

    #[test]
    fn leave_is_leaving_then_left_and_final() {
        let t0 = Instant::now();
        let mut g = Gossip::new("a", "http://a:7000", Config::default(), t0).unwrap();
        g.merge_entry(member_state("b", 1), t0);
        assert_eq!(g.leave(t0).len(), 1);
        assert_eq!(g.status(), Status::Leaving);
        assert!(g.leave(t0).is_empty(), "already leaving");
        assert_eq!(g.complete_leave(t0).len(), 1);
        assert_eq!(g.status(), Status::Left);
        assert!(g.leave(t0).is_empty(), "left is final");
        assert_eq!(g.status(), Status::Left);
    }

    #[test]
    fn settings_versions_grow_and_size_is_bounded() {
        let t0 = Instant::now();
        let mut g = Gossip::new("a", "http://a:7000", Config::default(), t0).unwrap();
        assert_eq!(g.set_settings(b"one".to_vec()).unwrap().version, 1);
        assert_eq!(g.set_settings(b"two".to_vec()).unwrap().version, 2);
        assert_eq!(g.settings().unwrap().bytes, b"two");
        let huge = vec![0; MAX_SETTINGS_BYTES + 1];
        assert!(matches!(
            g.set_settings(huge),
            Err(Error::SettingsTooLarge { .. })
        ));
        assert_eq!(g.settings().unwrap().version.version, 2, "unchanged");
    }

    #[test]
    fn meta_travels_with_the_entry_and_survives_suspicion() {
        let (t0, mut rng) = (Instant::now(), StdRng::seed_from_u64(4));
        let mut a = Gossip::new("a", "http://a:7000", Config::default(), t0).unwrap();
        let mut b = Gossip::new("b", "http://b:7000", Config::default(), t0).unwrap();
        a.merge_entry(b.own().state.clone(), t0);
        let pushed = b.set_meta(b"joining".to_vec(), true).unwrap();
        assert!(pushed.is_empty(), "b knows no live member yet");
        b.merge_entry(a.own().state.clone(), t0);
        let pushed = b.set_meta(b"normal".to_vec(), true).unwrap();
        assert_eq!(pushed.len(), 1, "pushed to a at once");
        a.handle(pushed[0].message.clone(), t0);
        assert_eq!(a.member("b").unwrap().meta, b"normal");
        // Suspicion at b's heartbeat changes the status only.
        a.tick(t0 + 6 * SEC, &mut rng);
        let seen = a.member("b").unwrap();
        assert_eq!(
            (seen.status, seen.meta.as_slice()),
            (Status::Suspect, &b"normal"[..])
        );
        assert!(
            b.set_meta(b"normal".to_vec(), true).unwrap().is_empty(),
            "unchanged"
        );
        let too_big = vec![0; crate::MAX_META_BYTES + 1];
        assert!(b.set_meta(too_big, false).is_err());
    }

    #[test]
    fn remembered_members_are_detected_unless_they_speak() {
        let (t0, mut rng) = (Instant::now(), StdRng::seed_from_u64(5));
        let mut a = Gossip::new("a", "http://a:7000", Config::default(), t0).unwrap();
        a.remember(member_state("b", 7), t0);
        a.remember(member_state("a", 99), t0);
        assert_eq!(a.member("b").unwrap().heartbeat, 7);
        assert_eq!(a.member("a").unwrap().heartbeat, 0, "own entry untouched");
        a.tick(t0 + 6 * SEC, &mut rng);
        assert_eq!(a.member("b").unwrap().status, Status::Suspect);
    }

    #[test]
    fn a_restored_left_node_stays_left() {
        let t0 = Instant::now();
        let mut a = Gossip::new("a", "http://a:7000", Config::default(), t0).unwrap();
        a.restore_left();
        assert_eq!(a.status(), Status::Left);
        a.merge_entry(member_state("a", 50), t0);
        assert_eq!(a.status(), Status::Left, "no refutation");
        assert!(a.leave(t0).is_empty());
    }

    #[test]
    fn restored_settings_win_only_when_newer_and_are_pushed() {
        let t0 = Instant::now();
        let mut g = Gossip::new("a", "http://a:7000", Config::default(), t0).unwrap();
        g.merge_entry(member_state("b", 1), t0);
        g.set_settings(b"one".to_vec()).unwrap();
        let older = Settings {
            version: SettingsVersion {
                version: 0,
                origin: "z".into(),
            },
            bytes: b"old".to_vec(),
        };
        g.restore_settings(older);
        assert_eq!(g.settings().unwrap().bytes, b"one");
        let newer = Settings {
            version: SettingsVersion {
                version: 5,
                origin: "b".into(),
            },
            bytes: b"five".to_vec(),
        };
        g.restore_settings(newer);
        assert_eq!(g.settings().unwrap().version.version, 5);
        let out = g.push_settings();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message.kind(), "updates");
    }

    #[test]
    fn bad_identity_is_refused() {
        let t0 = Instant::now();
        let err = Gossip::new("", "http://a:7000", Config::default(), t0).unwrap_err();
        assert!(matches!(err, Error::InvalidIdentity { field: "id", .. }));
        let err = Gossip::new("a", "", Config::default(), t0).unwrap_err();
        assert!(matches!(err, Error::InvalidIdentity { field: "addr", .. }));
    }
}
