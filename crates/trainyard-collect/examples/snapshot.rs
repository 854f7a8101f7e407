//! Prints the snapshot of `/` (or of the root given as the first argument) as JSON.
// A command-line aid: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

fn main() {
    let opts = match std::env::args_os().nth(1) {
        Some(root) => trainyard_collect::CollectOptions::fake_root(root),
        None => trainyard_collect::CollectOptions::default(),
    };
    let start = std::time::Instant::now();
    let snap = trainyard_collect::collect(&opts);
    let took = start.elapsed();
    let json = snap.to_json();
    println!("{json}");
    eprintln!("collected in {took:?}, {} bytes of JSON", json.len());
}
