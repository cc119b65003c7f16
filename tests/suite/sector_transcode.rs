//! The byte-level v11 → v12 sector transcoder equals the typed path on any
//! sector info, including negative epochs, big pledges and null/set keys.

use cid::Cid;
use fil_actor_miner_state::v11;
use fil_migrate::actors::sector_v11_v12::{transcode, typed};
use fvm_shared3::bigint::BigInt;
use fvm_shared3::econ::TokenAmount;
use proptest::prelude::*;

fn cid(seed: u8) -> Cid {
    fil_migrate::synth::sector_gen::commitment(0xf102, 0xb401, u64::from(seed))
}

prop_compose! {
    fn arb_info()(
        number in any::<u64>(),
        proof in 0i64..10,
        deals in prop::collection::vec(any::<u64>(), 0..5),
        activation in -10_000_000i64..10_000_000,
        expiration in any::<i64>(),
        dw in any::<u128>(),
        vdw in any::<u64>(),
        pledge in any::<u128>(),
        age in -1_000_000i64..1_000_000,
        key in prop::option::of(any::<u8>()),
        qa in any::<bool>(),
        seed in any::<u8>(),
    ) -> v11::SectorOnChainInfo {
        v11::SectorOnChainInfo {
            sector_number: number,
            seal_proof: proof.into(),
            sealed_cid: cid(seed),
            deal_ids: deals,
            activation,
            expiration,
            deal_weight: BigInt::from(dw),
            verified_deal_weight: BigInt::from(vdw),
            initial_pledge: TokenAmount::from_atto(pledge),
            expected_day_reward: TokenAmount::from_atto(pledge / 3),
            expected_storage_pledge: TokenAmount::from_atto(pledge / 7),
            replaced_sector_age: age,
            replaced_day_reward: TokenAmount::from_atto(dw / 5),
            sector_key_cid: key.map(cid),
            simple_qa_power: qa,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn transcoder_equals_typed_path(info in arb_info()) {
        let v11_bytes = fvm_ipld_encoding::to_vec(&info).unwrap();
        let mut out = Vec::new();
        transcode(&v11_bytes, &mut out).unwrap();
        prop_assert_eq!(out, typed(&v11_bytes).unwrap());
    }
}

/// Found by the `sector_transcode` fuzz target: an activation minus a
/// replaced sector age outside i64 was an error here, while the reference
/// (Go int64) wraps. Both paths now give the reference's wrapped value.
#[test]
fn an_activation_that_overflows_wraps_as_the_reference_does() {
    let info = v11::SectorOnChainInfo {
        sector_number: 1,
        seal_proof: 8i64.into(),
        sealed_cid: cid(1),
        activation: i64::MAX - 3,
        replaced_sector_age: -10,
        sector_key_cid: Some(cid(2)),
        ..Default::default()
    };
    let bytes = fvm_ipld_encoding::to_vec(&info).unwrap();
    let mut out = Vec::new();
    transcode(&bytes, &mut out).unwrap();
    assert_eq!(out, typed(&bytes).unwrap());
    let v12: fil_actor_miner_state::v12::SectorOnChainInfo =
        fvm_ipld_encoding::from_slice(&out).unwrap();
    assert_eq!(v12.activation, i64::MIN + 6);
    assert_eq!(v12.power_base_epoch, i64::MAX - 3);
}

#[test]
fn malformed_sector_infos_are_errors_not_panics() {
    let info = fvm_ipld_encoding::to_vec(&(1u64, 2u64)).unwrap();
    assert!(transcode(&info, &mut Vec::new())
        .unwrap_err()
        .reason
        .contains("15 fields"));
    let mut good = fvm_ipld_encoding::to_vec(&v11::SectorOnChainInfo {
        sector_number: 1,
        seal_proof: 8i64.into(),
        sealed_cid: cid(1),
        ..Default::default()
    })
    .unwrap();
    let n = good.len();
    good[n - 1] = 0x01; // simple_qa_power no longer a bool
    assert!(transcode(&good, &mut Vec::new())
        .unwrap_err()
        .reason
        .contains("boolean"));
    for cut in 0..n - 1 {
        let _ = transcode(&good[..cut], &mut Vec::new()); // must not panic
    }
}
