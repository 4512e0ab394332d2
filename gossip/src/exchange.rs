//! Receiving gossip: the push-pull exchange, view merging and refutation.
//!
//! Merge rule per member: keep the entry with the greater [`Version`]; a newer
//! `(incarnation, heartbeat)` also renews `last_heard` and feeds the phi window. Entries about
//! this node itself are never adopted: a rumour (suspect, dead or left at this node's
//! incarnation or above, or any entry newer than its own, as after a restart) makes it raise
//! its incarnation above the rumour's, which then beats the rumour everywhere.
//! Tombstones refuse entries no newer than the forgotten one, so stale gossip cannot bring a
//! forgotten member back, and a peer offering such an entry is told to forget it too; a
//! genuinely newer entry (a restart) revives the member.

use std::collections::HashMap;
use std::time::Instant;

use crate::gossip::{Entry, Outgoing, status_event};
use crate::message::{Body, Digest};
use crate::settings::{Settings, SettingsVersion, is_newer};
use crate::{Event, Gossip, MemberState, Message, NodeId, Status, Version};

impl Gossip {
    /// Processes one received message; returns the replies to send (to its sender).
    /// A message claiming to come from this node's own id is ignored.
    pub fn handle(&mut self, message: Message, now: Instant) -> Vec<Outgoing> {
        let Message { from, body } = message;
        if from.id == self.id {
            return Vec::new();
        }
        self.merge_entry(from.clone(), now);
        match body {
            Body::Syn { digest, settings } => {
                let ack = self.ack(&from, &digest, settings.as_ref());
                vec![self.outgoing(from.addr, Some(from.id), ack)]
            }
            Body::Ack {
                updates,
                settings,
                want,
                want_settings,
                forgotten,
            } => {
                self.merge_all(updates, settings, now);
                for entry in forgotten {
                    self.forget_if_stale(&entry, now);
                }
                if want.is_empty() && !want_settings {
                    return Vec::new();
                }
                let updates = want.iter().filter_map(|id| self.known_state(id)).collect();
                let settings = self.settings.clone().filter(|_| want_settings);
                let body = Body::Updates { updates, settings };
                vec![self.outgoing(from.addr, Some(from.id), body)]
            }
            Body::Updates { updates, settings } => {
                self.merge_all(updates, settings, now);
                Vec::new()
            }
        }
    }

    /// Answers a digest: our entries the peer lacks or has older, and the ids it has newer.
    fn ack(
        &mut self,
        from: &MemberState,
        digest: &[Digest],
        settings: Option<&SettingsVersion>,
    ) -> Body {
        let mut theirs: HashMap<&str, Version> = digest
            .iter()
            .map(|entry| (entry.id.as_str(), entry.version))
            .collect();
        theirs.insert(&from.id, from.version);
        if let Some(&about_me) = theirs.get(self.id.as_str()) {
            self.hear_about_self(about_me);
        }
        let updates: Vec<MemberState> = self
            .members
            .values()
            .filter(|entry| {
                let known = theirs.get(entry.state.id.as_str());
                // With final_left, a left entry is news to a peer holding anything else about
                // that member, even at a newer version (a removed member that restarted).
                let final_news = self.config.final_left
                    && entry.state.version.status == Status::Left
                    && known.is_some_and(|version| version.status != Status::Left);
                final_news || known.is_none_or(|&version| version < entry.state.version)
            })
            .map(|entry| entry.state.clone())
            .collect();
        let (mut want, mut forgotten) = (Vec::new(), Vec::new());
        for entry in digest.iter().filter(|entry| entry.id != self.id) {
            match (self.members.get(&entry.id), self.tombstones.get(&entry.id)) {
                (Some(ours), _) if entry.version > ours.state.version => {
                    want.push(entry.id.clone())
                }
                (Some(_), _) => {}
                (None, Some(tomb)) if entry.version <= tomb.state.version => {
                    forgotten.push(Digest {
                        id: entry.id.clone(),
                        version: tomb.state.version,
                    });
                }
                (None, _) => want.push(entry.id.clone()),
            }
        }
        let ours = self.settings.as_ref();
        let send_settings = ours.filter(|ours| settings.is_none_or(|v| ours.version > *v));
        Body::Ack {
            updates,
            settings: send_settings.cloned(),
            want,
            want_settings: settings.is_some_and(|v| is_newer(v, ours)),
            forgotten,
        }
    }

    /// Our freshest entry for `id`, from the table or a tombstone.
    fn known_state(&self, id: &NodeId) -> Option<MemberState> {
        self.members
            .get(id)
            .map(|entry| entry.state.clone())
            .or_else(|| self.tombstones.get(id).map(|tomb| tomb.state.clone()))
    }

    fn merge_all(&mut self, updates: Vec<MemberState>, settings: Option<Settings>, now: Instant) {
        for state in updates {
            self.merge_entry(state, now);
        }
        if let Some(settings) = settings {
            self.merge_settings(settings);
        }
    }

    pub(crate) fn merge_settings(&mut self, settings: Settings) {
        if is_newer(&settings.version, self.settings.as_ref()) {
            self.events.push(Event::SettingsChanged {
                version: settings.version.clone(),
            });
            self.settings = Some(settings);
        }
    }

    /// Merges one entry into the table.
    pub(crate) fn merge_entry(&mut self, state: MemberState, now: Instant) {
        if state.id == self.id {
            self.hear_about_self(state.version);
            return;
        }
        if let Some(tomb) = self.tombstones.get(&state.id) {
            if state.version <= tomb.state.version {
                return;
            }
            self.tombstones.remove(&state.id);
        }
        if self.config.final_left
            && self
                .members
                .get(&state.id)
                .is_some_and(|entry| entry.state.version.status == Status::Left)
        {
            return;
        }
        let Some(entry) = self.members.get_mut(&state.id) else {
            let status = state.version.status;
            if status.is_live() {
                self.events.push(Event::Joined {
                    id: state.id.clone(),
                    addr: state.addr.clone(),
                });
            }
            self.members
                .insert(state.id.clone(), Entry::new(state, now));
            return;
        };
        let old = entry.state.version;
        if state.version <= old {
            return;
        }
        if state.version.beats_heartbeat_of(&old) {
            let gap = now.saturating_duration_since(entry.last_heard);
            entry.arrivals.record(gap, self.config.failure_timeout);
            entry.last_heard = now;
        }
        if state.version.status != old.status {
            entry.status_since = now;
            self.events
                .push(status_event(&state.id, state.version.status));
        }
        entry.state = state;
    }

    /// Forgets a member a peer has forgotten, unless our entry is newer (it restarted since).
    fn forget_if_stale(&mut self, forgotten: &Digest, now: Instant) {
        if forgotten.id == self.id {
            self.hear_about_self(forgotten.version);
            return;
        }
        let stale = self
            .members
            .get(&forgotten.id)
            .is_some_and(|entry| entry.state.version <= forgotten.version);
        if stale {
            self.forget(&forgotten.id, now);
        }
    }

    /// Refutes a rumour about this node by raising its incarnation above the rumour's.
    fn hear_about_self(&mut self, rumour: Version) {
        let own = self.own().state.version;
        if self.config.final_left && rumour.status == Status::Left && own.status != Status::Left {
            // Removed by an operator: accepted, never refuted (see `Config::final_left`).
            let own = self.own_mut();
            own.state.version.status = Status::Left;
            own.state.version.heartbeat += 1;
            self.events.push(Event::Left {
                id: self.id.clone(),
            });
            return;
        }
        let accusation = matches!(rumour.status, Status::Suspect | Status::Dead | Status::Left)
            && rumour.incarnation >= own.incarnation;
        if own.status == Status::Left || !(accusation || rumour > own) {
            return;
        }
        let incarnation = own.incarnation.max(rumour.incarnation) + 1;
        self.own_mut().state.version.incarnation = incarnation;
        self.events.push(Event::Refuted { incarnation });
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::Config;

    fn node(id: &str, now: Instant) -> Gossip {
        Gossip::new(id, format!("http://{id}:7000"), Config::default(), now).unwrap()
    }

    /// A node that forgets dead members after 10 s.
    fn forgetful(id: &str, now: Instant) -> Gossip {
        let config = Config {
            forget_after: Duration::from_secs(10),
            ..Config::default()
        };
        Gossip::new(id, format!("http://{id}:7000"), config, now).unwrap()
    }

    fn state(id: &str, incarnation: u64, heartbeat: u64, status: Status) -> MemberState {
        MemberState {
            id: id.into(),
            addr: format!("http://{id}:7000"),
            version: Version {
                incarnation,
                heartbeat,
                status,
            },
            meta: Vec::new(),
        }
    }

    fn status_of(gossip: &Gossip, id: &str) -> Option<Status> {
        gossip.member(id).map(|m| m.status)
    }

    #[test]
    fn a_join_is_a_syn_and_an_ack_and_introduces_both_sides() {
        let now = Instant::now();
        let (mut a, mut b) = (node("a", now), node("b", now));
        let syn = a.join(["http://b:7000"]);
        assert_eq!(syn.len(), 1);
        assert_eq!(syn[0].message.kind(), "syn");
        let ack = b.handle(syn[0].message.clone(), now);
        assert_eq!(ack.len(), 1);
        assert_eq!(
            (ack[0].message.kind(), ack[0].to.as_str()),
            ("ack", "http://a:7000")
        );
        assert!(
            a.handle(ack[0].message.clone(), now).is_empty(),
            "nothing left to ask"
        );
        assert_eq!(status_of(&a, "b"), Some(Status::Alive));
        assert_eq!(status_of(&b, "a"), Some(Status::Alive));
        let joined = Event::Joined {
            id: "a".into(),
            addr: "http://a:7000".into(),
        };
        assert_eq!(b.drain_events(), [joined]);
    }

    #[test]
    fn an_accusation_at_the_own_incarnation_is_refuted() {
        let now = Instant::now();
        let mut a = node("a", now);
        a.merge_entry(state("a", 0, 0, Status::Suspect), now);
        assert_eq!(a.incarnation(), 1);
        a.merge_entry(state("a", 0, 9, Status::Dead), now);
        assert_eq!(
            a.incarnation(),
            1,
            "an older incarnation's rumour is already beaten"
        );
        a.merge_entry(state("a", 4, 2, Status::Alive), now);
        assert_eq!(
            a.incarnation(),
            5,
            "a newer entry of itself means it restarted"
        );
        assert_eq!(status_of(&a, "a"), Some(Status::Alive), "never adopted");
        let refuted: Vec<_> = a.drain_events();
        assert_eq!(
            refuted,
            [
                Event::Refuted { incarnation: 1 },
                Event::Refuted { incarnation: 5 }
            ]
        );
    }

    #[test]
    fn a_newer_heartbeat_clears_suspicion_and_a_stale_one_does_not() {
        let now = Instant::now();
        let mut a = node("a", now);
        a.merge_entry(state("c", 0, 5, Status::Alive), now);
        a.merge_entry(state("c", 0, 4, Status::Suspect), now);
        assert_eq!(status_of(&a, "c"), Some(Status::Alive), "stale suspicion");
        a.merge_entry(state("c", 0, 5, Status::Dead), now);
        assert_eq!(status_of(&a, "c"), Some(Status::Dead));
        a.merge_entry(state("c", 0, 5, Status::Alive), now);
        assert_eq!(status_of(&a, "c"), Some(Status::Dead), "no proof of life");
        a.merge_entry(state("c", 0, 6, Status::Alive), now);
        assert_eq!(status_of(&a, "c"), Some(Status::Alive));
        let events = a.drain_events();
        assert_eq!(
            events[1..],
            [
                Event::Dead { id: "c".into() },
                Event::Alive { id: "c".into() }
            ]
        );
    }

    #[test]
    fn merging_is_independent_of_order_and_repetition() {
        // Random updates about four members, applied in different orders (and twice) to
        // fresh nodes, must leave identical tables.
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |bound: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % bound
        };
        let statuses = [
            Status::Alive,
            Status::Suspect,
            Status::Dead,
            Status::Leaving,
            Status::Left,
        ];
        let now = Instant::now();
        for _ in 0..200 {
            let updates: Vec<MemberState> = (0..12)
                .map(|_| {
                    let id = ["p", "q", "r", "s"][next(4) as usize];
                    state(id, next(3), next(5), statuses[next(5) as usize])
                })
                .collect();
            let table = |order: &[MemberState]| {
                let mut g = node("a", now);
                for update in order {
                    g.merge_entry(update.clone(), now);
                }
                g.members
                    .values()
                    .map(|e| e.state.clone())
                    .collect::<Vec<_>>()
            };
            let forward = table(&updates);
            let mut reversed = updates.clone();
            reversed.reverse();
            let mut twice = updates.clone();
            twice.extend(updates.iter().cloned());
            assert_eq!(table(&reversed), forward);
            assert_eq!(table(&twice), forward);
        }
    }

    #[test]
    fn tombstones_refuse_stale_entries_and_accept_restarts() {
        let start = Instant::now();
        let mut a = forgetful("a", start);
        a.merge_entry(state("c", 2, 40, Status::Dead), start);
        let later = start + Duration::from_secs(11);
        a.detect(later);
        assert_eq!(status_of(&a, "c"), None, "forgotten");
        a.merge_entry(state("c", 2, 39, Status::Alive), later);
        a.merge_entry(state("c", 2, 40, Status::Suspect), later);
        assert_eq!(status_of(&a, "c"), None, "stale gossip refused");
        a.merge_entry(state("c", 3, 0, Status::Alive), later);
        assert_eq!(
            status_of(&a, "c"),
            Some(Status::Alive),
            "a restart is accepted"
        );
    }

    #[test]
    fn an_ack_tells_the_initiator_to_forget_what_the_responder_forgot() {
        let start = Instant::now();
        let (mut a, mut b) = (forgetful("a", start), forgetful("b", start));
        a.merge_entry(state("c", 0, 7, Status::Dead), start);
        let later = start + Duration::from_secs(11);
        a.detect(later);
        b.merge_entry(state("c", 0, 7, Status::Suspect), later);
        let syn = b.join(["http://a:7000"]);
        let ack = a.handle(syn[0].message.clone(), later);
        b.handle(ack[0].message.clone(), later);
        assert_eq!(status_of(&b, "c"), None, "b forgot c too");
        assert_eq!(status_of(&a, "c"), None);
    }
}
