//! Membership on gossip: this node's `ringkv-gossip` instance on the wire, and the views,
//! settings and acknowledgements derived from it.
//!
//! - **Transport.** Every message travels as one `POST /internal/gossip` (the crate's own
//!   encoding); the replies to it come back in the response body (see `rpc::wire::frames`), so a
//!   push-pull exchange costs two requests. Sends run as supervised tails, never blocking the
//!   round loop on a slow peer; each is bounded by the gossip interval.
//! - **Round loop** ([`Membership::run`], a worker): `tick` when due (time and randomness passed
//!   in), then re-derive the view. The loop also wakes every few ms while an acknowledgement is
//!   pending (below).
//! - **Derived state.** After every tick or received message the member table is fingerprinted
//!   by `(id, address, status, phase)`; when that changes, a new [`View`] (rings included) is
//!   installed in the [`Cluster`] and the table is persisted (`members.json`), so a restart
//!   starts from the last view and rejoins through every member it knew. Settings changes
//!   adopted by gossip are applied (and the protocol retimed) at once and persisted.
//! - **Own state.** This node's phase and data-movement progress travel as its gossip
//!   application state ([`Meta`]); its phase is persisted (`phase.json`) before it is announced.
//! - **Acknowledgements.** When the phases change, this node publishes `seen = phase_hash` in
//!   its meta, but only once every operation it started under an older view has finished (or
//!   after twice the request timeout): a member moving to its next phase waits until every live
//!   member has published the current hash ([`Membership::acked`]).
//!
//! Locks: one std mutex around the protocol state, held for a tick or a message, never across
//! an await or a file write.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hasher as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rand::SeedableRng as _;
use rand::rngs::StdRng;
use ringkv_gossip::{Event, Gossip, MemberState, Message, Outgoing, Version};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::background::Background;
use crate::cluster::{Cluster, Liveness, Movement, OpCounter, Phase, Status, View, ViewMember};
use crate::metrics::Metrics;
use crate::replica::now_ms;
use crate::rpc::RpcClient;
use crate::settings::{Settings, VersionedSettings};

/// A member's application state, as it gossips it (JSON inside the gossip entry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub phase: Phase,
    /// The phase hash this member has acknowledged (see the module docs).
    #[serde(default)]
    pub seen: u64,
    #[serde(default)]
    pub movement: Option<Movement>,
}

impl Meta {
    fn decode(bytes: &[u8]) -> Meta {
        // A member that has not said anything yet is not read from: treat it as joining.
        serde_json::from_slice(bytes).unwrap_or(Meta {
            phase: Phase::Joining,
            ..Meta::default()
        })
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// One member as `GET /peers` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MemberInfo {
    pub id: String,
    pub url: String,
    pub status: Status,
    /// When this node last saw the member's heartbeat advance, ms since the Unix epoch.
    pub last_heartbeat_ms: Option<u64>,
    pub incarnation: u64,
    pub heartbeat: u64,
    /// The member's share of the hash space as primary (0 when it does not serve reads).
    pub ring_share: f64,
    /// Data movement in progress (joining, leaving, or repairing after a removal).
    pub movement: Option<Movement>,
}

/// What `members.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    members: Vec<PersistedMember>,
    #[serde(default)]
    departed: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PersistedMember {
    id: String,
    url: String,
    incarnation: u64,
    heartbeat: u64,
    status: ringkv_gossip::Status,
    meta: String,
}

/// What `phase.json` holds.
#[derive(Debug, Serialize, Deserialize)]
struct PersistedPhase {
    phase: Phase,
}

struct State {
    gossip: Gossip,
    rng: StdRng,
    own: Meta,
    /// `(id, address, status, phase)` digest of the table behind the installed view.
    fingerprint: u64,
    /// Views replaced since the last acknowledgement, with their in-flight counters.
    draining: Vec<Arc<OpCounter>>,
    /// When the pending acknowledgement is published even if operations are still running.
    ack_by: Option<Instant>,
    departed: BTreeSet<String>,
}

/// This node's membership. Shared as `Arc<Membership>`.
pub struct Membership {
    cluster: Arc<Cluster>,
    rpc: RpcClient,
    bg: Arc<Background>,
    state: Mutex<State>,
    wake: Notify,
    /// Bumped whenever the member table changes (waiters poll [`Membership::acked`] on it).
    changed: watch::Sender<u64>,
    persist: watch::Sender<Option<Persisted>>,
    request_timeout: Duration,
    metrics: Arc<Metrics>,
}

fn liveness(status: ringkv_gossip::Status) -> Liveness {
    match status {
        ringkv_gossip::Status::Suspect => Liveness::Suspect,
        ringkv_gossip::Status::Dead => Liveness::Dead,
        _ => Liveness::Alive,
    }
}

impl Membership {
    /// Opens this node's membership from the data dir: the persisted view (members are
    /// remembered as just heard from), settings, own phase; then contacts `seeds` and every
    /// member it knew. A fresh node with nothing to contact is a cluster of one (`normal`);
    /// a fresh node with seeds starts `joining`.
    pub fn open(
        cluster: Arc<Cluster>,
        rpc: RpcClient,
        bg: Arc<Background>,
        metrics: Arc<Metrics>,
        seeds: &[String],
        request_timeout: Duration,
    ) -> anyhow::Result<(Arc<Membership>, Vec<Outgoing>)> {
        let dir = cluster.dir().to_path_buf();
        let persisted: Persisted =
            crate::persist::read_json(&dir.join("members.json"))?.unwrap_or_default();
        let saved_phase: Option<PersistedPhase> =
            crate::persist::read_json(&dir.join("phase.json"))?;
        let now = Instant::now();
        let own_incarnation = persisted
            .members
            .iter()
            .find(|m| m.id == cluster.self_id)
            .map_or(0, |m| m.incarnation + 1);
        let incarnation = own_incarnation.max(now_ms() / 1000);
        let settings = cluster.settings();
        let mut gossip = Gossip::with_incarnation(
            cluster.self_id.clone(),
            cluster.self_url.clone(),
            settings.settings.gossip.protocol(),
            now,
            incarnation,
        )
        .context("starting gossip")?;
        let mut urls: Vec<String> = seeds.to_vec();
        for m in &persisted.members {
            if m.id == cluster.self_id {
                continue;
            }
            gossip.remember(
                MemberState {
                    id: m.id.clone(),
                    addr: m.url.clone(),
                    version: Version {
                        incarnation: m.incarnation,
                        heartbeat: m.heartbeat,
                        status: m.status,
                    },
                    meta: m.meta.clone().into_bytes(),
                },
                now,
            );
            if !urls.contains(&m.url) && m.status != ringkv_gossip::Status::Left {
                urls.push(m.url.clone());
            }
        }
        urls.retain(|u| *u != cluster.self_url);
        if settings.version > 0 {
            gossip.restore_settings(to_gossip_settings(&settings));
        }
        let phase = match saved_phase {
            Some(saved) => saved.phase,
            None if urls.is_empty() => Phase::Normal,
            None => Phase::Joining,
        };
        crate::persist::write_json(&dir.join("phase.json"), &PersistedPhase { phase })?;
        if phase == Phase::Left {
            gossip.restore_left();
        }
        let own = Meta {
            phase,
            ..Meta::default()
        };
        gossip.set_meta(own.encode(), false)?;
        let out = gossip.join(urls);
        let (persist, _) = watch::channel(None);
        let membership = Arc::new(Membership {
            cluster,
            rpc,
            bg,
            state: Mutex::new(State {
                gossip,
                rng: StdRng::from_rng(&mut rand::rng()),
                own,
                fingerprint: 0,
                draining: Vec::new(),
                ack_by: None,
                departed: persisted.departed.into_iter().collect(),
            }),
            wake: Notify::new(),
            changed: watch::channel(0).0,
            persist,
            request_timeout,
            metrics,
        });
        membership.refresh();
        Ok((membership, out))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The round loop (a worker): ticks, derived state, acknowledgements.
    pub async fn run(self: Arc<Self>, first: Vec<Outgoing>, token: CancellationToken) {
        self.send_all(first);
        loop {
            let (next, acking) = {
                let st = self.lock();
                (st.gossip.next_tick(), st.ack_by.is_some())
            };
            let mut wake = tokio::time::Instant::from_std(next);
            if acking {
                wake = wake.min(tokio::time::Instant::now() + Duration::from_millis(20));
            }
            tokio::select! {
                () = token.cancelled() => break,
                () = tokio::time::sleep_until(wake) => {}
                () = self.wake.notified() => {}
            }
            let out = {
                let mut guard = self.lock();
                let st = &mut *guard;
                st.gossip.tick(Instant::now(), &mut st.rng)
            };
            self.refresh();
            self.send_all(out);
        }
    }

    /// Runs the persister (a worker): writes the newest member table handed to it.
    pub async fn persist_loop(self: Arc<Self>, token: CancellationToken) {
        let mut rx = self.persist.subscribe();
        loop {
            tokio::select! {
                () = token.cancelled() => break,
                changed = rx.changed() => if changed.is_err() { break },
            }
            let Some(snapshot) = rx.borrow_and_update().as_ref().map(|p| Persisted {
                members: p.members.clone(),
                departed: p.departed.clone(),
            }) else {
                continue;
            };
            let path = self.cluster.dir().join("members.json");
            let written =
                tokio::task::spawn_blocking(move || crate::persist::write_json(&path, &snapshot))
                    .await;
            if let Ok(Err(e)) | Err(e) = written.map_err(anyhow::Error::from) {
                tracing::error!("persisting the member table failed: {e:#}");
            }
        }
    }

    /// Handles one received gossip message; returns the encoded replies for the response.
    pub fn receive(&self, body: &[u8]) -> Result<Vec<Vec<u8>>, ringkv_gossip::Error> {
        let message = Message::decode(body)?;
        let replies = self.lock().gossip.handle(message, Instant::now());
        self.refresh();
        let replies: Vec<Vec<u8>> = replies.iter().map(|o| o.message.encode()).collect();
        let sent = replies.iter().map(|r| r.len() as u64).sum();
        self.metrics.gossip(sent, body.len() as u64);
        Ok(replies)
    }

    /// Sends messages as tails; replies that come back are handled, and so on (an exchange
    /// is at most three messages, so the loop is short).
    pub fn send_all(self: &Arc<Self>, out: Vec<Outgoing>) {
        for first in out {
            let this = self.clone();
            self.bg.tail(async move {
                let mut queue = vec![first];
                while let Some(next) = queue.pop() {
                    let timeout = this.send_timeout();
                    let bytes = next.message.encode();
                    let sent = bytes.len() as u64;
                    match this.rpc.gossip(&next.to, bytes, timeout).await {
                        Ok(replies) => {
                            let received = replies.iter().map(|r| r.len() as u64).sum();
                            this.metrics.gossip(sent, received);
                            for reply in replies {
                                match Message::decode(&reply) {
                                    Ok(m) => {
                                        let more = this.lock().gossip.handle(m, Instant::now());
                                        queue.extend(more);
                                    }
                                    Err(e) => {
                                        tracing::debug!(to = %next.to, "bad gossip reply: {e}")
                                    }
                                }
                            }
                            this.refresh();
                        }
                        Err(e) => tracing::trace!(to = %next.to, "gossip send failed: {e}"),
                    }
                }
            });
        }
    }

    fn send_timeout(&self) -> Duration {
        let interval = self.cluster.settings().settings.gossip.interval_ms;
        Duration::from_millis(interval.max(200)).min(self.rpc.timeout())
    }

    /// Re-derives what depends on the member table: the view, settings, own removal, the
    /// pending acknowledgement. Cheap when nothing changed.
    pub fn refresh(&self) {
        let mut adopted = None;
        let mut persist = None;
        let mut ack_out = Vec::new();
        let mut removed = false;
        {
            let mut guard = self.lock();
            let st = &mut *guard;
            for event in st.gossip.drain_events() {
                if let Event::SettingsChanged { .. } = event {
                    adopted = st.gossip.settings().and_then(from_gossip_settings);
                }
            }
            if st.gossip.status() == ringkv_gossip::Status::Left && st.own.phase != Phase::Left {
                tracing::warn!("this node was removed from the cluster; it serves no data now");
                st.own.phase = Phase::Left;
                removed = true;
            }
            let fingerprint = table_fingerprint(&st.gossip, &st.own);
            if fingerprint != st.fingerprint {
                st.fingerprint = fingerprint;
                let (view, snapshot) = self.derive(st);
                let old = self.cluster.install(view);
                if old.phase_hash != self.cluster.view().phase_hash || st.ack_by.is_some() {
                    st.draining.push(old.ops());
                    st.ack_by
                        .get_or_insert(Instant::now() + 2 * self.request_timeout);
                }
                persist = Some(snapshot);
            }
            if let Some(by) = st.ack_by {
                let drained = st.draining.iter().all(|c| c.in_flight() == 0);
                if !drained && Instant::now() >= by {
                    let left: usize = st.draining.iter().map(|c| c.in_flight()).sum();
                    tracing::warn!(
                        in_flight = left,
                        "acknowledging the new phases with operations of older views still running"
                    );
                }
                if drained || Instant::now() >= by {
                    st.draining.clear();
                    st.ack_by = None;
                    st.own.seen = self.cluster.view().phase_hash;
                    ack_out = st
                        .gossip
                        .set_meta(st.own.encode(), true)
                        .unwrap_or_default();
                }
            }
        }
        if removed {
            let path = self.cluster.dir().join("phase.json");
            self.bg.tail(tokio::task::spawn_blocking(move || {
                crate::persist::write_json(&path, &PersistedPhase { phase: Phase::Left })
            }));
        }
        if let Some(p) = persist {
            self.persist.send_replace(Some(p));
        }
        if let Some(settings) = adopted {
            self.apply_settings(settings);
        }
        self.changed.send_modify(|n| *n += 1);
        if !ack_out.is_empty() {
            self.wake.notify_one();
            self.bg
                .tail(send_later(self.cluster.clone(), ack_out, self.rpc.clone()));
        }
    }

    /// Builds the view (and the persisted table) from the gossip table.
    fn derive(&self, st: &mut State) -> (View, Persisted) {
        let mut members = BTreeMap::new();
        let mut persisted = Vec::new();
        for m in st.gossip.members() {
            let meta = if m.id == self.cluster.self_id {
                st.own.clone()
            } else {
                Meta::decode(&m.meta)
            };
            let phase = if m.status == ringkv_gossip::Status::Left {
                Phase::Left
            } else {
                meta.phase
            };
            if phase == Phase::Left {
                st.departed.insert(m.id.clone());
            }
            persisted.push(PersistedMember {
                id: m.id.clone(),
                url: m.addr.clone(),
                incarnation: m.incarnation,
                heartbeat: m.heartbeat,
                status: m.status,
                meta: String::from_utf8_lossy(&m.meta).into_owned(),
            });
            if st.departed.contains(&m.id) && phase != Phase::Left {
                continue;
            }
            members.insert(
                m.id,
                ViewMember {
                    url: m.addr,
                    phase,
                    liveness: liveness(m.status),
                },
            );
        }
        let view = View::build(members, st.departed.clone(), self.cluster.tokens_per_member);
        let snapshot = Persisted {
            members: persisted,
            departed: st.departed.iter().cloned().collect(),
        };
        (view, snapshot)
    }

    fn apply_settings(&self, settings: VersionedSettings) {
        let protocol = settings.settings.gossip.protocol();
        let cluster = self.cluster.clone();
        let offered = settings.clone();
        // Adopt in memory at once (the data path reads it), persist off the runtime threads.
        if !cluster.adopt_settings_in_memory(&offered) {
            return;
        }
        tracing::info!(version = offered.version, origin = %offered.origin, "adopted settings");
        if let Err(e) = self.lock().gossip.set_config(protocol) {
            tracing::error!("gossip refused the new timing: {e}");
        }
        self.wake.notify_one();
        self.bg.tail(async move {
            let saved = tokio::task::spawn_blocking(move || cluster.persist_settings()).await;
            if let Ok(Err(e)) | Err(e) = saved.map_err(anyhow::Error::from) {
                tracing::error!("persisting settings failed: {e:#}");
            }
        });
    }

    /// `PUT /config`: publishes `next` as a new settings version originating here, persists
    /// it, applies it and pushes it to every live member at once. Blocking (fsync): call from
    /// a blocking thread.
    pub fn change_settings(self: &Arc<Self>, next: Settings) -> anyhow::Result<VersionedSettings> {
        let bytes = serde_json::to_vec(&next)?;
        let (version, out) = {
            let mut st = self.lock();
            let version = st.gossip.set_settings(bytes)?;
            st.gossip.drain_events();
            (version, st.gossip.push_settings())
        };
        let versioned = VersionedSettings {
            version: version.version,
            origin: version.origin,
            settings: next,
        };
        self.cluster.adopt_settings(&versioned)?;
        self.lock()
            .gossip
            .set_config(versioned.settings.gossip.protocol())?;
        self.wake.notify_one();
        self.send_all(out);
        Ok(versioned)
    }

    /// Contacts `seeds` (joining their cluster).
    pub fn join(self: &Arc<Self>, seeds: &[String]) {
        let out = self.lock().gossip.join(seeds.iter().cloned());
        self.send_all(out);
    }

    /// Marks a member that is down as left on the operator's behalf.
    pub fn remove(self: &Arc<Self>, id: &str) -> Result<(), ringkv_gossip::Error> {
        let out = self.lock().gossip.remove(id, Instant::now())?;
        self.refresh();
        self.send_all(out);
        Ok(())
    }

    /// This node's own phase.
    pub fn phase(&self) -> Phase {
        self.lock().own.phase
    }

    /// Persists and announces this node's new phase. Blocking (fsync): call from a blocking
    /// thread.
    pub fn set_phase(self: &Arc<Self>, phase: Phase) -> anyhow::Result<()> {
        crate::persist::write_json(
            &self.cluster.dir().join("phase.json"),
            &PersistedPhase { phase },
        )?;
        let out = {
            let mut guard = self.lock();
            let st = &mut *guard;
            st.own.phase = phase;
            let now = Instant::now();
            let mut out = match phase {
                Phase::Leaving => st.gossip.leave(now),
                Phase::Left => st.gossip.complete_leave(now),
                _ => Vec::new(),
            };
            out.extend(st.gossip.set_meta(st.own.encode(), true)?);
            out
        };
        tracing::info!(?phase, "this node's phase changed");
        self.refresh();
        self.send_all(out);
        Ok(())
    }

    /// Publishes this node's data-movement progress (spreads with the next rounds).
    pub fn set_movement(&self, movement: Option<Movement>) {
        let mut st = self.lock();
        st.own.movement = movement;
        let meta = st.own.encode();
        let _ = st.gossip.set_meta(meta, false);
    }

    /// True when every live member (suspects included, dead ones excused) has acknowledged
    /// this node's current phase hash.
    pub fn acked(&self) -> bool {
        self.not_acked().is_empty()
    }

    /// The live members that have not acknowledged this node's current phase hash yet.
    fn not_acked(&self) -> Vec<String> {
        let hash = self.cluster.view().phase_hash;
        let st = self.lock();
        st.gossip
            .members()
            .into_iter()
            .filter(|m| {
                let excused = matches!(
                    m.status,
                    ringkv_gossip::Status::Dead | ringkv_gossip::Status::Left
                );
                let seen = if m.id == self.cluster.self_id {
                    st.own.seen
                } else {
                    Meta::decode(&m.meta).seen
                };
                !excused && seen != hash
            })
            .map(|m| m.id)
            .collect()
    }

    /// Waits until [`Membership::acked`] or `token` fires; false when cancelled.
    pub async fn wait_acked(&self, token: &CancellationToken) -> bool {
        let mut rx = self.changed.subscribe();
        let started = Instant::now();
        let mut next_report = Duration::from_secs(5);
        loop {
            let missing = self.not_acked();
            if missing.is_empty() {
                return true;
            }
            if started.elapsed() >= next_report {
                tracing::info!(
                    ?missing,
                    "waiting for members to acknowledge the new phases"
                );
                next_report += Duration::from_secs(5);
            }
            tokio::select! {
                () = token.cancelled() => return false,
                _ = rx.changed() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    }

    /// A receiver that changes whenever the member table does.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Every member with its status and progress, for `GET /peers`.
    pub fn member_infos(&self) -> Vec<MemberInfo> {
        let view = self.cluster.view();
        let st = self.lock();
        let (now, wall) = (Instant::now(), now_ms());
        st.gossip
            .members()
            .into_iter()
            .map(|m| {
                let own = m.id == self.cluster.self_id;
                let meta = if own {
                    st.own.clone()
                } else {
                    Meta::decode(&m.meta)
                };
                let phase = match m.status {
                    ringkv_gossip::Status::Left => Phase::Left,
                    _ if st.departed.contains(&m.id) => Phase::Left,
                    _ => meta.phase,
                };
                let ago = now.saturating_duration_since(m.last_heard).as_millis() as u64;
                MemberInfo {
                    status: Status::of(phase, liveness(m.status)),
                    last_heartbeat_ms: Some(wall.saturating_sub(ago)),
                    incarnation: m.incarnation,
                    heartbeat: m.heartbeat,
                    ring_share: view.shares.get(&m.id).copied().unwrap_or(0.0),
                    movement: meta.movement,
                    url: m.addr,
                    id: m.id,
                }
            })
            .collect()
    }

    /// The member with id `id`, or whose URL or `host:port` is `id`.
    pub fn resolve(&self, id: &str) -> Option<MemberInfo> {
        let infos = self.member_infos();
        let by_id = infos.iter().find(|m| m.id == id).cloned();
        by_id.or_else(|| {
            infos.into_iter().find(|m| {
                m.url == id
                    || crate::cluster::url_authority(&m.url) == id
                    || crate::cluster::normalize_url(id).is_ok_and(|u| u == m.url)
            })
        })
    }
}

/// Sends `out` (an acknowledgement pushed at once) outside the refresh that made it.
async fn send_later(cluster: Arc<Cluster>, out: Vec<Outgoing>, rpc: RpcClient) {
    let timeout = Duration::from_millis(cluster.settings().settings.gossip.interval_ms.max(200))
        .min(rpc.timeout());
    let sends = out
        .iter()
        .map(|o| rpc.gossip(&o.to, o.message.encode(), timeout));
    futures::future::join_all(sends).await;
}

fn table_fingerprint(gossip: &Gossip, own: &Meta) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for m in gossip.members() {
        let phase = if m.id == gossip.id() {
            own.phase
        } else {
            Meta::decode(&m.meta).phase
        };
        h.write(m.id.as_bytes());
        h.write(m.addr.as_bytes());
        h.write_u8(m.status as u8);
        h.write_u8(phase as u8);
    }
    h.finish()
}

fn to_gossip_settings(s: &VersionedSettings) -> ringkv_gossip::Settings {
    ringkv_gossip::Settings {
        version: ringkv_gossip::SettingsVersion {
            version: s.version,
            origin: s.origin.clone(),
        },
        bytes: serde_json::to_vec(&s.settings).unwrap_or_default(),
    }
}

fn from_gossip_settings(s: &ringkv_gossip::Settings) -> Option<VersionedSettings> {
    match serde_json::from_slice::<Settings>(&s.bytes) {
        Ok(settings) if settings.validate().is_ok() => Some(VersionedSettings {
            version: s.version.version,
            origin: s.version.origin.clone(),
            settings,
        }),
        _ => {
            tracing::warn!(
                version = s.version.version,
                "ignoring invalid gossiped settings"
            );
            None
        }
    }
}
