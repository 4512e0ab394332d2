//! The failure detector's driver (until gossip replaces it): every `gossip.interval_ms` it
//! exchanges views with each peer (`POST /internal/membership`: the peer merges ours and answers
//! with its own). An answer is a heartbeat; its member list and settings are merged into ours,
//! so joins, `PUT /config` changes and a restarted member's new URL reach members that missed
//! the push. Time comes from the wall clock; the verdicts (alive / suspect / dead)
//! are computed from the last heartbeat in [`crate::cluster::Cluster::member_infos`].

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use tokio::sync::watch;

use crate::cluster::{Cluster, Member};
use crate::replica::now_ms;
use crate::rpc::{MembershipMsg, RpcClient};

/// Runs probe rounds until `stop` turns true (or its sender is dropped).
pub async fn run(cluster: Arc<Cluster>, rpc: RpcClient, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            () = probe_round(&cluster, &rpc) => {}
        }
        let interval = Duration::from_millis(cluster.settings().settings.gossip.interval_ms);
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

async fn probe_round(cluster: &Arc<Cluster>, rpc: &RpcClient) {
    let peers = cluster.peers();
    let ours = MembershipMsg::of(cluster);
    let answers = join_all(peers.iter().map(|p| rpc.push_membership(&p.url, &ours))).await;
    let now = now_ms();
    let mut learned = Vec::new();
    let mut aliases = Vec::new();
    for (peer, answer) in peers.iter().zip(answers) {
        match answer {
            Ok(msg) if msg.id == cluster.self_id => aliases.push(peer.id.clone()),
            Ok(msg) => {
                cluster.record_probe(&peer.id, true, now);
                learned.push(msg);
            }
            Err(e) => {
                cluster.record_probe(&peer.id, false, now);
                tracing::debug!(peer = %peer.id, "probe failed: {e}");
            }
        }
    }
    if learned.is_empty() && aliases.is_empty() {
        return;
    }
    let cluster = cluster.clone();
    let merged = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for alias in aliases {
            tracing::info!("member {alias} is this node under another address; forgetting it");
            cluster.forget_alias_of_self(&alias)?;
        }
        for msg in learned {
            let mut members = msg.members;
            members.push(Member {
                id: msg.id,
                url: msg.url,
            });
            if cluster.merge_members(&members, &msg.departed)? {
                tracing::info!("membership changed: {:?}", cluster.view().members);
            }
            if cluster.offer_settings(&msg.settings)? {
                tracing::info!("adopted settings version {}", msg.settings.version);
            }
        }
        Ok(())
    })
    .await;
    match merged {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!("persisting what a probe learned failed: {e:#}"),
        Err(e) => tracing::error!("probe merge task failed: {e}"),
    }
}
