//! Shared argument parsing helpers.

/// Parses a byte size such as `512MiB`, `2GiB`, `1.5GB`, `2TiB` or
/// `1048576`; at most 1 PiB.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?} (a number and a unit: 512MiB, 2GiB, 1TiB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    let bytes = n * mult;
    if !bytes.is_finite() || bytes > MAX_BYTES as f64 {
        return Err(format!("size {s:?} is over the 1 PiB this tool takes"));
    }
    Ok(bytes as u64)
}

const MAX_BYTES: u64 = 1 << 50;

/// Longest duration a seconds argument takes: a week.
const MAX_SECS: f64 = 7.0 * 24.0 * 3600.0;

/// Parses a duration in seconds: finite, not negative, at most a week.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("invalid number of seconds {s:?}"))?;
    if !v.is_finite() || !(0.0..=MAX_SECS).contains(&v) {
        return Err(format!(
            "{s:?} seconds: give a number from 0 to {MAX_SECS} (a week)"
        ));
    }
    Ok(v)
}

/// `--threads`: 0 means every core; more than four per core only adds
/// contention and memory (a thousand threads turned a 1 s run into 65 s
/// and 1.78 GB), so it is clamped there with a warning.
pub fn clamp_threads(asked: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bound = (4 * cores).max(8);
    if asked > bound {
        eprintln!(
            "warning: --threads {asked} is more than 4 per core ({cores} cores here): using {bound}"
        );
        return bound;
    }
    asked
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("12XB").is_err());
        assert_eq!(parse_bytes("2TiB"), Ok(2 << 40));
        assert!(parse_bytes("2000TiB").is_err());
        assert!(parse_bytes("1e400").is_err());
        assert!(parse_bytes("-1").is_err());
    }

    #[test]
    fn seconds() {
        use super::parse_seconds;
        assert_eq!(parse_seconds("10"), Ok(10.0));
        assert_eq!(parse_seconds("0.5"), Ok(0.5));
        for bad in ["inf", "1e300", "nan", "-1", "NaN", "x"] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}

/// `--store-engine`: how a new store keeps its blocks.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum EngineArg {
    /// fjall, an LSM tree with key-value separation.
    Fjall,
    /// CARv1 segment files and a small index beside them (the default).
    #[default]
    BlockLog,
}

impl EngineArg {
    /// The engine this names.
    pub fn engine(self) -> fil_migrate::store::StoreEngine {
        use fil_migrate::store::StoreEngine;
        match self {
            EngineArg::BlockLog => StoreEngine::BlockLog,
            EngineArg::Fjall => StoreEngine::Fjall,
        }
    }

    /// Store options with this engine.
    pub fn store_options(self) -> fil_migrate::store::DiskStoreOptions {
        fil_migrate::store::DiskStoreOptions {
            engine: self.engine(),
            ..Default::default()
        }
    }
}
