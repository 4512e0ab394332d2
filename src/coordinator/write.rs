//! Writes: PUT, DELETE and append (see the module docs of [`crate::coordinator`]).

use ringkv_versions::{Context, Value, VersionSet};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use std::sync::Arc;

use super::idempotency;
use super::replicate::Shipment;
use super::{CoordError, Coordinator, effective_quorum};
use crate::cluster::{Member, Placement, View};
use crate::payload;
use crate::replica::now_ms;

/// How many times a write may be forwarded before it is refused (a view changing under it).
const MAX_HOPS: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteKind {
    Put,
    Append,
    Delete,
}

/// `If-Match: *` or `If-None-Match: *`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Condition {
    /// Update only: 412 when the key has no live value.
    IfMatchAny,
    /// Create only: 412 when the key has a live value.
    IfNoneMatchAny,
}

/// A validated write, as the API hands it over (and as it is forwarded between nodes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteRequest {
    pub key: String,
    pub kind: WriteKind,
    /// Compact JSON text of the value (PUT, append).
    pub value: Option<String>,
    pub ttl_ms: Option<u64>,
    /// The client's `X-Context` (header form).
    pub context: Option<String>,
    pub condition: Option<Condition>,
    pub r: Option<usize>,
    pub w: Option<usize>,
    /// How many nodes forwarded it so far (a node that is not a replica in its own view
    /// forwards again, up to [`MAX_HOPS`]).
    #[serde(default)]
    pub hops: u8,
    /// `?sloppy=`: whether fallbacks' acks count toward W (default: `quorum.sloppy`).
    #[serde(default)]
    pub sloppy: Option<bool>,
    /// The client's `Idempotency-Key`: a repeat is applied once (see `idempotency.rs`).
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// What a successful write returns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// The key had no live value before.
    pub created: bool,
    /// Compact JSON of the stored value (PUT, append), for the response body.
    pub value: Option<String>,
    /// The new context (header form).
    pub context: String,
}

/// The answer of `/internal/coordinate`.
pub type ForwardedOutcome = Result<WriteOutcome, CoordError>;

impl Coordinator {
    /// PUT, DELETE or append: coordinated here when this node is in the key's read list (it
    /// holds the key's data), else by the first reachable member of that list.
    pub async fn write(&self, req: WriteRequest) -> Result<WriteOutcome, CoordError> {
        let view = self.serving_view()?;
        let _op = view.op();
        let n = self.cluster.settings().settings.quorum.n;
        let placement = view.placement(&req.key, n);
        if placement.read.is_empty() {
            return Err(CoordError::Unavailable(
                "the key has no replica that serves reads yet (every member is joining)".into(),
            ));
        }
        if placement.read.iter().any(|m| self.is_self(m)) {
            self.write_here(req, &placement, &view).await
        } else {
            self.forward(req, &placement.read).await
        }
    }

    async fn forward(
        &self,
        mut req: WriteRequest,
        read: &[Member],
    ) -> Result<WriteOutcome, CoordError> {
        if req.hops >= MAX_HOPS {
            return Err(CoordError::Unavailable(
                "the cluster membership is changing: no replica of the key accepted the write; retry"
                    .into(),
            ));
        }
        req.hops += 1;
        let timeout = self.request_timeout + self.rpc.timeout();
        let mut last = String::from("the key has no replicas");
        let live: Vec<&Member> = read
            .iter()
            .filter(|m| !self.cluster.view().is_dead(&m.id))
            .collect();
        // Once sent, a write may not go to a second coordinator (it could be applied twice),
        // so the coordinator is picked first: the first replica that answers a ping (a hung one
        // does not), else, when none answered, the first one left. (A replica that answered a
        // moment ago may have hung since: no shortcut.)
        let mut order = Vec::with_capacity(live.len());
        for m in &live {
            if self.rpc.ping(&m.url, self.hedge_after()).await.is_ok() {
                order.push(*m);
                break;
            }
            last = format!("{} did not answer a ping", m.id);
        }
        if order.is_empty() {
            order = live.clone();
        }
        for m in order {
            match self.rpc.coordinate(&m.url, &req, timeout).await {
                Ok(outcome) => return outcome,
                // Only a request that certainly never reached the replica may go to another
                // one: a write that may have been applied must not be applied twice.
                Err(e) if e.never_sent() => last = e.to_string(),
                Err(e) => {
                    return Err(CoordError::Unavailable(format!(
                        "the replica coordinating this write ({}) failed, and the write may \
                         or may not have been applied: {e}",
                        m.id
                    )));
                }
            }
        }
        Err(CoordError::Unavailable(format!(
            "no replica of the key is reachable ({last})"
        )))
    }

    async fn write_here(
        &self,
        req: WriteRequest,
        placement: &Placement,
        view: &Arc<View>,
    ) -> Result<WriteOutcome, CoordError> {
        let settings = self.cluster.settings().settings;
        let deadline = Instant::now() + self.request_timeout;
        let client_ctx = match &req.context {
            Some(h) => Some(Context::from_header(h).map_err(|e| {
                CoordError::BadRequest(format!("X-Context is not a context this store issued: {e}"))
            })?),
            None => None,
        };
        let needs_read = client_ctx.is_none()
            || req.condition.is_some()
            || req.kind != WriteKind::Put
            || req.idempotency_key.is_some();
        let w = req.w.unwrap_or(settings.quorum.w);
        let pref = &placement.read;
        // The write's own acks stand in for the context read only when any two sets of W
        // replicas overlap (see "Context-less PUT in one round" in the module docs).
        let one_round_sound = 2 * effective_quorum(w, pref.len()) > pref.len();
        if needs_read
            && one_round_sound
            && req.kind == WriteKind::Put
            && req.condition.is_none()
            && req.r.is_none()
            && req.idempotency_key.is_none()
        {
            return self
                .put_without_context(req, placement, view, w, deadline)
                .await;
        }
        let read = if needs_read {
            // The context read wants R replies (R + W > N then makes it see every earlier
            // acknowledged write) but settles for min(R, W) when replicas fail, so a `w=1`
            // write still succeeds with only its coordinator up. An explicit `r` is strict.
            let (want, need) = match req.r {
                Some(r) => (r, r),
                None => (settings.quorum.r, settings.quorum.r.min(w)),
            };
            let (want, need) = (
                effective_quorum(want, pref.len()),
                effective_quorum(need, pref.len()),
            );
            let replies = self
                .context_read(&req.key, want, need, pref, deadline)
                .await;
            let replies = replies.map_err(|e| match e {
                CoordError::Quorum {
                    got, needed, asked, ..
                } => CoordError::Quorum {
                    op: "write (context read)".into(),
                    got,
                    needed,
                    asked,
                },
                other => other,
            })?;
            Some(replies.merged)
        } else {
            None
        };
        let now = now_ms();
        let limits = settings.versioning.limits();
        if let (Some(token), Some(merged)) = (&req.idempotency_key, &read) {
            let held = merged
                .receipt(token)
                .filter(|r| r.recorded_at_ms >= limits.receipts_since_ms);
            if let Some(held) = held {
                let outcome = idempotency::replay(held, &req, merged)?;
                self.complete_replayed(&req, merged, placement, view, w, deadline)
                    .await?;
                return Ok(outcome);
            }
        }
        let live_before = read.as_ref().map(|s| s.is_live(now));
        match (req.condition, live_before) {
            (Some(Condition::IfMatchAny), Some(false)) => {
                return Err(CoordError::Precondition(
                    "If-Match: * requires an existing value, and the key has none".into(),
                ));
            }
            (Some(Condition::IfNoneMatchAny), Some(true)) => {
                return Err(CoordError::Precondition(
                    "If-None-Match: * requires that the key has no value, and it has one".into(),
                ));
            }
            _ => {}
        }
        let planned = match req.kind {
            WriteKind::Put => {
                let json = req.value.clone().unwrap_or_else(|| "null".into());
                Planned::data(json, req.ttl_ms, now)
            }
            WriteKind::Delete => {
                if live_before == Some(false) {
                    return Err(CoordError::NotFound(format!("key `{}` not found", req.key)));
                }
                Planned {
                    value: Value::Tombstone,
                    expires_at_ms: None,
                    json: None,
                }
            }
            WriteKind::Append => {
                let json = req.value.clone().unwrap_or_else(|| "null".into());
                plan_append(read.as_ref(), &json, req.ttl_ms, now, self.max_value_bytes)?
            }
        };
        let ctx = client_ctx
            .or_else(|| read.map(|s| s.context()))
            .unwrap_or_default();
        // With a token there was a read, so the answer is known before the write: it goes
        // into the receipt written with the version.
        let receipt = req.idempotency_key.as_deref().map(|token| {
            let answer = WriteOutcome {
                created: live_before == Some(false),
                value: planned.json.clone(),
                context: String::new(),
            };
            idempotency::receipt(token, &req, &answer, now)
        });
        let (updated, local) = self
            .start_here(&req.key, Some(ctx), &planned, limits, receipt)
            .await?;
        if let Some(held) = &updated.replayed {
            // A repeat that raced the first attempt to this replica's lock.
            let outcome = idempotency::replay(held, &req, &updated.set)?;
            self.complete_replayed(&req, &updated.set, placement, view, w, deadline)
                .await?;
            return Ok(outcome);
        }
        let acks = self
            .replicate(Shipment {
                key: &req.key,
                encoded: updated.encoded.clone(),
                placement,
                view,
                w,
                sloppy: req.sloppy,
                deadline,
                local: Some(local),
            })
            .await?;
        idempotency::fault_after_fanout(&req.key);
        // Whether the key had a live value: the read's answer if there was one; else this
        // node's own copy, unless it is behind the writer's context (it missed a write the
        // writer read, e.g. while it was down): then the other replicas that acked speak for
        // it. With W+W > N they include one that took the write the context came from.
        let created = match live_before {
            Some(live) => !live,
            None if updated.prior_saw_context || acks.is_empty() => !updated.prior_live,
            None => !acks.iter().any(|a| a.prior_live),
        };
        Ok(WriteOutcome {
            created,
            value: planned.json,
            context: updated.set.context_header(),
        })
    }

    /// A repeat of an applied request: the set holding its receipt is stored here and sent to
    /// the replicas (a first attempt that reached fewer than W of them is completed), W acks.
    async fn complete_replayed(
        &self,
        req: &WriteRequest,
        set: &VersionSet,
        placement: &Placement,
        view: &Arc<View>,
        w: usize,
        deadline: Instant,
    ) -> Result<(), CoordError> {
        let limits = self.cluster.settings().settings.versioning.limits();
        let stored = self
            .replica
            .merge(&req.key, set.clone(), limits)
            .await
            .map_err(|e| {
                tracing::error!("local merge of `{}` failed: {e}", req.key);
                CoordError::Internal("this node could not store the write".into())
            })?;
        self.replicate(Shipment {
            key: &req.key,
            encoded: Arc::new(stored.set.encode()),
            placement,
            view,
            w,
            sloppy: req.sloppy,
            deadline,
            local: None,
        })
        .await?;
        Ok(())
    }

    /// A plain PUT without a context, in one round (see "Context-less PUT" in the module docs):
    /// supersede this node's own copy, send the result to the other replicas, and read their
    /// acks as the context read. Only when an ack counted toward W reports versions this node
    /// had not seen is a second write made, superseding them as the context read would have.
    async fn put_without_context(
        &self,
        req: WriteRequest,
        placement: &Placement,
        view: &Arc<View>,
        w: usize,
        deadline: Instant,
    ) -> Result<WriteOutcome, CoordError> {
        let now = now_ms();
        let json = req.value.clone().unwrap_or_else(|| "null".into());
        let planned = Planned::data(json, req.ttl_ms, now);
        let limits = self.cluster.settings().settings.versioning.limits();
        // The set goes out to the other replicas while this node's own commit of it is still
        // in flight (one fsync's wait instead of two in a row); it counts toward W once
        // durable. Safe for dots: each takes the node's next counter (see `DotFloor`), so
        // a crash that takes back this copy cannot lead to the dot being minted again.
        let (first, local) = self
            .start_here(&req.key, None, &planned, limits, None)
            .await?;
        let ship = |encoded, local| Shipment {
            key: &req.key,
            encoded,
            placement,
            view,
            w,
            sloppy: req.sloppy,
            deadline,
            local,
        };
        let acks = self
            .replicate(ship(first.encoded.clone(), Some(local)))
            .await?;
        // What the key held before, as a read would have merged it: our own prior copy plus
        // the versions the acks report we had not seen. A covered ack's prior versions were all
        // seen by us (in our copy, or superseded there, like a stale value under our
        // tombstone), so its `prior_live` says nothing a merge would keep.
        let seen = first.set.context();
        let unseen: Vec<&VersionSet> = acks
            .iter()
            .filter(|a| !a.covered)
            .filter_map(|a| a.set.as_ref())
            .collect();
        let unseen_live = unseen
            .iter()
            .flat_map(|set| set.versions())
            .any(|v| !seen.covers(&v.dot) && v.is_live(now));
        let live_before = first.prior_live || unseen_live;
        let context = if unseen.is_empty() {
            seen
        } else {
            let mut ctx = seen;
            for set in &unseen {
                ctx.merge(&set.context());
            }
            let (second, local) = self
                .start_here(&req.key, Some(ctx), &planned, limits, None)
                .await?;
            self.replicate(ship(second.encoded.clone(), Some(local)))
                .await?;
            second.set.context()
        };
        Ok(WriteOutcome {
            created: !live_before,
            value: planned.json,
            context: context.to_header(),
        })
    }

    /// Mints `planned` on this node's copy of `key`, superseding what `ctx` covers (`None`:
    /// everything this node holds); returns once the new set is handed to this node's engine,
    /// with the handle of its commit (see [`crate::replica::Replica::start_update`]): the
    /// set is shipped to the other replicas while it is written here, and counts toward W
    /// here once durable.
    async fn start_here(
        &self,
        key: &str,
        ctx: Option<Context>,
        planned: &Planned,
        limits: ringkv_versions::Limits,
        receipt: Option<ringkv_versions::Receipt>,
    ) -> Result<(crate::replica::Updated, crate::replica::Committing), CoordError> {
        self.replica
            .start_update(
                key,
                ctx,
                planned.value.clone(),
                planned.expires_at_ms,
                &self.cluster.self_id,
                limits,
                receipt,
            )
            .await
            .map_err(|e| local_write_failed(key, e))
    }
}

pub(super) fn local_write_failed(key: &str, e: crate::replica::ReplicaError) -> CoordError {
    tracing::error!("local write of `{key}` failed: {e}");
    CoordError::Internal("this node could not store the write".into())
}

/// The version a write will create.
struct Planned {
    value: Value,
    expires_at_ms: Option<u64>,
    json: Option<String>,
}

impl Planned {
    fn data(json: String, ttl_ms: Option<u64>, now: u64) -> Planned {
        Planned {
            value: Value::Data(payload::encode(json.as_bytes(), ttl_ms)),
            expires_at_ms: ttl_ms.map(|t| now.saturating_add(t)),
            json: Some(json),
        }
    }
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Computes an append on the quorum-read set `read`.
fn plan_append(
    read: Option<&VersionSet>,
    suffix: &str,
    ttl_ms: Option<u64>,
    now: u64,
    max_value_bytes: usize,
) -> Result<Planned, CoordError> {
    let live: Vec<&[u8]> = read.map(|s| s.live_values(now)).unwrap_or_default();
    let stored = match live.as_slice() {
        [] => return Ok(Planned::data(suffix.to_string(), ttl_ms, now)),
        [one] => *one,
        many => {
            return Err(CoordError::Conflict(format!(
                "the key has {} concurrent values; resolve them with a PUT carrying the \
                 X-Context of a GET before appending",
                many.len()
            )));
        }
    };
    let old = payload::decode(stored)
        .map_err(|e| CoordError::Internal(format!("stored value is unreadable: {e}")))?;
    let old_expiry = read
        .into_iter()
        .flat_map(|s| s.versions())
        .find(|v| matches!(&v.value, Value::Data(d) if d.as_slice() == stored))
        .and_then(|v| v.expires_at_ms);
    let stored_text = old.json.get();
    let current: serde_json::Value = serde_json::from_str(stored_text)
        .map_err(|e| CoordError::Internal(format!("stored value is unreadable: {e}")))?;
    let addition: serde_json::Value = serde_json::from_str(suffix)
        .map_err(|e| CoordError::BadRequest(format!("value is not JSON: {e}")))?;
    let refresh_only = addition.as_str() == Some("");
    // Arrays are extended as text, so the elements keep their exact digits.
    let json = match (&current, &addition) {
        _ if refresh_only => stored_text.to_string(),
        (serde_json::Value::String(s), serde_json::Value::String(add)) => {
            serde_json::to_string(&format!("{s}{add}"))
                .map_err(|e| CoordError::Internal(e.to_string()))?
        }
        (serde_json::Value::Array(items), _) => {
            let body = stored_text
                .trim_end()
                .strip_suffix(']')
                .unwrap_or(stored_text);
            let sep = if items.is_empty() { "" } else { "," };
            format!("{body}{sep}{suffix}]")
        }
        (cur, add) => {
            return Err(CoordError::Unprocessable(format!(
                "cannot append {} to {}: append concatenates strings and pushes onto arrays",
                kind(add),
                kind(cur)
            )));
        }
    };
    if json.len() > max_value_bytes {
        return Err(CoordError::TooLarge(format!(
            "the appended value would be {} bytes, over the limit of {max_value_bytes}",
            json.len()
        )));
    }
    let ttl = ttl_ms.or(old.ttl_ms);
    let mut planned = Planned::data(json, ttl, now);
    if ttl_ms.is_none() && !refresh_only {
        planned.expires_at_ms = old_expiry;
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_000_000;

    fn set_with(values: &[(&str, Option<u64>)]) -> VersionSet {
        let mut set = VersionSet::new();
        for (i, (json, ttl)) in values.iter().enumerate() {
            let bytes = payload::encode(json.as_bytes(), *ttl);
            let expires = ttl.map(|t| NOW + t);
            // An empty context makes each version a sibling of the previous ones.
            set.update(
                &Context::default(),
                Value::Data(bytes),
                expires,
                &format!("n{i}"),
                NOW,
            );
        }
        set
    }

    fn json_of(p: &Planned) -> &str {
        p.json.as_deref().unwrap()
    }

    #[test]
    fn append_creates_concatenates_and_pushes() {
        let created = plan_append(None, "\"a\"", Some(5000), NOW, 100).unwrap();
        assert_eq!(
            (json_of(&created), created.expires_at_ms),
            ("\"a\"", Some(NOW + 5000))
        );
        let s = set_with(&[("\"ab\"", None)]);
        assert_eq!(
            json_of(&plan_append(Some(&s), "\"cd\"", None, NOW, 100).unwrap()),
            "\"abcd\""
        );
        let a = set_with(&[("[1]", None)]);
        let pushed = plan_append(Some(&a), "{\"x\":null}", None, NOW, 100).unwrap();
        assert_eq!(json_of(&pushed), "[1,{\"x\":null}]");
        let big = "123456789012345678901234567890";
        let empty = set_with(&[("[]", None)]);
        assert_eq!(
            json_of(&plan_append(Some(&empty), big, None, NOW, 100).unwrap()),
            format!("[{big}]")
        );
    }

    #[test]
    fn empty_string_restarts_the_stored_ttl_and_other_appends_keep_the_expiry() {
        let s = set_with(&[("\"v\"", Some(3000))]);
        let later = NOW + 2000;
        let refreshed = plan_append(Some(&s), "\"\"", None, later, 100).unwrap();
        assert_eq!(json_of(&refreshed), "\"v\"");
        assert_eq!(refreshed.expires_at_ms, Some(later + 3000));
        let appended = plan_append(Some(&s), "\"w\"", None, later, 100).unwrap();
        assert_eq!(
            appended.expires_at_ms,
            Some(NOW + 3000),
            "a plain append keeps the expiry"
        );
        let new_ttl = plan_append(Some(&s), "\"w\"", Some(9000), later, 100).unwrap();
        assert_eq!(new_ttl.expires_at_ms, Some(later + 9000));
    }

    #[test]
    fn append_refuses_siblings_other_types_and_oversized_results() {
        let siblings = set_with(&[("\"a\"", None), ("\"b\"", None)]);
        let e = plan_append(Some(&siblings), "\"c\"", None, NOW, 100)
            .err()
            .unwrap();
        assert!(matches!(e, CoordError::Conflict(_)), "{e:?}");
        let number = set_with(&[("5", None)]);
        let e = plan_append(Some(&number), "5", None, NOW, 100)
            .err()
            .unwrap();
        assert!(matches!(e, CoordError::Unprocessable(_)), "{e:?}");
        let s = set_with(&[("\"0123456789\"", None)]);
        let e = plan_append(Some(&s), "\"0123456789\"", None, NOW, 15)
            .err()
            .unwrap();
        assert!(matches!(e, CoordError::TooLarge(_)), "{e:?}");
    }
}
