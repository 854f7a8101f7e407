//! Command calls fail clearly and in bounded time (fake Slurm programs in a temp dir).
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use trainyard_slurm::{SlurmCmd, SlurmError};

fn fake_bin(scripts: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "trainyard-slurm-fake-{}-{}",
        std::process::id(),
        scripts.first().map(|s| s.0).unwrap_or("none")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, body) in scripts {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    dir
}

#[tokio::test]
async fn no_sbatch_is_a_clear_error() {
    let cmd = SlurmCmd {
        bin_dir: Some(fake_bin(&[])),
        timeout: Duration::from_secs(5),
    };
    let e = cmd
        .sbatch(&["-N1"], "#!/bin/sh\ntrue\n")
        .await
        .expect_err("not installed");
    assert!(matches!(e, SlurmError::NotInstalled { .. }), "{e}");
    assert!(e.to_string().contains("`sbatch` not found"), "{e}");
}

#[tokio::test]
async fn controller_down_is_recognised() {
    let dir = fake_bin(&[(
        "sbatch",
        "echo 'sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)' >&2; exit 1",
    )]);
    let cmd = SlurmCmd {
        bin_dir: Some(dir),
        timeout: Duration::from_secs(5),
    };
    let e = cmd.sbatch(&[], "").await.expect_err("down");
    assert!(matches!(e, SlurmError::ControllerDown { .. }), "{e}");
    assert!(e.to_string().contains("slurmctld"), "{e}");
}

#[tokio::test]
async fn a_hanging_client_is_killed_at_the_timeout() {
    let dir = fake_bin(&[("squeue", "exec sleep 30")]);
    let cmd = SlurmCmd {
        bin_dir: Some(dir),
        timeout: Duration::from_millis(300),
    };
    let t = Instant::now();
    let e = cmd.squeue_job(1).await.expect_err("timeout");
    assert!(matches!(e, SlurmError::Timeout { .. }), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn sbatch_job_id_is_read() {
    let dir = fake_bin(&[("sbatch", "cat >/dev/null; echo '42;cluster'")]);
    let cmd = SlurmCmd {
        bin_dir: Some(dir),
        timeout: Duration::from_secs(5),
    };
    assert_eq!(cmd.sbatch(&[], "script").await.expect("id"), 42);
}
