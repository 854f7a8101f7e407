//! `trainyard pci parse` and `trainyard pci decode`.

use std::io::{BufRead, Read, Write};

use anyhow::Context;
use owo_colors::OwoColorize;
use serde::Serialize;
use trainyard_pci::text::{
    parallel, read_limited_line, text_lines_at_start, Diagnostic, DiagnosticKind,
};
use trainyard_pci::{decode_config, Device, HexDumpReader, PciAddress};

use crate::args::{DecodeArgs, Format, PciArgs, PciCommand};
use crate::exit::Exit;
use crate::input::{self, Input};

/// Longest hex dump line accepted (a row is 53 bytes; lspci's text lines stay under 1 KiB).
const MAX_HEX_LINE: usize = 4096;

/// Runs a `pci` subcommand.
pub fn run(cmd: PciCommand) -> anyhow::Result<Exit> {
    match cmd {
        PciCommand::Parse(args) => parse(&args),
        PciCommand::Decode(args) => decode(&args),
    }
}

/// A problem with one part of the input, reported without stopping the rest.
#[derive(Debug, Serialize)]
struct InputError {
    /// 1-based line, when the problem has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    /// What is wrong.
    message: String,
}

/// A line that belongs to no device.
#[derive(Debug, Serialize)]
struct SkippedLine {
    line: usize,
    kind: &'static str,
    text: String,
}

/// Writes devices in the chosen format as they arrive.
struct Printer<W: Write> {
    out: W,
    format: Format,
    count: usize,
    color: bool,
    /// Reused per device: its formatted output.
    lines: Vec<u8>,
}

impl<W: Write> Printer<W> {
    fn begin(out: W, format: Format, input_name: &str, color: bool) -> anyhow::Result<Self> {
        let mut p = Self {
            out,
            format,
            count: 0,
            color,
            lines: Vec::new(),
        };
        if format == Format::Json {
            write!(
                p.out,
                "{{\"input\":{},\"devices\":[",
                serde_json::to_string(input_name)?
            )?;
        }
        Ok(p)
    }

    fn device(&mut self, dev: &Device) -> anyhow::Result<()> {
        self.lines.clear();
        format_device(self.format, self.color, dev, &mut self.lines);
        let mut lines = std::mem::take(&mut self.lines);
        let written = self.devices(&lines, 1);
        lines.clear();
        self.lines = lines;
        written
    }

    /// Writes `count` devices formatted by [`format_device`] into `bytes`.
    fn devices(&mut self, bytes: &[u8], count: usize) -> anyhow::Result<()> {
        // Every JSON device starts with a comma; the first of the list must not.
        let bytes = match bytes.first() {
            Some(b',') if self.format == Format::Json && self.count == 0 => &bytes[1..],
            _ => bytes,
        };
        self.out.write_all(bytes)?;
        self.count += count;
        Ok(())
    }

    fn end(mut self, errors: &[InputError], skipped: &[SkippedLine]) -> anyhow::Result<()> {
        if self.format == Format::Json {
            write!(
                self.out,
                "],\"errors\":{},\"skipped_lines\":{}}}",
                serde_json::to_string(errors)?,
                serde_json::to_string(skipped)?
            )?;
            self.out.write_all(b"\n")?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// Appends `dev` in `format` to `out`: `--format fields` lines, the human view (its first
/// line bold with `color`), or the device's JSON after a comma. A pure function of the
/// device, so parser threads can format their own devices.
fn format_device(format: Format, color: bool, dev: &Device, out: &mut Vec<u8>) {
    match format {
        Format::Human => {
            let mut text = String::with_capacity(2048);
            trainyard_pci::render::render_device(dev, &mut text);
            let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
            // Writing into a Vec cannot fail.
            let _ = if color {
                writeln!(out, "{}", first.bold())
            } else {
                writeln!(out, "{first}")
            };
            let _ = writeln!(out, "{rest}");
        }
        Format::Fields => {
            // The `[HOST\t]ADDRESS\t` prefix once per device; formatting the address and
            // going through `write!` per setting was a fifth of `parse --format fields`.
            let mut prefix = [0u8; 64];
            let mut cursor = std::io::Cursor::new(&mut prefix[..]);
            let short = match &dev.host {
                None => write!(cursor, "{}\t", dev.address).is_ok(),
                Some(_) => false,
            };
            if short {
                let len = cursor.position() as usize;
                dev.fields.write_lines(&prefix[..len], out);
            } else {
                let mut long = Vec::with_capacity(64);
                if let Some(h) = &dev.host {
                    long.extend_from_slice(h.as_bytes());
                    long.push(b'\t');
                }
                let _ = write!(long, "{}\t", dev.address);
                dev.fields.write_lines(&long, out);
            }
        }
        Format::Json => {
            out.push(b',');
            // Serializing a Device into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, dev);
        }
    }
}

fn stdout_printer(format: Format, name: &str) -> anyhow::Result<Printer<impl Write>> {
    let stdout = std::io::stdout().lock();
    // Only the human format colours anything. For fields and JSON into a pipe or file there
    // is nothing to strip, and the stripping adapter scanned every output byte (a tenth of
    // `pci parse --format fields` time); a terminal still gets the adapter.
    let (stream, strip) = if format != Format::Human && !std::io::IsTerminal::is_terminal(&stdout) {
        (anstream::AutoStream::always_ansi(stdout), false)
    } else if anstream::AutoStream::choice(&stdout) == anstream::ColorChoice::Never {
        // Where the adapter would strip (human output into a pipe or file), strip only what
        // needs it: see `StripUnlessPlain`.
        (anstream::AutoStream::always_ansi(stdout), true)
    } else {
        (anstream::AutoStream::auto(stdout), false)
    };
    let color = !strip && !matches!(stream.current_choice(), anstream::ColorChoice::Never);
    let stream = StripUnlessPlain {
        inner: stream,
        strip: strip.then(anstream::adapter::StripBytes::new),
        stripping: false,
    };
    Printer::begin(
        std::io::BufWriter::with_capacity(1 << 16, stream),
        format,
        name,
        color,
    )
}

/// Strips escape sequences and control characters from what it writes, as
/// `anstream::AutoStream` does for output that cannot show colour, but passes buffers of
/// plain text (printable ASCII, tabs, newlines: all of a decoded device's human view)
/// through unscanned by the escape parser, which cost a third of `pci decode`'s human
/// format. Once a buffer needed stripping, everything after it is stripped too, so an
/// escape sequence cut between buffers is handled exactly as the adapter would.
struct StripUnlessPlain<W: Write> {
    inner: W,
    /// The stripper's state, when this stream strips at all.
    strip: Option<anstream::adapter::StripBytes>,
    /// Whether a buffer needed stripping (from then on every buffer is stripped).
    stripping: bool,
}

/// Bytes that stripping keeps as they are in any state it can be in between plain buffers.
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = true;
        b += 1;
    }
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

impl<W: Write> Write for StripUnlessPlain<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let Some(strip) = &mut self.strip else {
            return self.inner.write_all(buf);
        };
        if !self.stripping && buf.iter().all(|&b| PLAIN[usize::from(b)]) {
            return self.inner.write_all(buf);
        }
        self.stripping = true;
        for printable in strip.strip_next(buf) {
            self.inner.write_all(printable)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Prints problems to stderr as `FILE:LINE: message` and returns whether any is an error.
fn report(name: &str, errors: &[InputError], skipped: &[SkippedLine]) {
    // Enough to find the problem; a binary file fed to `parse` would otherwise print an
    // error for every line. JSON output carries them all.
    const SHOWN: usize = 20;
    let mut err = anstream::stderr();
    for e in errors.iter().take(SHOWN) {
        let _ = match e.line {
            Some(l) => writeln!(err, "{}: {name}:{l}: {}", "error".red().bold(), e.message),
            None => writeln!(err, "{}: {name}: {}", "error".red().bold(), e.message),
        };
    }
    if errors.len() > SHOWN {
        let _ = writeln!(
            err,
            "{}: {name}: {} more errors not shown (all are in --json output)",
            "error".red().bold(),
            errors.len() - SHOWN
        );
    }
    for s in skipped.iter().take(SHOWN) {
        let _ = writeln!(
            err,
            "{}: {name}:{}: {} line skipped: {}",
            "warning".yellow().bold(),
            s.line,
            s.kind,
            s.text
        );
    }
    if skipped.len() > SHOWN {
        let _ = writeln!(
            err,
            "{}: {name}: {} more skipped lines not shown",
            "warning".yellow().bold(),
            skipped.len() - SHOWN
        );
    }
}

fn skipped_line(d: Diagnostic) -> SkippedLine {
    let kind = match d.kind {
        DiagnosticKind::LspciMessage => "lspci message",
        DiagnosticKind::TerminalNoise => "terminal noise",
        DiagnosticKind::BadHexRow(_) => "bad hex row",
        _ => "unexplained",
    };
    let text = match d.kind {
        DiagnosticKind::BadHexRow(reason) => format!("{reason}: {}", d.text),
        _ => d.text,
    };
    SkippedLine {
        line: d.line,
        kind,
        text,
    }
}

fn parse(args: &PciArgs) -> anyhow::Result<Exit> {
    let Input { name, reader, .. } = input::open(args.input.as_deref())?;
    let format = args.format();
    let mut printer = stdout_printer(format, &name)?;
    let color = printer.color;
    let mut errors = Vec::new();
    let mut diagnostics = Vec::new();
    let opts = parallel::Options {
        // `--format fields` prints settings only: the parser need not keep device lines.
        fields_only: format == Format::Fields,
        ..parallel::Options::default()
    };
    // Output buffers go back to the workers: fresh multi-megabyte buffers per piece cost
    // page faults, which contend between threads.
    let spare: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::default();
    let new_buffer = || {
        spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_else(|| Vec::with_capacity(opts.piece_bytes * 3))
    };
    let mut on_piece = |mut piece: parallel::Piece<Vec<u8>>| -> anyhow::Result<()> {
        printer.devices(&piece.output, piece.devices)?;
        piece.output.clear();
        if let Ok(mut s) = spare.lock() {
            if s.len() < 8 {
                s.push(std::mem::take(&mut piece.output));
            }
        }
        errors.extend(piece.errors.into_iter().map(|e| InputError {
            line: Some(e.line),
            message: e.kind.to_string(),
        }));
        diagnostics.extend(piece.diagnostics);
        Ok(())
    };
    let render = |dev: &Device, out: &mut Vec<u8>| format_device(format, color, dev, out);
    if format != Format::Json {
        // Settings lines and the human view do not show where a device stands (its line
        // number, which JSON has), so the parser may reuse the output of a device block it
        // has seen before.
        parallel::parse_parallel_rendered(reader, opts, new_buffer, render, &mut on_piece)?;
    } else {
        let each = |out: &mut Vec<u8>, dev: Device| render(&dev, out);
        parallel::parse_parallel(reader, opts, new_buffer, each, &mut on_piece)?;
    }
    let bad_hex = diagnostics
        .iter()
        .any(|d| matches!(d.kind, DiagnosticKind::BadHexRow(_)));
    let skipped: Vec<SkippedLine> = diagnostics.into_iter().map(skipped_line).collect();
    printer.end(&errors, &skipped)?;
    report(&name, &errors, &skipped);
    Ok(if errors.is_empty() && !bad_hex {
        Exit::Clean
    } else {
        Exit::BadInput
    })
}

fn decode(args: &DecodeArgs) -> anyhow::Result<Exit> {
    let Input {
        name,
        path,
        mut reader,
    } = input::open(args.common.input.as_deref())?;
    let mut printer = stdout_printer(args.common.format(), &name)?;
    let mut errors = Vec::new();

    let head = reader
        .fill_buf()
        .with_context(|| format!("cannot read {name}"))?;
    // Text dumps are ASCII; a raw config file starts with a vendor id and holds NULs or
    // bytes that are not UTF-8 (a cut multi-byte character at the end of the peek is fine).
    let peek = &head[..head.len().min(512)];
    let binary =
        peek.contains(&0) || std::str::from_utf8(peek).is_err_and(|e| e.error_len().is_some());
    if binary {
        let address = binary_address(args.address.as_deref(), path.as_deref())?;
        let mut bytes = Vec::with_capacity(4096);
        std::io::Read::take(&mut reader, 4097)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {name}"))?;
        if !matches!(bytes.len(), 64 | 256 | 4096) {
            errors.push(InputError {
                line: None,
                message: format!(
                    "binary input of {}{} bytes is not config space (sysfs `config` files are 64, 256 or 4096 bytes)",
                    if bytes.len() > 4096 { "more than " } else { "" },
                    bytes.len().min(4096)
                ),
            });
        } else {
            match decode_config(address, &bytes) {
                Ok(dev) => printer.device(&dev)?,
                Err(e) => errors.push(InputError {
                    line: None,
                    message: e.to_string(),
                }),
            }
        }
    } else {
        let mut hex = HexDumpReader::new();
        let mut buf = Vec::new();
        let mut line_no = 0usize;
        let on_dump = |r: Result<trainyard_pci::HexDump, trainyard_pci::HexDumpError>,
                       printer: &mut Printer<_>,
                       errors: &mut Vec<InputError>|
         -> anyhow::Result<()> {
            match r {
                Ok(dump) => match decode_config(dump.address, &dump.bytes) {
                    Ok(mut dev) => {
                        dev.host = dump.host;
                        dev.line = Some(dump.line);
                        printer.device(&dev)?;
                    }
                    Err(e) => errors.push(InputError {
                        line: Some(dump.line),
                        message: format!("{}: {e}", dump.address),
                    }),
                },
                Err(e) => errors.push(InputError {
                    line: e.line(),
                    message: e
                        .to_string()
                        .split_once(": ")
                        .filter(|_| e.line().is_some())
                        .map_or_else(|| e.to_string(), |(_, m)| m.to_string()),
                }),
            }
            Ok(())
        };
        loop {
            // Fast path: the buffer's complete text lines, validated at once and read in
            // place. A line that is long, not text or cut takes the general path below.
            let available = reader
                .fill_buf()
                .with_context(|| format!("cannot read {name}"))?;
            if let Some(text) = text_lines_at_start(available) {
                // Every line of `text` ends with a newline, the last one's just past its end.
                let mut consumed = 0;
                while consumed <= text.len() {
                    // Rows of the device being read, many at a time (most of a dump).
                    let (rows, bytes) = hex.push_rows(&text[consumed..]);
                    line_no += rows;
                    consumed += bytes;
                    if consumed > text.len() {
                        break;
                    }
                    let end = memchr::memchr(b'\n', &text.as_bytes()[consumed..])
                        .map_or(text.len(), |i| consumed + i);
                    let Some(line) = text.get(consumed..end).filter(|l| l.len() <= MAX_HEX_LINE)
                    else {
                        break;
                    };
                    line_no += 1;
                    consumed = end + 1;
                    if let Some(r) = hex.push_line(line) {
                        on_dump(r, &mut printer, &mut errors)?;
                    }
                }
                if consumed > 0 {
                    reader.consume(consumed);
                    continue;
                }
            }
            let Some((len, newline)) = read_limited_line(&mut reader, &mut buf, MAX_HEX_LINE)
                .with_context(|| format!("cannot read {name}"))?
            else {
                break;
            };
            line_no += 1;
            if len > MAX_HEX_LINE {
                errors.push(InputError {
                    line: Some(line_no),
                    message: format!("line is {len} bytes long; not an lspci hex dump"),
                });
                hex.push_line("");
                continue;
            }
            let Ok(text) = std::str::from_utf8(&buf) else {
                errors.push(InputError {
                    line: Some(line_no),
                    message: "binary data in a text hex dump".into(),
                });
                hex.push_line("");
                continue;
            };
            if !newline && !text.trim().is_empty() {
                errors.push(InputError {
                    line: Some(line_no),
                    message: "input ends in the middle of a line: the dump looks truncated".into(),
                });
            }
            if let Some(r) = hex.push_line(text) {
                on_dump(r, &mut printer, &mut errors)?;
            }
        }
        if let Some(r) = hex.finish() {
            on_dump(r, &mut printer, &mut errors)?;
        }
        if !hex.saw_rows() {
            errors.push(InputError {
                line: None,
                message: trainyard_pci::HexDumpError::Empty.to_string(),
            });
        }
    }
    printer.end(&errors, &[])?;
    report(&name, &errors, &[]);
    Ok(if errors.is_empty() {
        Exit::Clean
    } else {
        Exit::BadInput
    })
}

/// The address of a raw config file: `--address`, else a path component that is one
/// (`/sys/bus/pci/devices/0000:17:00.0/config`), else `0000:00:00.0` with a warning.
fn binary_address(
    flag: Option<&str>,
    path: Option<&std::path::Path>,
) -> anyhow::Result<PciAddress> {
    if let Some(a) = flag {
        return a.parse().with_context(|| format!("--address {a}"));
    }
    if let Some(p) = path {
        let canonical = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        for c in canonical.components().rev() {
            if let Some(a) = c
                .as_os_str()
                .to_str()
                .and_then(|s| s.parse::<PciAddress>().ok())
            {
                return Ok(a);
            }
        }
    }
    tracing::warn!("no device address in the path and no --address: reporting 0000:00:00.0");
    Ok(PciAddress::default())
}
