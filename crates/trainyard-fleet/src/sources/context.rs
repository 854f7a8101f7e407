//! What the workers share: the queue, the running totals, the node names seen, and the
//! worker loop that hands items to the caller's fold.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::heads::Heads;
use super::line_map::LineMap;
use super::queue::{Queue, Work, WorkerExit};
use super::{FleetItem, Progress, ReadOptions, Skipped};

/// Where a worker hands what it read: the input's label (for messages about nodes) and
/// the item.
pub(super) type Sink<'a> = &'a mut dyn FnMut(&str, FleetItem);

/// Shared state of one [`read_fleet`](super::read_fleet) call.
pub(super) struct Context<'o> {
    /// The work queue.
    pub(super) queue: Queue,
    /// The caller's options.
    pub(super) opts: &'o ReadOptions,
    bytes_total: Option<u64>,
    bytes_read: AtomicU64,
    /// Bytes read since progress was last reported, so that it is reported every
    /// [`PROGRESS_EVERY`] bytes rather than on every read.
    bytes_unreported: AtomicU64,
    nodes: AtomicU64,
    skipped: AtomicU64,
    /// Node name → the input it came from, to report duplicates.
    names: Mutex<HashMap<String, String>>,
    /// `pdsh` host buffers handed back after parsing, for the demultiplexer to refill.
    spare: Mutex<Vec<HostBuffers>>,
}

/// The buffers one `pdsh` host's lines are gathered in: its text (prefixes removed) and the
/// stream line of each line.
///
/// A 10,000-host stream fills 10,000 of them of a few hundred KB each; growing fresh ones
/// (reallocations, page faults) cost more system time than reading the stream, so parsed
/// hosts' buffers are reused.
#[derive(Default)]
pub(super) struct HostBuffers {
    /// The host's text.
    pub(super) text: Vec<u8>,
    /// Stream line of each line of `text`.
    pub(super) lines: LineMap,
    /// The column-0 lines of `text`.
    pub(super) heads: Heads,
}

/// Most spare host buffers kept: enough for the hosts in flight between the demultiplexer and
/// the workers (the queue), few enough to hold a few MiB.
const SPARE_BUFFERS: usize = 16;

/// Host buffers larger than this are freed, not kept: one huge host should not pin its
/// memory for the rest of the stream.
const SPARE_MAX_BYTES: usize = 4 << 20;

/// Report progress at least every this many bytes read.
const PROGRESS_EVERY: u64 = 1 << 20;

/// Work items queued per worker: enough to keep every worker fed, few enough that queued
/// buffers (archive entries, `pdsh` hosts) stay a small multiple of one node's size.
const QUEUE_PER_WORKER: usize = 4;

impl<'o> Context<'o> {
    /// A context for `threads` workers.
    pub(super) fn new(opts: &'o ReadOptions, threads: usize, bytes_total: Option<u64>) -> Self {
        Self {
            queue: Queue::new(threads, threads * QUEUE_PER_WORKER),
            opts,
            bytes_total,
            bytes_read: AtomicU64::new(0),
            bytes_unreported: AtomicU64::new(0),
            nodes: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            names: Mutex::new(HashMap::new()),
            spare: Mutex::new(Vec::new()),
        }
    }

    /// One worker: folds everything it handles into its own accumulator.
    pub(super) fn work<A>(&self, init: &impl Fn() -> A, fold: &impl Fn(&mut A, FleetItem)) -> A {
        let _exit = WorkerExit(&self.queue);
        let mut acc = init();
        while let Some((work, _busy)) = self.queue.pop() {
            let mut sink = |input: &str, item: FleetItem| self.emit(&mut acc, fold, input, item);
            self.handle(work, &mut sink);
        }
        acc
    }

    /// Does one work item, handing what it yields to `sink`.
    pub(super) fn handle(&self, work: Work, sink: Sink<'_>) {
        match work {
            Work::File { path, explicit } => self.read_file(&path, explicit, sink),
            Work::Stdin => self.read_stdin(sink),
            Work::Buffer(buffer) => self.read_buffer(buffer, sink),
            Work::Skip(s) => sink("", FleetItem::Skipped(s)),
        }
    }

    /// Queues `work` for another worker, or does it now when the queue is full.
    pub(super) fn hand_off(&self, work: Work, sink: Sink<'_>) {
        if let Err(work) = self.queue.try_push(work) {
            self.handle(work, sink);
        }
    }

    /// Counts, checks for duplicate names, and folds one item.
    fn emit<A>(
        &self,
        acc: &mut A,
        fold: &impl Fn(&mut A, FleetItem),
        input: &str,
        item: FleetItem,
    ) {
        let item = match item {
            FleetItem::Node(node) => self.check_duplicate(input, node),
            skipped => skipped,
        };
        match &item {
            FleetItem::Node(_) => self.nodes.fetch_add(1, Ordering::Relaxed),
            FleetItem::Skipped(_) => self.skipped.fetch_add(1, Ordering::Relaxed),
        };
        fold(acc, item);
        self.report();
    }

    /// The node itself, or a [`Skipped`] when another input already gave its name.
    fn check_duplicate(&self, input: &str, node: crate::Node) -> FleetItem {
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        match names.get(&node.name) {
            Some(first) => FleetItem::Skipped(Skipped {
                error: format!("duplicate node name {} (also in {first})", node.name),
                input: input.to_string(),
                line: None,
                lost_data: true,
            }),
            None => {
                names.insert(node.name.clone(), input.to_string());
                FleetItem::Node(node)
            }
        }
    }

    /// Empty buffers for a new `pdsh` host: spare ones when there are.
    pub(super) fn host_buffers(&self) -> HostBuffers {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        spare.pop().unwrap_or_default()
    }

    /// Hands back a parsed host's buffers for reuse.
    pub(super) fn recycle(&self, mut buffers: HostBuffers) {
        if buffers.text.capacity() > SPARE_MAX_BYTES {
            return;
        }
        buffers.text.clear();
        buffers.lines.clear();
        buffers.heads.clear();
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < SPARE_BUFFERS {
            spare.push(buffers);
        }
    }

    /// Counts bytes read and reports progress every [`PROGRESS_EVERY`] bytes.
    pub(super) fn add_bytes(&self, n: u64) {
        self.bytes_read.fetch_add(n, Ordering::Relaxed);
        let before = self.bytes_unreported.fetch_add(n, Ordering::Relaxed);
        if before + n >= PROGRESS_EVERY
            && self
                .bytes_unreported
                .compare_exchange(before + n, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.report();
        }
    }

    fn report(&self) {
        if let Some(progress) = &self.opts.progress {
            progress(Progress {
                bytes_read: self.bytes_read.load(Ordering::Relaxed),
                bytes_total: self.bytes_total,
                nodes: self.nodes.load(Ordering::Relaxed),
                skipped: self.skipped.load(Ordering::Relaxed),
            });
        }
    }
}
