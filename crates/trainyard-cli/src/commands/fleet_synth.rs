//! `trainyard fleet synth`: generate a test fleet from one real server (see
//! docs/fleet-synth.md). The library plans the fleet; this writes it, one file per node in
//! parallel, or one pdsh stream.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use trainyard_fleet::synth::{FaultCounts, Synth, SynthOptions};

use crate::args::SynthArgs;
use crate::exit::Exit;

/// Plans the fleet and writes the nodes and the truth.
pub fn run(args: &SynthArgs) -> anyhow::Result<Exit> {
    let text = fs::read_to_string(&args.from)
        .with_context(|| format!("reading template {}", args.from.display()))?;
    let faults = match &args.faults {
        Some(spec) => FaultCounts::parse(spec)?,
        None => FaultCounts::default(),
    };
    let name = args.from.file_name().map_or_else(
        || args.from.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let opts = SynthOptions {
        nodes: args.nodes,
        seed: args.seed,
        faults,
        prefix: args.prefix.clone(),
    };
    let synth = Synth::new(&name, &text, &opts)?;
    for s in &synth.truth().skipped {
        tracing::warn!(kind = %s.kind, reason = %s.reason, "fault not injected");
    }

    if let Some(dir) = &args.out {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_folder(&synth, dir)?;
    }
    if let Some(path) = &args.pdsh {
        if path == Path::new("-") {
            let stdout = io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            synth.write_pdsh(&mut w, args.interleave)?;
            w.flush()?;
        } else {
            let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            synth.write_pdsh(&mut w, args.interleave)?;
            w.flush()
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if let Some(path) = &args.truth {
        fs::write(path, synth.truth().to_json() + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    tracing::info!(
        nodes = synth.len(),
        faults = synth.truth().faults.len(),
        "fleet written"
    );
    Ok(Exit::Clean)
}

/// One file per node, nodes split over the machine's cores (each node is independent and
/// seeded on its own, so the bytes do not depend on the split).
fn write_folder(synth: &Synth, dir: &Path) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(synth.len().max(1));
    let ext = synth.format().extension();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> anyhow::Result<()> {
                    let mut buf = Vec::new();
                    for i in (t..synth.len()).step_by(threads) {
                        let Some(name) = synth.node_name(i) else {
                            continue;
                        };
                        buf.clear();
                        synth.write_node(i, &mut buf)?;
                        let path = dir.join(format!("{name}.{ext}"));
                        fs::write(&path, &buf)
                            .with_context(|| format!("writing {}", path.display()))?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| anyhow::anyhow!("a writer thread panicked"))?
        })
    })
}
