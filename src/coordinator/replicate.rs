//! Sending a write's new set to the key's replicas, with sloppy quorum and hinted handoff
//! (see [`crate::handoff`]).
//!
//! The set goes to every member of the placement's write lists at once. A member the failure
//! detector marks dead fails at once; one that fails, or has not acked a quarter of the RPC
//! timeout in, is handed to the next healthy member clockwise beyond the key's preference list
//! (a fallback), which stores the set as a hint for it. The write is acknowledged once every
//! write list holds W: a member counts when it merged the set, or, with sloppy quorum, when its
//! fallback stored the hint. With strict quorum (`quorum.sloppy = false` or `?sloppy=false`)
//! only the key's own members count; hints are still handed out, for delivery.
//!
//! Whatever is still in flight at the answer finishes in the background; a member that in the
//! end neither merged the set nor had a fallback take its hint gets a hint kept by this node
//! (Cassandra's coordinator hints: a 3-node cluster with N=3 has no fallback at all). Such a
//! hint does not count toward W.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use ringkv_versions::VersionSet;
use tokio::time::Instant;

use super::quorum::{Event, Fanout};
use super::{CoordError, Coordinator, effective_quorum};
use crate::cluster::{Member, Placement, View};
use crate::replica::Committing;
use crate::rpc::wire::MergeAck;

/// What a write sends where.
pub(super) struct Shipment<'a> {
    pub key: &'a str,
    /// The set's encoding (what goes over the wire and into hints).
    pub encoded: Arc<Vec<u8>>,
    pub placement: &'a Placement,
    pub view: &'a Arc<View>,
    pub w: usize,
    /// The request's `?sloppy=`, if any.
    pub sloppy: Option<bool>,
    pub deadline: Instant,
    /// This node's own commit of the set, when still in flight: it counts toward W once
    /// durable (`None`: already stored here).
    pub local: Option<Committing>,
}

/// One copy of a write: to a member, or to a fallback as a hint for a member.
#[derive(Clone)]
struct Dest {
    member: Member,
    hint_for: Option<String>,
}

enum Delivered {
    Merged(MergeAck),
    Hinted,
}

/// Which members have the write, so far.
#[derive(Default)]
struct Tally {
    /// This node's own copy is stored (and counts toward W).
    stored_here: bool,
    merged: HashSet<String>,
    /// Members whose fallback stored the hint.
    stood_in: HashSet<String>,
    /// Members handed to a fallback (or being).
    handed: HashSet<String>,
    acks: Vec<MergeAck>,
}

impl Tally {
    fn count(&self, list: &[Member], me: &str, sloppy: bool) -> usize {
        list.iter()
            .filter(|m| {
                (m.id == me && self.stored_here)
                    || self.merged.contains(&m.id)
                    || (sloppy && self.stood_in.contains(&m.id))
            })
            .count()
    }
}

impl Coordinator {
    /// Sends `s.set` to the key's replicas; returns the replicas' merge acks once every write
    /// list holds W (see the module docs).
    pub(super) async fn replicate(&self, s: Shipment<'_>) -> Result<Vec<MergeAck>, CoordError> {
        let settings = self.cluster.settings().settings;
        let hinting = settings.hinted_handoff.enabled;
        let sloppy = hinting && s.sloppy.unwrap_or(settings.quorum.sloppy);
        let me = self.cluster.self_id.clone();
        let encoded = s.encoded.clone();
        let others: Vec<Dest> = s
            .placement
            .writes
            .iter()
            .filter(|m| m.id != me)
            .map(|m| Dest {
                member: m.clone(),
                hint_for: None,
            })
            .collect();
        let (replicas, key) = (self.replicas.clone(), s.key.to_string());
        let op_encoded = encoded.clone();
        let mut fanout = Fanout::start(&self.bg, others.clone(), others.len(), move |d: Dest| {
            let (replicas, key, encoded) = (replicas.clone(), key.clone(), op_encoded.clone());
            async move {
                match d.hint_for {
                    None => replicas
                        .merge(&d.member, &key, &encoded)
                        .await
                        .map(Delivered::Merged),
                    // Boxed: rare, and its state would enlarge every write's replica call.
                    Some(owner) => Box::pin(replicas.hint(&d.member, &owner, &key, &encoded))
                        .await
                        .map(|()| Delivered::Hinted),
                }
            }
        });
        let mut fallbacks: VecDeque<Member> = if hinting {
            self.fallbacks(s.view, s.key, s.placement)
        } else {
            VecDeque::new()
        };
        let mut tally = Tally {
            stored_here: s.local.is_none(),
            ..Tally::default()
        };
        let mut local = s.local.map(|c| Box::pin(c.wait()));
        let enough = |t: &Tally| {
            s.placement
                .write_sets
                .iter()
                .all(|list| t.count(list, &me, sloppy) >= effective_quorum(s.w, list.len()))
        };
        let mut hedge = Some(Instant::now() + self.hedge_after());
        while !enough(&tally) {
            let wake = hedge.map_or(s.deadline, |h| h.min(s.deadline));
            let event = match local.as_mut() {
                Some(own) => tokio::select! {
                    stored = own => {
                        stored.map_err(|e| super::write::local_write_failed(s.key, e))?;
                        local = None;
                        tally.stored_here = true;
                        continue;
                    }
                    event = fanout.next(wake) => event,
                },
                None => fanout.next(wake).await,
            };
            match event {
                Event::Reply((d, Ok(Delivered::Merged(ack)))) => {
                    tally.merged.insert(d.member.id);
                    tally.acks.push(ack);
                }
                Event::Reply((d, Ok(Delivered::Hinted))) => {
                    tally.stood_in.extend(d.hint_for);
                }
                Event::Reply((d, Err(e))) => {
                    tracing::debug!(peer = %d.member.id, "replicating `{}` failed: {e}", s.key);
                    let owner = d.hint_for.unwrap_or(d.member.id);
                    if !tally.merged.contains(&owner) {
                        hand_off(&mut fanout, &mut fallbacks, &mut tally, owner);
                    }
                }
                Event::Wake if Instant::now() >= s.deadline => break,
                Event::Wake => {
                    // Slow members: hand their copy to fallbacks too (a late ack still counts).
                    hedge = None;
                    for d in &others {
                        let id = &d.member.id;
                        if !tally.merged.contains(id) && !tally.handed.contains(id) {
                            hand_off(&mut fanout, &mut fallbacks, &mut tally, id.clone());
                        }
                    }
                }
                // Nobody else to hear from: what is left is this node's own commit.
                Event::Exhausted => match local.take() {
                    Some(own) => match own.await {
                        Ok(()) => tally.stored_here = true,
                        Err(e) => return Err(super::write::local_write_failed(s.key, e)),
                    },
                    None => break,
                },
            }
        }
        let error = (!enough(&tally)).then(|| {
            let short = s
                .placement
                .write_sets
                .iter()
                .find(|list| tally.count(list, &me, sloppy) < effective_quorum(s.w, list.len()))
                .unwrap_or(&s.placement.read);
            CoordError::Quorum {
                op: "write".into(),
                got: tally.count(short, &me, sloppy),
                needed: effective_quorum(s.w, short.len()),
                asked: short.len(),
            }
        });
        let acks = std::mem::take(&mut tally.acks);
        self.finish_in_background(fanout, tally, others, s.key, encoded, hinting);
        match error {
            None => Ok(acks),
            Some(e) => {
                self.metrics.quorum_failure("write");
                Err(e)
            }
        }
    }

    /// The members that may stand in for the key's replicas: the next ones clockwise beyond its
    /// preference list in the read ring, alive, not already written to, not this node.
    fn fallbacks(&self, view: &View, key: &str, placement: &Placement) -> VecDeque<Member> {
        let down: HashSet<String> = view
            .members
            .iter()
            .filter(|(_, m)| m.liveness != crate::cluster::Liveness::Alive)
            .map(|(id, _)| id.clone())
            .collect();
        let n = self.cluster.settings().settings.quorum.n;
        view.read
            .fallbacks(key.as_bytes(), n, &down)
            .into_iter()
            .filter(|id| *id != self.cluster.self_id)
            .filter(|id| !placement.writes.iter().any(|m| m.id == *id))
            .filter_map(|id| {
                view.members.get(&id).map(|m| Member {
                    url: m.url.clone(),
                    id,
                })
            })
            .collect()
    }

    /// Lets the calls still in flight finish, then keeps a hint here for every member that
    /// neither merged the set nor had a fallback store it.
    fn finish_in_background(
        &self,
        fanout: Fanout<Dest, Delivered>,
        mut tally: Tally,
        others: Vec<Dest>,
        key: &str,
        encoded: Arc<Vec<u8>>,
        hinting: bool,
    ) {
        let all_done = others
            .iter()
            .all(|d| tally.merged.contains(&d.member.id) || tally.stood_in.contains(&d.member.id));
        if all_done {
            return;
        }
        let (this, key) = (self.clone(), key.to_string());
        self.bg.tail(async move {
            let mut pending = fanout.into_pending();
            while let Some(reply) = futures::StreamExt::next(&mut pending).await {
                match reply {
                    (d, Ok(Delivered::Merged(_))) => {
                        tally.merged.insert(d.member.id);
                    }
                    (d, Ok(Delivered::Hinted)) => tally.stood_in.extend(d.hint_for),
                    _ => {}
                }
            }
            if !hinting {
                return;
            }
            let caps = this.cluster.settings().settings.hinted_handoff.caps();
            for d in others {
                let id = &d.member.id;
                if tally.merged.contains(id) || tally.stood_in.contains(id) {
                    continue;
                }
                let set = match VersionSet::decode(&encoded) {
                    Ok(set) => set,
                    Err(e) => {
                        tracing::error!(owner = %id, "a hint for `{key}` could not be decoded: {e}");
                        continue;
                    }
                };
                // Boxed: rare, and its state would enlarge the tail of every write.
                match Box::pin(this.replica.store_hint(id, &key, set, caps)).await {
                    Ok(Ok(())) => tracing::debug!(owner = %id, "kept a hint for `{key}`"),
                    Ok(Err(reason)) => {
                        tracing::warn!(owner = %id, reason = reason.as_str(), "hint for `{key}` refused")
                    }
                    Err(e) => tracing::error!(owner = %id, "keeping a hint for `{key}` failed: {e}"),
                }
            }
        });
    }
}

/// Hands `owner`'s copy to the next fallback, if one is left.
fn hand_off(
    fanout: &mut Fanout<Dest, Delivered>,
    fallbacks: &mut VecDeque<Member>,
    tally: &mut Tally,
    owner: String,
) {
    if let Some(member) = fallbacks.pop_front() {
        tally.handed.insert(owner.clone());
        fanout.push(Dest {
            member,
            hint_for: Some(owner),
        });
    }
}
