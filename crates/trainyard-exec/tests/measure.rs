//! Measurements, not assertions: launch time for 1, 8 and 64 ranks, and the time from a rank's
//! death to all ranks stopped and to the next attempt's ranks started.
//!
//! `cargo test --release -p trainyard-exec --test measure -- --ignored --nocapture --test-threads 1`
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use trainyard_exec::{EventSink, LiveView, OutputLine, RankStart, SinkError};
use trainyard_job::{Backoff, ExitStatus, Millis};

fn unix_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Wall-clock nanoseconds of each fact, comparable with the guards' exit files.
#[derive(Debug, Default)]
struct Times {
    started: Vec<(u32, u32, u128)>,
    ended: Vec<(u32, u128)>,
}

#[derive(Debug, Default, Clone)]
struct Timer(Arc<Mutex<Times>>);

impl EventSink for Timer {
    fn rank_started(&mut self, rank: &RankStart<'_>, _at: Millis) -> Result<(), SinkError> {
        self.0
            .lock()
            .unwrap()
            .started
            .push((rank.attempt, rank.rank, unix_nanos()));
        Ok(())
    }
    fn rank_exited(&mut self, _: u32, _: u32, _: ExitStatus, _: Millis) -> Result<(), SinkError> {
        Ok(())
    }
    fn attempt_ended(&mut self, attempt: u32, _at: Millis) -> Result<(), SinkError> {
        self.0.lock().unwrap().ended.push((attempt, unix_nanos()));
        Ok(())
    }
}

fn ms(nanos: u128) -> f64 {
    nanos as f64 / 1e6
}

#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn launch_time_for_1_8_64_ranks() {
    for (nodes, ppn) in [(1u32, 1u32), (2, 4), (8, 8)] {
        let world = nodes * ppn;
        for (label, command) in [
            ("sh", vec!["sh", "-c", "echo up; exec sleep 1000"]),
            (
                "python3",
                vec![
                    "python3",
                    "-c",
                    "print('up', flush=True); import time; time.sleep(1000)",
                ],
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let timer = Timer::default();
            let up: Arc<Mutex<BTreeSet<u32>>> = Arc::default();
            let all_up = Arc::new(Mutex::new(None::<u128>));
            let view: Arc<dyn LiveView> = {
                let (up, all_up) = (Arc::clone(&up), Arc::clone(&all_up));
                Arc::new(move |line: &OutputLine<'_>| {
                    let mut up = up.lock().unwrap();
                    up.insert(line.rank);
                    if up.len() == world as usize {
                        all_up.lock().unwrap().get_or_insert_with(unix_nanos);
                    }
                })
            };
            let spec = spec(&command, nodes, ppn);
            let driver = trainyard_exec::LocalDriver::new(
                spec,
                "m",
                dir.path().join("logs"),
                timer.clone(),
                Some(view),
            )
            .guard(guard())
            .handle_signals(false);
            let cancel = driver.cancel_handle();
            let t0 = unix_nanos();
            let runner = std::thread::spawn(move || driver.run());
            assert!(wait_for(Duration::from_secs(60), || all_up
                .lock()
                .unwrap()
                .is_some()));
            cancel.cancel("measured");
            runner.join().unwrap().unwrap();
            let spawned = timer
                .0
                .lock()
                .unwrap()
                .started
                .iter()
                .map(|s| s.2)
                .max()
                .unwrap();
            let up_at = all_up.lock().unwrap().unwrap();
            println!(
                "launch {world:>2} ranks ({label:>7}): all spawned {:>7.1} ms, all printing {:>7.1} ms",
                ms(spawned - t0),
                ms(up_at - t0)
            );
        }
    }
}

#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn death_to_stopped_and_to_restarted() {
    for (nodes, ppn) in [(1u32, 8u32), (8, 8)] {
        let world = nodes * ppn;
        let dir = tempfile::tempdir().unwrap();
        let timer = Timer::default();
        let script = "if [ \"$RANK\" = 5 ] && [ \"$TRAINYARD_ATTEMPT\" = 1 ]; then sleep 1; exit 1; fi; exec sleep 1000";
        let mut spec = spec(&["sh", "-c", script], nodes, ppn);
        spec.max_restarts = 1;
        spec.restart_backoff = Backoff {
            initial: Duration::ZERO,
            max: Duration::ZERO,
            factor: 1.0,
        };
        let driver = trainyard_exec::LocalDriver::new(
            spec,
            "m",
            dir.path().join("logs"),
            timer.clone(),
            None,
        )
        .guard(guard())
        .handle_signals(false);
        let cancel = driver.cancel_handle();
        let runner = std::thread::spawn(move || driver.run());
        let restarted = || {
            timer
                .0
                .lock()
                .unwrap()
                .started
                .iter()
                .filter(|s| s.0 == 2)
                .count()
                == world as usize
        };
        assert!(wait_for(Duration::from_secs(60), restarted));
        cancel.cancel("measured");
        runner.join().unwrap().unwrap();
        let died: u128 = read_exit_time(&dir.path().join("logs/attempt-1/rank-5.exit"));
        let times = timer.0.lock().unwrap();
        let stopped = times.ended.iter().find(|e| e.0 == 1).unwrap().1;
        let restarted = times
            .started
            .iter()
            .filter(|s| s.0 == 2)
            .map(|s| s.2)
            .max()
            .unwrap();
        println!(
            "{world:>2} ranks: death -> all stopped {:>6.1} ms, death -> new attempt's ranks started {:>6.1} ms",
            ms(stopped - died),
            ms(restarted - died)
        );
    }
}

fn read_exit_time(path: &Path) -> u128 {
    std::fs::read_to_string(path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
