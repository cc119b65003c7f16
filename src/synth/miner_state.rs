//! Assembles a complete v11 miner `State` around a sectors AMT: MinerInfo,
//! deadlines whose partitions cover exactly the live sectors (with expiration
//! queues, faults and power consistent with them), deadline sector snapshots,
//! precommits, vesting funds and the allocated-sectors bitfield. Built with
//! the real `fil_actor_miner_state::v11` types.

use cid::Cid;
use fil_actor_miner_state::v11 as miner;
use fil_actors_shared::v11::runtime::Policy;
use fvm_ipld_amt::Amt;
use fvm_ipld_bitfield::BitField;
use fvm_ipld_blockstore::Blockstore;
use fvm_ipld_encoding::BytesDe;
use fvm_ipld_hamt::{BytesKey, Hamt};
use fvm_shared3::bigint::BigInt;
use fvm_shared3::econ::TokenAmount;
use fvm_shared3::sector::RegisteredPoStProof;

use super::faults::{FaultBook, FaultStats};
use super::sector_gen::{
    commitment, mix, SectorParams, COMMD_CODEC, COMMR_CODEC, NANO, POSEIDON, SHA2_TRUNC254,
};
use super::window_post::{self, Posting};
use crate::actors::state_tree::put_cbor;
use crate::error::{Error, Result};

/// What the deadline structures need to know of a live sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectorSummary {
    /// Sector number.
    pub number: u64,
    /// Expiration epoch.
    pub expiration: i64,
    /// Initial pledge in nanoFIL (saturating: synthetic partitions only).
    pub pledge_nano: u32,
    /// Verified deals (10× quality-adjusted power).
    pub verified: bool,
}

/// Inputs of [`assemble`].
pub struct MinerInputs<'a> {
    /// Sector parameters (seed, miner ID, epoch, size).
    pub params: SectorParams,
    /// Owner (and beneficiary) actor ID.
    pub owner: u64,
    /// Worker actor ID.
    pub worker: u64,
    /// Current sectors AMT root.
    pub sectors: Cid,
    /// Older sectors roots, used as deadline snapshots in rotation.
    pub snapshots: &'a [Cid],
    /// Live sectors in ascending number order.
    pub live: &'a [SectorSummary],
    /// Precommitted (not yet proven) sector numbers.
    pub precommits: &'a [u64],
    /// Vesting tables of 0, 1 or many entries by miner (what nv25 reads);
    /// off: twelve entries for every miner (the earlier states' roots).
    pub mixed_vesting: bool,
}

/// The assembled miner: its head and its power claim.
#[derive(Debug, Clone)]
pub struct AssembledMiner {
    /// Miner state root.
    pub head: Cid,
    /// Raw byte power of live, non-faulty sectors.
    pub raw_power: BigInt,
    /// Quality-adjusted power.
    pub qa_power: BigInt,
    /// Sum of initial pledges.
    pub pledge: TokenAmount,
}

fn anyhow_err(what: &'static str) -> impl Fn(anyhow::Error) -> Error {
    move |e| Error::Synth(format!("building {what}: {e:#}"))
}

/// Partition size for a sector size (window PoSt partition sectors).
pub fn partition_sectors(large: bool) -> u64 {
    if large {
        2300
    } else {
        2349
    }
}

/// Deadline a sector is assigned to: consecutive runs of a partition's worth
/// of sector numbers rotate through the 48 deadlines.
pub fn deadline_of(number: u64, large: bool) -> usize {
    ((number / partition_sectors(large)) % 48) as usize
}

fn power_of(p: &SectorParams, s: &SectorSummary) -> miner::PowerPair {
    let raw = BigInt::from(p.sector_size());
    let qa = if s.verified { &raw * 10 } else { raw.clone() };
    miner::PowerPair { raw, qa }
}

fn add(a: &mut miner::PowerPair, b: &miner::PowerPair) {
    a.raw += &b.raw;
    a.qa += &b.qa;
}

/// Rounds `e` up to the next epoch ≡ `offset` (mod `unit`).
fn quantize_up(e: i64, unit: i64, offset: i64) -> i64 {
    let off = offset.rem_euclid(unit);
    let rem = (e - off).rem_euclid(unit);
    if rem == 0 {
        e
    } else {
        e + unit - rem
    }
}

/// Builds the miner state. Writes every new block to `store`.
pub fn assemble<S: Blockstore>(store: &S, inp: &MinerInputs<'_>) -> Result<AssembledMiner> {
    let p = &inp.params;
    let policy = Policy::default();
    let post_proof = if p.large {
        RegisteredPoStProof::StackedDRGWindow64GiBV1
    } else {
        RegisteredPoStProof::StackedDRGWindow32GiBV1
    };
    let peer_id = mix(&[p.seed, p.miner, 1]).to_be_bytes().repeat(4);
    let maddr = BytesDe(
        format!(
            "/ip4/10.{}.{}.{}/tcp/24001",
            p.miner % 250,
            (p.miner / 250) % 250,
            p.miner % 7
        )
        .into_bytes(),
    );
    let info = miner::MinerInfo::new(
        inp.owner,
        inp.worker,
        vec![inp.worker],
        peer_id,
        vec![maddr],
        post_proof,
    )
    .map_err(|e| Error::Synth(format!("miner info: {e}")))?;
    let info_cid = put_cbor(store, &info)?;

    let period = policy.wpost_proving_period;
    let window = policy.wpost_challenge_window;
    let period_start = p.epoch - p.epoch.rem_euclid(period) + (p.miner as i64 % period);
    let period_start = if period_start > p.epoch {
        period_start - period
    } else {
        period_start
    };
    let current_deadline = ((p.epoch - period_start) / window).clamp(0, 47) as u64;
    let mut state = miner::State::new(&policy, store, info_cid, period_start, current_deadline)
        .map_err(anyhow_err("empty miner state"))?;

    // Deadlines.
    let snapshots: Vec<Cid> = (0..48)
        .map(|d| {
            if inp.snapshots.is_empty() {
                inp.sectors
            } else {
                inp.snapshots[d % inp.snapshots.len()]
            }
        })
        .collect();
    let built = build_deadlines(
        store,
        p,
        period_start,
        inp.live,
        &snapshots,
        &[Posting::None; 48],
        &mut FaultBook::initial(p, inp.live.iter().map(|s| s.number)),
    )?;
    let (total_raw, total_qa, total_pledge_nano) =
        (built.raw_power, built.qa_power, built.pledge_nano);
    state.deadlines = built.deadlines;
    state.sectors = inp.sectors;

    // Precommits.
    let mut pre: Hamt<_, miner::SectorPreCommitOnChainInfo, BytesKey> =
        Hamt::new_with_bit_width(store, 5);
    for &n in inp.precommits {
        let key = fil_actors_shared::v11::u64_key(n);
        pre.set(
            key,
            miner::SectorPreCommitOnChainInfo {
                info: miner::SectorPreCommitInfo {
                    seal_proof: p.seal_proof(),
                    sector_number: n,
                    sealed_cid: commitment(COMMR_CODEC, POSEIDON, mix(&[p.seed, p.miner, n, 50])),
                    seal_rand_epoch: p.epoch - 500,
                    deal_ids: vec![],
                    expiration: p.epoch + 540 * 2880,
                    unsealed_cid: miner::CompactCommD(Some(commitment(
                        COMMD_CODEC,
                        SHA2_TRUNC254,
                        mix(&[p.seed, n, 51]),
                    ))),
                },
                pre_commit_deposit: TokenAmount::from_atto(NANO * 10_000_000),
                pre_commit_epoch: p.epoch - 100,
            },
        )
        .map_err(|e| Error::Synth(format!("precommits: {e}")))?;
    }
    state.pre_committed_sectors = pre
        .flush()
        .map_err(|e| Error::Synth(format!("precommits: {e}")))?;
    state.pre_commit_deposits =
        TokenAmount::from_atto(NANO as u128 * 10_000_000 * inp.precommits.len() as u128);

    // Allocated sector numbers: everything up to the highest used.
    let max = inp
        .live
        .last()
        .map(|s| s.number)
        .into_iter()
        .chain(inp.precommits.iter().copied())
        .max();
    let allocated = match max {
        Some(m) => {
            BitField::try_from_bits(0..=m).map_err(|e| Error::Synth(format!("bitfield: {e}")))?
        }
        None => BitField::new(),
    };
    state.allocated_sectors = put_cbor(store, &allocated)?;

    // Vesting funds: a schedule of daily tranches.
    let entries = match inp.mixed_vesting {
        false => 12,
        // Miners take three consecutive IDs (owner, worker, miner), so
        // any four miners in a row have each shape.
        true => match (p.miner / 3) % 4 {
            0 => 0,
            1 => 1,
            _ => 2 + mix(&[p.seed, p.miner, 78]) % 178,
        },
    };
    let funds = miner::VestingFunds {
        funds: (1..=entries as i64)
            .map(|k| miner::VestingFund {
                epoch: p.epoch + k * 2880 * 15,
                amount: TokenAmount::from_atto(
                    NANO as u128
                        * (1_000_000_000
                            + mix(&[p.seed, p.miner, k as u64]) as u128 % 1_000_000_000),
                ),
            })
            .collect(),
    };
    let locked: TokenAmount = funds.funds.iter().map(|f| f.amount.clone()).sum();
    state.vesting_funds = put_cbor(store, &funds)?;
    state.locked_funds = locked;
    let pledge = TokenAmount::from_atto(BigInt::from(total_pledge_nano) * NANO);
    state.initial_pledge = pledge.clone();
    state.deadline_cron_active = !inp.live.is_empty();
    let head = put_cbor(store, &state)?;
    Ok(AssembledMiner {
        head,
        raw_power: total_raw,
        qa_power: total_qa,
        pledge,
    })
}

/// Deadlines built for a set of live sectors.
pub struct BuiltDeadlines {
    /// The `Deadlines` block.
    pub deadlines: Cid,
    /// Raw power of live non-faulty sectors.
    pub raw_power: BigInt,
    /// Quality-adjusted power of live non-faulty sectors.
    pub qa_power: BigInt,
    /// Sum of initial pledges, nanoFIL.
    pub pledge_nano: u128,
    /// What the WindowPoSt did to faults.
    pub faults: FaultStats,
}

/// Builds the 48 deadlines (partitions, expiration queues, power) for `live`
/// sectors (ascending), with `snapshots[d]` as deadline `d`'s sectors
/// snapshot and `posts[d]` its WindowPoSt, which moves `faults` (see
/// [`FaultBook::prove`]).
pub fn build_deadlines<S: Blockstore>(
    store: &S,
    p: &SectorParams,
    period_start: i64,
    live: &[SectorSummary],
    snapshots: &[Cid],
    posts: &[Posting; 48],
    faults: &mut FaultBook,
) -> Result<BuiltDeadlines> {
    let policy = Policy::default();
    let period = policy.wpost_proving_period;
    let window = policy.wpost_challenge_window;
    let empty_deadline = miner::Deadline::new(store).map_err(anyhow_err("empty deadline"))?;
    let empty_deadline_cid = put_cbor(store, &empty_deadline)?;
    // One pass per deadline keeps just one deadline's sector list in memory.
    let by_deadline = (0..48usize).map(|d| {
        live.iter()
            .filter(|s| deadline_of(s.number, p.large) == d)
            .collect::<Vec<_>>()
    });
    let mut due = Vec::with_capacity(48);
    let (mut total_raw, mut total_qa) = (BigInt::from(0), BigInt::from(0));
    let mut total_pledge_nano: u128 = 0;
    let mut fault_stats = FaultStats::default();
    for (d, sectors) in by_deadline.enumerate() {
        if sectors.is_empty() {
            due.push(empty_deadline_cid);
            continue;
        }
        let quant_offset = period_start + (d as i64 + 1) * window;
        let mut dl = miner::Deadline::new(store).map_err(anyhow_err("deadline"))?;
        let mut partitions: Amt<miner::Partition, _> =
            Amt::new_with_bit_width(store, miner::DEADLINE_PARTITIONS_AMT_BITWIDTH);
        let mut dl_expirations: std::collections::BTreeMap<i64, Vec<u64>> = Default::default();
        let mut dl_faulty = miner::PowerPair::default();
        let mut proven = Vec::new();
        for (pi, chunk) in sectors
            .chunks(partition_sectors(p.large) as usize)
            .enumerate()
        {
            let mut part = miner::Partition::new(store).map_err(anyhow_err("empty partition"))?;
            let numbers: Vec<u64> = chunk.iter().map(|s| s.number).collect();
            part.sectors = BitField::try_from_bits(numbers.iter().copied())
                .map_err(|e| Error::Synth(format!("partition bitfield: {e}")))?;
            if faults.prove(p, (d, pi as u64), &numbers, posts[d], &mut fault_stats) {
                proven.push(pi as u64);
            }
            let bits_of = |keep: &dyn Fn(u64) -> bool| {
                BitField::try_from_bits(numbers.iter().copied().filter(|&n| keep(n)))
                    .map_err(|e| Error::Synth(format!("fault bitfield: {e}")))
            };
            part.faults = bits_of(&|n| faults.is_faulty(n))?;
            part.recoveries = bits_of(&|n| faults.is_recovering(n))?;
            let mut recovering_power = miner::PowerPair::default();
            let mut queue: std::collections::BTreeMap<
                i64,
                (Vec<u64>, u128, miner::PowerPair, miner::PowerPair),
            > = Default::default();
            let mut live = miner::PowerPair::default();
            let mut faulty_power = miner::PowerPair::default();
            for s in chunk {
                let pw = power_of(p, s);
                let q = quantize_up(s.expiration, period, quant_offset);
                let e = queue.entry(q).or_default();
                e.0.push(s.number);
                e.1 += u128::from(s.pledge_nano);
                total_pledge_nano += u128::from(s.pledge_nano);
                if faults.is_faulty(s.number) {
                    add(&mut e.3, &pw);
                    add(&mut faulty_power, &pw);
                    if faults.is_recovering(s.number) {
                        add(&mut recovering_power, &pw);
                    }
                } else {
                    add(&mut e.2, &pw);
                    total_raw += &pw.raw;
                    total_qa += &pw.qa;
                }
                add(&mut live, &pw);
            }
            let mut exp: Amt<miner::ExpirationSet, _> = Amt::new_with_bit_width(store, 4);
            for (epoch, (nums, pledge, active, faulty)) in queue {
                dl_expirations.entry(epoch).or_default().push(pi as u64);
                exp.set(
                    epoch as u64,
                    miner::ExpirationSet {
                        on_time_sectors: BitField::try_from_bits(nums)
                            .map_err(|e| Error::Synth(format!("expiration bitfield: {e}")))?,
                        early_sectors: BitField::new(),
                        on_time_pledge: TokenAmount::from_atto(BigInt::from(pledge) * NANO),
                        active_power: active,
                        faulty_power: faulty,
                    },
                )
                .map_err(|e| Error::Synth(format!("expiration queue: {e}")))?;
            }
            part.expirations_epochs = exp
                .flush()
                .map_err(|e| Error::Synth(format!("expiration queue: {e}")))?;
            part.live_power = live;
            part.faulty_power = faulty_power.clone();
            part.recovering_power = recovering_power;
            add(&mut dl_faulty, &faulty_power);
            partitions
                .set(pi as u64, part)
                .map_err(|e| Error::Synth(format!("partitions: {e}")))?;
        }
        let mut exp: Amt<BitField, _> =
            Amt::new_with_bit_width(store, miner::DEADLINE_EXPIRATIONS_AMT_BITWIDTH);
        for (epoch, parts) in dl_expirations {
            exp.set(
                epoch as u64,
                BitField::try_from_bits(parts)
                    .map_err(|e| Error::Synth(format!("bitfield: {e}")))?,
            )
            .map_err(|e| Error::Synth(format!("deadline expirations: {e}")))?;
        }
        dl.partitions = partitions
            .flush()
            .map_err(|e| Error::Synth(format!("partitions: {e}")))?;
        dl.expirations_epochs = exp
            .flush()
            .map_err(|e| Error::Synth(format!("deadline expirations: {e}")))?;
        dl.live_sectors = sectors.len() as u64;
        dl.total_sectors = sectors.len() as u64;
        dl.faulty_power = dl_faulty;
        dl.sectors_snapshot = snapshots[d];
        dl.partitions_snapshot = dl.partitions;
        window_post::record(store, p, d, &mut dl, &proven, posts[d])?;
        due.push(put_cbor(store, &dl)?);
    }
    Ok(BuiltDeadlines {
        deadlines: put_cbor(store, &miner::Deadlines { due })?,
        raw_power: total_raw,
        qa_power: total_qa,
        pledge_nano: total_pledge_nano,
        faults: fault_stats,
    })
}
