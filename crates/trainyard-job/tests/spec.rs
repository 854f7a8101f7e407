//! `job.toml` parsing: every key, every error (with its position and hint), the writer's round
//! trip, and the shipped example.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::prelude::*;
use trainyard_job::{Backend, Backoff, JobSpec, SpecError, SpecErrorKind};

fn parse(text: &str) -> Result<JobSpec, SpecError> {
    JobSpec::from_toml(text, Path::new("jobs/job.toml"))
}

fn err(text: &str) -> SpecError {
    match parse(text) {
        Ok(spec) => panic!("accepted:\n{text}\n{spec:#?}"),
        Err(e) => e,
    }
}

#[test]
fn minimal_spec_takes_every_default_and_the_file_stem_as_name() {
    let spec =
        JobSpec::from_toml("command = [\"true\"]\n", Path::new("/x/bert-large.toml")).unwrap();
    let mut want = JobSpec::default_for_command(vec!["true".into()]);
    want.name = "bert-large".into();
    assert_eq!(spec, want);
    assert_eq!(spec.nodes, 1);
    assert_eq!(spec.max_restarts, 3);
    assert_eq!(spec.hang_timeout, Some(Duration::from_secs(1800)));
    assert_eq!(spec.backend, Backend::Local);
}

#[test]
fn every_key() {
    let text = r#"
name = "full"
command = ["python3", "train.py", "--steps", "10"]
workdir = "run"
nodes = 4
procs_per_node = 8
max_restarts = 5
restart_backoff = { initial = "500ms", max = "1m", factor = 1.5 }
hang_timeout = "1h30m"
progress_regex = 'step (\d+)'
stop_grace = "3s"
checkpoint_dir = "ckpt"
backend = "slurm"
node_failure_limit = 1
spare_nodes = 2

[env]
A = "1"
B = "two words"

[slurm]
partition = "gpu"
time_limit = "1-00:00:00"
drain_bad_nodes = true
extra_args = ["--exclusive"]
"#;
    let s = parse(text).unwrap();
    assert_eq!(s.name, "full");
    assert_eq!(s.command, ["python3", "train.py", "--steps", "10"]);
    assert_eq!(s.workdir, Some(PathBuf::from("run")));
    assert_eq!((s.nodes, s.procs_per_node, s.world_size()), (4, 8, 32));
    assert_eq!(s.max_restarts, 5);
    assert_eq!(
        s.restart_backoff,
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(60),
            factor: 1.5
        }
    );
    assert_eq!(s.hang_timeout, Some(Duration::from_secs(5400)));
    let re = s.progress_regex.as_ref().unwrap();
    assert_eq!(re.as_str(), r"step (\d+)");
    assert_eq!(re.match_line("step 42 loss 0.1"), Some(Some(42)));
    assert_eq!(re.match_line("loss 0.1"), None);
    assert_eq!(s.stop_grace, Duration::from_secs(3));
    assert_eq!(s.checkpoint_dir, Some(PathBuf::from("ckpt")));
    assert_eq!(s.backend, Backend::Slurm);
    assert_eq!((s.node_failure_limit, s.spare_nodes), (1, 2));
    assert_eq!(s.env.get("B").map(String::as_str), Some("two words"));
    assert_eq!(s.slurm.partition.as_deref(), Some("gpu"));
    assert_eq!(s.slurm.time_limit.as_deref(), Some("1-00:00:00"));
    assert!(s.slurm.drain_bad_nodes);
    assert_eq!(s.slurm.extra_args, ["--exclusive"]);
    assert_eq!(
        s.local_pool(),
        ["local-0", "local-1", "local-2", "local-3", "local-4", "local-5"]
    );
    let p = s.policy();
    assert_eq!(
        (
            p.nodes,
            p.procs_per_node,
            p.max_restarts,
            p.node_failure_limit
        ),
        (4, 8, 5, 1)
    );

    // The stored copy reads back equal.
    assert_eq!(parse(&s.to_toml()).unwrap(), s);
}

#[test]
fn backoff_forms() {
    let cases: &[(&str, Backoff)] = &[
        (
            r#"restart_backoff = "10s""#,
            Backoff {
                initial: Duration::from_secs(10),
                ..Backoff::default()
            },
        ),
        (
            // A single delay longer than the default cap raises the cap with it.
            r#"restart_backoff = "10m""#,
            Backoff {
                initial: Duration::from_secs(600),
                max: Duration::from_secs(600),
                factor: 2.0,
            },
        ),
        (
            r#"restart_backoff = { factor = 1 }"#,
            Backoff {
                factor: 1.0,
                ..Backoff::default()
            },
        ),
        (
            "[restart_backoff]\ninitial = \"1s\"\nmax = \"2s\"",
            Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(2),
                factor: 2.0,
            },
        ),
    ];
    for (line, want) in cases {
        let text = format!("command = [\"x\"]\n{line}\n");
        assert_eq!(parse(&text).unwrap().restart_backoff, *want, "{line}");
    }
}

#[test]
fn hang_timeout_off() {
    let s = parse("command = [\"x\"]\nhang_timeout = \"off\"\n").unwrap();
    assert_eq!(s.hang_timeout, None);
    assert_eq!(s.policy().hang_timeout, None);
    assert_eq!(parse(&s.to_toml()).unwrap(), s);
}

/// (spec text, kind, line, column, message contains, hint contains)
type Case = (
    &'static str,
    SpecErrorKind,
    usize,
    usize,
    &'static str,
    &'static str,
);

#[test]
fn errors_name_the_place_and_give_a_hint() {
    use SpecErrorKind::*;
    let cases: &[Case] = &[
        (
            "command = [\"x\"]\nhang_timout = \"5m\"\n",
            UnknownKey,
            2,
            1,
            "unknown key `hang_timout`",
            "did you mean `hang_timeout`?",
        ),
        (
            "command = [\"x\"]\nnode = 2\n",
            UnknownKey,
            2,
            1,
            "`node`",
            "`nodes`",
        ),
        (
            "command = [\"x\"]\nprocs-per-node = 2\n",
            UnknownKey,
            2,
            1,
            "`procs-per-node`",
            "`procs_per_node`",
        ),
        (
            "command = [\"x\"]\ncolour = 2\n",
            UnknownKey,
            2,
            1,
            "`colour`",
            "known keys: name, command",
        ),
        (
            "command = [\"x\"]\n[slurm]\npartiton = \"a\"\n",
            UnknownKey,
            3,
            1,
            "`slurm.partiton`",
            "`partition`",
        ),
        (
            "command = [\"x\"]\nrestart_backoff = { inital = \"1s\" }\n",
            UnknownKey,
            2,
            21,
            "`restart_backoff.inital`",
            "`initial`",
        ),
        (
            "command = [\"x\"]\nhang_timeout = 30\n",
            WrongType,
            2,
            16,
            "hang_timeout: expected a duration string, found integer",
            "did you mean \"30s\"?",
        ),
        (
            "command = [\"x\"]\nhang_timeout = \"30\"\n",
            BadValue,
            2,
            16,
            "`30` has no unit",
            "durations look like \"500ms\", \"30s\", \"10m\"",
        ),
        (
            "command = [\"x\"]\nhang_timeout = \"5 minutes\"\n",
            BadValue,
            2,
            16,
            "hang_timeout",
            "durations look like",
        ),
        (
            "command = [\"x\"]\nhang_timeout = \"0s\"\n",
            BadValue,
            2,
            16,
            "longer than 0",
            "\"off\"",
        ),
        (
            "command = [\"x\"]\nstop_grace = \"5sec\"\n",
            BadValue,
            2,
            14,
            "unknown unit `sec`",
            "durations look like",
        ),
        (
            "command = [\"x\"]\nnodes = 0\n",
            BadValue,
            2,
            9,
            "nodes: 0 is out of range",
            "use 1..=",
        ),
        (
            "command = [\"x\"]\nnodes = \"2\"\n",
            WrongType,
            2,
            9,
            "expected an integer, found string",
            "nodes = 2",
        ),
        (
            "command = [\"x\"]\nprocs_per_node = 5000\n",
            BadValue,
            2,
            18,
            "out of range",
            "1..=1024",
        ),
        (
            "command = [\"x\"]\nmax_restarts = -1\n",
            BadValue,
            2,
            16,
            "out of range",
            "",
        ),
        (
            "command = [\"x\"]\nnode_failure_limit = 0\n",
            BadValue,
            2,
            22,
            "out of range",
            "",
        ),
        (
            "command = \"python3 train.py\"\n",
            WrongType,
            1,
            11,
            "command: expected an array of strings, found string",
            "one element per argument",
        ),
        ("command = []\n", BadValue, 1, 11, "command: is empty", ""),
        (
            "command = [\"\"]\n",
            BadValue,
            1,
            11,
            "program name is empty",
            "",
        ),
        (
            "command = [\"python3\", \"--steps\", 200]\n",
            WrongType,
            1,
            34,
            "command[2]: expected a string, found integer",
            "quote every element",
        ),
        (
            "name = \"x\"\n",
            Missing,
            1,
            1,
            "missing key `command`",
            "command = [",
        ),
        (
            "command = [\"x\"]\nname = \"my job\"\n",
            BadValue,
            2,
            8,
            "not a valid job name",
            "letters, digits",
        ),
        (
            "command = [\"x\"]\nenv = \"A=1\"\n",
            WrongType,
            2,
            7,
            "env: expected a table",
            "[env]",
        ),
        (
            "command = [\"x\"]\n[env]\nTHREADS = 4\n",
            WrongType,
            3,
            11,
            "env.THREADS: expected a string",
            "quote it",
        ),
        (
            "command = [\"x\"]\nprogress_regex = 'step (\\d+'\n",
            BadValue,
            2,
            18,
            "not a valid regular expression",
            "first group is the step",
        ),
        (
            "command = [\"x\"]\nbackend = \"k8s\"\n",
            BadValue,
            2,
            11,
            "unknown backend \"k8s\"",
            "\"local\" or \"slurm\"",
        ),
        (
            "command = [\"x\"]\nrestart_backoff = 5\n",
            WrongType,
            2,
            19,
            "expected a duration or a table",
            "initial",
        ),
        (
            "command = [\"x\"]\nrestart_backoff = { factor = 0.5 }\n",
            BadValue,
            2,
            30,
            "factor: 0.5 is out of range",
            "1 (fixed delay)",
        ),
        (
            "command = [\"x\"]\nrestart_backoff = { initial = \"1m\", max = \"1s\" }\n",
            BadValue,
            2,
            43,
            "cap (1s) is shorter than the first delay (1m)",
            "",
        ),
        (
            "command = [\"x\"]\n[slurm]\ndrain_bad_nodes = \"yes\"\n",
            WrongType,
            3,
            19,
            "expected true or false",
            "",
        ),
        (
            "command = [\"x\"]\nslurm = 1\n",
            WrongType,
            2,
            9,
            "slurm: expected a table",
            "",
        ),
        ("command = [\"x\"\n", Syntax, 1, 15, "not valid TOML", ""),
        (
            "command = [\"x\"]\ncommand = [\"y\"]\n",
            Syntax,
            2,
            1,
            "not valid TOML",
            "",
        ),
        (
            "\u{feff}command = [\"x\"]\nnodes = true\n",
            WrongType,
            2,
            9,
            "found boolean",
            "",
        ),
        (
            "command = [\"é\"]\nnodes = \"ü\"\n",
            WrongType,
            2,
            9,
            "nodes",
            "",
        ),
    ];
    for (text, kind, line, column, message, hint) in cases {
        let e = err(text);
        let ctx = format!("{text:?} -> {e}");
        assert_eq!(e.kind, *kind, "{ctx}");
        assert_eq!((e.line, e.column), (*line, *column), "{ctx}");
        assert!(e.message.contains(message), "{ctx}");
        assert!(e.hint.as_deref().unwrap_or("").contains(hint), "{ctx}");
        assert_eq!(e.path, Path::new("jobs/job.toml"));
    }
}

#[test]
fn error_display_names_file_line_and_hint() {
    let e = err("command = [\"x\"]\nhang_timout = \"5m\"\n");
    assert_eq!(
        e.to_string(),
        "jobs/job.toml:2:1: unknown key `hang_timout`\n  hint: did you mean `hang_timeout`?"
    );
}

#[test]
fn missing_name_with_an_unusable_file_stem() {
    let e = JobSpec::from_toml("command = [\"x\"]\n", Path::new("my job.toml")).unwrap_err();
    assert_eq!(e.kind, SpecErrorKind::Missing);
    assert!(e.message.contains("missing key `name`"), "{e}");
}

#[test]
fn resolve_paths() {
    let mut s = parse("command = [\"x\"]\nworkdir = \"..\"\ncheckpoint_dir = \"ck\"\n").unwrap();
    s.resolve_paths(Path::new("/repo/examples"));
    assert_eq!(s.workdir, Some(PathBuf::from("/repo/examples/..")));
    assert_eq!(
        s.checkpoint_dir,
        Some(PathBuf::from("/repo/examples/../ck"))
    );
    let mut s = parse("command = [\"x\"]\ncheckpoint_dir = \"/abs\"\n").unwrap();
    s.resolve_paths(Path::new("/repo"));
    assert_eq!(s.workdir, Some(PathBuf::from("/repo")));
    assert_eq!(s.checkpoint_dir, Some(PathBuf::from("/abs")));
}

#[test]
fn the_shipped_example_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/job.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let s = JobSpec::from_toml(&text, &path).unwrap();
    assert_eq!(s.name, "sgd-example");
    assert_eq!(s.command[..2], ["python3", "examples/train.py"]);
    assert_eq!((s.nodes, s.procs_per_node, s.spare_nodes), (2, 2, 1));
    assert_eq!(
        s.progress_regex
            .as_ref()
            .unwrap()
            .match_line("step 57 loss 0.25"),
        Some(Some(57))
    );
    assert_eq!(JobSpec::from_toml(&s.to_toml(), &path).unwrap(), s);
}

fn arb_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..100_000).prop_map(Duration::from_millis),
        (0u64..200_000).prop_map(Duration::from_secs),
    ]
}

fn arb_spec() -> impl Strategy<Value = JobSpec> {
    let strings = proptest::collection::vec("[ -~é\"'\\\\]{0,12}", 0..4);
    (
        "[A-Za-z0-9._-]{1,20}",
        ("[a-z/]{1,10}", strings.clone()),
        proptest::collection::btree_map("[A-Z_][A-Z0-9_]{0,8}", "[ -~]{0,10}", 0..4),
        (1u32..100, 1u32..16, 0u32..1000, 1u32..5, 0u32..10),
        (
            arb_duration(),
            arb_duration(),
            1u32..8,
            proptest::option::of(arb_duration().prop_filter("nonzero", |d| !d.is_zero())),
            arb_duration(),
        ),
        (
            proptest::option::of("[a-z/]{1,10}"),
            proptest::option::of("[a-z/]{1,10}"),
            any::<bool>(),
            strings,
            proptest::option::of(Just(r"^step (\d+)")),
        ),
    )
        .prop_map(|(name, (prog, args), env, ints, durs, misc)| {
            let mut s = JobSpec::default_for_command([vec![prog], args].concat());
            s.name = name;
            s.env = env;
            (
                s.nodes,
                s.procs_per_node,
                s.max_restarts,
                s.node_failure_limit,
                s.spare_nodes,
            ) = ints;
            let (a, b, factor, hang, grace) = durs;
            s.restart_backoff = Backoff {
                initial: a.min(b),
                max: a.max(b),
                factor: f64::from(factor),
            };
            s.hang_timeout = hang;
            s.stop_grace = grace;
            let (workdir, ckpt, drain, extra, regex) = misc;
            s.workdir = workdir.map(PathBuf::from);
            s.checkpoint_dir = ckpt.map(PathBuf::from);
            s.slurm.drain_bad_nodes = drain;
            s.slurm.extra_args = extra;
            s.progress_regex = regex.map(|r| trainyard_job::ProgressRegex::new(r).unwrap());
            s
        })
}

proptest! {
    #[test]
    fn to_toml_round_trips(spec in arb_spec()) {
        let text = spec.to_toml();
        let back = parse(&text);
        prop_assert_eq!(back.as_ref().ok(), Some(&spec), "{}\n{:?}", text, back);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn mutated_valid_specs_never_panic(cut in 0usize..400, junk in "[\\[\\]{}=\"'a-z0-9 \n.,-]{0,8}") {
        let base = JobSpec::default_for_command(vec!["x".into()]).to_toml();
        let mut cut = cut.min(base.len());
        while !base.is_char_boundary(cut) { cut -= 1; }
        let text = format!("{}{}{}", &base[..cut], junk, &base[cut..]);
        if let Err(e) = parse(&text) {
            prop_assert!(e.line >= 1 && e.column >= 1);
            prop_assert!(e.line <= text.lines().count() + 1, "{} past the end of\n{}", e, text);
        }
    }
}
