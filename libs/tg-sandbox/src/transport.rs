//! The TCP "full" transport: `length:int seqno:int payload crc32:int`, symmetric for both
//! directions, so grammers' own implementation frames the server's side too. This module
//! only adds the checks a server needs before trusting a length read off the wire.
//! See <https://core.telegram.org/mtproto/mtproto-transports#full>.

use grammers_crypto::DequeBuffer;
use grammers_mtproto::transport::{self, Full, Transport};

/// Largest frame accepted from a client: the biggest encrypted message plus overhead.
const MAX_FRAME_LEN: usize = crate::envelope::MAX_BODY_LEN + 64 * 1024;
/// length + seqno + crc32.
const FRAME_OVERHEAD: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum TransportError {
    #[error("frame length {0} is out of range")]
    BadLength(i64),
    #[error("{0}")]
    Framing(transport::Error),
}

/// Cuts frames out of the bytes read from one connection.
pub(crate) struct FrameReader {
    transport: Full,
    buffer: Vec<u8>,
}

impl FrameReader {
    pub(crate) fn new() -> Self {
        Self {
            transport: Full::new(),
            buffer: Vec::with_capacity(64 * 1024),
        }
    }

    /// Where the connection appends what it reads.
    pub(crate) fn buffer_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    /// Takes the next complete frame's payload, `Ok(None)` if more bytes are needed.
    pub(crate) fn next_frame(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        let Some(len) = self.buffer.get(..4) else {
            return Ok(None);
        };
        let len = i32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        let valid = usize::try_from(len)
            .ok()
            .filter(|len| (FRAME_OVERHEAD..=MAX_FRAME_LEN).contains(len) && len % 4 == 0);
        let Some(len) = valid else {
            return Err(TransportError::BadLength(len.into()));
        };
        if self.buffer.len() < len {
            return Ok(None);
        }
        let unpacked = self
            .transport
            .unpack(&mut self.buffer[..len])
            .map_err(TransportError::Framing)?;
        let payload = self.buffer[unpacked.data_range].to_vec();
        self.buffer.drain(..unpacked.next_offset);
        Ok(Some(payload))
    }
}

/// Frames the server's payloads for one connection.
pub(crate) struct FrameWriter {
    transport: Full,
}

impl FrameWriter {
    pub(crate) fn new() -> Self {
        Self {
            transport: Full::new(),
        }
    }

    /// Frames an encrypted message; its length is always a multiple of 16.
    pub(crate) fn frame(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut buffer = DequeBuffer::with_capacity(payload.len() + 4, 8);
        buffer.extend(payload.iter().copied());
        self.transport.pack(&mut buffer);
        buffer[..].to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split_reads_wait_for_more() {
        let mut writer = FrameWriter::new();
        let mut reader = FrameReader::new();
        let first = writer.frame(&[1u8; 32]);
        let second = writer.frame(&[2u8; 16]);
        let mut wire = first.clone();
        wire.extend_from_slice(&second);

        reader.buffer_mut().extend_from_slice(&wire[..10]);
        assert_eq!(reader.next_frame(), Ok(None));
        reader.buffer_mut().extend_from_slice(&wire[10..]);
        assert_eq!(reader.next_frame(), Ok(Some(vec![1u8; 32])));
        assert_eq!(reader.next_frame(), Ok(Some(vec![2u8; 16])));
        assert_eq!(reader.next_frame(), Ok(None));
    }

    #[test]
    fn hostile_lengths_and_bad_crcs_are_errors() {
        let mut reader = FrameReader::new();
        reader
            .buffer_mut()
            .extend_from_slice(&(-404i32).to_le_bytes());
        assert_eq!(reader.next_frame(), Err(TransportError::BadLength(-404)));

        let mut reader = FrameReader::new();
        reader
            .buffer_mut()
            .extend_from_slice(&i32::MAX.to_le_bytes());
        assert!(reader.next_frame().is_err());

        let mut frame = FrameWriter::new().frame(&[9u8; 16]);
        let last = frame.len() - 1;
        frame[last] ^= 0xff;
        let mut reader = FrameReader::new();
        reader.buffer_mut().extend_from_slice(&frame);
        assert!(matches!(
            reader.next_frame(),
            Err(TransportError::Framing(transport::Error::BadCrc { .. }))
        ));
    }
}
