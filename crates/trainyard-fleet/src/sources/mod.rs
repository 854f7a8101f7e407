//! Reading a whole fleet: folders, files, `.tar`/`.tar.gz` archives, `pdsh`/`clush` streams
//! and stdin, streaming and in parallel.
//!
//! Every input is recognised by its content, never by its name: a gzip stream is
//! decompressed, a tar archive is read entry by entry (never extracted to disk), text whose
//! device lines carry `host: ` prefixes is demultiplexed per host, and everything else goes to
//! [`ingest::read_input`](crate::ingest::read_input) (snapshot JSON, lspci text, hex dump, raw
//! config space).
//!
//! # Threads
//! [`read_fleet`] runs `threads` workers over one bounded work queue. The calling thread walks
//! the inputs and queues files; a worker that opens an archive or a `pdsh` stream reads it
//! sequentially (there is no other way to read a stream) and queues each archive entry or each
//! completed host for the other workers to parse, parsing it itself when the queue is full.
//! That keeps every worker busy and memory bounded by the queue, not by the input.
//!
//! # Repeated devices
//! A node's lspci text (a file, or a `pdsh` host's lines) is held in memory and cut into
//! device blocks; a block another node already had, byte for byte on the same line, is not
//! parsed again: the nodes share the parsed device (`Arc<Device>`). See `blocks.rs` for
//! what is cached, when the ordinary parser is used instead, and the memory bounds.
//!
//! # Node names and duplicates
//! A node is named by its snapshot's host, its `pdsh` host prefix, or else its file stem
//! ([`ingest::name_from_path`](crate::ingest::name_from_path)). Two inputs that give the same
//! name are almost always the same host collected twice (`node7.txt` and `node7.json`, or a
//! folder given twice); analysing both would count the host twice in every consensus, so the
//! first one read is kept and the other is reported as [`Skipped`] with
//! `duplicate node name X (also in Y)`. With more than one thread "first" is the first to
//! finish parsing, so which of the two is kept can differ between runs; the set of names and
//! the number of skipped inputs do not.
//!
//! # Bad input
//! A missing, unreadable, corrupt, empty or binary input becomes a [`Skipped`] that names it
//! (and the line, when there is one) while the rest is still read. Memory stays bounded: a
//! single-node text input is read up to [`MAX_NODE_TEXT_BYTES`], a text input whose first
//! 64 KiB hold no lspci device line is rejected without reading the rest, and a `pdsh` stream
//! holds at most [`ReadOptions::pdsh_window`] hosts at a time.

mod archive;
mod blocks;
mod context;
mod heads;
mod line_map;
mod patch;
mod pdsh;
mod queue;
mod stream;
mod walk;

use std::path::PathBuf;
use std::sync::Arc;

use crate::node::Node;

pub use stream::MAX_NODE_TEXT_BYTES;

/// One input named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetInput {
    /// A file (any content, an archive or a `pdsh` stream) or a folder, walked recursively.
    Path(PathBuf),
    /// Standard input (any content a file may have).
    Stdin,
}

/// Called with the running totals while a fleet is read; it may be called from any thread.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How to read a fleet.
#[derive(Clone)]
pub struct ReadOptions {
    /// Worker threads; 0 means one per available CPU.
    pub threads: usize,
    /// Most `pdsh` hosts held open at once; see the module docs of [`sources`](self).
    pub pdsh_window: usize,
    /// Progress callback (the CLI draws a bar from it).
    pub progress: Option<ProgressFn>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            threads: 0,
            pdsh_window: 256,
            progress: None,
        }
    }
}

impl std::fmt::Debug for ReadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOptions")
            .field("threads", &self.threads)
            .field("pdsh_window", &self.pdsh_window)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Running totals handed to [`ReadOptions::progress`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes read from files and stdin so far (compressed bytes for archives).
    pub bytes_read: u64,
    /// Sum of the input files' sizes; `None` when stdin or a pipe is among the inputs.
    pub bytes_total: Option<u64>,
    /// Nodes handed to the fold so far.
    pub nodes: u64,
    /// [`Skipped`] items handed to the fold so far.
    pub skipped: u64,
}

/// What reading a fleet yields, one item at a time.
// A node is moved once, from the parser into the fold; boxing it would cost an allocation
// per node to shrink the rare `Skipped` item.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum FleetItem {
    /// A node read in full or in part (a partly read node also comes with a [`Skipped`]).
    Node(Node),
    /// An input, or part of one, that could not be used.
    Skipped(Skipped),
}

/// An input, or part of one, that was not read into a node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The input: a path, a path inside an archive as `a.tar.gz:node7.txt`, or `<stdin>`.
    pub input: String,
    /// 1-based line in that input, when the problem has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// What is wrong.
    pub error: String,
    /// True when data was lost (a node, device or line left out); false for notes, such as
    /// a `sudo` prompt in a pasted capture, that lose nothing.
    pub lost_data: bool,
}

/// Reads every input into nodes on a pool of worker threads.
///
/// Each worker thread owns one accumulator made by `init` and folds the items it handles
/// into it; all accumulators are returned for the caller to merge. Items arrive in no
/// particular order. Never panics on bad input: problems come out as
/// [`FleetItem::Skipped`].
pub fn read_fleet<A: Send>(
    inputs: &[FleetInput],
    opts: &ReadOptions,
    init: impl Fn() -> A + Sync,
    fold: impl Fn(&mut A, FleetItem) + Sync,
) -> Vec<A> {
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let plan = walk::plan(inputs);
    let ctx = context::Context::new(opts, threads, plan.bytes_total);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| ctx.work(&init, &fold)))
            .collect();
        // The calling thread feeds the queue while the workers drain it; `push` blocks
        // when the queue is full, so a folder of 100,000 files never sits in memory twice.
        for work in plan.into_work() {
            ctx.queue.push(work);
        }
        ctx.queue.close_feed();
        workers
            .into_iter()
            .map(|w| match w.join() {
                Ok(acc) => acc,
                // A panic in the caller's fold: hand it on rather than hide it.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}
