//! Listing keys across the cluster, page by page (see the module docs of
//! [`crate::coordinator`]).

use std::collections::BTreeMap;

use ringkv_versions::VersionSet;
use tokio::time::Instant;

use super::quorum::Fanout;
use super::{CoordError, Coordinator};
use crate::cluster::Member;
use crate::replica::now_ms;
use crate::rpc::ScanRequest;

/// Rounds of scatter-gather one page may take when dead keys fill the members' pages.
const MAX_ROUNDS: usize = 8;

/// One page of live keys.
pub struct Page {
    pub items: Vec<(String, VersionSet)>,
    /// The last key this page covered, when more may follow.
    pub next_cursor: Option<String>,
}

impl Coordinator {
    /// Live keys starting with `prefix` after `after`, in key order, at most `limit`.
    pub async fn list(
        &self,
        prefix: &str,
        after: Option<String>,
        limit: usize,
    ) -> Result<Page, CoordError> {
        let deadline = Instant::now() + self.request_timeout;
        let view = self.serving_view()?;
        let _op = view.op();
        let members = view.all();
        let n = self.cluster.settings().settings.quorum.n;
        let tolerated = n.min(members.len()).saturating_sub(1);
        let mut cursor = after;
        let mut items = Vec::new();
        for _ in 0..MAX_ROUNDS {
            let want = limit - items.len() + 1;
            let req = ScanRequest {
                prefix: prefix.to_string(),
                after: cursor.clone(),
                limit: want,
            };
            let pages = self.scan_all(&members, &req, deadline).await;
            let failed = members.len() - pages.len();
            if failed > tolerated {
                self.metrics.quorum_failure("list");
                return Err(CoordError::Quorum {
                    op: "list".into(),
                    got: members.len() - failed,
                    needed: members.len() - tolerated,
                    asked: members.len(),
                });
            }
            // Keys up to the horizon are complete: every member has sent all of its keys
            // below it. Past it, a member with a full page may hold keys we have not seen.
            let horizon = pages
                .iter()
                .filter(|p| p.len() == want)
                .filter_map(|p| p.last().map(|(k, _)| k.clone()))
                .min();
            let mut merged: BTreeMap<String, VersionSet> = BTreeMap::new();
            for (key, set) in pages.into_iter().flatten() {
                if horizon.as_ref().is_some_and(|h| key > *h) {
                    continue;
                }
                merged.entry(key).or_default().merge(&set);
            }
            let now = now_ms();
            let total = merged.len();
            for (i, (key, set)) in merged.into_iter().enumerate() {
                if set.is_live(now) {
                    items.push((key.clone(), set));
                }
                cursor = Some(key);
                if items.len() == limit {
                    let more = horizon.is_some() || i + 1 < total;
                    return Ok(Page {
                        items,
                        next_cursor: if more { cursor } else { None },
                    });
                }
            }
            if horizon.is_none() {
                return Ok(Page {
                    items,
                    next_cursor: None,
                });
            }
            cursor = horizon;
        }
        Ok(Page {
            items,
            next_cursor: cursor,
        })
    }

    /// One scan request to every member (the local store for this node): the pages of those
    /// that answered by `deadline`.
    async fn scan_all(
        &self,
        members: &[Member],
        req: &ScanRequest,
        deadline: Instant,
    ) -> Vec<Vec<(String, VersionSet)>> {
        let (replicas, shared) = (self.replicas.clone(), std::sync::Arc::new(req.clone()));
        let mut fanout = Fanout::start(&self.bg, members.to_vec(), members.len(), move |m| {
            let (replicas, req) = (replicas.clone(), shared.clone());
            async move { replicas.scan(&m, &req).await }
        });
        let all = members.len();
        fanout.until(deadline, None, |ok| ok.len() == all).await;
        fanout.ok.into_iter().map(|(_, page)| page).collect()
    }
}
