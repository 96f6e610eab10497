//! The MTProto envelope inside an encrypted message, and the service objects that are
//! written by hand because grammers-tl-types does not model them (`msg_container`,
//! `gzip_packed`, `rpc_result`).
//!
//! See <https://core.telegram.org/mtproto/description#encrypted-message-encrypted-data> and
//! <https://core.telegram.org/mtproto/service_messages>.

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use grammers_tl_types::{Cursor, Deserializable, Serializable};

/// `msg_container#73f1f8dc messages:vector<%Message> = MessageContainer;`
pub(crate) const MSG_CONTAINER_ID: u32 = 0x73f1_f8dc;
/// `gzip_packed#3072cfa1 packed_data:bytes = Object;`
pub(crate) const GZIP_PACKED_ID: u32 = 0x3072_cfa1;
/// `rpc_result#f35c6d01 req_msg_id:long result:Object = RpcResult;`
pub(crate) const RPC_RESULT_ID: u32 = 0xf35c_6d01;

/// Largest body the sandbox accepts, before or after decompression. Telegram's own limit
/// for a container payload is about 1 MiB; twice that leaves room for `upload.saveFilePart`.
pub(crate) const MAX_BODY_LEN: usize = 2 * 1024 * 1024;
/// Containers hold at most this many messages (Telegram answers more with bad_msg 64).
const MAX_CONTAINER_LEN: usize = 1024;

/// The envelope or one of its nested objects is malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum EnvelopeError {
    #[error("truncated {0}")]
    Truncated(&'static str),
    #[error("bad message length {0}")]
    BadLength(i64),
    #[error("container too large ({0} messages)")]
    ContainerTooLarge(u32),
    #[error("gzip_packed data does not inflate")]
    BadGzip,
}

/// One message as framed inside the envelope or a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InMessage {
    pub(crate) msg_id: i64,
    pub(crate) seq_no: i32,
    pub(crate) body: Vec<u8>,
}

impl InMessage {
    /// The constructor id the body starts with.
    pub(crate) fn constructor_id(&self) -> Option<u32> {
        constructor_of(&self.body)
    }
}

/// A decrypted client message: `salt`, `session_id` and the single top-level message.
#[derive(Debug)]
pub(crate) struct Envelope {
    pub(crate) session_id: i64,
    pub(crate) message: InMessage,
}

pub(crate) fn constructor_of(body: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = body.get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(bytes))
}

fn read_i64(cursor: &mut Cursor, what: &'static str) -> Result<i64, EnvelopeError> {
    i64::deserialize(cursor).map_err(|_| EnvelopeError::Truncated(what))
}

fn read_i32(cursor: &mut Cursor, what: &'static str) -> Result<i32, EnvelopeError> {
    i32::deserialize(cursor).map_err(|_| EnvelopeError::Truncated(what))
}

/// Reads `msg_id:long seqno:int bytes:int body:bytes[bytes]`.
fn read_message(cursor: &mut Cursor) -> Result<InMessage, EnvelopeError> {
    let msg_id = read_i64(cursor, "msg_id")?;
    let seq_no = read_i32(cursor, "seq_no")?;
    let len = read_i32(cursor, "message length")?;
    let len = usize::try_from(len)
        .ok()
        .filter(|len| len % 4 == 0 && *len <= MAX_BODY_LEN)
        .ok_or(EnvelopeError::BadLength(len.into()))?;
    let mut body = vec![0u8; len];
    cursor
        .read_exact(&mut body)
        .map_err(|_| EnvelopeError::Truncated("message body"))?;
    Ok(InMessage {
        msg_id,
        seq_no,
        body,
    })
}

/// Parses decrypted plaintext (the random padding after the message is ignored).
pub(crate) fn parse_envelope(plaintext: &[u8]) -> Result<Envelope, EnvelopeError> {
    let mut cursor = Cursor::from_slice(plaintext);
    // The server salt is not checked: the sandbox always hands out salt 0 and never
    // rotates it, so any value the client sends is accepted.
    let _salt = read_i64(&mut cursor, "salt")?;
    let session_id = read_i64(&mut cursor, "session_id")?;
    let message = read_message(&mut cursor)?;
    Ok(Envelope {
        session_id,
        message,
    })
}

/// Splits a `msg_container` body (constructor id included) into its messages.
pub(crate) fn parse_container(body: &[u8]) -> Result<Vec<InMessage>, EnvelopeError> {
    let mut cursor = Cursor::from_slice(body.get(4..).unwrap_or_default());
    let count = read_i32(&mut cursor, "container length")?;
    let count = u32::try_from(count).map_err(|_| EnvelopeError::BadLength(count.into()))?;
    if count as usize > MAX_CONTAINER_LEN {
        return Err(EnvelopeError::ContainerTooLarge(count));
    }
    (0..count).map(|_| read_message(&mut cursor)).collect()
}

/// Inflates a `gzip_packed` body (constructor id included), refusing output beyond
/// [`MAX_BODY_LEN`] so that a small bomb cannot exhaust memory.
pub(crate) fn unpack_gzip(body: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let mut cursor = Cursor::from_slice(body.get(4..).unwrap_or_default());
    let packed =
        Vec::<u8>::deserialize(&mut cursor).map_err(|_| EnvelopeError::Truncated("gzip data"))?;
    let mut out = Vec::new();
    GzDecoder::new(packed.as_slice())
        .take(MAX_BODY_LEN as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| EnvelopeError::BadGzip)?;
    if out.len() > MAX_BODY_LEN {
        return Err(EnvelopeError::BadGzip);
    }
    Ok(out)
}

/// Wraps `data` as `gzip_packed`.
pub(crate) fn pack_gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    // Writing to a Vec cannot fail.
    let packed = encoder
        .write_all(data)
        .and_then(|()| encoder.finish())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(packed.len() + 8);
    GZIP_PACKED_ID.serialize(&mut out);
    packed.serialize(&mut out);
    out
}

/// Results at least this large are sent gzip-packed, as Telegram does for big answers.
const GZIP_THRESHOLD: usize = 4096;

/// `rpc_result` carrying `result` (an already-serialized object or `rpc_error`).
pub(crate) fn rpc_result(req_msg_id: i64, result: &[u8]) -> Vec<u8> {
    let packed;
    let result = if result.len() >= GZIP_THRESHOLD {
        packed = pack_gzip(result);
        if packed.len() < result.len() {
            &packed[..]
        } else {
            result
        }
    } else {
        result
    };
    let mut out = Vec::with_capacity(result.len() + 12);
    RPC_RESULT_ID.serialize(&mut out);
    req_msg_id.serialize(&mut out);
    out.extend_from_slice(result);
    out
}

/// Builds the plaintext of one server message (salt 0, the client's session id), ready
/// for [`crate::crypto::encrypt_for_client`].
pub(crate) fn server_plaintext(session_id: i64, msg_id: i64, seq_no: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + body.len());
    0i64.serialize(&mut out);
    session_id.serialize(&mut out);
    msg_id.serialize(&mut out);
    seq_no.serialize(&mut out);
    // Bodies are TL objects, always a multiple of 4 and far below i32::MAX.
    (body.len() as i32).serialize(&mut out);
    out.extend_from_slice(body);
    out
}

/// Whether a server message answers a client message (msg_id ≡ 1 mod 4) or is sent on the
/// server's own initiative, like a pushed update (msg_id ≡ 3 mod 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MsgKind {
    Response,
    Unsolicited,
}

/// Server-side message ids and sequence numbers for one session.
///
/// Ids follow unix time (`seconds << 32`), strictly increase, and carry the low bits
/// MTProto prescribes for server messages. Sequence numbers count content-related
/// messages: `2n + 1` for a content-related one, `2n` otherwise.
#[derive(Debug, Default)]
pub(crate) struct Sequencer {
    last_msg_id: i64,
    content_sent: i32,
}

impl Sequencer {
    pub(crate) fn next_msg_id(&mut self, kind: MsgKind) -> i64 {
        let low = match kind {
            MsgKind::Response => 1,
            MsgKind::Unsolicited => 3,
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let time_based = ((now.as_secs() as i64) << 32) | (i64::from(now.subsec_nanos()) << 2);
        let mut id = (time_based & !3) | low;
        if id <= self.last_msg_id {
            id = ((self.last_msg_id & !3) + 4) | low;
        }
        self.last_msg_id = id;
        id
    }

    /// A new session counts its content-related messages from zero; ids keep increasing.
    pub(crate) fn start_session(&mut self) {
        self.content_sent = 0;
    }

    pub(crate) fn next_seq_no(&mut self, content_related: bool) -> i32 {
        if content_related {
            self.content_sent += 1;
            self.content_sent * 2 - 1
        } else {
            self.content_sent * 2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_bytes(msg_id: i64, seq_no: i32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        msg_id.serialize(&mut out);
        seq_no.serialize(&mut out);
        (body.len() as i32).serialize(&mut out);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn envelope_and_container_round_trip() {
        let mut container = Vec::new();
        MSG_CONTAINER_ID.serialize(&mut container);
        2i32.serialize(&mut container);
        container.extend(message_bytes(4, 1, &[1, 2, 3, 4]));
        container.extend(message_bytes(8, 3, &[5, 6, 7, 8, 9, 10, 11, 12]));

        let mut plaintext = Vec::new();
        0i64.serialize(&mut plaintext);
        77i64.serialize(&mut plaintext);
        plaintext.extend(message_bytes(12, 4, &container));
        plaintext.extend([0u8; 12]); // padding

        let envelope = parse_envelope(&plaintext).expect("parses");
        assert_eq!(envelope.session_id, 77);
        assert_eq!(envelope.message.msg_id, 12);
        assert_eq!(envelope.message.constructor_id(), Some(MSG_CONTAINER_ID));
        let inner = parse_container(&envelope.message.body).expect("container parses");
        assert_eq!(inner.len(), 2);
        assert_eq!(inner[1].body, vec![5, 6, 7, 8, 9, 10, 11, 12]);
    }

    #[test]
    fn malformed_envelopes_are_errors_not_panics() {
        assert!(parse_envelope(&[0u8; 10]).is_err());
        let mut lying = Vec::new();
        0i64.serialize(&mut lying);
        1i64.serialize(&mut lying);
        4i64.serialize(&mut lying);
        0i32.serialize(&mut lying);
        1_000_000i32.serialize(&mut lying);
        assert_eq!(
            parse_envelope(&lying).err(),
            Some(EnvelopeError::Truncated("message body"))
        );
        let mut negative = lying.clone();
        negative[28..32].copy_from_slice(&(-4i32).to_le_bytes());
        assert_eq!(
            parse_envelope(&negative).err(),
            Some(EnvelopeError::BadLength(-4))
        );
        let mut huge_container = Vec::new();
        MSG_CONTAINER_ID.serialize(&mut huge_container);
        i32::MAX.serialize(&mut huge_container);
        assert!(parse_container(&huge_container).is_err());
        let mut bad_gzip = Vec::new();
        GZIP_PACKED_ID.serialize(&mut bad_gzip);
        vec![1u8, 2, 3].serialize(&mut bad_gzip);
        assert_eq!(unpack_gzip(&bad_gzip).err(), Some(EnvelopeError::BadGzip));
    }

    #[test]
    fn gzip_round_trip() {
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| (i % 7).to_le_bytes()).collect();
        assert_eq!(unpack_gzip(&pack_gzip(&data)).expect("inflates"), data);
    }

    #[test]
    fn server_ids_increase_with_the_right_low_bits() {
        let mut seq = Sequencer::default();
        let a = seq.next_msg_id(MsgKind::Response);
        let b = seq.next_msg_id(MsgKind::Unsolicited);
        let c = seq.next_msg_id(MsgKind::Response);
        assert!(a < b && b < c);
        assert_eq!((a % 4, b % 4, c % 4), (1, 3, 1));
        assert_eq!(seq.next_seq_no(false), 0);
        assert_eq!(seq.next_seq_no(true), 1);
        assert_eq!(seq.next_seq_no(true), 3);
        assert_eq!(seq.next_seq_no(false), 4);
    }
}
