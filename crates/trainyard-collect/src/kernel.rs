//! Host name, kernel release and command line from `/proc`.

use trainyard_snapshot::Kernel;

use crate::fsutil::Fs;
use crate::record::Recorder;

/// `ROOT/proc/sys/kernel/hostname`, or `unknown` (recorded as missing).
pub(crate) fn hostname(fs: &Fs, rec: &mut Recorder) -> String {
    match fs.read_text(&fs.path("/proc/sys/kernel/hostname")) {
        Ok(h) if !h.is_empty() => h,
        Ok(_) => {
            rec.miss("host", "/proc/sys/kernel/hostname is empty");
            "unknown".into()
        }
        Err(e) => {
            rec.miss("host", format_args!("/proc/sys/kernel/hostname: {e}"));
            "unknown".into()
        }
    }
}

/// Kernel release and boot command line.
pub(crate) fn collect(fs: &Fs, rec: &mut Recorder) -> Kernel {
    let mut read = |what: &str, rel: &str| match fs.read_text(&fs.path(rel)) {
        Ok(t) => Some(t),
        Err(e) => {
            rec.miss(what, format_args!("{rel}: {e}"));
            None
        }
    };
    Kernel {
        release: read("kernel.release", "/proc/sys/kernel/osrelease"),
        cmdline: read("kernel.cmdline", "/proc/cmdline"),
    }
}
