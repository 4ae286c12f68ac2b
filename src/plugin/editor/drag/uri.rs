//! A file as the `text/uri-list` of a drag (RFC 8089 `file://` URIs, RFC 2483 lists).

use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};

/// Everything but RFC 3986's unreserved characters and the path separator is escaped.
const PATH_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `file:///abs/path` with every byte outside the unreserved set percent-encoded (UTF-8 or
/// not: the bytes are the file's name as the system knows it).
pub fn file_uri(path: &Path) -> String {
    format!("file://{}", percent_encode(&path_bytes(path), PATH_ESCAPES))
}

#[cfg(unix)]
fn path_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(not(unix))]
fn path_bytes(path: &Path) -> Vec<u8> {
    // Windows paths become `/C:/dir/file` with forward slashes.
    let text = path.to_string_lossy().replace('\\', "/");
    if text.starts_with('/') {
        text.into_bytes()
    } else {
        format!("/{text}").into_bytes()
    }
}

/// The list a drop target reads: one URI, CRLF-terminated as RFC 2483 asks.
pub fn uri_list(path: &Path) -> String {
    format!("{}\r\n", file_uri(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_and_non_ascii_are_escaped_and_slashes_kept() {
        assert_eq!(
            file_uri(Path::new("/home/me/Music/Encore/Take 1 L0.wav")),
            "file:///home/me/Music/Encore/Take%201%20L0.wav"
        );
        assert_eq!(
            file_uri(Path::new("/tmp/Été #2 100%?.wav")),
            "file:///tmp/%C3%89t%C3%A9%20%232%20100%25%3F.wav"
        );
        assert_eq!(
            uri_list(Path::new("/a_b-c~d.wav")),
            "file:///a_b-c~d.wav\r\n"
        );
    }

    #[cfg(unix)]
    #[test]
    fn names_that_are_not_utf8_keep_their_bytes() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let path = Path::new(OsStr::from_bytes(b"/tmp/\xff.wav"));
        assert_eq!(file_uri(path), "file:///tmp/%FF.wav");
    }
}
