//! `GET /dashboard`: one HTML page, compiled into the binary (`include_str!`), that shows the
//! cluster as this node sees it: members and their status, each member's share of the ring,
//! data movement in progress, and this node's request rates and latencies.
//!
//! The page is static; its script polls this node's `GET /peers`, `GET /metrics` (the
//! Prometheus text, parsed in the browser; rates and latency quantiles come from the counter
//! and histogram deltas between two polls) and `GET /healthcheck`. It loads nothing else (no
//! CDN, no web fonts), so it works on a machine without internet. Fields of `/peers` that a
//! node does not send yet (`ring_share`, `movement`) show as "–".

use axum::http::header;
use axum::response::IntoResponse;

/// The page, from `dashboard.html` beside this file.
const PAGE: &str = include_str!("dashboard.html");

/// The live cluster dashboard.
#[utoipa::path(get, path = "/dashboard", tag = "cluster",
    responses((status = 200, description = "An HTML page that polls /peers and /metrics and shows members, \
        ring ownership, data movement and request rates and latencies", body = String, content_type = "text/html")))]
pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for needle in ["http://", "https://", "//cdn", "@import", "<link"] {
            assert!(!PAGE.contains(needle), "dashboard.html contains {needle}");
        }
        for needle in [
            "\"/peers\"",
            "\"/metrics\"",
            "dataset.memberId",
            "dataset.status",
        ] {
            assert!(PAGE.contains(needle), "{needle}");
        }
    }
}
