//! `fil-migrate inspect`: what is in a snapshot.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use fil_migrate::actors::state_tree::resolve_state_root;
use fil_migrate::actors::summary::summarize;
use fil_migrate::store::{CarSource, CarSourceOptions};

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Snapshot CAR (`.car` or `.car.zst`).
    car: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: InspectArgs) -> anyhow::Result<()> {
    let car = CarSource::open(&a.car, CarSourceOptions::default())?;
    let root = *car.roots().first().context("the CAR has no root")?;
    let state_root = resolve_state_root(&car, &root)?;
    let s = summarize(&car, &state_root)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
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
