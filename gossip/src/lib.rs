//! ringkv-gossip: membership, failure detection and settings dissemination, sans-IO.
//!
//! A tour, in reading order:
//! - `member`: member entries, statuses and the version order that makes merges
//!   deterministic (newer incarnation/heartbeat wins; at equal heartbeat the stronger claim);
//! - `detector`: when a silent member becomes suspect (fixed timeout or phi accrual);
//! - `settings`: the versioned cluster-settings blob (highest `(version, origin)` wins);
//! - `message`: the push-pull messages (Syn / Ack / Updates) and their strict wire format;
//! - `gossip`: the state machine the node drives (`tick`, `join`, `leave`, queries);
//! - `exchange`: receiving messages, merging views, refuting rumours about oneself;
//! - `event`: what changed, for the node to react to (ring rebuilds, config reloads).
//!
//! Driving it from an async loop (the node does this over `POST /internal/gossip`):
//!
//! ```text
//! let mut gossip = Gossip::new(id, my_url, config, Instant::now())?;
//! send_all(gossip.join(seed_urls));
//! loop {
//!     select! {
//!         _ = sleep_until(gossip.next_tick()) => send_all(gossip.tick(Instant::now(), &mut rng)),
//!         bytes = inbox.recv() => match Message::decode(&bytes) {
//!             Ok(msg) => send_all(gossip.handle(msg, Instant::now())),
//!             Err(e) => reply_400(e),
//!         },
//!     }
//!     for event in gossip.drain_events() { /* rebuild the ring, apply settings, log */ }
//! }
//! ```
//!
//! Replies returned by `handle` are addressed to the sender (`Outgoing::to`); a transport may
//! POST them like any other message or return them as the response body of the request that
//! carried the message. Delivery is best effort: a lost message costs at most a round, never
//! correctness, so there are no retries or acknowledgements to manage.
//!
//! Nothing here does I/O, sleeps or reads a clock: time is passed in as `std::time::Instant`
//! and randomness as any `rand::Rng`, so the tests in `tests/` run whole clusters in simulated
//! time with a seeded RNG and a lossy, partitionable network.

mod config;
mod detector;
mod error;
mod event;
mod exchange;
mod gossip;
mod member;
mod message;
mod settings;

pub use config::{Config, MAX_FANOUT};
pub use error::Error;
pub use event::{Event, MAX_PENDING_EVENTS};
pub use gossip::{Gossip, Outgoing};
pub use member::{Member, MemberState, NodeId, Status, Version};
pub use message::{
    FORMAT_VERSION, MAX_ADDR_BYTES, MAX_ENTRIES, MAX_ID_BYTES, MAX_MESSAGE_BYTES, MAX_META_BYTES,
    Message,
};
pub use settings::{MAX_SETTINGS_BYTES, Settings, SettingsVersion};
