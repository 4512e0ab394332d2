//! Clusters of [`Node`]s in one temp dir: [`ClusterBuilder`] starts N nodes and joins them
//! (`POST /peers`, or static membership from a file or `--peers`), then waits until every node's
//! `GET /peers` lists all the others. Invariant: nodes are killed before the dir is removed; on a
//! panic the tail of every node's log is printed.

use std::collections::BTreeSet;
use std::path::Path;
use std::thread;

use serde_json::Value;

use super::{DEADLINE, Http, Launch, Node, wait_until};

/// N nodes joined into one cluster, and the temp dir holding their data and logs.
pub struct Cluster {
    // Field order matters: nodes are killed before the directory is removed.
    pub nodes: Vec<Node>,
    pub http: Http,
    /// The `--set` overrides every node was started with (nodes added later get them too).
    pub sets: Vec<String>,
    dir: tempfile::TempDir,
}

/// Starts clusters: `Cluster::builder(3).quorum(3, 2, 2).set("request_timeout_ms", 1500).start()`.
pub struct ClusterBuilder {
    size: usize,
    sets: Vec<String>,
    membership: Membership,
    /// Node ids are `{prefix}{index}`.
    prefix: String,
}

/// How the nodes of a cluster learn of each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Each node starts alone on port 0; `POST /peers` on the first node joins the others.
    Join,
    /// Ports are reserved first; every node gets one `--membership-file` listing all of them
    /// (itself included, mixed `host:port` and URL lines, comments and blank lines).
    File,
    /// Ports are reserved first; node 0 gets the others' URLs with `--peers`, the others through
    /// `RINGKV_PEERS`.
    Peers,
    /// Node 0 starts alone; every other node starts with `--peers` naming only node 0 (one
    /// seed) and learns the rest by gossip.
    Seed,
}

/// `n` ports that were free a moment ago (all bound at once, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("binding a free port"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

impl ClusterBuilder {
    /// Adds `--set key=value` to every node.
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.sets.push(format!("{key}={}", value.to_string()));
        self
    }

    /// Sets `quorum.n`, `quorum.r`, `quorum.w`.
    pub fn quorum(self, n: u32, r: u32, w: u32) -> Self {
        self.set("quorum.n", n)
            .set("quorum.r", r)
            .set("quorum.w", w)
    }

    /// Starts the nodes, joins them with `POST /peers` on the first node, and waits until every
    /// node's `GET /peers` lists exactly all the others.
    pub fn start(mut self) -> Cluster {
        // Generous deadlines unless the test chose its own: a loaded 2-core machine must not turn
        // a slow answer into a 503. Dead nodes refuse connections, so failures stay fast.
        // Gossip rounds every 250 ms make joins and settings spread quickly; failure detection
        // keeps its default timeouts unless a test sets its own.
        for (key, value) in [
            ("request_timeout_ms", 10_000),
            ("rpc_timeout_ms", 5_000),
            ("gossip.interval_ms", 250),
        ] {
            if !self.sets.iter().any(|s| s.starts_with(&format!("{key}="))) {
                self.sets.insert(0, format!("{key}={value}"));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("ringkv-test-")
            .tempdir()
            .expect("creating a temp dir");
        let http = Http::new();
        if self.membership != Membership::Join {
            let cluster = self.start_static(dir, http);
            cluster.wait_for_membership();
            return cluster;
        }
        let nodes: Vec<Node> = (0..self.size)
            .map(|i| {
                Node::start(
                    dir.path(),
                    &format!("{}{i}", self.prefix),
                    &self.sets,
                    http.clone(),
                )
            })
            .collect();
        let cluster = Cluster {
            nodes,
            http,
            sets: self.sets.clone(),
            dir,
        };
        // With a cluster secret configured, admin writes must carry it.
        let secret = self
            .sets
            .iter()
            .find_map(|s| s.strip_prefix("cluster_secret="));
        let headers: Vec<(&str, &str)> = secret
            .map(|s| ("X-Cluster-Secret", s))
            .into_iter()
            .collect();
        for other in &cluster.nodes[1..] {
            let resp = cluster.http.json(
                "POST",
                &cluster.nodes[0].at("/peers"),
                &headers,
                &serde_json::json!({ "peer_url": other.url }),
            );
            assert_eq!(
                resp.status, 200,
                "POST /peers {} on {}: {}",
                other.url, cluster.nodes[0].url, resp.body
            );
        }
        cluster.wait_for_membership();
        cluster
    }

    /// Names the nodes `{prefix}0`, `{prefix}1`, ... instead of `node0`, ...
    pub fn id_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// Uses static membership: the nodes know each other's addresses from their start.
    pub fn membership(mut self, membership: Membership) -> Self {
        self.membership = membership;
        self
    }

    fn start_static(self, dir: tempfile::TempDir, http: Http) -> Cluster {
        let ports = free_ports(self.size);
        let urls: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let file = dir.path().join("cluster.membership");
        let mut text = String::from("# ringkv test cluster\n\n");
        for (i, port) in ports.iter().enumerate() {
            match i % 2 {
                0 => text.push_str(&format!("127.0.0.1:{port}\n")),
                _ => text.push_str(&format!("  http://127.0.0.1:{port}  \n\n")),
            }
        }
        std::fs::write(&file, text).expect("writing the membership file");
        let nodes = (0..self.size)
            .map(|i| {
                let id = format!("{}{i}", self.prefix);
                let mut launch = Launch::with_id(&id, &self.sets);
                launch.port = ports[i];
                let others: Vec<&str> = (0..self.size)
                    .filter(|&j| j != i)
                    .map(|j| urls[j].as_str())
                    .collect();
                match (self.membership, i) {
                    (Membership::Seed, 0) => {}
                    (Membership::Seed, _) => launch.args = vec!["--peers".into(), urls[0].clone()],
                    (Membership::File, _) => {
                        launch.args = vec!["--membership-file".into(), file.display().to_string()];
                    }
                    (_, 0) => launch.args = vec!["--peers".into(), others.join(",")],
                    _ => launch.env = vec![("RINGKV_PEERS".into(), others.join(","))],
                }
                Node::start_with(dir.path(), &id, launch, http.clone())
            })
            .collect();
        Cluster {
            nodes,
            http,
            sets: self.sets,
            dir,
        }
    }
}

impl Cluster {
    /// A cluster of nodes started by hand (e.g. configured only by environment), in `dir`.
    pub fn adopt(dir: tempfile::TempDir, nodes: Vec<Node>) -> Cluster {
        let http = nodes.first().map_or_else(Http::new, |n| n.http.clone());
        Cluster {
            nodes,
            http,
            sets: Vec::new(),
            dir,
        }
    }

    pub fn builder(size: usize) -> ClusterBuilder {
        assert!(size >= 1);
        ClusterBuilder {
            size,
            sets: Vec::new(),
            membership: Membership::Join,
            prefix: "node".to_owned(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    /// Starts one more node with the cluster's overrides plus `extra` (alone: join it with
    /// `POST /peers`); returns its index.
    pub fn add_node(&mut self, id: &str, extra: &[String]) -> usize {
        let mut sets = self.sets.clone();
        sets.extend_from_slice(extra);
        let node = Node::start(self.dir.path(), id, &sets, self.http.clone());
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// `kill -9` every node.
    pub fn kill_all(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
    }

    /// Restarts every stopped node (same port, data dir and id) and waits for the membership.
    pub fn restart_all(&mut self) {
        for node in self.nodes.iter_mut().filter(|n| !n.is_running()) {
            node.restart();
        }
        self.wait_for_membership();
    }

    /// Runs `write`, then waits until exactly `n` running nodes stored it (their commit logs grew,
    /// see [`Node::storage_log_bytes`]) and returns their indexes: the replicas of what was
    /// written, found from the outside. Panics if more than `n` stored it.
    pub fn stored_by(&self, n: usize, write: impl FnOnce()) -> BTreeSet<usize> {
        let running: Vec<(usize, &Node)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| node.is_running() && !node.is_paused())
            .collect();
        let before: Vec<u64> = running
            .iter()
            .map(|(_, node)| node.storage_log_bytes())
            .collect();
        write();
        wait_until("the write reached its replicas", DEADLINE, || {
            let grown: BTreeSet<usize> = running
                .iter()
                .zip(&before)
                .filter(|((_, node), b)| node.storage_log_bytes() > **b)
                .map(|((i, _), _)| *i)
                .collect();
            match grown.len() {
                len if len == n => Ok(grown),
                len if len > n => panic!("{len} nodes stored one write: {grown:?}"),
                _ => Err(format!("stored by {grown:?} so far")),
            }
        })
    }

    /// Every node answers `GET /items/{key}` with 200 and exactly `value`, also when asking all
    /// 3 replicas (`?r=3`): one value everywhere, no siblings.
    #[track_caller]
    pub fn assert_one_value_everywhere(&self, key: &str, value: &Value) {
        for node in &self.nodes {
            assert_eq!(&node.get_value(key), value, "{key} via {}", node.id);
            let all = node.http.get(&node.item(key, "?r=3"));
            assert_eq!(
                all.status, 200,
                "{key} via {} with r=3: {}",
                node.id, all.body
            );
            let want = serde_json::json!({ "value": value });
            assert_eq!(all.json(), want, "{key} via {} with r=3", node.id);
        }
    }

    /// Waits until every running node's `GET /peers` lists exactly the other nodes' URLs.
    pub fn wait_for_membership(&self) {
        let nodes: Vec<&Node> = self.nodes.iter().collect();
        wait_for_peers(&nodes);
    }
}

/// Waits until every running node of `nodes` lists exactly the others' URLs in `GET /peers`,
/// and sees every running one as `alive` (joined: done moving data).
pub fn wait_for_peers(nodes: &[&Node]) {
    let running: Vec<String> = nodes
        .iter()
        .filter(|n| n.is_running())
        .map(|n| n.url.clone())
        .collect();
    for node in nodes.iter().filter(|n| n.is_running()) {
        let mut want: Vec<String> = nodes
            .iter()
            .filter(|n| n.id != node.id)
            .map(|n| n.url.clone())
            .collect();
        want.sort();
        wait_until(
            &format!(
                "{} lists all members in GET /peers, the running ones alive",
                node.id
            ),
            DEADLINE,
            || {
                let got = peer_urls(&node.http, &node.url)?;
                if got != want {
                    return Err(format!("peers {got:?}, want {want:?}"));
                }
                let statuses = member_statuses(&node.http, &node.url)?;
                match running
                    .iter()
                    .find(|u| statuses.get(*u).map(String::as_str) != Some("alive"))
                {
                    Some(u) => Err(format!("{u} is {:?}: {statuses:?}", statuses.get(u))),
                    None => Ok(()),
                }
            },
        );
    }
}

/// Each member's status in `GET {url}/peers`, by URL.
pub fn member_statuses(
    http: &Http,
    url: &str,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let resp = http
        .try_send("GET", &format!("{url}/peers"), &[], None)
        .map_err(|e| e.to_string())?;
    if resp.status != 200 {
        return Err(format!("status {}: {}", resp.status, resp.body));
    }
    let body: Value = serde_json::from_str(&resp.body).map_err(|e| e.to_string())?;
    let members = body
        .get("members")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no members array in {body}"))?;
    // A node that left and came back from a fresh data dir has two entries on one URL: the
    // member that is there now wins over the one that left.
    let mut statuses = std::collections::BTreeMap::new();
    for m in members {
        let (Some(url), Some(status)) = (
            m.get("url").and_then(Value::as_str),
            m.get("status").and_then(Value::as_str),
        ) else {
            continue;
        };
        let url = url.trim_end_matches('/').to_owned();
        if status != "left" || !statuses.contains_key(&url) {
            statuses.insert(url, status.to_owned());
        }
    }
    Ok(statuses)
}

/// The sorted `peers` list of `GET {url}/peers`, without trailing slashes.
pub fn peer_urls(http: &Http, url: &str) -> Result<Vec<String>, String> {
    let resp = http
        .try_send("GET", &format!("{url}/peers"), &[], None)
        .map_err(|e| e.to_string())?;
    if resp.status != 200 {
        return Err(format!("status {}: {}", resp.status, resp.body));
    }
    let body: Value = serde_json::from_str(&resp.body).map_err(|e| e.to_string())?;
    let peers = body
        .get("peers")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("no peers array in {body}"))?;
    let mut urls: Vec<String> = peers
        .iter()
        .map(|p| {
            p.as_str()
                .map(|s| s.trim_end_matches('/').to_owned())
                .ok_or_else(|| format!("peer {p} is not a string"))
        })
        .collect::<Result<_, _>>()?;
    urls.sort();
    Ok(urls)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if thread::panicking() {
            for node in &self.nodes {
                eprintln!("{}", node.log_tail(30));
            }
        }
        for node in &mut self.nodes {
            node.kill();
        }
        // RINGKV_TEST_KEEP=1 keeps the data dirs and logs for a post-mortem.
        if std::env::var_os("RINGKV_TEST_KEEP").is_some() {
            let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
            eprintln!("kept the cluster's dir: {}", dir.keep().display());
        }
    }
}
