//! One running node's shared state: the resolved config and the parts wired together. Handlers
//! receive it as `State<Arc<Node>>`; workers own an `Arc<Node>` until shutdown stops them.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use tokio::sync::Semaphore;

use crate::anti_entropy::exchange::AntiEntropy;
use crate::background::Background;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::coordinator::{Coordinator, Parts};
use crate::membership::Membership;
use crate::metrics::Metrics;
use crate::rebalance::Pending;
use crate::replica::Replica;
use crate::rpc::RpcClient;

pub struct Node {
    /// The resolved config as started (its hot sections may since have changed: see
    /// [`Node::effective_config`]).
    pub config: Config,
    pub cluster: Arc<Cluster>,
    pub membership: Arc<Membership>,
    pub coordinator: Coordinator,
    pub replica: Replica,
    pub rpc: RpcClient,
    pub metrics: Arc<Metrics>,
    pub background: Arc<Background>,
    /// Bounds the client requests in progress (`max_concurrent_requests`).
    pub limiter: Arc<Semaphore>,
    /// Bounds the node-to-node requests in progress, apart from clients'.
    pub internal_limiter: Arc<Semaphore>,
    /// A repair after a forced removal in progress: keys this node is still receiving.
    pub pending: ArcSwapOption<Pending>,
    /// Anti-entropy's digests and exchange state.
    pub anti_entropy: Arc<AntiEntropy>,
}

impl Node {
    // The node's parts, each opened on its own by `server::open_node`: a struct of them would
    // only rename this list.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        cluster: Arc<Cluster>,
        replica: Replica,
        rpc: RpcClient,
        membership: Arc<Membership>,
        background: Arc<Background>,
        metrics: Arc<Metrics>,
        anti_entropy: Arc<AntiEntropy>,
    ) -> Node {
        let coordinator = Coordinator::new(Parts {
            cluster: cluster.clone(),
            replica: replica.clone(),
            rpc: rpc.clone(),
            metrics: metrics.clone(),
            bg: background.clone(),
            request_timeout: config.request_timeout(),
            max_value_bytes: config.max_value_bytes,
        });
        let limiter = Arc::new(Semaphore::new(config.max_concurrent_requests));
        let internal_limiter = Arc::new(Semaphore::new(config.max_concurrent_internal_requests));
        Node {
            config,
            cluster,
            membership,
            coordinator,
            replica,
            rpc,
            metrics,
            background,
            limiter,
            internal_limiter,
            pending: ArcSwapOption::empty(),
            anti_entropy,
        }
    }

    /// The config with the current hot settings.
    pub fn effective_config(&self) -> Config {
        let mut c = self.config.clone();
        c.set_settings(&self.cluster.settings().settings);
        c
    }

    /// The replication factor now in force.
    pub fn n(&self) -> usize {
        self.cluster.settings().settings.quorum.n
    }
}
