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
    // Telegram's 2048-bit prime for 2FA and DH, as its servers (and the sandbox) send it.
    let p = talkapp_tg_sandbox::srp_prime().to_vec();
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
