//! One running node's shared state: the resolved config and the parts wired together. Handlers
//! receive it as `State<Arc<Node>>`.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::cluster::Cluster;
use crate::config::Config;
use crate::coordinator::Coordinator;
use crate::metrics::Metrics;
use crate::replica::Replica;
use crate::rpc::RpcClient;

pub struct Node {
    /// The resolved config as started (its hot sections may since have changed: see
    /// [`Node::effective_config`]).
    pub config: Config,
    pub cluster: Arc<Cluster>,
    pub coordinator: Coordinator,
    pub replica: Replica,
    pub rpc: RpcClient,
    pub metrics: Arc<Metrics>,
    /// Bounds the requests in progress (`max_concurrent_requests`).
    pub limiter: Arc<Semaphore>,
}

impl Node {
    pub fn new(config: Config, cluster: Arc<Cluster>, replica: Replica) -> anyhow::Result<Node> {
        let rpc = RpcClient::new(config.rpc_timeout(), config.cluster_secret.as_deref())?;
        let metrics = Arc::new(Metrics::default());
        let coordinator = Coordinator::new(
            cluster.clone(),
            replica.clone(),
            rpc.clone(),
            metrics.clone(),
            config.request_timeout(),
            config.max_value_bytes,
        );
        let limiter = Arc::new(Semaphore::new(config.max_concurrent_requests));
        Ok(Node {
            config,
            cluster,
            coordinator,
            replica,
            rpc,
            metrics,
            limiter,
        })
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
