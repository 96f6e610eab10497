//! base64url as Web Push uses it: the URL-safe alphabet, written without padding.
//!
//! Decoding accepts padding too: browsers emit none, but some stores of subscriptions
//! and some key tools add it, and nothing is gained by refusing.

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::{Result, WebPushError};

const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Unpadded base64url.
pub(crate) fn encode(bytes: impl AsRef<[u8]>) -> String {
    ENGINE.encode(bytes)
}

/// Decodes base64url, padded or not; `what` names the value in the error.
pub(crate) fn decode(text: &str, what: &'static str) -> Result<Vec<u8>> {
    ENGINE
        .decode(text)
        .map_err(|_| WebPushError::InvalidBase64 { what })
}

/// Decodes base64url that must be exactly `N` bytes long.
pub(crate) fn decode_exact<const N: usize>(
    text: &str,
    what: &'static str,
    wrong_length: &'static str,
) -> Result<[u8; N]> {
    let bytes = decode(text, what)?;
    bytes.try_into().map_err(|_| WebPushError::InvalidKey {
        what,
        reason: wrong_length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_unpadded_and_url_safe() {
        assert_eq!(encode([0xfb, 0xff]), "-_8");
    }

    #[test]
    fn decoding_accepts_padding_or_none() {
        assert_eq!(decode("-_8", "x").ok(), Some(vec![0xfb, 0xff]));
        assert_eq!(decode("-_8=", "x").ok(), Some(vec![0xfb, 0xff]));
    }

    #[test]
    fn the_standard_alphabet_is_refused() {
        assert!(matches!(
            decode("+/8", "x"),
            Err(WebPushError::InvalidBase64 { what: "x" })
        ));
    }
}
