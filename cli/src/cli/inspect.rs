//! `fil-migrate inspect`: what is in a snapshot.

use std::path::PathBuf;

use cid::Cid;
use clap::Args;
use fil_migrate::actors::summary::summarize;
use fil_migrate::chain::snapshot_state;
use fil_migrate::store::{CarSource, CarSourceOptions};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Snapshot (`.car`, `.forest.car.zst` or `.car.zst`).
    car: PathBuf,
    /// For a chain snapshot: the state of the tipset at this epoch (default:
    /// the head's).
    #[arg(long)]
    epoch: Option<i64>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: InspectArgs) -> anyhow::Result<()> {
    let car = CarSource::open(&a.car, CarSourceOptions::default())?;
    let source = snapshot_state(&car, car.roots(), a.epoch)?;
    let state_root = Cid::try_from(source.state_root.as_str())?;
    let s = summarize(&car, &state_root)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!("source:        {}", source.describe());
    println!("state root:    {}", s.state_root);
    println!("actors root:   {}", s.actors_root);
    println!("network:       {}", s.network_name);
    println!("bundle:        {}", s.actors_bundle);
    println!("actors:        {}", s.actors);
    for (k, n) in &s.by_type {
        println!("  {k:<28} {n}");
    }
    println!("miners:        {}", s.miners);
    println!(
        "sectors:       {} (largest miner {})",
        s.sectors, s.largest_miner_sectors
    );
    println!(
        "deals:         {} states, {} proposals",
        s.deal_states, s.deal_proposals
    );
    println!("file:          {}", car.layout_name());
    println!("blocks:        {}", car.block_count()?);
    if let Some(idx) = car.car_index() {
        println!("bytes:         {}", idx.payload_bytes);
    }
    Ok(())
}
