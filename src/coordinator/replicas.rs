//! The one seam for "a replica": this node's local store or another node over RPC, with the
//! same calls. A member the failure detector marks dead fails at once, without a network call,
//! so no request waits on it.

use std::sync::Arc;

use ringkv_versions::VersionSet;

use crate::background::Background;
use crate::cluster::{Cluster, Member};
use crate::replica::Replica;
use crate::rpc::batch::{Batcher, SendBatch};
use crate::rpc::wire::MergeAck;
use crate::rpc::wire::{ReadAnswer, Want, digest};
use crate::rpc::{RpcClient, ScanRequest};

/// A remote merge, as the per-peer batcher carries it: the key and its encoded set.
type MergeItem = (String, Arc<Vec<u8>>);
/// A remote read, as the per-peer batcher carries it.
type ReadItem = (String, Want);

/// Local or remote replica calls. Cheap to clone.
#[derive(Clone)]
pub struct Replicas {
    pub(crate) cluster: Arc<Cluster>,
    pub(crate) replica: Replica,
    pub(crate) rpc: RpcClient,
    /// Remote merges, coalesced per peer (see `rpc/batch.rs`).
    merges: Arc<Batcher<MergeItem, MergeAck>>,
    /// Remote reads and digests, coalesced per peer.
    reads: Arc<Batcher<ReadItem, ReadAnswer>>,
}

/// Why a replica call failed (already logged at debug level by the caller).
pub type CallError = String;

impl Replicas {
    pub fn new(
        cluster: Arc<Cluster>,
        replica: Replica,
        rpc: RpcClient,
        bg: Arc<Background>,
    ) -> Replicas {
        let client = rpc.clone();
        let send: SendBatch<MergeItem, MergeAck> = Arc::new(move |url, items| {
            let client = client.clone();
            Box::pin(async move { client.merges(&url, &items).await })
        });
        let client = rpc.clone();
        let read: SendBatch<ReadItem, ReadAnswer> = Arc::new(move |url, items| {
            let client = client.clone();
            Box::pin(async move { client.reads(&url, &items).await })
        });
        Replicas {
            cluster,
            replica,
            rpc,
            merges: Arc::new(Batcher::new(bg.clone(), send)),
            reads: Arc::new(Batcher::new(bg, read)),
        }
    }

    fn is_self(&self, m: &Member) -> bool {
        m.id == self.cluster.self_id
    }

    fn check_alive(&self, m: &Member) -> Result<(), CallError> {
        if self.cluster.view().is_dead(&m.id) {
            Err(format!("{} is down (failure detector)", m.id))
        } else {
            Ok(())
        }
    }

    /// One replica's set of `key` (`None`: it holds nothing).
    pub async fn read(&self, m: &Member, key: &str) -> Result<Option<VersionSet>, CallError> {
        if self.is_self(m) {
            return self.replica.read_now(key).map_err(|e| e.to_string());
        }
        self.check_alive(m)?;
        match self.reads.call(&m.url, (key.to_string(), Want::Set)).await {
            Ok(ReadAnswer::Set(set)) => Ok(Some(set)),
            Ok(ReadAnswer::Absent) => Ok(None),
            Ok(ReadAnswer::Digest(_)) => Err(format!("{} answered a digest for a read", m.id)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The digest of one replica's stored set of `key` (`None`: it holds none).
    pub async fn digest(&self, m: &Member, key: &str) -> Result<Option<u64>, CallError> {
        if self.is_self(m) {
            let stored = self
                .replica
                .read_raw_now(&[key])
                .map_err(|e| e.to_string())?;
            return Ok(stored.into_iter().flatten().next().map(|b| digest(&b)));
        }
        self.check_alive(m)?;
        match self
            .reads
            .call(&m.url, (key.to_string(), Want::Digest))
            .await
        {
            Ok(ReadAnswer::Digest(d)) => Ok(Some(d)),
            Ok(ReadAnswer::Absent) => Ok(None),
            Ok(ReadAnswer::Set(_)) => Err(format!("{} answered a set for a digest", m.id)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Merges a set (`encoded`) into one replica's copy of `key`; the ack says what that copy
    /// held before.
    pub async fn merge(
        &self,
        m: &Member,
        key: &str,
        encoded: &Arc<Vec<u8>>,
    ) -> Result<MergeAck, CallError> {
        if self.is_self(m) {
            let limits = self.cluster.settings().settings.versioning.limits();
            let set = VersionSet::decode(encoded).map_err(|e| e.to_string())?;
            // Boxed: the local merge's state is large, and this future is spawned per
            // replica of every write (the remote branch is the common one).
            return Box::pin(self.replica.merge(key, set, limits))
                .await
                .map(|merged| MergeAck {
                    prior_live: merged.prior_live,
                    covered: merged.covered,
                    set: (!merged.covered).then_some(merged.set),
                })
                .map_err(|e| e.to_string());
        }
        self.check_alive(m)?;
        self.merges
            .call(&m.url, (key.to_string(), encoded.clone()))
            .await
            .map_err(|e| e.to_string())
    }

    /// Asks member `m` to keep `encoded` (a set of `key`) as a hint for replica `owner`.
    pub async fn hint(
        &self,
        m: &Member,
        owner: &str,
        key: &str,
        encoded: &[u8],
    ) -> Result<(), CallError> {
        if self.is_self(m) {
            let set = VersionSet::decode(encoded).map_err(|e| e.to_string())?;
            let caps = self.cluster.settings().settings.hinted_handoff.caps();
            return match self.replica.store_hint(owner, key, set, caps).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(reason)) => Err(format!("hint refused: {}", reason.as_str())),
                Err(e) => Err(e.to_string()),
            };
        }
        self.check_alive(m)?;
        self.rpc
            .hint(&m.url, owner, key, encoded)
            .await
            .map_err(|e| e.to_string())
    }

    /// One page of a member's local keys.
    pub async fn scan(
        &self,
        m: &Member,
        req: &ScanRequest,
    ) -> Result<Vec<(String, VersionSet)>, CallError> {
        if self.is_self(m) {
            return self
                .replica
                .scan(&req.prefix, req.after.clone(), req.limit)
                .await
                .map_err(|e| e.to_string());
        }
        self.check_alive(m)?;
        self.rpc.scan(&m.url, req).await.map_err(|e| e.to_string())
    }
}
