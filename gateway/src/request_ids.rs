//! Ids for requests that bring none (`X-Request-Id`), made without a system call.
//!
//! A version 4 UUID per request asks the kernel for 16 random bytes (`getrandom`) every
//! time. Here each thread draws its randomness once, the first time it makes an id: a
//! 64-bit prefix and a 64-bit key. Its n-th id is the prefix followed by a keyed
//! scrambling of n ([`scramble`], a bijection of 64-bit integers), so:
//! - **unique within a thread** for 2^64 ids (distinct n give distinct scrambled values);
//! - **unique across threads and processes** as random ids are: two threads clash only
//!   when their random 64-bit prefixes are equal;
//! - **no count shown**: the second half does not reveal how many requests came between
//!   two of a caller's (a plain counter would), though nothing here is a secret either
//!   (callers may send their own ids).
//!
//! Ids are 32 lowercase hex digits, as the simple form of a UUID was before.

use std::cell::Cell;

/// One thread's generator.
#[derive(Clone, Copy)]
struct Generator {
    prefix: u64,
    key: u64,
    next: u64,
}

impl Generator {
    fn seeded() -> Self {
        let random = uuid::Uuid::new_v4().as_u128();
        Self {
            // Truncations: the high and the low half of the random value.
            prefix: (random >> 64) as u64,
            key: random as u64,
            next: 0,
        }
    }

    fn take(&mut self) -> String {
        let value = u128::from(self.prefix) << 64 | u128::from(scramble(self.next, self.key));
        self.next = self.next.wrapping_add(1);
        format!("{value:032x}")
    }
}

thread_local! {
    static GENERATOR: Cell<Option<Generator>> = const { Cell::new(None) };
}

/// The next id of this thread.
pub fn next() -> String {
    GENERATOR.with(|cell| {
        let mut generator = cell.get().unwrap_or_else(Generator::seeded);
        let id = generator.take();
        cell.set(Some(generator));
        id
    })
}

/// `value` mixed with `key` by SplitMix64's finalizer, a bijection of `u64` (each step,
/// an xor with a right shift of itself or a multiplication by an odd constant, can be
/// undone), around additions of the key: distinct values never give the same result.
fn scramble(value: u64, key: u64) -> u64 {
    let mut mixed = value.wrapping_add(key);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^= mixed >> 31;
    mixed.wrapping_add(key.rotate_left(32))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_unique_across_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..50_000).map(|_| next()).collect::<Vec<_>>()))
            .collect();
        let mut seen = HashSet::new();
        for thread in threads {
            for id in thread.join().expect("ids") {
                assert_eq!(id.len(), 32, "{id}");
                assert!(
                    id.bytes()
                        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte)),
                    "{id}"
                );
                assert!(seen.insert(id.clone()), "{id} made twice");
            }
        }
        assert_eq!(seen.len(), 200_000);
    }

    #[test]
    fn consecutive_ids_do_not_show_a_count() {
        let (first, second) = (next(), next());
        assert_eq!(first[..16], second[..16], "one thread, one prefix");
        let first = u64::from_str_radix(&first[16..], 16).expect("hex");
        let second = u64::from_str_radix(&second[16..], 16).expect("hex");
        assert_ne!(second.wrapping_sub(first), 1);
    }

    #[test]
    fn scrambling_keeps_distinct_values_distinct() {
        let key = 0x0123_4567_89ab_cdef;
        // Neighbours, and values that differ only in their high bits (a bijection keeps
        // both apart; a mix that dropped high bits would not).
        let values = (0..100_000u64).chain((0..64).map(|bit| 1u64 << bit));
        let mut seen = HashSet::new();
        for value in values {
            seen.insert((value, scramble(value, key)));
        }
        let outputs: HashSet<u64> = seen.iter().map(|(_, scrambled)| *scrambled).collect();
        assert_eq!(outputs.len(), seen.len());
    }
}
