//! The client subcommands (`get`, `put`, `delete`, `list`, `peers`, `join`): thin HTTP calls
//! to one node that print the JSON answer, for scripts and quick checks.

use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;

/// Which node to talk to.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The node's URL.
    #[arg(long, env = "RINGKV_URL", default_value = "http://127.0.0.1:7777")]
    pub url: String,
}

impl Target {
    fn item_url(&self, key: &str, suffix: &[&str]) -> anyhow::Result<url::Url> {
        let mut url = url::Url::parse(&self.url).context("--url")?;
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("--url cannot take a path"))?
            .pop_if_empty()
            .push("items")
            .push(key)
            .extend(suffix);
        Ok(url)
    }
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Prints the answer; a non-2xx/300 status is an error carrying its detail.
async fn finish(resp: reqwest::Response) -> anyhow::Result<String> {
    let status = resp.status();
    let context = resp
        .headers()
        .get("x-context")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.text().await?;
    if !(status.is_success() || status.as_u16() == 300) {
        bail!("{status}: {body}");
    }
    if let Some(ctx) = context {
        eprintln!("X-Context: {ctx}");
    }
    Ok(body)
}

pub async fn get(target: &Target, key: &str) -> anyhow::Result<()> {
    let resp = http()?.get(target.item_url(key, &[])?).send().await?;
    println!("{}", finish(resp).await?);
    Ok(())
}

pub async fn put(target: &Target, key: &str, value: &str, ttl: Option<u64>) -> anyhow::Result<()> {
    let value: serde_json::Value = serde_json::from_str(value)
        .context("the value must be JSON (quote strings: '\"text\"')")?;
    let mut body = serde_json::json!({ "value": value });
    if let Some(ttl) = ttl {
        body["ttl"] = ttl.into();
    }
    let resp = http()?
        .put(target.item_url(key, &[])?)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    println!("{}", finish(resp).await?);
    Ok(())
}

pub async fn delete(target: &Target, key: &str) -> anyhow::Result<()> {
    let resp = http()?.delete(target.item_url(key, &[])?).send().await?;
    finish(resp).await?;
    println!("deleted");
    Ok(())
}

pub async fn list(target: &Target, prefix: &str) -> anyhow::Result<()> {
    let client = http()?;
    let mut cursor: Option<String> = None;
    loop {
        let mut url = url::Url::parse(&target.url)
            .context("--url")?
            .join("/items")?;
        url.query_pairs_mut()
            .append_pair("prefix", prefix)
            .append_pair("limit", "1000");
        if let Some(c) = &cursor {
            url.query_pairs_mut().append_pair("cursor", c);
        }
        let page: serde_json::Value =
            serde_json::from_str(&finish(client.get(url).send().await?).await?)?;
        for item in page["items"].as_array().into_iter().flatten() {
            println!("{item}");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return Ok(()),
        }
    }
}

pub async fn peers(target: &Target) -> anyhow::Result<()> {
    let url = url::Url::parse(&target.url)
        .context("--url")?
        .join("/peers")?;
    println!("{}", finish(http()?.get(url).send().await?).await?);
    Ok(())
}

pub async fn join(target: &Target, peer_url: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(&target.url)
        .context("--url")?
        .join("/peers")?;
    let body = serde_json::json!({ "peer_url": peer_url }).to_string();
    let resp = http()?
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    println!("{}", finish(resp).await?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded() {
        let t = Target {
            url: "http://127.0.0.1:7777".into(),
        };
        assert_eq!(
            t.item_url("this is/key", &["append"]).unwrap().as_str(),
            "http://127.0.0.1:7777/items/this%20is%2Fkey/append"
        );
    }
}
