//! [`JobSpec`] → TOML, for the copy the store keeps.

use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Table};

use super::JobSpec;
use crate::duration::format_duration;

fn str_array(items: &[String]) -> Array {
    items.iter().map(String::as_str).collect()
}

fn path_str(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

pub(super) fn write(spec: &JobSpec) -> String {
    let mut doc = DocumentMut::new();
    doc["name"] = value(spec.name.as_str());
    doc["command"] = value(str_array(&spec.command));
    if let Some(w) = &spec.workdir {
        doc["workdir"] = value(path_str(w));
    }
    doc["nodes"] = value(i64::from(spec.nodes));
    doc["procs_per_node"] = value(i64::from(spec.procs_per_node));
    doc["max_restarts"] = value(i64::from(spec.max_restarts));
    let mut backoff = InlineTable::new();
    backoff.insert(
        "initial",
        format_duration(spec.restart_backoff.initial).into(),
    );
    backoff.insert("max", format_duration(spec.restart_backoff.max).into());
    backoff.insert("factor", spec.restart_backoff.factor.into());
    doc["restart_backoff"] = value(backoff);
    doc["hang_timeout"] = value(
        spec.hang_timeout
            .map_or_else(|| "off".to_owned(), format_duration),
    );
    if let Some(r) = &spec.progress_regex {
        doc["progress_regex"] = value(r.as_str());
    }
    doc["stop_grace"] = value(format_duration(spec.stop_grace));
    if let Some(c) = &spec.checkpoint_dir {
        doc["checkpoint_dir"] = value(path_str(c));
    }
    doc["backend"] = value(spec.backend.as_str());
    doc["node_failure_limit"] = value(i64::from(spec.node_failure_limit));
    doc["spare_nodes"] = value(i64::from(spec.spare_nodes));

    // Tables last: TOML puts every key after a [section] header into that section.
    let mut env = Table::new();
    for (k, v) in &spec.env {
        env[k.as_str()] = value(v.as_str());
    }
    doc["env"] = Item::Table(env);
    let mut slurm = Table::new();
    if let Some(p) = &spec.slurm.partition {
        slurm["partition"] = value(p.as_str());
    }
    if let Some(t) = &spec.slurm.time_limit {
        slurm["time_limit"] = value(t.as_str());
    }
    slurm["drain_bad_nodes"] = value(spec.slurm.drain_bad_nodes);
    slurm["extra_args"] = value(str_array(&spec.slurm.extra_args));
    doc["slurm"] = Item::Table(slurm);
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::parse::is_known_top_key;
    use super::super::JobSpec;

    #[test]
    fn writes_only_keys_the_parser_knows_and_reads_back_equal() {
        let spec = JobSpec::default_for_command(vec!["python3".into(), "train.py".into()]);
        let text = spec.to_toml();
        let doc: toml_edit::DocumentMut = text.parse().expect("valid TOML");
        for (k, _) in doc.iter() {
            assert!(is_known_top_key(k), "{k}");
        }
        let back = JobSpec::from_toml(&text, Path::new("stored.toml")).expect("parses");
        assert_eq!(back, spec, "{text}");
    }
}
