//! Progress bars of the CLI (indicatif, on stderr): a counter for work of unknown size
//! (`client read` of every key) and a bar for work with a known total that may only become
//! known later (`server stop --leave`, which learns the keys to move from the leaving member).
//!
//! indicatif draws only when stderr is a terminal, so scripts and tests see stdout alone.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

const TICK: Duration = Duration::from_millis(100);

/// A spinner counting items: `⠋ 1234 keys read (3s)`.
pub fn counter(label: &'static str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {pos} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(label);
    bar.enable_steady_tick(TICK);
    bar
}

/// A bar whose length is set once known ([`ProgressBar::set_length`]); until then it spins.
pub fn towards(label: &'static str) -> ProgressBar {
    let bar = ProgressBar::no_length();
    let template = "{spinner} {prefix} [{wide_bar}] {pos}/{len} {msg} ({elapsed})";
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(label);
    bar.enable_steady_tick(TICK);
    bar
}
