//! Integration tests of `ringkv bench` against in-process test nodes (one binary, one behaviour
//! per file).

mod harness;

mod counts_match_the_server;
mod duration_stops_the_run;
mod interrupt_ends_the_run_early;
mod prefill_makes_reads_hit;
mod quorum_overrides_in_the_query;
mod requests_spread_over_nodes;
mod unreachable_node_counts_transport_errors;
