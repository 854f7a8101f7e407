//! Parsing one lspci text stream on several threads, in bounded memory, with results in
//! input order.
//!
//! The input is cut into pieces of about [`Options::piece_bytes`] at lines that start a
//! device ([`super::starts_device`]): everything before such a line belongs to earlier
//! devices, so each piece parses on its own exactly as it would inside the whole stream
//! (`pdsh` decided by the stream's start). Worker threads parse pieces and turn their
//! devices into the caller's output (`T`); the calling thread reads, cuts, and hands
//! finished pieces to the caller in input order. At most two pieces per worker are in
//! flight, so memory stays at a few pieces whatever the input size. With one thread the
//! calling thread parses the pieces itself.
//!
//! [`parse_parallel_rendered`] is the variant for output rendered to bytes (`pci parse
//! --format fields`): its workers parse a piece device block by device block and remember
//! each block's rendered output, so a block that repeats earlier input is copied, not
//! parsed (module `block_memo`).
//!
//! `pdsh` streams (hosts interleave, so no line ends every open device) and inputs where no
//! device starts within [`Options::max_piece_bytes`] are parsed on the calling thread from
//! that point on, with the same results.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::sync::mpsc;
use std::sync::Mutex;

use super::block_memo::{self, BlockMemo};
use super::parser::{pdsh_decision, Diagnostic};
use super::reader::{line_text, LspciReader, ParseError, ParseErrorKind, MAX_LINE_LEN};
use crate::device::Device;

/// How to parse.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Target size of a piece.
    pub piece_bytes: usize,
    /// Largest piece: past this without a device start, the rest is parsed on one thread.
    pub max_piece_bytes: usize,
    /// Parse in fields-only mode ([`super::TextParser::fields_only`]).
    pub fields_only: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            // With the block memo a piece costs little CPU, and its buffers (input, output
            // twice its size, a few of each in flight) are most of the memory: at 4 MiB,
            // 89 MB peak RSS and 21k page faults on a 512 MiB input; at 1 MiB, 46 MB and 10k.
            piece_bytes: 1 << 20,
            max_piece_bytes: 64 << 20,
            fields_only: false,
        }
    }
}

/// One piece of the input, parsed: the caller's output for its devices, and the errors and
/// diagnostics of its lines, in order.
#[derive(Debug)]
pub struct Piece<T> {
    /// What the caller made of the piece's devices (see [`parse_parallel`]).
    pub output: T,
    /// Number of devices.
    pub devices: usize,
    /// Rejected lines and input-level errors.
    pub errors: Vec<ParseError>,
    /// Lines that belong to no device.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses `input` on `opts.threads` workers. Each worker starts a piece's output with
/// `init()` and adds each of its devices with `each`; `emit` receives the pieces in input
/// order and may stop everything by returning an error, which is returned.
///
/// The concatenation of the pieces' devices, errors and diagnostics equals what
/// [`LspciReader`] gives for the whole input (in the same mode): the same devices in the
/// same order, and the same errors and diagnostics with the same line numbers.
pub fn parse_parallel<R, T, E>(
    input: R,
    opts: Options,
    init: impl Fn() -> T + Sync,
    each: impl Fn(&mut T, Device) + Sync,
    emit: impl FnMut(Piece<T>) -> Result<(), E>,
) -> Result<(), E>
where
    R: BufRead,
    T: Send,
{
    let parse = |_: &mut (), bytes: &[u8], lines_before, pdsh| {
        parse_piece(bytes, lines_before, pdsh, opts.fields_only, &init, &each)
    };
    run(
        input,
        opts,
        (&init, &each),
        || (),
        parse,
        Lines::Absolute,
        emit,
    )
}

/// [`parse_parallel`] for output that is bytes rendered from each device: `render` appends
/// a device's output to the piece's buffer (which starts as `init()`).
///
/// Each worker keeps a memo of device blocks it has parsed and their rendered output
/// (module `block_memo`): a block seen before is not parsed again, its earlier output is
/// copied. So `render` must give the same bytes for devices parsed from the same text
/// wherever it stands: it must not use [`Device::line`] (which is counted from the start
/// of the device's piece here). Errors and diagnostics are exactly those of
/// [`parse_parallel`], with the same line numbers; without `pdsh` prefixes the output is
/// the concatenation of `render` over its devices.
pub fn parse_parallel_rendered<R, E>(
    input: R,
    opts: Options,
    init: impl Fn() -> Vec<u8> + Sync,
    render: impl Fn(&Device, &mut Vec<u8>) + Sync,
    emit: impl FnMut(Piece<Vec<u8>>) -> Result<(), E>,
) -> Result<(), E>
where
    R: BufRead,
{
    let each = |out: &mut Vec<u8>, dev: Device| render(&dev, out);
    let parse = |memo: &mut BlockMemo, bytes: &[u8], lines_before, pdsh| {
        block_memo::parse_piece(
            bytes,
            lines_before,
            pdsh,
            opts.fields_only,
            memo,
            init(),
            &render,
        )
    };
    // Rendered output does not show line numbers, so only errors and diagnostics need
    // them right, and they are shifted when their piece is emitted.
    let fallback = (&init, &each);
    run(
        input,
        opts,
        fallback,
        BlockMemo::default,
        parse,
        Lines::Relative,
        emit,
    )
}

/// How pieces number their lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// From the input's start: the reading thread counts every piece's lines before
    /// handing it out (devices carry their line, [`Device::line`]).
    Absolute,
    /// From the piece's start, errors and diagnostics shifted when the piece is emitted:
    /// saves the reading thread a pass over every byte, but devices' `line` is relative.
    Relative,
}

/// The engine behind both entry points: pieces are parsed by `parse` with a state from
/// `state()` per worker (on the calling thread when `opts.threads` is 1); what cannot be cut
/// into pieces is parsed on the calling thread with `fallback`'s `init` and `each`.
fn run<R, T, S, E>(
    mut input: R,
    opts: Options,
    (init, each): (&(impl Fn() -> T + Sync), &(impl Fn(&mut T, Device) + Sync)),
    state: impl Fn() -> S + Sync,
    // A piece's bytes, the lines before it and `pdsh` -> the piece and its last line.
    parse: impl Fn(&mut S, &[u8], usize, Option<bool>) -> (Piece<T>, usize) + Sync,
    lines: Lines,
    mut emit: impl FnMut(Piece<T>) -> Result<(), E>,
) -> Result<(), E>
where
    R: BufRead,
    T: Send,
{
    let threads = opts.threads.max(1);
    let mut cutter = Cutter {
        piece_bytes: opts.piece_bytes,
        count_lines: lines == Lines::Absolute,
        ..Cutter::default()
    };
    let mut done = cutter.fill(&mut input, opts.piece_bytes);
    // Decide `pdsh` from the stream's start, as the sequential parser would.
    let pdsh = loop {
        if let Some(d) = cutter.pdsh_decision(done) {
            break Some(d);
        }
        if done || cutter.buf.len() >= opts.max_piece_bytes {
            break None;
        }
        done = cutter.fill(&mut input, cutter.buf.len() + opts.piece_bytes);
    };
    // Pieces need a stream without `pdsh` prefixes; with one thread they are parsed on
    // this thread, in order.
    let pieces = pdsh == Some(false);
    let inline = threads == 1;
    let (state, parse) = (&state, &parse);

    let mut order = InOrder {
        relative: lines == Lines::Relative,
        ..InOrder::default()
    };
    let (job_tx, job_rx) = mpsc::channel::<(usize, Vec<u8>, usize)>();
    let job_rx = Mutex::new(job_rx);
    let (out_tx, out_rx) = mpsc::channel::<Done<T>>();
    let fallback = std::thread::scope(|scope| -> Result<bool, E> {
        if !pieces {
            return Ok(true);
        }
        let mut workers = Vec::with_capacity(threads);
        let mut inline_state = inline.then(state);
        for _ in 0..if inline { 0 } else { threads } {
            let (job_rx, out_tx) = (&job_rx, out_tx.clone());
            workers.push(scope.spawn(move || {
                let mut st = state();
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((index, bytes, lines_before)) = job else {
                        return;
                    };
                    let (piece, end_line) = parse(&mut st, &bytes, lines_before, pdsh);
                    let done = Done {
                        index,
                        piece,
                        end_line,
                        bytes,
                    };
                    if out_tx.send(done).is_err() {
                        return;
                    }
                }
            }));
        }
        drop(out_tx);
        let mut sent = 0usize;
        loop {
            let cut = if done {
                Some(cutter.buf.len())
            } else {
                cutter.cut_point()
            };
            let Some(cut) = cut else {
                if cutter.buf.len() >= opts.max_piece_bytes {
                    break; // no device start in sight: the rest goes on this thread
                }
                done = cutter.fill(&mut input, cutter.buf.len() + opts.piece_bytes);
                continue;
            };
            let (bytes, lines_before) = cutter.take(cut);
            if let (false, Some(st)) = (bytes.is_empty(), inline_state.as_mut()) {
                let (piece, end_line) = parse(st, &bytes, lines_before, pdsh);
                order.emit_now(piece, end_line, &mut emit)?;
                order.next += 1;
                sent += 1;
                cutter.spare.push(bytes);
            } else if !bytes.is_empty() {
                // Workers stop only when the job channel closes, so sending cannot fail.
                let _ = job_tx.send((sent, bytes, lines_before));
                sent += 1;
            }
            // At most two pieces per worker in flight.
            let mut worker_lost = false;
            while sent - order.next >= 2 * threads {
                if !order.wait_one(&out_rx, &workers, &mut emit, &mut cutter.spare)? {
                    worker_lost = true; // the scope re-raises its panic
                    break;
                }
            }
            if worker_lost || (done && cutter.buf.is_empty()) {
                break;
            }
            if !done {
                done = cutter.fill(&mut input, opts.piece_bytes);
            }
        }
        drop(job_tx);
        // Workers now end when the jobs run out: wait without watching them (a lost piece
        // shows as a closed channel once all have ended).
        while order.next < sent {
            if !order.wait_one(&out_rx, &[], &mut emit, &mut cutter.spare)? {
                break;
            }
        }
        Ok(!(done && cutter.buf.is_empty()))
    })?;

    if fallback {
        let rest = std::mem::take(&mut cutter.buf);
        let chained = std::io::Cursor::new(rest).chain(input);
        let reader = if opts.fields_only {
            LspciReader::fields_only(chained)
        } else {
            LspciReader::new(chained)
        };
        // Every piece has been emitted: the last one ended the line before the rest.
        let mut reader = reader.piece(order.end_line, pdsh);
        let mut piece = empty_piece(init);
        while let Some(item) = reader.next() {
            match item {
                Ok(dev) => {
                    each(&mut piece.output, dev);
                    piece.devices += 1;
                    if piece.devices >= 4096 {
                        piece.diagnostics = reader.take_diagnostics();
                        order.devices += piece.devices;
                        emit(std::mem::replace(&mut piece, empty_piece(init)))?;
                    }
                }
                Err(e) => piece.errors.push(e),
            }
        }
        piece.diagnostics = reader.take_diagnostics();
        order.devices += piece.devices;
        order.end_line = reader.parser().line_no();
        let clean_end = reader.reached_end();
        if clean_end {
            if let Some(message) = cutter.io_error.take() {
                piece.errors.push(ParseError {
                    line: order.end_line + 1,
                    kind: ParseErrorKind::Io(message),
                });
            } else if order.devices == 0 {
                piece.errors.push(ParseError {
                    line: order.end_line,
                    kind: ParseErrorKind::NoDevices,
                });
            }
        }
        return emit(piece);
    }
    let mut piece = empty_piece(init);
    if let Some(message) = cutter.io_error.take() {
        piece.errors.push(ParseError {
            line: order.end_line + 1,
            kind: ParseErrorKind::Io(message),
        });
    } else if order.devices == 0 {
        piece.errors.push(ParseError {
            line: order.end_line,
            kind: ParseErrorKind::NoDevices,
        });
    } else {
        return Ok(());
    }
    emit(piece)
}

/// The input not yet handed out, and where it starts.
#[derive(Default)]
struct Cutter {
    buf: Vec<u8>,
    /// Lines in everything handed out before `buf`, when counted.
    lines_before: usize,
    /// Whether pieces' lines are counted ([`Lines::Absolute`]); else every piece numbers
    /// its lines from 0.
    count_lines: bool,
    /// `buf[..checked]` holds no device start after its first line (see `cut_point`).
    checked: usize,
    /// Lines of `buf` already checked for the `pdsh` decision.
    decided_upto: usize,
    /// A read error, which ended the input.
    io_error: Option<String>,
    /// Buffers of parsed pieces, for the next pieces: reusing them saves the page faults
    /// of fresh multi-megabyte allocations, which contend between threads.
    spare: Vec<Vec<u8>>,
    /// Capacity for new buffers.
    piece_bytes: usize,
}

impl Cutter {
    /// Reads until `buf` holds `want` bytes; returns whether the input has ended.
    fn fill<R: BufRead>(&mut self, input: &mut R, want: usize) -> bool {
        let Some(missing) = want.checked_sub(self.buf.len()).filter(|&n| n > 0) else {
            return false;
        };
        self.buf.reserve(missing);
        // `read_to_end` reads into `buf`'s spare capacity, and a `BufReader` hands large
        // reads straight to its source: the bytes are not copied through the reader's
        // buffer first (that copy was most of this thread's work). It retries interrupted
        // reads and keeps what it read before an error.
        match input
            .by_ref()
            .take(missing as u64)
            .read_to_end(&mut self.buf)
        {
            Ok(n) => n < missing,
            Err(e) => {
                self.io_error = Some(e.to_string());
                true
            }
        }
    }

    /// What the lines read so far decide about `pdsh` prefixes (complete lines, and at the
    /// end of input the last one), skipping lines the reader rejects.
    fn pdsh_decision(&mut self, at_end: bool) -> Option<bool> {
        while self.decided_upto < self.buf.len() {
            let rest = &self.buf[self.decided_upto..];
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], self.decided_upto + i + 1),
                None if at_end => (rest, self.buf.len()),
                None => return None,
            };
            self.decided_upto = next;
            if line.len() > MAX_LINE_LEN {
                continue;
            }
            if let Some(text) = line_text(line) {
                let raw = text.strip_suffix('\r').unwrap_or(&text);
                if let Some(d) = pdsh_decision(raw) {
                    return Some(d);
                }
            }
        }
        None
    }

    /// Where to cut `buf`: the start of its last complete line that starts a device, if
    /// that is not the first line.
    fn cut_point(&mut self) -> Option<usize> {
        let last_nl = memchr::memrchr(b'\n', &self.buf)?;
        let mut line_end = last_nl;
        for nl in memchr::memrchr_iter(b'\n', &self.buf[..last_nl]) {
            if nl < self.checked {
                break;
            }
            if block_memo::is_device_start(&self.buf[nl + 1..line_end]) {
                return Some(nl + 1);
            }
            line_end = nl;
        }
        self.checked = last_nl;
        None
    }

    /// Takes `buf[..cut]` and the number of lines before it.
    fn take(&mut self, cut: usize) -> (Vec<u8>, usize) {
        let mut rest = self.spare.pop().unwrap_or_default();
        rest.clear();
        rest.reserve(self.piece_bytes.max(self.buf.len() - cut) + (64 << 10));
        rest.extend_from_slice(&self.buf[cut..]);
        self.buf.truncate(cut);
        let piece = std::mem::replace(&mut self.buf, rest);
        let before = self.lines_before;
        if self.count_lines {
            self.lines_before += memchr::memchr_iter(b'\n', &piece).count();
        }
        self.checked = 0;
        self.decided_upto = self.decided_upto.saturating_sub(cut);
        (piece, before)
    }
}

/// A piece a worker has parsed.
struct Done<T> {
    index: usize,
    piece: Piece<T>,
    /// Number of its last line.
    end_line: usize,
    /// Its text, for reuse.
    bytes: Vec<u8>,
}

/// Finished pieces waiting for their turn.
struct InOrder<T> {
    /// Index of the next piece to emit.
    next: usize,
    waiting: BTreeMap<usize, (Piece<T>, usize)>,
    /// Devices emitted.
    devices: usize,
    /// Last line of the last piece emitted.
    end_line: usize,
    /// Whether pieces number their lines from 0 ([`Lines::Relative`]).
    relative: bool,
}

impl<T> Default for InOrder<T> {
    fn default() -> Self {
        Self {
            next: 0,
            waiting: BTreeMap::new(),
            devices: 0,
            end_line: 0,
            relative: false,
        }
    }
}

impl<T> InOrder<T> {
    /// Waits for one finished piece and emits every piece whose turn has come. Returns
    /// `false` when a piece will not come (a worker panicked; the scope re-raises it).
    /// `workers` are watched while jobs may still be sent; empty once the job channel is
    /// closed.
    fn wait_one<E>(
        &mut self,
        rx: &mpsc::Receiver<Done<T>>,
        workers: &[std::thread::ScopedJoinHandle<'_, ()>],
        emit: &mut impl FnMut(Piece<T>) -> Result<(), E>,
        spare: &mut Vec<Vec<u8>>,
    ) -> Result<bool, E> {
        let done = loop {
            if workers.is_empty() {
                match rx.recv() {
                    Ok(done) => break done,
                    Err(_) => return Ok(false),
                }
            }
            match rx.recv_timeout(std::time::Duration::from_millis(50)) {
                Ok(done) => break done,
                // Workers end only when the job channel closes, which has not happened
                // while pieces are awaited: one that ended has panicked, and its piece
                // will never come (the others would wait for jobs forever).
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if workers.iter().any(|w| w.is_finished()) {
                        return Ok(false);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(false),
            }
        };
        if spare.len() < 4 {
            spare.push(done.bytes);
        }
        self.waiting.insert(done.index, (done.piece, done.end_line));
        while let Some((piece, end_line)) = self.waiting.remove(&self.next) {
            self.next += 1;
            self.emit_now(piece, end_line, emit)?;
        }
        Ok(true)
    }

    /// Emits `piece`, whose turn it is and whose last line is `end_line`.
    fn emit_now<E>(
        &mut self,
        mut piece: Piece<T>,
        end_line: usize,
        emit: &mut impl FnMut(Piece<T>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.devices += piece.devices;
        self.end_line = if self.relative {
            let offset = self.end_line;
            piece.errors.iter_mut().for_each(|e| e.line += offset);
            piece.diagnostics.iter_mut().for_each(|d| d.line += offset);
            offset + end_line
        } else {
            end_line
        };
        emit(piece)
    }
}

fn empty_piece<T>(init: &impl Fn() -> T) -> Piece<T> {
    Piece {
        output: init(),
        devices: 0,
        errors: Vec::new(),
        diagnostics: Vec::new(),
    }
}

/// Parses one piece; also returns the number of its last line.
fn parse_piece<T>(
    bytes: &[u8],
    lines_before: usize,
    pdsh: Option<bool>,
    fields_only: bool,
    init: &impl Fn() -> T,
    each: &impl Fn(&mut T, Device),
) -> (Piece<T>, usize) {
    let reader = if fields_only {
        LspciReader::fields_only(bytes)
    } else {
        LspciReader::new(bytes)
    };
    let mut reader = reader.piece(lines_before, pdsh);
    let mut piece = empty_piece(init);
    for item in reader.by_ref() {
        match item {
            Ok(dev) => {
                each(&mut piece.output, dev);
                piece.devices += 1;
            }
            Err(e) => piece.errors.push(e),
        }
    }
    piece.diagnostics = reader.take_diagnostics();
    (piece, reader.parser().line_no())
}
