//! What the benchmark suite's scenarios share: the child runs of this
//! binary (each measured step in its own process, so its peak RSS is its
//! own), the rows of the table, the final-after-premigration measurement,
//! and the lower bound a from-scratch run is put in proportion to.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// A child run of this binary: its wall time and standard output.
pub(super) struct Child {
    pub secs: f64,
    pub stdout: String,
}

/// A child run that failed: when, and what it said or what killed it.
pub(super) struct Failed {
    pub secs: f64,
    pub reason: String,
}

pub(super) struct Suite {
    /// This binary, run for each measured step.
    pub exe: PathBuf,
    /// Where the states and stores go.
    pub dir: PathBuf,
    /// The table so far.
    pub rows: Vec<Row>,
}

/// One line of the table.
pub(super) struct Row {
    pub scenario: String,
    pub secs: f64,
    pub rate: String,
    pub peak_rss_mib: Option<u64>,
    pub vs_bound: Option<f64>,
    pub note: String,
    pub json: Value,
}

impl Suite {
    pub(super) fn run(&self, args: &[&str]) -> anyhow::Result<Child> {
        match self.try_run(args, None)? {
            Ok(child) => Ok(child),
            Err(failed) => bail!("fil-migrate {} failed: {}", args.join(" "), failed.reason),
        }
    }

    /// Runs a child, its address space capped at `cap` bytes if given (an
    /// allocation past it fails, and the child aborts, before the machine's
    /// out-of-memory killer picks a process); a child that fails is an
    /// outcome, not an error.
    pub(super) fn try_run(
        &self,
        args: &[&str],
        cap: Option<u64>,
    ) -> anyhow::Result<Result<Child, Failed>> {
        use std::os::unix::process::{CommandExt, ExitStatusExt};
        let t = Instant::now();
        let mut cmd = Command::new(&self.exe);
        cmd.args(args);
        if let Some(cap) = cap {
            // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: cap,
                        rlim_max: cap,
                    };
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let out = cmd.output().with_context(|| format!("running {args:?}"))?;
        let secs = t.elapsed().as_secs_f64();
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let reason = match out.status.signal() {
                Some(sig) => format!(
                    "killed by signal {sig}{} after {secs:.1}s: {}",
                    if stderr.contains("memory allocation") {
                        " (out of memory)"
                    } else {
                        ""
                    },
                    stderr.trim()
                ),
                None => stderr.trim().to_string(),
            };
            return Ok(Err(Failed { secs, reason }));
        }
        Ok(Ok(Child {
            secs,
            stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        }))
    }

    pub(super) fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// Generates `name` with `args` unless it is already there.
    pub(super) fn state(&self, name: &str, args: &[&str]) -> anyhow::Result<String> {
        let path = self.path(name);
        if !Path::new(&path).exists() {
            eprintln!("generating {name} …");
            let mut a = vec!["gen", "--out", &path];
            a.extend_from_slice(args);
            self.run(&a)?;
        }
        Ok(path)
    }

    /// A `migrate`/`premigrate` run with its report.
    pub(super) fn migrate(&self, cmd: &str, args: &[&str]) -> anyhow::Result<(Child, Value)> {
        let report = self.path("report.json");
        let mut a = vec![cmd, "--report", &report];
        a.extend_from_slice(args);
        let child = self.run(&a)?;
        let r: Value = serde_json::from_slice(&std::fs::read(&report)?)?;
        Ok((child, r))
    }

    /// Premigrates `before` into a fresh store, then runs the final
    /// migration of `after` [`FINAL_RUNS`] times, each on a synced copy of
    /// that store, keeps the median (by report total), and runs `after`
    /// uncached; the roots must agree. A final migration takes tens of
    /// milliseconds on small states, within this machine's noise.
    pub(super) fn finals(&self, before: &str, after: &str, store: &str) -> anyhow::Result<Finals> {
        let store = self.path(store);
        let _ = std::fs::remove_dir_all(&store);
        let pre = self.migrate("premigrate", &["--snapshot", before, "--store", &store])?;
        let mut finals = Vec::new();
        for i in 0..FINAL_RUNS {
            let copy = self.path(&format!("store-final-{i}"));
            let _ = std::fs::remove_dir_all(&copy);
            copy_dir(Path::new(&store), Path::new(&copy))?;
            finals.push(self.migrate("migrate", &["--snapshot", after, "--store", &copy])?);
            std::fs::remove_dir_all(&copy)?;
        }
        std::fs::remove_dir_all(&store)?;
        finals.sort_by(|a, b| total_secs(&a.1).total_cmp(&total_secs(&b.1)));
        let fin = finals.swap_remove(FINAL_RUNS / 2);
        let unc = self.migrate("migrate", &["--snapshot", after])?;
        if fin.0.stdout != unc.0.stdout {
            bail!(
                "final migration {} differs from uncached {}",
                fin.0.stdout,
                unc.0.stdout
            );
        }
        Ok(Finals { pre, fin, unc })
    }

    pub(super) fn bench_nv21(
        &self,
        snapshot: &str,
        which: &str,
        threads: &str,
    ) -> anyhow::Result<Value> {
        self.bench_upgrade(snapshot, "auto", which, threads)
    }

    /// `bench upgrade` of `snapshot` by one implementation in a child of
    /// its own (so the peak RSS it reports is that implementation's).
    pub(super) fn bench_upgrade(
        &self,
        snapshot: &str,
        upgrade: &str,
        which: &str,
        threads: &str,
    ) -> anyhow::Result<Value> {
        match self.try_bench_upgrade(snapshot, upgrade, which, threads, None)? {
            Ok(v) => Ok(v),
            Err(failed) => bail!("bench upgrade --impl {which} failed: {}", failed.reason),
        }
    }

    /// [`Self::bench_upgrade`] with the child's address space capped at
    /// `cap` bytes: running out is an outcome.
    pub(super) fn try_bench_upgrade(
        &self,
        snapshot: &str,
        upgrade: &str,
        which: &str,
        threads: &str,
        cap: Option<u64>,
    ) -> anyhow::Result<Result<Value, Failed>> {
        let json = self.path("upgrade.json");
        let _ = std::fs::remove_file(&json);
        let args = [
            "bench",
            "upgrade",
            "--upgrade",
            upgrade,
            "--snapshot",
            snapshot,
            "--impl",
            which,
            "--threads",
            threads,
            "--json",
            &json,
        ];
        Ok(match self.try_run(&args, cap)? {
            Ok(_) => Ok(serde_json::from_slice(&std::fs::read(&json)?)?),
            Err(failed) => Err(failed),
        })
    }
}

/// Three quarters of this machine's physical memory: what a child that may
/// not fit is allowed to map.
pub(super) fn memory_cap() -> u64 {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    sys.total_memory() / 4 * 3
}

/// A premigration, the median final migration after it, and the uncached
/// migration of the same state: each a child run and its report.
pub(super) struct Finals {
    pub pre: (Child, Value),
    pub fin: (Child, Value),
    pub unc: (Child, Value),
}

impl Finals {
    /// The three runs' reports and times, for a row's JSON.
    pub fn json(&self) -> Value {
        let (tf, tu) = (total_secs(&self.fin.1), total_secs(&self.unc.1));
        json!({
            "premigration": self.pre.1, "premigration_wall_secs": self.pre.0.secs,
            "final": self.fin.1, "final_wall_secs": self.fin.0.secs,
            "uncached": self.unc.1, "uncached_wall_secs": self.unc.0.secs,
            "ratio": tu / tf, "wall_ratio": self.unc.0.secs / self.fin.0.secs,
        })
    }
}

/// Final migrations per churn level in scenario 3 (the median is reported).
pub(super) const FINAL_RUNS: usize = 3;

/// Copies a store directory and syncs every file, so the copy's write-back
/// does not compete with the migration measured on it next.
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            std::fs::File::open(&target)?.sync_all()?;
        }
    }
    Ok(())
}

pub(super) fn total_secs(report: &Value) -> f64 {
    report["phases"]
        .as_array()
        .and_then(|p| p.last())
        .and_then(|p| p[1].as_f64())
        .unwrap_or(0.0)
}

pub(super) fn mib(v: &Value) -> Option<u64> {
    v.as_u64().map(|b| b >> 20)
}

/// Seconds to read every byte of `file` and to Blake2b-hash `hashed` bytes
/// in 8 KiB blocks on `threads` threads: no migration can beat their sum.
pub(super) fn lower_bound(file: &str, hashed: u64, threads: usize) -> anyhow::Result<(f64, f64)> {
    lower_bound_of(file, u64::MAX, hashed, threads)
}

/// A final migration's own lower bound: seconds to read as many bytes of
/// `file` as its report says it read (`bytes_read`, sequentially: the run's
/// reads are scattered, so this is the kinder figure) and to hash what it
/// wrote (`bytes_written`).
pub(super) fn final_lower_bound(
    file: &str,
    report: &Value,
    threads: usize,
) -> anyhow::Result<(f64, f64)> {
    let read = report["bytes_read"].as_u64().unwrap_or(0);
    let written = report["bytes_written"].as_u64().unwrap_or(0);
    lower_bound_of(file, read, written, threads)
}

/// Reads the first `read` bytes of `file` (all of it at most), then hashes
/// `hashed` bytes.
fn lower_bound_of(
    file: &str,
    read: u64,
    hashed: u64,
    threads: usize,
) -> anyhow::Result<(f64, f64)> {
    use std::io::Read;
    let t = Instant::now();
    let mut f = std::fs::File::open(file)?.take(read);
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    let read = t.elapsed().as_secs_f64();
    let block = vec![0x5au8; 8192];
    let per_thread = hashed / threads.max(1) as u64 / block.len() as u64 + 1;
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                for i in 0..per_thread {
                    let mut b = block.clone();
                    b[..8].copy_from_slice(&i.to_le_bytes());
                    std::hint::black_box(fil_migrate::ipld::cids::cbor_cid(&b));
                }
            });
        }
    });
    Ok((read, t.elapsed().as_secs_f64()))
}
