//! ringkv: the node binary.

fn main() {
    println!("ringkv {}", env!("CARGO_PKG_VERSION"));
}
