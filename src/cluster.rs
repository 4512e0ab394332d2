//! The membership view: who the members are (id -> URL), the ring built from them, the hot
//! settings, and what the failure detector believes about each member.
//!
//! Invariants:
//! - Readers take a consistent snapshot ([`View`]) with one atomic load (`ArcSwap`); a change
//!   builds a new ring off to the side and swaps it in, so a request never sees a half-updated
//!   ring. Changes are serialised by a mutex that also covers persisting them.
//! - Membership grows by union of member lists: a join pushes the union to everyone, and every
//!   probe round merges the probed peer's list, so all members converge. A member that leaves
//!   (`DELETE /peers/{id}`) is recorded as departed; departures are unioned too and win over
//!   membership, so a stale view can never bring a departed member back. A member
//!   whose id we only guessed (URL's `host:port`) is renamed once the member tells its real id.
//! - Members and settings are persisted in the data dir (`members.json`, `settings.json`) and
//!   survive a restart; the settings with the highest `(version, origin)` win everywhere.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use ringkv_ring::Ring;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::settings::{Settings, VersionedSettings};

/// A member as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub url: String,
}

/// What the failure detector believes about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Alive,
    Suspect,
    Dead,
    Leaving,
}

/// What `members.json` holds.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    members: Vec<Member>,
    #[serde(default)]
    departed: Vec<String>,
}

/// One row of `GET /peers`'s `members`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberInfo {
    pub id: String,
    pub url: String,
    pub status: Status,
    /// When the member last answered a probe, ms since the Unix epoch (null: never yet).
    pub last_heartbeat_ms: Option<u64>,
    /// The fraction of the hash space (0.0..=1.0) this member owns as first replica.
    pub ring_share: f64,
}

/// An immutable snapshot of the membership and its ring.
pub struct View {
    /// id -> URL, sorted by id.
    pub members: BTreeMap<String, String>,
    /// Ids that left the cluster (`DELETE /peers/{id}`): never members again.
    pub departed: BTreeSet<String>,
    pub ring: Ring,
}

impl View {
    fn build(members: BTreeMap<String, String>, departed: BTreeSet<String>, tokens: usize) -> View {
        let ring = Ring::new(members.keys().cloned(), tokens);
        View {
            members,
            departed,
            ring,
        }
    }

    /// The key's preference list as `(id, url)` pairs.
    pub fn preference_list(&self, key: &str, n: usize) -> Vec<Member> {
        self.ring
            .preference_list(key.as_bytes(), n)
            .into_iter()
            .filter_map(|id| {
                self.members.get(&id).map(|url| Member {
                    id,
                    url: url.clone(),
                })
            })
            .collect()
    }

    pub fn all(&self) -> Vec<Member> {
        self.members
            .iter()
            .map(|(id, url)| Member {
                id: id.clone(),
                url: url.clone(),
            })
            .collect()
    }
}

#[derive(Default, Clone, Copy)]
struct Health {
    last_ok_ms: Option<u64>,
}

/// The cluster state shared by every part of the node.
pub struct Cluster {
    pub self_id: String,
    pub self_url: String,
    tokens_per_member: usize,
    dir: PathBuf,
    view: ArcSwap<View>,
    settings: ArcSwap<VersionedSettings>,
    changes: Mutex<()>,
    health: Mutex<HashMap<String, Health>>,
    started_ms: u64,
}

impl Cluster {
    /// Opens the view from the data dir (members and settings persisted earlier), this node,
    /// and the configured peers (whose ids are guessed from their URLs until they answer).
    pub fn open(
        self_id: &str,
        self_url: &str,
        peer_urls: &[String],
        file_settings: Settings,
        tokens_per_member: usize,
        dir: PathBuf,
    ) -> anyhow::Result<Cluster> {
        let persisted: Persisted =
            crate::persist::read_json(&dir.join("members.json"))?.unwrap_or_default();
        let departed: BTreeSet<String> = persisted.departed.into_iter().collect();
        let mut members = BTreeMap::new();
        for m in persisted.members {
            members.insert(m.id, m.url);
        }
        members.retain(|id, url| id != self_id && url != self_url);
        if !departed.contains(self_id) {
            members.insert(self_id.to_string(), self_url.to_string());
        }
        for url in peer_urls {
            let guessed = url_authority(url);
            if !members.values().any(|u| u == url) && !departed.contains(&guessed) {
                members.insert(guessed, url.clone());
            }
        }
        let from_file = VersionedSettings {
            version: 0,
            origin: String::new(),
            settings: file_settings,
        };
        let settings =
            match crate::persist::read_json::<VersionedSettings>(&dir.join("settings.json"))? {
                Some(saved) if saved.supersedes(&from_file) => saved,
                _ => from_file,
            };
        let cluster = Cluster {
            self_id: self_id.to_string(),
            self_url: self_url.to_string(),
            tokens_per_member,
            dir,
            view: ArcSwap::from_pointee(View::build(members, departed, tokens_per_member)),
            settings: ArcSwap::from_pointee(settings),
            changes: Mutex::new(()),
            health: Mutex::new(HashMap::new()),
            started_ms: crate::replica::now_ms(),
        };
        cluster.persist_members()?;
        Ok(cluster)
    }

    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    pub fn settings(&self) -> Arc<VersionedSettings> {
        self.settings.load_full()
    }

    /// Other members, as `(id, url)`.
    pub fn peers(&self) -> Vec<Member> {
        self.view()
            .all()
            .into_iter()
            .filter(|m| m.id != self.self_id)
            .collect()
    }

    fn persist_members(&self) -> anyhow::Result<()> {
        let view = self.view();
        let persisted = Persisted {
            members: view.all(),
            departed: view.departed.iter().cloned().collect(),
        };
        crate::persist::write_json(&self.dir.join("members.json"), &persisted)
    }

    fn store(&self, members: BTreeMap<String, String>, departed: BTreeSet<String>) {
        self.view.store(Arc::new(View::build(
            members,
            departed,
            self.tokens_per_member,
        )));
    }

    /// Records that `id` left: it is dropped from the ring and never re-added by a merge.
    /// Blocking (fsync).
    pub fn depart(&self, id: &str) -> anyhow::Result<()> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let view = self.view();
        let mut members = view.members.clone();
        let mut departed = view.departed.clone();
        members.remove(id);
        departed.insert(id.to_string());
        self.store(members, departed);
        self.persist_members()
    }

    /// Unions `incoming` into the membership and `departed` into the departures; renames
    /// members known under a guessed id. Returns whether anything changed (then the ring was
    /// rebuilt and the list persisted). Blocking (fsync): call from a blocking context.
    pub fn merge_members(&self, incoming: &[Member], departed: &[String]) -> anyhow::Result<bool> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let view = self.view();
        let mut members = view.members.clone();
        let mut gone = view.departed.clone();
        gone.extend(departed.iter().cloned());
        for m in incoming {
            if m.id.is_empty() || m.id == self.self_id || m.url == self.self_url {
                continue;
            }
            let Ok(url) = normalize_url(&m.url) else {
                continue;
            };
            members.retain(|id, u| *u != url || *id == m.id);
            members.insert(m.id.clone(), url);
        }
        members.retain(|id, _| !gone.contains(id));
        if members == view.members && gone == view.departed {
            return Ok(false);
        }
        self.store(members, gone);
        self.persist_members()?;
        Ok(true)
    }

    /// Drops a member entry that turned out to be this node under another address (a
    /// membership file that names us as `localhost:port`, say). Blocking (fsync).
    pub fn forget_alias_of_self(&self, id: &str) -> anyhow::Result<()> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        let view = self.view();
        let mut members = view.members.clone();
        if id == self.self_id || members.remove(id).is_none() {
            return Ok(());
        }
        self.store(members, view.departed.clone());
        self.persist_members()
    }

    /// Adopts `offered` if it supersedes the current settings. Blocking (fsync).
    pub fn offer_settings(&self, offered: &VersionedSettings) -> anyhow::Result<bool> {
        let _guard = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        if !offered.supersedes(&self.settings()) || offered.settings.validate().is_err() {
            return Ok(false);
        }
        crate::persist::write_json(&self.dir.join("settings.json"), offered)?;
        self.settings.store(Arc::new(offered.clone()));
        Ok(true)
    }

    /// Makes a new settings version originating here. Blocking (fsync).
    pub fn change_settings(&self, next: Settings) -> anyhow::Result<VersionedSettings> {
        let versioned = {
            let current = self.settings();
            VersionedSettings {
                version: current.version + 1,
                origin: self.self_id.clone(),
                settings: next,
            }
        };
        self.offer_settings(&versioned)?;
        Ok(self.settings().as_ref().clone())
    }

    /// Records the outcome of a probe of member `id`.
    pub fn record_probe(&self, id: &str, ok: bool, now_ms: u64) {
        let mut health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let entry = health.entry(id.to_string()).or_default();
        if ok {
            entry.last_ok_ms = Some(now_ms);
        }
    }

    /// Every member with what the failure detector believes now.
    pub fn member_infos(&self, now_ms: u64) -> Vec<MemberInfo> {
        let timeout = self.settings().settings.gossip.failure_timeout_ms;
        let health = self
            .health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let view = self.view();
        let shares: HashMap<&str, f64> = view.ring.primary_shares().into_iter().collect();
        let share = |id: &str| shares.get(id).copied().unwrap_or(0.0);
        view.all()
            .into_iter()
            .map(|m| {
                if m.id == self.self_id {
                    return MemberInfo {
                        ring_share: share(&m.id),
                        id: m.id,
                        url: m.url,
                        status: Status::Alive,
                        last_heartbeat_ms: Some(now_ms),
                    };
                }
                let last = health.get(&m.id).and_then(|h| h.last_ok_ms);
                let silent = now_ms.saturating_sub(last.unwrap_or(self.started_ms));
                let status = if silent <= timeout {
                    Status::Alive
                } else if silent <= 2 * timeout {
                    Status::Suspect
                } else {
                    Status::Dead
                };
                MemberInfo {
                    ring_share: share(&m.id),
                    id: m.id,
                    url: m.url,
                    status,
                    last_heartbeat_ms: last,
                }
            })
            .collect()
    }
}

/// Normalises `host:port` or `http://host:port[/]` to `http://host:port`.
pub fn normalize_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("empty URL".into());
    }
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!("`{raw}`: only http:// URLs are supported"));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(format!("`{raw}` has no host"))?;
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(format!("`{raw}` must be just http://host:port"));
    }
    let port = url.port_or_known_default().unwrap_or(80);
    Ok(format!("http://{host}:{port}"))
}

/// `host:port` of a normalised URL (the default node id).
pub fn url_authority(url: &str) -> String {
    url.strip_prefix("http://")
        .unwrap_or(url)
        .trim_end_matches('/')
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        assert_eq!(
            normalize_url("127.0.0.1:7777").unwrap(),
            "http://127.0.0.1:7777"
        );
        assert_eq!(
            normalize_url("http://localhost:80/").unwrap(),
            "http://localhost:80"
        );
        assert_eq!(normalize_url("http://h").unwrap(), "http://h:80");
        assert_eq!(normalize_url("http://[::1]:9").unwrap(), "http://[::1]:9");
        for bad in [
            "",
            "ftp://x:1",
            "http://x:1/path",
            "http://:1",
            "not a url",
            "http://x:99999",
        ] {
            assert!(normalize_url(bad).is_err(), "{bad}");
        }
        assert_eq!(url_authority("http://127.0.0.1:7777"), "127.0.0.1:7777");
    }
}
