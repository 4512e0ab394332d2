//! Deterministic cluster simulation shared by the integration tests.
//!
//! n [`Gossip`] nodes, one seeded RNG (peer choice, loss, delays, start jitter), simulated
//! time advanced in fixed steps, and a network that loses a fraction of messages, delays each
//! by a uniform time, and can partition the nodes into groups and heal. Every message goes
//! through `encode`/`decode`, as it will over HTTP. Same seed, same run: a failing test
//! replays exactly. Each test file uses a subset of the helpers.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use ringkv_gossip::{Config, Event, Gossip, Message, Outgoing, Status};

/// The protocol timing most tests run with (interval 1 s, suspect after 5 s, dead 2 s later).
pub fn test_config() -> Config {
    Config {
        interval: Duration::from_secs(1),
        fanout: 3,
        failure_timeout: Duration::from_secs(5),
        suspect_timeout: Duration::from_secs(2),
        forget_after: Duration::from_secs(3600),
        phi_threshold: None,
        final_left: false,
    }
}

/// One simulated node; `gossip` is `None` while it is stopped.
pub struct Node {
    pub id: String,
    pub addr: String,
    pub gossip: Option<Gossip>,
    /// Every event this node emitted, with the simulated time since the start.
    pub events: Vec<(Duration, Event)>,
    /// The state of a paused node (a frozen process: it keeps its view and resumes with it).
    paused: Option<Gossip>,
    first_tick: Instant,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct NetStats {
    pub sent: u64,
    pub lost: u64,
    pub cut: u64,
    pub delivered: u64,
    pub bytes: u64,
}

struct InFlight {
    at: Instant,
    seq: u64,
    from: usize,
    to: usize,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

pub struct Sim {
    pub start: Instant,
    pub now: Instant,
    /// Simulated time per step; messages and ticks are processed at step boundaries.
    pub step: Duration,
    /// Fraction of messages lost, 0.0..=1.0.
    pub loss: f64,
    /// Each message is delayed uniformly within this range.
    pub delay: (Duration, Duration),
    pub nodes: Vec<Node>,
    pub stats: NetStats,
    rng: StdRng,
    by_addr: HashMap<String, usize>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    seq: u64,
    groups: Vec<usize>,
    config: Config,
}

impl Sim {
    /// `n` nodes that know nobody yet, first ticks jittered over one interval.
    pub fn new(n: usize, seed: u64, config: Config) -> Sim {
        let start = Instant::now();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut nodes = Vec::new();
        let mut by_addr = HashMap::new();
        for i in 0..n {
            let (id, addr) = (format!("n{i:02}"), format!("sim://n{i:02}:7000"));
            let gossip = Gossip::new(id.clone(), addr.clone(), config.clone(), start).unwrap();
            let jitter = rng.random_range(Duration::ZERO..config.interval);
            by_addr.insert(addr.clone(), i);
            nodes.push(Node {
                id,
                addr,
                gossip: Some(gossip),
                events: Vec::new(),
                paused: None,
                first_tick: start + jitter,
            });
        }
        Sim {
            start,
            now: start,
            step: config.interval / 10,
            loss: 0.0,
            delay: (Duration::from_millis(5), Duration::from_millis(50)),
            nodes,
            stats: NetStats::default(),
            rng,
            by_addr,
            in_flight: BinaryHeap::new(),
            seq: 0,
            groups: vec![0; n],
            config,
        }
    }

    /// `n` nodes, each told to join through node 0 (a star: one seed for everyone).
    pub fn cluster(n: usize, seed: u64, config: Config) -> Sim {
        Sim::joined(n, seed, config, |_| 0)
    }

    /// `n` nodes, node `i` told to join through `seed_of(i)` (for `i >= 1`).
    pub fn joined(n: usize, seed: u64, config: Config, seed_of: impl Fn(usize) -> usize) -> Sim {
        let mut sim = Sim::new(n, seed, config);
        for i in 1..n {
            sim.join(i, seed_of(i));
        }
        sim
    }

    /// Running node `i` joins through node `via`'s address.
    pub fn join(&mut self, i: usize, via: usize) {
        let seed_addr = self.nodes[via].addr.clone();
        let out = self.gossip_mut(i).join([seed_addr]);
        self.send_all(i, out);
    }

    /// A cluster that has already converged (every node sees every node alive).
    pub fn converged_cluster(n: usize, seed: u64, config: Config) -> Sim {
        let mut sim = Sim::cluster(n, seed, config);
        sim.run_until(Duration::from_secs(120), Sim::converged)
            .expect("the cluster converges");
        sim
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Simulated time in gossip rounds of the initial interval.
    pub fn rounds(&self, time: Duration) -> f64 {
        time.as_secs_f64() / self.config.interval.as_secs_f64()
    }

    pub fn gossip(&self, i: usize) -> &Gossip {
        self.nodes[i].gossip.as_ref().expect("node is running")
    }

    pub fn gossip_mut(&mut self, i: usize) -> &mut Gossip {
        self.nodes[i].gossip.as_mut().expect("node is running")
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].gossip.is_some()
    }

    /// Indices of running nodes.
    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.is_up(i)).collect()
    }

    /// What running node `observer` believes about node `subject`.
    pub fn status(&self, observer: usize, subject: usize) -> Option<Status> {
        self.gossip(observer)
            .member(&self.nodes[subject].id)
            .map(|m| m.status)
    }

    /// Whether every running node other than `subject` sees it with `status`.
    pub fn all_see(&self, subject: usize, status: Status) -> bool {
        self.live()
            .into_iter()
            .filter(|&i| i != subject)
            .all(|i| self.status(i, subject) == Some(status))
    }

    /// One running node's view: id -> (status, incarnation).
    pub fn view(&self, i: usize) -> BTreeMap<String, (Status, u64)> {
        self.gossip(i)
            .members()
            .into_iter()
            .map(|m| (m.id, (m.status, m.incarnation)))
            .collect()
    }

    /// Every running node holds the same view, in which exactly the running nodes are alive.
    pub fn converged(&self) -> bool {
        let live = self.live();
        let ids: BTreeSet<&str> = live.iter().map(|&i| self.nodes[i].id.as_str()).collect();
        let first = self.view(live[0]);
        let alive: BTreeSet<&str> = first
            .iter()
            .filter(|(_, (status, _))| *status == Status::Alive)
            .map(|(id, _)| id.as_str())
            .collect();
        alive == ids && live.iter().all(|&i| self.view(i) == first)
    }

    /// Cuts the network into groups; nodes not listed form one more group.
    pub fn partition(&mut self, groups: &[&[usize]]) {
        self.groups = vec![groups.len(); self.nodes.len()];
        for (g, members) in groups.iter().enumerate() {
            for &i in *members {
                self.groups[i] = g;
            }
        }
    }

    pub fn heal(&mut self) {
        self.groups = vec![0; self.nodes.len()];
    }

    /// Stops a node: it neither ticks nor receives; in-flight messages to it are lost.
    pub fn stop(&mut self, i: usize) {
        self.nodes[i].gossip = None;
    }

    /// Freezes a node with its state (a long GC pause, a suspended VM).
    pub fn pause(&mut self, i: usize) {
        self.nodes[i].paused = self.nodes[i].gossip.take();
    }

    /// Unfreezes a paused node: it carries on with its old, stale view.
    pub fn resume(&mut self, i: usize) {
        self.nodes[i].gossip = self.nodes[i].paused.take();
    }

    /// Starts a stopped node afresh (no memory of its old state) at `incarnation`, joining
    /// through node `via`.
    pub fn restart(&mut self, i: usize, incarnation: u64, via: usize) {
        let node = &self.nodes[i];
        let mut gossip = Gossip::with_incarnation(
            node.id.clone(),
            node.addr.clone(),
            self.config.clone(),
            self.now,
            incarnation,
        )
        .unwrap();
        let out = gossip.join([self.nodes[via].addr.clone()]);
        self.nodes[i].gossip = Some(gossip);
        self.nodes[i].first_tick = self.now;
        self.send_all(i, out);
    }

    /// Applies a config to every running node (as a settings change would).
    pub fn set_config_everywhere(&mut self, config: Config) {
        for i in self.live() {
            self.gossip_mut(i).set_config(config.clone()).unwrap();
        }
    }

    /// Steps until the cluster has converged (see [`Sim::converged`]), at most `limit`;
    /// panics with `what` otherwise. Returns the time it took.
    pub fn converge(&mut self, limit: Duration, what: &str) -> Duration {
        self.run_until(limit, Sim::converged)
            .unwrap_or_else(|| panic!("not converged within {limit:?}: {what}"))
    }

    /// Steps until `done` holds or `limit` of simulated time passes; the time it took.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Option<Duration> {
        let begin = self.now;
        while self.now - begin <= limit {
            if done(self) {
                return Some(self.now - begin);
            }
            self.step();
        }
        None
    }

    /// Steps for `time` of simulated time, checking `invariant` after every step.
    pub fn run_for(&mut self, time: Duration, mut invariant: impl FnMut(&Sim)) {
        let end = self.now + time;
        while self.now < end {
            self.step();
            invariant(self);
        }
    }

    /// Advances one step: delivers due messages, then ticks due nodes.
    pub fn step(&mut self) {
        self.now += self.step;
        while self
            .in_flight
            .peek()
            .is_some_and(|Reverse(m)| m.at <= self.now)
        {
            let Reverse(message) = self.in_flight.pop().expect("peeked");
            self.deliver(message);
        }
        for i in 0..self.nodes.len() {
            let now = self.now;
            let node = &mut self.nodes[i];
            let Some(gossip) = node.gossip.as_mut() else {
                continue;
            };
            if now < node.first_tick || now < gossip.next_tick() {
                continue;
            }
            let out = gossip.tick(now, &mut self.rng);
            self.send_all(i, out);
        }
    }

    fn deliver(&mut self, message: InFlight) {
        if self.groups[message.from] != self.groups[message.to] {
            self.stats.cut += 1;
            return;
        }
        let now = self.now;
        let Some(gossip) = self.nodes[message.to].gossip.as_mut() else {
            return;
        };
        self.stats.delivered += 1;
        let decoded = Message::decode(&message.bytes).expect("nodes send valid messages");
        let out = gossip.handle(decoded, now);
        self.send_all(message.to, out);
    }

    /// Sends messages a test obtained from a node directly (leave, remove...).
    pub fn inject(&mut self, from: usize, out: Vec<Outgoing>) {
        self.send_all(from, out);
    }

    fn send_all(&mut self, from: usize, out: Vec<Outgoing>) {
        let elapsed = self.elapsed();
        if let Some(gossip) = self.nodes[from].gossip.as_mut() {
            let events = gossip.drain_events().into_iter().map(|e| (elapsed, e));
            self.nodes[from].events.extend(events);
        }
        for outgoing in out {
            let bytes = outgoing.message.encode();
            self.stats.sent += 1;
            self.stats.bytes += bytes.len() as u64;
            let Some(&to) = self.by_addr.get(&outgoing.to) else {
                self.stats.lost += 1;
                continue;
            };
            if self.rng.random_bool(self.loss) {
                self.stats.lost += 1;
                continue;
            }
            let delay = self.rng.random_range(self.delay.0..=self.delay.1);
            self.seq += 1;
            self.in_flight.push(Reverse(InFlight {
                at: self.now + delay,
                seq: self.seq,
                from,
                to,
                bytes,
            }));
        }
    }

    /// Per running node: when it first saw `subject` with `status` at or after `since`.
    pub fn first_seen(&self, subject: usize, status: Status, since: Duration) -> Vec<Duration> {
        let id = &self.nodes[subject].id;
        self.live()
            .into_iter()
            .filter(|&i| i != subject)
            .filter_map(|i| {
                self.nodes[i].events.iter().find_map(|(t, e)| {
                    let matches = match (e, status) {
                        (Event::Suspect { id: x }, Status::Suspect) => x == id,
                        (Event::Dead { id: x }, Status::Dead) => x == id,
                        _ => false,
                    };
                    (matches && *t >= since).then(|| *t - since)
                })
            })
            .collect()
    }
}

/// `min / median / max` of durations, in seconds, for the printed figures.
pub fn spread(times: &[Duration]) -> String {
    let mut sorted = times.to_vec();
    sorted.sort();
    let s = |d: Duration| format!("{:.1}s", d.as_secs_f64());
    format!(
        "min {} / median {} / max {}",
        s(sorted[0]),
        s(sorted[sorted.len() / 2]),
        s(sorted[sorted.len() - 1])
    )
}
