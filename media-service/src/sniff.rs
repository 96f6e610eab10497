//! The type of a file from its first bytes (magic numbers), never from its name or the
//! client's `Content-Type`; an allow-list by kind, executables refused.

use talkapp_store::MediaKind;

/// Bytes looked at (a text file is judged on these).
pub(crate) const SNIFF_BYTES: usize = 8192;

/// What the first bytes say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// On the allow-list.
    Allowed {
        /// The type.
        mime: &'static str,
        /// What it is.
        kind: MediaKind,
    },
    /// A program (PE, ELF, Mach-O, WebAssembly, a `#!` script, a Java class).
    Executable(&'static str),
    /// Not a type on the allow-list.
    Unknown,
}

fn allowed(mime: &'static str, kind: MediaKind) -> Sniffed {
    Sniffed::Allowed { mime, kind }
}

/// Judges `head`, the first bytes of a file (all of it when `complete`).
pub(crate) fn sniff(head: &[u8], complete: bool) -> Sniffed {
    let starts = |magic: &[u8]| head.starts_with(magic);
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    // Programs first: nothing that runs is stored unless the deployment allows it.
    if starts(b"MZ") {
        return Sniffed::Executable("a Windows program (PE)");
    }
    if starts(b"\x7fELF") {
        return Sniffed::Executable("an ELF program");
    }
    if starts(&[0xFE, 0xED, 0xFA, 0xCE])
        || starts(&[0xFE, 0xED, 0xFA, 0xCF])
        || starts(&[0xCE, 0xFA, 0xED, 0xFE])
        || starts(&[0xCF, 0xFA, 0xED, 0xFE])
        || starts(&[0xCA, 0xFE, 0xBA, 0xBE])
    {
        return Sniffed::Executable("a Mach-O program or Java class");
    }
    if starts(b"\0asm") {
        return Sniffed::Executable("a WebAssembly module");
    }
    if starts(b"#!") {
        return Sniffed::Executable("a script (#!)");
    }
    if starts(b"dex\n") {
        return Sniffed::Executable("an Android program (dex)");
    }
    // Images.
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return allowed("image/jpeg", MediaKind::Photo);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return allowed("image/png", MediaKind::Photo);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return allowed("image/gif", MediaKind::Photo);
    }
    if starts(b"RIFF") && at(8, b"WEBP") {
        return allowed("image/webp", MediaKind::Photo);
    }
    // Audio and video.
    if at(4, b"ftyp") {
        return match head.get(8..12) {
            Some(b"M4A ") | Some(b"M4B ") => allowed("audio/mp4", MediaKind::Audio),
            Some(b"qt  ") => allowed("video/quicktime", MediaKind::Video),
            _ => allowed("video/mp4", MediaKind::Video),
        };
    }
    if starts(&[0x1A, 0x45, 0xDF, 0xA3]) {
        let window = &head[..head.len().min(64)];
        if window.windows(4).any(|bytes| bytes == b"webm") {
            return allowed("video/webm", MediaKind::Video);
        }
        return allowed("video/x-matroska", MediaKind::Video);
    }
    if starts(b"OggS") {
        // The first page's first packet says which codec: 27 header bytes, then as many
        // segment sizes as byte 26 says, then the packet.
        let packet = head
            .get(26)
            .map(|segments| 27 + usize::from(*segments))
            .and_then(|start| head.get(start..));
        return match packet {
            Some(packet) if packet.starts_with(b"OpusHead") => {
                allowed("audio/ogg", MediaKind::Voice)
            }
            Some(packet)
                if packet.starts_with(b"\x01vorbis") || packet.starts_with(b"\x7fFLAC") =>
            {
                allowed("audio/ogg", MediaKind::Audio)
            }
            Some(packet) if packet.starts_with(b"\x80theora") => {
                allowed("video/ogg", MediaKind::Video)
            }
            _ => Sniffed::Unknown,
        };
    }
    if starts(b"fLaC") {
        return allowed("audio/flac", MediaKind::Audio);
    }
    if starts(b"RIFF") && at(8, b"WAVE") {
        return allowed("audio/wav", MediaKind::Audio);
    }
    if starts(b"ID3") || head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE6 == 0xE2 {
        // An ID3 tag, or an MPEG audio frame sync with layer III (0xFFFB, 0xFFF3, ...).
        return allowed("audio/mpeg", MediaKind::Audio);
    }
    // Documents.
    if starts(b"%PDF-") {
        return allowed("application/pdf", MediaKind::Document);
    }
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        return allowed("application/zip", MediaKind::Document);
    }
    if starts(&[0x1F, 0x8B]) {
        return allowed("application/gzip", MediaKind::Document);
    }
    if starts(&[0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C]) {
        return allowed("application/x-7z-compressed", MediaKind::Document);
    }
    if starts(b"Rar!\x1a\x07") {
        return allowed("application/vnd.rar", MediaKind::Document);
    }
    sniff_text(head, complete)
}

/// Text: UTF-8 without NUL. Markup a browser would run is named as such, so that it is
/// only ever served as an attachment.
fn sniff_text(head: &[u8], complete: bool) -> Sniffed {
    if head.is_empty() || head.contains(&0) {
        return Sniffed::Unknown;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A character cut by the end of the sniffed window is fine.
        Err(error) => !complete && error.error_len().is_none() && error.valid_up_to() > 0,
    };
    if !valid {
        return Sniffed::Unknown;
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(1024)]).to_lowercase();
    let text = text.trim_start_matches('\u{feff}').trim_start();
    if text.starts_with("<!doctype html")
        || text.starts_with("<html")
        || text.starts_with("<head")
        || text.starts_with("<script")
    {
        return allowed("text/html", MediaKind::Document);
    }
    if text.starts_with("<svg") || text.starts_with("<?xml") && text.contains("<svg") {
        return allowed("image/svg+xml", MediaKind::Document);
    }
    if text.starts_with("<?xml") {
        return allowed("application/xml", MediaKind::Document);
    }
    allowed("text/plain", MediaKind::Document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_magic_numbers() {
        let cases: &[(&[u8], &str, MediaKind)] = &[
            (b"\xFF\xD8\xFF\xE0rest", "image/jpeg", MediaKind::Photo),
            (b"\x89PNG\r\n\x1a\nrest", "image/png", MediaKind::Photo),
            (b"GIF89a..", "image/gif", MediaKind::Photo),
            (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp", MediaKind::Photo),
            (b"\0\0\0\x18ftypisom", "video/mp4", MediaKind::Video),
            (b"\0\0\0\x18ftypM4A ", "audio/mp4", MediaKind::Audio),
            (
                b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm",
                "video/webm",
                MediaKind::Video,
            ),
            (b"fLaC\0\0\0\x22", "audio/flac", MediaKind::Audio),
            (b"RIFF\0\0\0\0WAVEfmt ", "audio/wav", MediaKind::Audio),
            (b"ID3\x04\0", "audio/mpeg", MediaKind::Audio),
            (b"%PDF-1.7", "application/pdf", MediaKind::Document),
            (b"PK\x03\x04", "application/zip", MediaKind::Document),
            ("hello, мир".as_bytes(), "text/plain", MediaKind::Document),
            (b"<!DOCTYPE html><p>", "text/html", MediaKind::Document),
            (
                b"<?xml version=\"1.0\"?><svg xmlns=",
                "image/svg+xml",
                MediaKind::Document,
            ),
        ];
        for (head, mime, kind) in cases {
            assert_eq!(sniff(head, true), allowed(mime, *kind), "{mime}");
        }
    }

    #[test]
    fn ogg_is_told_apart_by_its_first_packet() {
        let page = |packet: &[u8]| {
            let mut page = b"OggS\0\x02".to_vec();
            page.extend([0; 20]);
            page.push(1);
            page.push(u8::try_from(packet.len()).expect("short"));
            page.extend(packet);
            page
        };
        assert_eq!(
            sniff(&page(b"OpusHead\x01\x01"), true),
            allowed("audio/ogg", MediaKind::Voice)
        );
        assert_eq!(
            sniff(&page(b"\x01vorbis\0\0"), true),
            allowed("audio/ogg", MediaKind::Audio)
        );
        assert_eq!(sniff(&page(b"something"), true), Sniffed::Unknown);
    }

    #[test]
    fn programs_and_unknown_binaries_are_refused() {
        for program in [
            &b"MZ\x90\0"[..],
            b"\x7fELF\x02",
            b"\xCF\xFA\xED\xFE",
            b"#!/bin/sh\n",
            b"\0asm\x01",
        ] {
            assert!(
                matches!(sniff(program, true), Sniffed::Executable(_)),
                "{program:?}"
            );
        }
        assert_eq!(sniff(b"\0\x01\x02\x03binary", true), Sniffed::Unknown);
        assert_eq!(sniff(b"\xC3\x28 not utf-8", true), Sniffed::Unknown);
        assert_eq!(sniff(b"", true), Sniffed::Unknown);
    }

    #[test]
    fn a_character_cut_by_the_window_is_still_text() {
        let text = "ж".repeat(10);
        let cut = &text.as_bytes()[..text.len() - 1];
        assert_eq!(
            sniff(cut, false),
            allowed("text/plain", MediaKind::Document)
        );
        assert_eq!(
            sniff(cut, true),
            Sniffed::Unknown,
            "a whole file must be valid"
        );
    }
}
