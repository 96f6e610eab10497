//! What the client's half of Telegram's two-step verification costs in this build, one
//! call at a time on one thread: grammers-crypto's check of the SRP group (`p` a 2048-bit
//! safe prime: Miller-Rabin rounds on `p` and `(p-1)/2`) and the proof itself
//! (`calculate_2fa`: PBKDF2-HMAC-SHA512 with 100,000 rounds, then 2048-bit
//! exponentiations). grammers' `Client::check_password` does both on every call.
//!
//! ```sh
//! cargo run --release -p talkapp-telegram --example srp_cost [ROUNDS]
//! ```

use std::time::{Duration, Instant};

use grammers_crypto::two_factor_auth::{calculate_2fa, check_p_and_g};

/// Telegram's 2048-bit prime for 2FA and DH (`g` = 3), as its servers send it.
const PRIME_HEX: &str = concat!(
    "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f",
    "48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c37",
    "20fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64",
    "2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4",
    "a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754",
    "fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4",
    "e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f",
    "0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b",
);

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(10)
        .max(1);
    let p: Vec<u8> = (0..PRIME_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&PRIME_HEX[i..i + 2], 16).expect("hex"))
        .collect();
    let g = 3;
    let mut checks = Vec::with_capacity(rounds);
    let mut proofs = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let started = Instant::now();
        assert!(check_p_and_g(&p, &g), "Telegram's prime fails the check");
        checks.push(started.elapsed());
        // Arbitrary inputs of the real sizes: 40- and 16-byte salts, 256-byte B and a.
        let byte = |n: usize| u8::try_from((n * 131 + round * 7) % 251).unwrap_or(1);
        let salt1: Vec<u8> = (0..40).map(byte).collect();
        let salt2: Vec<u8> = (40..56).map(byte).collect();
        let mut g_b: Vec<u8> = (56..312).map(byte).collect();
        g_b[0] = 0x10; // below p
        let a: Vec<u8> = (312..568).map(byte).collect();
        let started = Instant::now();
        let (m1, g_a) = calculate_2fa(&salt1, &salt2, &p, &g, g_b, a, "sandbox-2fa");
        proofs.push(started.elapsed());
        assert!(m1.iter().chain(g_a.iter()).any(|byte| *byte != 0));
    }
    println!(
        "rounds={rounds} check_p_and_g median={:.1}ms min={:.1}ms calculate_2fa median={:.1}ms min={:.1}ms",
        median(checks.clone()).as_secs_f64() * 1e3,
        checks
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
        median(proofs.clone()).as_secs_f64() * 1e3,
        proofs
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
    );
}
