//! Membership events the node reacts to (ring rebuilds, config reloads, logs).
//!
//! Events are hints in order of observation; the member table (`Gossip::members`) stays the
//! truth. Invariant: the queue is bounded: past [`MAX_PENDING_EVENTS`] the oldest event is
//! dropped and counted, so a caller that forgets to drain cannot grow memory without limit.

use std::collections::VecDeque;

use crate::{NodeId, SettingsVersion};

/// Events kept until drained.
pub const MAX_PENDING_EVENTS: usize = 4096;

/// A change this node observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A member this node did not know appeared (alive, leaving or suspect).
    Joined { id: NodeId, addr: String },
    /// A member became suspect.
    Suspect { id: NodeId },
    /// A member was declared dead.
    Dead { id: NodeId },
    /// A suspect, dead or left member is alive again (newer heartbeat or incarnation).
    Alive { id: NodeId },
    /// A member started a graceful leave.
    Leaving { id: NodeId },
    /// A member left (gracefully, or removed by an operator).
    Left { id: NodeId },
    /// A dead or left member was dropped from the table after `forget_after`.
    Forgotten { id: NodeId },
    /// The settings blob changed (locally through `set_settings`, or by gossip).
    SettingsChanged { version: SettingsVersion },
    /// This node heard a rumour about itself (suspect/dead/left, or a newer entry after a
    /// restart) and raised its incarnation to refute it.
    Refuted { incarnation: u64 },
}

/// The bounded queue behind `Gossip::drain_events`.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    events: VecDeque<Event>,
    dropped: u64,
}

impl EventQueue {
    pub(crate) fn push(&mut self, event: Event) {
        if self.events.len() == MAX_PENDING_EVENTS {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(event);
    }

    pub(crate) fn drain(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflow_drops_the_oldest_and_counts() {
        let mut queue = EventQueue::default();
        for i in 0..MAX_PENDING_EVENTS + 3 {
            queue.push(Event::Dead { id: i.to_string() });
        }
        assert_eq!(queue.dropped(), 3);
        let events = queue.drain();
        assert_eq!(events.len(), MAX_PENDING_EVENTS);
        assert_eq!(events[0], Event::Dead { id: "3".into() });
        assert!(queue.drain().is_empty());
    }
}
