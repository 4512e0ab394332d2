//! ringkv: a Dynamo-style, leaderless key/value store served over HTTP. This package is the
//! node: it wires the storage engine, the ring and the version sets to the network.
//!
//! A tour, from the outside in:
//! - [`cli`] and `main.rs`: the `ringkv` command (`serve`, `dev`, `bench`, client commands);
//!   [`healthcheck`]: `ringkv healthcheck`, the probe container health checks run.
//! - [`config`] and [`settings`]: file/env/flag layers; the hot sections `PUT /config` changes.
//! - [`server`]: runs one node (open storage, serve, ordered shutdown); [`dev`] runs three.
//! - [`api`]: the HTTP contract of `API.md` (axum routes, validation, `{"detail"}` errors,
//!   OpenAPI and Swagger UI, limits).
//! - [`coordinator`]: preference list -> parallel fan-out -> quorum -> merge; read repair;
//!   context-less writes; list across nodes.
//! - [`replica`]: the local copy: atomic read-merge-write of version sets in storage.
//! - [`rpc`]: the node-to-node client and wire formats (the `/internal` routes answering it
//!   are in `api/internal.rs`); [`cluster`]: the membership view, phases and rings;
//!   [`membership`]: gossip on the wire; [`rebalance`]: data movement on joins, leaves and
//!   removals; [`background`]: the supervisor every background task starts through;
//!   [`metrics`]: Prometheus text; [`anti_entropy`]: Merkle trees kept on every write and the
//!   exchange worker repairing replicas (and collecting tombstones safely).
//! - [`payload`] and [`persist`]: the byte formats of stored values and small state files.
//!
//! The parts it wires live in their own crates: `ringkv-storage` (LSM engine), `ringkv-ring`
//! (consistent hashing), `ringkv-versions` (dotted version vectors and sibling sets).

pub mod anti_entropy;
pub mod api;
pub mod background;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod config;
pub mod coordinator;
pub mod dev;
pub mod handoff;
pub mod healthcheck;
pub mod membership;
pub mod metrics;
pub mod node;
pub mod payload;
pub mod persist;
pub mod rebalance;
pub mod replica;
pub mod rpc;
pub mod server;
pub mod settings;
