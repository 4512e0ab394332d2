//! Runs a [`Plan`]: the optional prefill, then the measured phase, and assembles the [`Report`].
//!
//! Measured phase: `clients` tasks, each a closed loop (send a request, wait for the whole answer,
//! record it, send the next), rotating over the nodes from a different starting node per client.
//! A client stops before its next request once the deadline has passed, the shared request
//! budget is spent, or the run was interrupted (the `interrupt` future, Ctrl-C for `run`);
//! requests already in flight finish and count, and the elapsed time runs until the last of them,
//! so throughput is answers over the time they took.
//!
//! Prefill: the same number of tasks write every key once (key `i` through node `i mod nodes`),
//! retrying a failed write a few times (on the next node, after a growing pause); a key still
//! unwritten after that aborts the run, since its reads would then count as errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::args::{Plan, Stop};
use crate::client::Cluster;
use crate::error::BenchError;
use crate::progress::{Counters, Goal, Progress};
use crate::report::{PrefillReport, Report, Settings};
use crate::stats::{Failure, Recorder, Verdict, classify};
use crate::workload::{Op, Workload};

/// Write attempts per key during the prefill.
const PREFILL_ATTEMPTS: u32 = 5;

/// Pause before the first retry of a prefill write; doubled before each further one.
const PREFILL_BACKOFF: Duration = Duration::from_millis(20);

/// Runs the whole benchmark; `interrupt` completing ends the measured phase early (the report
/// then covers what was done and says it was interrupted).
pub(crate) async fn execute(
    plan: Plan,
    interrupt: impl Future<Output = ()>,
) -> Result<Report, BenchError> {
    let cluster = Cluster::new(plan.nodes.clone(), plan.r, plan.w, plan.timeout);
    let plan = Arc::new(plan);
    let prefill = if plan.prefill {
        Some(prefill(&cluster, &plan).await?)
    } else {
        None
    };
    let (recorder, elapsed, interrupted) = measure(&cluster, &plan, interrupt).await?;
    Ok(Report {
        settings: settings(&plan),
        prefill,
        interrupted,
        elapsed_secs: elapsed.as_secs_f64(),
        reads: recorder.reads.summarize(elapsed),
        writes: recorder.writes.summarize(elapsed),
        total: recorder.total().summarize(elapsed),
    })
}

fn settings(plan: &Plan) -> Settings {
    Settings {
        nodes: plan.nodes.clone(),
        clients: plan.clients,
        duration_secs: plan.stop.duration.map(|d| d.as_secs_f64()),
        requests: plan.stop.requests,
        read_ratio: plan.read_ratio,
        keys: plan.keys.count(),
        value_size: plan.value_size,
        prefill: plan.prefill,
        r: plan.r,
        w: plan.w,
        seed: plan.seed,
    }
}

/// The measured phase: returns every client's figures merged, the wall time it took, and
/// whether `interrupt` cut it short.
async fn measure(
    cluster: &Cluster,
    plan: &Arc<Plan>,
    interrupt: impl Future<Output = ()>,
) -> Result<(Recorder, Duration, bool), BenchError> {
    let counters = Arc::new(Counters::default());
    let issued = Arc::new(AtomicU64::new(0));
    let halt = Arc::new(AtomicBool::new(false));
    let goal = match plan.stop {
        Stop {
            duration: None,
            requests: Some(n),
        } => Goal::Count(n),
        Stop { duration, .. } => Goal::Time(duration.unwrap_or_default()),
    };
    let started = Instant::now();
    let deadline = plan.stop.duration.map(|d| started + d);
    let progress = Progress::start("bench", goal, counters.clone());
    let mut clients = JoinSet::new();
    for client in 0..plan.clients {
        let client = Client {
            index: client,
            cluster: cluster.clone(),
            plan: plan.clone(),
            counters: counters.clone(),
            issued: issued.clone(),
            halt: halt.clone(),
            deadline,
        };
        clients.spawn(client.run());
    }
    let mut merged = Recorder::new();
    let mut interrupt = std::pin::pin!(interrupt);
    let mut interrupted = false;
    loop {
        tokio::select! {
            joined = clients.join_next() => match joined {
                Some(joined) => merged.merge(&joined??),
                None => break,
            },
            () = &mut interrupt, if !interrupted => {
                interrupted = true;
                halt.store(true, Ordering::Relaxed);
            }
        }
    }
    let elapsed = started.elapsed();
    progress.finish();
    Ok((merged, elapsed, interrupted))
}

/// One closed-loop client of the measured phase.
struct Client {
    index: usize,
    cluster: Cluster,
    plan: Arc<Plan>,
    counters: Arc<Counters>,
    /// Requests started by all clients, against `--requests`.
    issued: Arc<AtomicU64>,
    /// Set when the run is interrupted.
    halt: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl Client {
    async fn run(self) -> Result<Recorder, BenchError> {
        let plan = &self.plan;
        let mut workload = Workload::new(plan.seed, self.index as u64, plan.read_ratio, plan.keys);
        // One value per client: generating a fresh one per write would measure the generator.
        let body = workload.value_body(plan.value_size);
        let mut recorder = Recorder::new();
        let mut node = self.index;
        while self.may_send() {
            let (op, key_index) = workload.next_op();
            let key = plan.keys.name(key_index);
            let started = Instant::now();
            let outcome = match op {
                Op::Read => self.cluster.get(node, &key).await?,
                Op::Write => self.cluster.put(node, &key, body.clone()).await?,
            };
            let latency = started.elapsed();
            let verdict = classify(op, outcome, plan.prefill);
            recorder.record(op, verdict, latency);
            self.counters.finished(matches!(verdict, Verdict::Error(_)));
            node = node.wrapping_add(1);
        }
        Ok(recorder)
    }

    /// Whether another request may start: not interrupted, the deadline has not passed, and the
    /// budget allows one.
    fn may_send(&self) -> bool {
        if self.halt.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        match self.plan.stop.requests {
            Some(budget) => self.issued.fetch_add(1, Ordering::Relaxed) < budget,
            None => true,
        }
    }
}

/// What the prefill tasks share.
struct PrefillState {
    next_key: AtomicU64,
    attempts: AtomicU64,
    /// Set when a key could not be written: every task stops at its next key.
    failed: AtomicBool,
    counters: Arc<Counters>,
}

/// Writes every key once; fails if some key cannot be written after [`PREFILL_ATTEMPTS`].
async fn prefill(cluster: &Cluster, plan: &Arc<Plan>) -> Result<PrefillReport, BenchError> {
    let keys = plan.keys.count();
    let state = Arc::new(PrefillState {
        next_key: AtomicU64::new(0),
        attempts: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        counters: Arc::new(Counters::default()),
    });
    let started = Instant::now();
    let progress = Progress::start("prefill", Goal::Count(keys), state.counters.clone());
    let tasks = u64::try_from(plan.clients).unwrap_or(u64::MAX).min(keys);
    let mut writers = JoinSet::new();
    for task in 0..tasks {
        writers.spawn(prefill_writer(
            task,
            cluster.clone(),
            plan.clone(),
            state.clone(),
        ));
    }
    let mut first_failure = None;
    while let Some(joined) = writers.join_next().await {
        if let Some(failure) = joined?? {
            first_failure.get_or_insert(failure);
        }
    }
    progress.finish();
    if let Some((key, last)) = first_failure {
        return Err(BenchError::Prefill {
            key,
            attempts: PREFILL_ATTEMPTS,
            last: last.to_string(),
            written: state.counters.done(),
            total: keys,
        });
    }
    Ok(PrefillReport {
        keys,
        attempts: state.attempts.load(Ordering::Relaxed),
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

/// One prefill task: takes the next unwritten key until none is left; returns the key it could
/// not write and its last failure, if this task is what stopped the prefill.
async fn prefill_writer(
    task: u64,
    cluster: Cluster,
    plan: Arc<Plan>,
    state: Arc<PrefillState>,
) -> Result<Option<(String, Failure)>, BenchError> {
    let mut workload = Workload::new(plan.seed, task, plan.read_ratio, plan.keys);
    let body = workload.value_body(plan.value_size);
    let keys = plan.keys.count();
    while !state.failed.load(Ordering::Relaxed) {
        let index = state.next_key.fetch_add(1, Ordering::Relaxed);
        if index >= keys {
            break;
        }
        let key = plan.keys.name(index);
        let node = usize::try_from(index % cluster.len() as u64).unwrap_or(0);
        let mut failure = None;
        for attempt in 1..=PREFILL_ATTEMPTS {
            state.attempts.fetch_add(1, Ordering::Relaxed);
            let outcome = cluster
                .put(node + attempt as usize - 1, &key, body.clone())
                .await?;
            match classify(Op::Write, outcome, true) {
                Verdict::Error(f) => failure = Some(f),
                _ => {
                    failure = None;
                    break;
                }
            }
            if attempt < PREFILL_ATTEMPTS {
                tokio::time::sleep(PREFILL_BACKOFF * 2u32.pow(attempt - 1)).await;
            }
        }
        if let Some(failure) = failure {
            state.failed.store(true, Ordering::Relaxed);
            return Ok(Some((key, failure)));
        }
        state.counters.finished(false);
    }
    Ok(None)
}
