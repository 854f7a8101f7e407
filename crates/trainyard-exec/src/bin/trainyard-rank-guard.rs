//! `trainyard-rank-guard [--grace-ms N] -- PROGRAM ARGS...`: the process-group leader the
//! local driver puts in front of every rank. See `trainyard_exec::guard`.

fn main() {
    trainyard_exec::guard::main(std::env::args_os().skip(1))
}
