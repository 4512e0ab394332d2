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
                known.is_none_or(|&version| version < entry.state.version)
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
